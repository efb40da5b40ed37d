"""After a publish: retire old bundles (lifecycle tag) and remove pointers of vanished scopes.

Bundles are immutable and never deleted by the publisher. Once a publish has moved a
scope's pointer, every bundle of that scope beyond the newest ``keep`` is tagged
``vexil-superseded=true``; the bucket's lifecycle rule (``infra/s3.tf``) expires tagged
objects. A scope that no longer exists at the published revision (its SDK key was revoked
or lost its tag/prefix limits) has its ``current.json`` deleted and all its bundles tagged.

Rules that keep this safe against racing publishers and partial failures:

* a bundle a pointer names is never tagged; neither is a bundle whose revision is above the
  snapshot's (a newer publisher made it, perhaps before moving its pointer);
* a stale pointer is deleted only when its revision is not above the snapshot's, and only
  with ``IfMatch`` on the ETag just read (a newer publisher's rewrite wins);
* tags are applied oldest first, so the tagged bundles of a scope are always its oldest
  ones: the walk from the newest candidate down stops at the first tagged bundle, which
  keeps each publish at one listing plus a tag or two instead of a call per old bundle;
* nothing here fails or undoes a publish: errors are logged and the next publish (which
  reconsiders every scope) catches up.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from aws_lambda_powertools import Logger

from chalicelib.publish.store import BundleStore
from edge_reader.bundle import CLIENT_SCOPE, SERVER_SCOPE

logger = Logger(service="vexil-publisher")

# Bundles kept per scope for in-flight readers, CDN caches and forensics (Terraform's
# bundles_kept_per_scope, VEXIL_KEEP_BUNDLES; a test ties the two defaults together).
DEFAULT_KEEP_BUNDLES = 10


@dataclass(slots=True)
class Housekeeping:
    """What one run did: bundles tagged for expiry, stale scopes whose pointer went."""

    retired: list[str] = field(default_factory=list)
    removed_scopes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Retention:
    """Retires bundles and stale pointers of one bucket; one per container (it remembers
    which bundles it already tagged, so a warm container re-checks nothing)."""

    def __init__(self, store: BundleStore, *, keep: int = DEFAULT_KEEP_BUNDLES) -> None:
        if keep < 1:
            raise ValueError(f"keep: at least the newest bundle is kept, got {keep!r}")
        self.store = store
        self.keep = keep
        self._tagged: set[str] = set()
        self._lock = threading.Lock()

    def after_publish(
        self, project: str, environment: str, revision: int, *,
        published: Mapping[str, str | None], live_scopes: set[str],
    ) -> Housekeeping:
        """Retire old bundles of the ``published`` scopes (scope → the bundle key its pointer
        was just swung to) and remove scopes not in ``live_scopes`` (the scopes of the
        snapshot at ``revision``). Never raises."""
        result = Housekeeping()
        for scope, live_key in published.items():
            try:
                result.retired += self.retire(project, environment, scope, revision=revision,
                                              keep=self.keep, live_key=live_key)
            except Exception as exc:
                result.errors.append(f"retire:{scope}: {type(exc).__name__}: {exc}")
        try:
            self._remove_stale(project, environment, revision,
                               live_scopes | {SERVER_SCOPE, CLIENT_SCOPE}, result)
        except Exception as exc:
            result.errors.append(f"stale-scopes: {type(exc).__name__}: {exc}")
        if result.retired or result.removed_scopes or result.errors:
            log = logger.warning if result.errors else logger.info
            log("bundle housekeeping", project=project, environment=environment,
                revision=revision, retired=len(result.retired),
                removed_scopes=result.removed_scopes, errors=result.errors)
        return result

    def retire(self, project: str, environment: str, scope: str, *, revision: int,
               keep: int, live_key: str | None) -> list[str]:
        """Tag every bundle of ``scope`` beyond the newest ``keep`` with a revision not above
        ``revision``, except ``live_key`` (what the pointer names); return the keys tagged."""
        bundles = self.store.list_bundles(project, environment, scope)
        newest_first = [b for b in reversed(bundles) if b.revision <= revision]
        candidates = [b.key for b in newest_first[keep:] if b.key != live_key]
        with self._lock:
            known = next((i for i, k in enumerate(candidates) if k in self._tagged), None)
        if known is not None:
            # Everything older than a bundle this container tagged is tagged (tags go oldest
            # first); the newer ones are tagged without asking, as a tag costs what a check
            # does and is idempotent.
            untagged = candidates[:known]
        else:
            untagged = []
            for key in candidates:
                if self.store.is_superseded(key):
                    with self._lock:
                        self._tagged.add(key)
                    break
                untagged.append(key)
        for key in reversed(untagged):  # oldest first: tagged bundles stay a suffix
            self.store.mark_superseded(key)
            with self._lock:
                self._tagged.add(key)
        return list(reversed(untagged))

    def _remove_stale(self, project: str, environment: str, revision: int,
                      live: set[str], result: Housekeeping) -> None:
        for scope in sorted(self.store.list_scopes(project, environment) - live):
            current = self.store.current(project, environment, scope)
            if current.pointer is not None and current.pointer.revision > revision:
                continue  # a newer publisher (re)created this scope: not ours to remove
            if current.etag is not None:
                if not self.store.delete_pointer(project, environment, scope, current.etag):
                    continue  # rewritten meanwhile: leave it (and its bundles) alone
                result.removed_scopes.append(scope)
            # No pointer names any bundle of this scope any more: none is kept.
            result.retired += self.retire(project, environment, scope, revision=revision,
                                          keep=0, live_key=None)
