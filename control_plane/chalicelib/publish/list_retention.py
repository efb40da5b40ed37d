"""After a publish: retire list segments' superseded shards and manifests (lifecycle tag).

Shards and manifests are immutable and content-addressed, and a shard can become live again
(a delta reverted, a member added back): "superseded" is a property of the list's history,
not of the object. The rule, for one list after a publish moved the pointer:

* **kept manifests**: the live one (named by the server bundle just published), the newest
  ``keep`` by ``LastModified`` (``VEXIL_KEEP_BUNDLES``, as bundles: a reader holding any of
  the newest bundles can still load its list), and every manifest superseded less than
  ``grace`` ago — a manifest's supersession time is the ``LastModified`` of the next newer
  one (a manifest is re-put whenever it becomes live again, so its time is its last use);
* **live objects**: the kept manifests and every shard they name;
* every other object under the list's prefix that is older than ``grace`` is tagged
  ``vexil-superseded=true``; the bucket's existing lifecycle rule expires it (``infra/s3.tf``,
  locally the emulator's lifecycle). An object younger than ``grace`` is never tagged: a
  concurrent publisher may have just written it for a manifest about to go live.
* A list segment no longer in the published revision (deleted): its newest manifest counts
  as superseded when a container first sees it gone, so everything goes ``grace`` later.

Reuse: when the publish stage references an object that already exists, it re-puts it if it
carries the tag (:meth:`ListPublisher` — a new, untagged version with a fresh
``LastModified``), so a live object is never one the lifecycle may expire.

``grace`` (``VEXIL_LIST_GRACE_SECONDS``, default 3600) must exceed any reader's refresh
interval plus its ``stale_after``: a reader that fetched the previous bundle just before the
publish finds its shards for at least that long. Nothing here fails a publish: errors are
collected and the next publish catches up. Decoded manifests are cached per container, and an
environment's lists are walked at most once per ``min(600 s, grace / 6)`` per container.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.publish.store import SUPERSEDED_TAG
from edge_reader.bundle import pointer_object_key
from edge_reader.bundle.errors import BundleFormatError
from edge_reader.bundle.lists import decode_manifest

DEFAULT_GRACE_SECONDS = 3600.0
_MANIFEST_SUFFIX = ".manifest"


def lists_root(project: str, environment: str) -> str:
    """The prefix holding every list segment of an environment (``…/lists/``)."""
    return pointer_object_key(project, environment, "server").rsplit("/", 1)[0] + "/lists/"


def is_tagged(s3: Any, bucket: str, key: str) -> bool:
    """True when ``key`` carries the lifecycle's superseded tag."""
    tags = s3.get_object_tagging(Bucket=bucket, Key=key).get("TagSet", [])
    return any(t.get("Key") == SUPERSEDED_TAG["Key"] and t.get("Value") == SUPERSEDED_TAG[
        "Value"] for t in tags)


class ListRetention:
    """Tags superseded list objects of one bucket; one per container."""

    def __init__(self, s3: Any, bucket: str, *, keep: int, grace: float = DEFAULT_GRACE_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        """``keep``: newest manifests kept per list (at least 1); ``grace`` in seconds."""
        if keep < 1:
            raise ValueError(f"keep: at least the newest manifest is kept, got {keep!r}")
        self.s3, self.bucket, self.keep, self.grace, self.clock = s3, bucket, keep, grace, clock
        self._shards_of: dict[str, frozenset[str]] = {}  # manifest key -> the keys it names
        self._tagged: set[str] = set()
        # a deleted list's prefix -> when this container first saw it gone (a cold container
        # starts the clock again: later, never earlier)
        self._gone_since: dict[str, float] = {}
        # Nothing younger than the grace is tagged, so walking an environment's lists more
        # often than a fraction of it finds nothing new: at most once per interval per
        # environment (a publish right after a delta then costs no listing while readers
        # fetch the new shards from the same bucket).
        self.min_interval = min(600.0, grace / 6)
        self._last_run: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def after_publish(self, project: str, environment: str,
                      live: Mapping[str, str]) -> tuple[list[str], list[str]]:
        """Retire what no kept manifest of each list names; ``live``: segment → the manifest
        key the published server bundle names. Returns (keys tagged, errors); never raises."""
        tagged: list[str] = []
        errors: list[str] = []
        now = self.clock()
        with self._lock:
            last = self._last_run.get((project, environment))
            if last is not None and now - last < self.min_interval:
                return [], []
            self._last_run[(project, environment)] = now
        root = lists_root(project, environment)
        try:
            segments = self._segments(root) | set(live)
        except Exception as exc:
            return [], [f"lists: {type(exc).__name__}: {exc}"]
        for segment in sorted(segments):
            try:
                tagged += self.retire(project, environment, f"{root}{segment}/",
                                      live.get(segment))
            except Exception as exc:
                errors.append(f"lists:{segment}: {type(exc).__name__}: {exc}")
        return tagged, errors

    def retire(self, project: str, environment: str, prefix: str,
               live_manifest: str | None) -> list[str]:
        """Tag the superseded objects under one list's ``prefix``; the keys tagged."""
        objects = self._listed(prefix)
        now = self.clock()
        manifests = sorted((o for o in objects if o[0].endswith(_MANIFEST_SUFFIX)),
                           key=lambda o: o[1], reverse=True)
        kept: set[str] = {live_manifest} if live_manifest else set()
        gone_since = None
        if live_manifest is None:  # a deleted list: its newest manifest left use now
            with self._lock:
                gone_since = self._gone_since.setdefault(prefix, now)
        for i, (key, _) in enumerate(manifests):
            superseded_at = manifests[i - 1][1] if i else gone_since
            if (live_manifest is not None and i < self.keep) or superseded_at is None or (
                    now - superseded_at < self.grace):
                kept.add(key)
        live_keys = set(kept)
        where = (project, environment, prefix.rstrip("/").rsplit("/", 1)[-1])
        for manifest in kept:
            live_keys |= self._named(manifest, where)
        out: list[str] = []
        for key, modified in objects:
            if key in live_keys or now - modified < self.grace:
                continue
            with self._lock:
                if key in self._tagged:
                    continue
            self.s3.put_object_tagging(Bucket=self.bucket, Key=key,
                                       Tagging={"TagSet": [dict(SUPERSEDED_TAG)]})
            with self._lock:
                self._tagged.add(key)
            out.append(key)
        return out

    def forget(self, key: str) -> None:
        """``key`` was put again (untagged): a later supersession must tag it again."""
        with self._lock:
            self._tagged.discard(key)

    def _named(self, manifest: str, where: tuple[str, str, str]) -> frozenset[str]:
        with self._lock:
            known = self._shards_of.get(manifest)
        if known is not None:
            return known
        body = self.s3.get_object(Bucket=self.bucket, Key=manifest)["Body"].read()
        try:
            decoded = decode_manifest(body, where)
        except BundleFormatError:
            return frozenset()  # not ours to judge: it names nothing we must keep
        names = frozenset(e.key for e in decoded.shards if e is not None)
        with self._lock:
            self._shards_of[manifest] = names
        return names

    def _listed(self, prefix: str) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix):
            out += [(str(o["Key"]), _seconds(o["LastModified"]))
                    for o in page.get("Contents", [])]
        return out

    def _segments(self, root: str) -> set[str]:
        found: set[str] = set()
        for page in self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=root, Delimiter="/"):
            found.update(str(p["Prefix"])[len(root):].rstrip("/")
                         for p in page.get("CommonPrefixes", []))
        return found


def _seconds(value: Any) -> float:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return float(value)
