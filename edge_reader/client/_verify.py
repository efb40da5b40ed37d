"""Verification: pointer + encrypted bundle bytes → a compiled, trusted snapshot.

Every check that decides whether bytes from the CDN (or the disk cache) may be served
lives here, in one function, so the network path, the disk cache and the CLI all apply
the same rules:

1. the pointer parses and names our project, environment and scope;
2. when the reader trusts signing keys, the pointer is signed by one of them (the
   publisher's KMS key: an SDK key can make a bundle that opens, never this signature);
   checked before any download or decrypt is spent on what the pointer names;
3. the object's sha256 and size match the pointer (so the signature covers the bytes);
4. the envelope decrypts with our key AND its encryption context is exactly
   (project, environment, revision, scope) — a bundle copied from another environment or
   revision fails here even if the key would open it;
5. the plaintext document names the same project, environment and revision;
6. the document compiles (``strict=False``: a bad flag becomes an ERROR closure, the rest
   still serves).

Exceptions::

    BundleRejected(kind, message)
      kind = invalid_pointer | wrong_environment | bad_signature | stale_pointer
           | sha_mismatch | size_mismatch | decrypt_failed | invalid_bundle | rollback

Freshness (``stale_pointer``) is checked by the refresher on every pointer it fetches (and
on the held pointer when the CDN answers 304), not here: bytes from the disk cache are the
reader's own last good state, served but reported stale (see :func:`stale_pointer`).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from edge_reader.bundle import (
    Pointer,
    decode_bundle_document_lazily,
    decode_pointer,
    decrypt_bundle,
    encryption_context,
)
from edge_reader.bundle.errors import KeyNotInBundleError
from edge_reader.bundle.signing import (
    SignatureError,
    TrustedKey,
    pointer_staleness,
    verify_pointer,
)
from edge_reader.engine import CompiledEnvironment, compile_environment
from edge_reader.engine._gc import paused_gc
from edge_reader.engine._lazy import LazyEnvironment
from edge_reader.engine.features import KNOWN_FEATURES
from edge_reader.engine.fields import segment_keys

# Compile warnings saying the bundle is newer than this reader (docs/flag-format.md,
# "Forward compatibility"): logged once per loaded bundle.
_NEWER = frozenset({"unsupported_clause", "unknown_feature"})
_NEWER_SHOWN = 5
log = logging.getLogger("edge_reader.client")


class BundleRejected(Exception):
    """Bytes that must not be served; ``kind`` names the failed check."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


@dataclass(frozen=True, slots=True)
class Identity:
    """Which bundle a reader wants: project, environment and scope (server/client/key-…)."""

    project: str
    environment: str
    scope: str = "server"


