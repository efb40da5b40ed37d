"""The list loader: fills the list segments of a compiled environment from the CDN.

Reads like the protocol (engine/lists.py, bundle/lists.py): for every list segment the
bundle references, reuse the members already held when the manifest digest is the same
(lists are refreshed only when their manifest changes); otherwise fetch the manifest,
check its SHA-256 against the bundle, fetch every non-empty shard it names in parallel
(disk cache first: objects are immutable and content-addressed, so a cached copy never
needs revalidating), check each SHA-256, decrypt, and swap the members in.

On any failure the slot keeps the last good members of that segment (marked ``stale``) or,
with none, stays empty (its clauses do not match; the detail says why), and the next
refresh cycle retries — the refresher calls :meth:`ListSync.pending`.
"""

from __future__ import annotations

import hashlib
import logging
import os
from array import array
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from edge_reader.bundle import pointer_object_key
from edge_reader.bundle.errors import BundleFormatError
from edge_reader.bundle.lists import Manifest, ShardEntry, decode_manifest, decrypt_shard
from edge_reader.client._fetcher import Fetched, Fetcher, FetchFailure
from edge_reader.client._verify import Identity
from edge_reader.engine import CompiledEnvironment
from edge_reader.engine.lists import ListRef, ListSlot, Membership, derive_key

log = logging.getLogger("edge_reader.client")

_EMPTY_SHARD: tuple[int, ...] = ()


class ListSyncError(Exception):
    """A list could not be loaded; the message says which object and why."""


class ListSync:
    """Loads list shards for one (project, environment); safe to call from one refresher."""

    def __init__(self, *, cdn_root: str, project: str, environment: str, fetcher: Fetcher,
                 cache_dir: str | os.PathLike[str] | None = None, parallel: int = 8) -> None:
        """``cdn_root``: the URL that object keys (``bundles/...``) are relative to."""
        self._root = cdn_root.rstrip("/") + "/"
        self._project = project
        self._environment = environment
        self._fetcher = fetcher
        self._cache = Path(cache_dir) / "lists" if cache_dir is not None else None
        self._parallel = parallel
        # segment -> (manifest, members) last loaded: a new manifest's unchanged shards are
        # taken from those members instead of the CDN (a small delta downloads what it changed)
        self._last: dict[str, tuple[Manifest, Membership]] = {}
        # Shards decrypted by an attempt that did not finish (a Lambda budget ran out, a
        # fetch failed): the next attempt starts from them, so a big list loads over several
        # short refreshes even without a disk cache. Dropped once a list loads whole.
        self._partial: dict[str, array[int]] = {}

    def pending(self, env: CompiledEnvironment) -> bool:
        """True when a referenced list is not loaded, or only an older one is held."""
        return any(s.ref is not None and (s.members is None or s.stale)
                   for s in env.lists.values())

    def fill(self, env: CompiledEnvironment, previous: CompiledEnvironment | None,
             budget: Callable[[], float | None] = lambda: None) -> list[str]:
        """Load every list ``env`` references; return one message per list that failed."""
        failures: list[str] = []
        for slot in env.lists.values():
            if slot.ref is None or (slot.members is not None and not slot.stale):
                continue
            old = previous.lists.get(slot.segment) if previous is not None else None
            if old is not None and old.ref is not None and old.members is not None and (
                    old.ref.sha256 == slot.ref.sha256 and not old.stale):
                slot.members = old.members  # same manifest: nothing to fetch
                continue
            try:
                members = self._load(slot.segment, slot.ref, budget)
            except ListSyncError as exc:
                failures.append(f"list segment {slot.segment!r}: {exc}")
                self._keep_last_good(slot, old, str(exc))
                continue
            slot.members, slot.stale = members, False
            log.info("loaded list segment %s (%d members, seq %d)", slot.segment,
                     members.count, slot.ref.seq)
        return failures

    @staticmethod
    def _keep_last_good(slot: ListSlot, old: ListSlot | None, why: str) -> None:
        slot.absent_reason = f"load failed: {why}"
        if slot.members is None and old is not None and old.members is not None:
            slot.members = old.members
        slot.stale = slot.members is not None
        log.warning("list segment %s not refreshed (%s)%s", slot.segment, why,
                    "; serving the last good list" if slot.stale else "")

    def _load(self, segment: str, ref: ListRef,
              budget: Callable[[], float | None]) -> Membership:
        where = (self._project, self._environment, segment)
        data = self._object(ref.manifest, ref.sha256, budget)
        try:
            manifest = decode_manifest(data, where)
        except BundleFormatError as exc:
            raise ListSyncError(str(exc)) from exc
        members = self._members(manifest, ref, budget)
        self._last[segment] = (manifest, members)
        return members

    def _members(self, manifest: Manifest, ref: ListRef,
                 budget: Callable[[], float | None]) -> Membership:
        where = (self._project, self._environment, manifest.segment)
        last = self._last.get(manifest.segment)
        wanted = {e.sha256 for e in manifest.shards if e is not None}
        for sha in [sha for sha in self._partial if sha not in wanted]:
            del self._partial[sha]  # an older attempt's shards: never more than one list's

        def one(item: tuple[int, ShardEntry | None]) -> object:
            index, entry = item
            if entry is None:
                return _EMPTY_SHARD
            if last is not None and last[0].shards[index] == entry:
                return last[1].shard(index)  # unchanged: same digest, same hashes
            done = self._partial.get(entry.sha256)
            if done is not None:
                return done
            body = self._object(entry.key, entry.sha256, budget)
            try:
                shard = decrypt_shard(ref.secret, where, index, body)
            except BundleFormatError as exc:
                raise ListSyncError(str(exc)) from exc
            self._partial[entry.sha256] = shard
            return shard

        with ThreadPoolExecutor(self._parallel, thread_name_prefix="vexil-list") as pool:
            shards = list(pool.map(one, enumerate(manifest.shards)))
        self._partial.clear()
        return Membership(derive_key(ref.secret, "member"),
                          [s if isinstance(s, array) else array("Q") for s in shards])

    def _object(self, key: str, sha256: str, budget: Callable[[], float | None]) -> bytes:
        """An immutable object by key, verified against ``sha256`` (disk cache first)."""
        cached = self._cache / f"{sha256}.obj" if self._cache is not None else None
        if cached is not None:
            try:
                data = cached.read_bytes()
                if hashlib.sha256(data).hexdigest() == sha256:
                    return data
            except OSError:
                pass
        got = self._fetcher.get(self._root + key, budget=budget())
        if isinstance(got, FetchFailure):
            raise ListSyncError(f"{key}: {got.describe()}")
        if not isinstance(got, Fetched):
            raise ListSyncError(f"{key}: answered 304 to an unconditional GET")
        if hashlib.sha256(got.body).hexdigest() != sha256:
            raise ListSyncError(f"{key}: sha256 differs from what the bundle names")
        if cached is not None:
            _write_atomic(cached, got.body)
        return got.body


