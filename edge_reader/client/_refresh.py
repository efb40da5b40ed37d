"""One refresh cycle: pointer → (maybe) bundle → verify → swap → cache.

The poller calls it on a schedule, Lambda mode calls it on use, tests call it directly.
A 304 on the pointer, or a pointer naming the revision we already hold, ends the cycle
before any bundle download, decrypt or compile. A pointer that fails its checks (identity,
and when the reader requires signatures, the publisher's signature and the pointer's
expiry) ends it before the download. A 304 re-checks only the held pointer's expiry (a
comparison): still no decrypt, no compile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin

from edge_reader.client._cache import DiskCache
from edge_reader.client._fetcher import Fetched, Fetcher, FetchFailure, NotModified
from edge_reader.client._lists import ListSync
from edge_reader.client._store import Store
from edge_reader.client._verify import (
    BundleRejected,
    Identity,
    Keys,
    check_fresh,
    parse_pointer,
    verify_bundle,
)

log = logging.getLogger("edge_reader.client")


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """What one cycle did. ``outcome``: ``updated`` | ``unchanged`` | ``failed``.

    On failure ``kind`` names the cause (an HTTP/transport kind, or a ``BundleRejected``
    kind such as ``rollback`` or ``decrypt_failed``) and ``reason`` is human-readable.
    """

    outcome: str
    revision: int | None = None
    changed: frozenset[str] = frozenset()
    kind: str | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        """True unless the cycle failed."""
        return self.outcome != "failed"


def bundle_url(pointer_url: str, key: str) -> str:
    """Where the pointer's bundle lives: the object sits beside ``current.json``.

    Every layout in docs/architecture.md puts ``<revision>-<sha>.bundle`` in the same
    directory as its pointer, so resolving the key's last segment against the pointer URL
    works whatever prefix the CDN adds.
    """
    return urljoin(pointer_url, key.rsplit("/", 1)[-1])


class Refresher:
    """Runs refresh cycles for one bundle identity; safe to call from several threads."""

    def __init__(
        self,
        *,
        pointer_url: str,
        identity: Identity,
        keys: Keys,
        fetcher: Fetcher,
        store: Store,
        cache: DiskCache | None = None,
        clock: Callable[[], float] = time.time,
        lists: ListSync | None = None,
    ) -> None:
        """Wire the fetcher, store, optional disk cache and list loader for ``identity``."""
        self.pointer_url = pointer_url
        self._identity = identity
        self._keys = keys
        self._fetcher = fetcher
        self._store = store
        self._cache = cache
        self._clock = clock
        self._lists = lists
        self._etag: str | None = None
        self._lock = threading.Lock()  # one cycle at a time; a second caller waits

    def refresh(self, budget: float | None = None) -> RefreshResult:
        """Run one cycle within ``budget`` seconds of network time (None: fetcher timeouts)."""
        with self._lock:
            return self._refresh(budget)

    def _refresh(self, budget: float | None) -> RefreshResult:
        deadline = None if budget is None else time.monotonic() + budget
        held = self._store.current
        if held is not None and self._lists is not None and self._lists.pending(held.env):
            # A list the held bundle names is missing or older: retry it first (disk cache,
            # then CDN); the bundle itself keeps serving meanwhile.
            self._lists.fill(held.env, None, lambda: _remaining(deadline))
        etag = self._etag if held is not None else None
        got = self._fetcher.get(self.pointer_url, etag, budget=_remaining(deadline))
        try:
            if isinstance(got, NotModified):
                if held is not None and held.pointer is not None:
                    # The CDN vouches the pointer is unchanged; it still must not be expired.
                    check_fresh(held.pointer, self._keys, self._clock())
                return RefreshResult("unchanged", revision=self._store.revision)
            if isinstance(got, FetchFailure):
                return _failed_fetch(got)
            # The signature first (when required): a forged pointer costs no bundle download;
            # then its expiry: an old genuine pointer replayed by a cache is refused too.
            pointer = parse_pointer(got.body, self._identity, self._keys)
            check_fresh(pointer, self._keys, self._clock())
        except BundleRejected as exc:
            return _rejected(exc)
        if held is not None and held.verified and pointer.revision < held.revision:
            return _rejected(
                BundleRejected(
                    "rollback",
                    f"pointer revision {pointer.revision} is older than "
                    f"the held revision {held.revision}",
                )
            )
        if held is not None and held.verified and pointer.revision == held.revision:
            # Same revision, same content by construction: remember the validator and the
            # renewed expiry (a heartbeat re-signs the same revision), no decrypt.
            self._store.renew(pointer)
            self._etag = got.etag
            return RefreshResult("unchanged", revision=held.revision)
        bundle = self._fetcher.get(
            bundle_url(self.pointer_url, pointer.key), budget=_remaining(deadline)
        )
        if not isinstance(bundle, Fetched):
            if isinstance(bundle, FetchFailure):
                return _failed_fetch(bundle)
            return RefreshResult(
                "failed", kind="protocol", reason="bundle answered 304 to an unconditional GET"
            )
        try:
            snapshot = verify_bundle(
                got.body,
                bundle.body,
                identity=self._identity,
                keys=self._keys,
                source="cdn",
                clock=self._clock,
                pointer=pointer,
            )
            if self._lists is not None:
                # Before the swap, so the new bundle serves with its lists loaded (or, on
                # failure, with the last good members of each list).
                self._lists.fill(snapshot.env, held.env if held is not None else None,
                                 lambda: _remaining(deadline))
            changed = self._store.install(snapshot)
        except BundleRejected as exc:
            return _rejected(exc)
        self._etag = got.etag
        if self._cache is not None:
            self._cache.store(got.body, bundle.body)
        log.info(
            "loaded %s/%s revision %d (%d flags changed)",
            self._identity.project,
            self._identity.environment,
            snapshot.revision,
            len(changed),
        )
        return RefreshResult("updated", revision=snapshot.revision, changed=changed)


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(deadline - time.monotonic(), 0.001)


def _failed_fetch(failure: FetchFailure) -> RefreshResult:
    kind = f"http_{failure.status}" if failure.status is not None else failure.kind
    return RefreshResult("failed", kind=kind, reason=failure.describe())


def _rejected(exc: BundleRejected) -> RefreshResult:
    log.warning("bundle rejected: %s", exc)
    return RefreshResult("failed", kind=exc.kind, reason=f"rejected: {exc}")