@dataclass(frozen=True, slots=True)
class Keys:
    """How to open envelopes: an SDK key (raw AES keyring) and/or KMS access; and whose
    pointer signatures to require.

    KMS access goes through the branch-key store: the bundle key's ARN (``kms_key_id``)
    and the key store table (``key_store_table``); clients default to process-wide ones.
    ``signing_keys`` empty: pointers are accepted signed or not (nothing to check against).
    """

    sdk_key: Any = None  # edge_reader.bundle.SdkKey
    kms_client: Any = None
    kms_key_id: str | None = None
    key_store_table: str | None = None
    dynamodb_client: Any = None
    signing_keys: tuple[TrustedKey, ...] = ()


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One verified, compiled bundle, immutable once built.

    ``fingerprints`` hash each flag's and segment's canonical JSON (change detection without
    keeping the document); ``dependents`` maps a segment or flag key to the flags whose
    result can change when it changes (segment_match clauses, prerequisites).
    """

    env: CompiledEnvironment
    revision: int
    source: str  # "cdn" | "disk" | "bootstrap" | "file"
    pointer: Pointer | None
    flag_fingerprints: Mapping[str, int]
    segment_fingerprints: Mapping[str, int]
    dependents: Mapping[str, frozenset[str]]
    loaded_at: float = field(default_factory=time.monotonic)

    @property
    def verified(self) -> bool:
        """True for a decrypted, pointer-checked bundle; False for a plaintext bootstrap
        document, which any verified bundle may replace whatever its revision."""
        return self.pointer is not None


def verify_bundle(
    pointer_bytes: bytes,
    ciphertext: bytes,
    *,
    identity: Identity,
    keys: Keys,
    source: str,
    clock: Callable[[], float] = time.time,
    pointer: Pointer | None = None,
) -> Snapshot:
    """Run every check above and compile; raise ``BundleRejected`` naming the first failure.

    ``pointer``: the already decoded ``pointer_bytes`` (from :func:`parse_pointer`); its
    signature is checked again here all the same (~0.1 ms), so no caller can skip it.
    """
    if pointer is None:
        pointer = parse_pointer(pointer_bytes, identity, keys)
    else:
        check_signature(pointer, keys)
    digest = hashlib.sha256(ciphertext).hexdigest()
    if len(ciphertext) != pointer.size:
        raise BundleRejected(
            "size_mismatch", f"bundle is {len(ciphertext)} bytes, pointer says {pointer.size}"
        )
    if digest != pointer.sha256:
        raise BundleRejected(
            "sha_mismatch",
            f"bundle sha256 {digest[:16]}… differs from pointer {pointer.sha256[:16]}…",
        )
    expected = encryption_context(
        identity.project, identity.environment, pointer.revision, identity.scope
    )
    try:
        plaintext = decrypt_bundle(
            ciphertext,
            sdk_key=keys.sdk_key,
            kms_client=keys.kms_client,
            kms_key_id=keys.kms_key_id,
            key_store_table=keys.key_store_table,
            dynamodb_client=keys.dynamodb_client,
            expected=expected,
        )
    except KeyNotInBundleError as exc:
        # Genuine bytes (size and sha256 match the pointer) not made for this key.
        raise BundleRejected("key_refused", str(exc)) from exc
    except Exception as exc:  # EnvelopeError, or anything the ESDK raises on garbage
        raise BundleRejected("decrypt_failed", f"{type(exc).__name__}: {exc}") from exc
    return snapshot_from_plaintext(
        plaintext,
        identity=identity,
        source=source,
        clock=clock,
        pointer=pointer,
    )


def parse_pointer(pointer_bytes: bytes, identity: Identity, keys: Keys | None = None) -> Pointer:
    """Decode a pointer, check it names ``identity`` and (given ``keys`` with signing keys)
    that a trusted key signed it; raise ``BundleRejected`` if not."""
    try:
        pointer = decode_pointer(pointer_bytes)
    except Exception as exc:  # BundleFormatError or anything odd in the bytes
        raise BundleRejected("invalid_pointer", f"{type(exc).__name__}: {exc}") from exc
    got = (pointer.project, pointer.environment, pointer.scope)
    want = (identity.project, identity.environment, identity.scope)
    if got != want:
        raise BundleRejected(
            "wrong_environment", f"pointer is for {'/'.join(got)}, expected {'/'.join(want)}"
        )
    if keys is not None:
        check_signature(pointer, keys)
    return pointer


def check_signature(pointer: Pointer, keys: Keys) -> None:
    """Raise ``BundleRejected("bad_signature")`` unless one of ``keys.signing_keys`` signed
    ``pointer``; with no signing keys configured, accept it signed or not."""
    if not keys.signing_keys:
        return
    try:
        verify_pointer(pointer, keys.signing_keys)
    except SignatureError as exc:
        raise BundleRejected("bad_signature", str(exc)) from None


def stale_pointer(pointer: Pointer | None, keys: Keys, now: float) -> str | None:
    """Why ``pointer`` is too old to believe at ``now``, or None (always None without
    signing keys: an unsigned expiry is anyone's claim, so such readers ignore it)."""
    if not keys.signing_keys or pointer is None:
        return None
    return pointer_staleness(pointer, now)


def check_fresh(pointer: Pointer, keys: Keys, now: float) -> None:
    """Raise ``BundleRejected("stale_pointer")`` when :func:`stale_pointer` has a reason."""
    reason = stale_pointer(pointer, keys, now)
    if reason is not None:
        raise BundleRejected("stale_pointer", reason)


def snapshot_from_plaintext(
    plaintext: bytes,
    *,
    identity: Identity | None,
    source: str,
    clock: Callable[[], float] = time.time,
    pointer: Pointer | None = None,
) -> Snapshot:
    """Decode and compile a plaintext environment document (checks identity when given)."""
    # One pause of the cyclic collector for decode + compile, and the document dropped
    # before it resumes: otherwise its first pass walks the whole document (hundreds of
    # thousands of young objects, none of them garbage yet) just before it is freed.
    with paused_gc():
        try:
            doc = decode_bundle_document_lazily(plaintext)  # flags decoded on first use
        except Exception as exc:
            raise BundleRejected("invalid_bundle", f"{type(exc).__name__}: {exc}") from exc
        snapshot = snapshot_from_document(
            doc,
            identity=identity,
            source=source,
            clock=clock,
            pointer=pointer,
        )
        del doc
    return snapshot


def snapshot_from_document(
    doc: Mapping[str, Any],
    *,
    identity: Identity | None,
    source: str,
    clock: Callable[[], float] = time.time,
    pointer: Pointer | None = None,
) -> Snapshot:
    """Check a decoded document against identity/pointer, compile it, fingerprint it."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("flags"), Mapping):
        raise BundleRejected("invalid_bundle", "document has no 'flags' object")
    if identity is not None:
        for name, want in (("project", identity.project), ("environment", identity.environment)):
            got = doc.get(name)
            if got is not None and got != want:
                raise BundleRejected(
                    "wrong_environment", f"document {name} is {got!r}, expected {want!r}"
                )
    revision = doc.get("revision", 0)
    if not isinstance(revision, int) or isinstance(revision, bool):
        raise BundleRejected("invalid_bundle", f"document revision {revision!r} is not an integer")
    if pointer is not None and revision != pointer.revision:
        raise BundleRejected(
            "invalid_bundle",
            f"document revision {revision} differs from pointer {pointer.revision}",
        )
    try:
        env = compile_environment(doc, strict=False, clock=clock, lazy=True)
    except Exception as exc:  # strict=False should not raise; a malformed document still can
        raise BundleRejected("invalid_bundle", f"{type(exc).__name__}: {exc}") from exc
    _report_newer(env, revision, doc.get("features"))
    flags: Mapping[str, Any] = doc["flags"]
    segments = doc.get("segments") or {}
    # The snapshot must hold no object of the document (see engine/_fresh.py: one survivor
    # per arena keeps a dropped document resident), so its flag keys are the compiled
    # environment's own copies (every string key of `flags` is one), other strings copies.
    return Snapshot(
        env=env,
        revision=env.metadata.get("revision", revision),  # the compiled copy, as for keys
        source=source,
        pointer=pointer,
        flag_fingerprints=(
            _Fingerprints(env) if isinstance(env, LazyEnvironment)
            else {key: _fingerprint(flags[key]) for key in env.flag_keys}),
        segment_fingerprints=(
            {_copy(key): _fingerprint(value) for key, value in segments.items()}
            if isinstance(segments, Mapping) else {}
        ),
        dependents=(_LazyDependents(env) if isinstance(env, LazyEnvironment)
                    else _dependents(flags, env.flag_keys)),
    )


def _report_newer(env: CompiledEnvironment, revision: object, features: object) -> None:
    """Log, once per loaded bundle, what in it this reader cannot evaluate (those clauses
    never match; each detail of an affected flag says so in its ``error_message``).

    A lazy environment's warnings take a compilation of every flag (0.5 s for 10,000):
    the cold start pays it only when the document declares an engine feature this reader
    does not know — a publisher names every feature its flags use (``features``), so a
    document without one has nothing newer to report (a hand-made one still has each
    affected detail's message, and ``env.warnings`` when read)."""
    if isinstance(env, LazyEnvironment) and not (
            isinstance(features, list) and not KNOWN_FEATURES.issuperset(
                f for f in features if isinstance(f, str))):
        return
    newer = [p for p in env.warnings if p.code in _NEWER]
    if newer:
        shown = "; ".join(str(p) for p in newer[:_NEWER_SHOWN])
        more = f"; and {len(newer) - _NEWER_SHOWN} more" if len(newer) > _NEWER_SHOWN else ""
        log.warning("bundle revision %s uses %d thing(s) this reader does not support "
                    "(upgrade edge_reader): %s%s", revision, len(newer), shown, more)


def changed_flags(old: Snapshot | None, new: Snapshot) -> frozenset[str]:
    """Flags whose evaluation may differ between ``old`` and ``new`` (all flags if no ``old``).

    Direct changes (added, removed, canonical JSON differs), plus flags that reference a
    changed segment, plus — transitively — flags that list a changed flag as prerequisite.
    """
    if old is None:
        return frozenset(new.flag_fingerprints)
    changed = _diff(old.flag_fingerprints, new.flag_fingerprints)
    seeds = set(changed) | {
        "segment:" + s for s in _diff(old.segment_fingerprints, new.segment_fingerprints)
    }
    # Walk dependents (segment → flags, prerequisite flag → flags) until nothing new appears.
    stack = list(seeds)
    while stack:
        key = stack.pop()
        for dependent in new.dependents.get(key, ()):
            if dependent not in changed:
                changed.add(dependent)
                stack.append(dependent)
    return frozenset(changed)


def _diff(old: Mapping[str, int], new: Mapping[str, int]) -> set[str]:
    keys = set(old) | set(new)
    return {k for k in keys if old.get(k) != new.get(k)}


def _copy(key: Any) -> Any:
    """A string the document does not hold (a join always builds a new one; ``str(key)``
    would return ``key`` itself); anything else as it is."""
    return "".join((key, "")) if isinstance(key, str) else key


class _Fingerprints(Mapping[str, int]):
    """A lazy environment's flag fingerprints, computed on the first lookup.

    Why lazy: a reader's first snapshot needs only the keys (every flag is "changed"); the
    values matter at the next swap, which then pays for them (in the poller's thread, or the
    refreshing Lambda call), not the cold start. Computed from the environment's own copy of
    each flag (``LazyEnvironment.flag_document``): the same values as from the document.
    """

    __slots__ = ("_env", "_values")

    def __init__(self, env: LazyEnvironment) -> None:
        self._env = env
        self._values: dict[str, int] | None = None

    def _all(self) -> dict[str, int]:
        values = self._values
        if values is None:  # two threads may both compute it: same values, no harm
            env = self._env
            values = self._values = {key: _fingerprint(env.flag_document(key))
                                     for key in env.flag_keys}
        return values

    def __getitem__(self, key: str) -> int:
        return self._all()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._env.flag_keys)

    def __len__(self) -> int:
        return len(self._env.flag_keys)


class _LazyDependents(Mapping[str, frozenset[str]]):
    """A lazy environment's dependents index, built on first use from its own copy of each
    flag: the same values as ``_dependents`` of the document. Why lazy: a lazily decoded
    document (bundle/document.py) holds its flags as text, and walking their rules at load
    would decode all 10,000; the index matters only at the next swap (changed_flags)."""

    __slots__ = ("_env", "_index")

    def __init__(self, env: LazyEnvironment) -> None:
        self._env = env
        self._index: dict[str, frozenset[str]] | None = None

    def _all(self) -> dict[str, frozenset[str]]:
        index = self._index
        if index is None:  # two threads may both compute it: same values, no harm
            env = self._env
            keys = env.flag_keys
            index = self._index = _dependents({k: env.flag_document(k) for k in keys}, keys)
        return index

    def __getitem__(self, key: str) -> frozenset[str]:
        return self._all()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


def _fingerprint(value: Any) -> int:
    try:
        return hash(orjson.dumps(value, option=orjson.OPT_SORT_KEYS))
    except TypeError:
        return hash(repr(value))


def _dependents(flags: Mapping[str, Any], keys: Iterable[str]) -> dict[str, frozenset[str]]:
    """Reverse index: ``segment:<s>`` or ``<flag>`` → flags that depend on it.

    ``keys`` are the flags' keys as the compiled environment holds them (see above)."""
    index: dict[str, set[str]] = {}
    # `_is_mapping`, not isinstance: the ABC check dominated this walk (10,000 flags: most of
    # a snapshot's cost once compiling is deferred, engine/_lazy.py).
    for key in keys:
        flag = flags[key]
        if not _is_mapping(flag):
            continue
        for prereq in _as_list(flag.get("prerequisites")):
            if _is_mapping(prereq) and isinstance(prereq.get("flag"), str):
                index.setdefault(_copy(prereq["flag"]), set()).add(key)
        for rule in _as_list(flag.get("rules")):
            if not _is_mapping(rule):
                continue
            for seg in segment_keys(_as_list(rule.get("clauses"))):  # groups too
                index.setdefault("segment:" + seg, set()).add(key)
    return {k: frozenset(v) for k, v in index.items()}


def _is_mapping(value: Any) -> bool:
    return value.__class__ is dict or isinstance(value, Mapping)


def _as_list(value: Any) -> Iterable[Any]:
    return value if isinstance(value, list) else ()