def _write_atomic(path: Path, data: bytes) -> None:
    """Best effort: a cache that cannot be written only costs a download next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("cannot cache %s: %s", path.name, exc)


def cdn_root_of(pointer_url: str, pointer_key: str) -> str | None:
    """The URL object keys are relative to, from a pointer URL ending in its object key."""
    if not pointer_url.endswith(pointer_key):
        return None
    return pointer_url[: len(pointer_url) - len(pointer_key)]


def lists_problem(env: CompiledEnvironment) -> tuple[str, str] | None:
    """(error kind, reason) when a list the bundle references is not loaded
    (``list_not_loaded``: its clauses match no one) or only an older one is served
    (``list_stale``); None when every list is current. For :meth:`FlagClient.status`."""
    missing = [s for s in env.lists.values() if s.ref is not None and s.members is None]
    stale = [s for s in env.lists.values() if s.ref is not None and s.stale]
    if not missing and not stale:
        return None
    parts = [s.why for s in sorted(missing, key=lambda s: s.segment)]
    parts += [f"list segment {s.segment!r} serves its previous members ({s.absent_reason})"
              for s in sorted(stale, key=lambda s: s.segment)]
    return ("list_not_loaded" if missing else "list_stale"), "; ".join(parts)


def list_counts(env: CompiledEnvironment) -> Mapping[str, int | None]:
    """Members loaded per list segment (None: not loaded) — for status and tests."""
    return {k: (s.members.count if s.members is not None else None)
            for k, s in env.lists.items()}


def list_loader(pointer_url: str, identity: Identity, fetcher: Fetcher,
                cache_dir: str | os.PathLike[str] | None) -> ListSync | None:
    """The loader for a reader of ``identity`` whose pointer is at ``pointer_url``; None when
    the URL does not end in the standard pointer key (lists then stay unloaded)."""
    root = cdn_root_of(pointer_url, pointer_object_key(identity.project, identity.environment,
                                                       identity.scope))
    if root is None:
        log.warning("pointer URL %s has no standard layout: list segments will not load",
                    pointer_url)
        return None
    return ListSync(cdn_root=root, project=identity.project, environment=identity.environment,
                      fetcher=fetcher, cache_dir=cache_dir)
