"""List segments: membership of a million ids by keyed hash, delivered apart from the bundle.

A segment with ``"type": "list"`` names its members nowhere in the document. The publisher
stores them as sorted 64-bit keyed hashes in encrypted shards beside the bundle, and puts
a reference in the *server* document's segment (``list``: the manifest's object key and
SHA-256, the member count and the list secret). Readers fetch the shards and fill the
segment's :class:`ListSlot`; until then a clause on the list does not match and the flag's
detail says why (``error_message``, the reason itself unchanged).

Why a keyed hash: member ids are often e-mail addresses, which must not sit in a CDN
cache in clear, even encrypted. ``BLAKE2b(id, key=member key, digest_size=8)`` is a PRF
(RFC 7693's keyed mode — no HMAC double hash, measured at about half of
``hmac.digest(..., "sha256")`` per lookup), so without the key a shard reveals nothing about
who is in it, and with 8 bytes a non-member collides with one of a million members with
probability 10^6 / 2^64 ≈ 5e-14. The key never travels with the shards: it is derived from
the list secret, which reaches a reader only inside the envelope-encrypted server bundle
(like the bundle's data key, it opens for an SDK key or a KMS grant of that environment).

Memory: a shard is a sorted ``array('Q')`` (8 bytes a member: 8 MB per million) searched
with the C ``bisect``; a Python set would cost about 70 bytes a member.

Everything here is pure (stdlib only): the engine's import rules apply.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
import sys
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from ._validate import get_int, get_str, type_name
from .context import Kinds
from .detail import EvaluationDetail
from .errors import Problems
from .fields import RULES_ONLY_SEGMENT_FIELDS

MEMBER_HASH_BYTES: Final = 8
SHARD_BITS: Final = 8  # 256 shards: ~31 KB each for a million members
SHARD_COUNT: Final = 1 << SHARD_BITS
SECRET_BYTES: Final = 32
LIST_TYPE: Final = "list"
_SHIFT: Final = MEMBER_HASH_BYTES * 8 - SHARD_BITS
_SEGMENT_OPS: Final = frozenset({"segment_match", "segmentMatch"})
_REF_FIELDS: Final = frozenset({"manifest", "sha256", "members", "secret", "seq"})
_HEX64 = frozenset("0123456789abcdef")


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A 32-byte key for ``purpose`` (``"member"`` or ``"shard"``) from a list secret.

    BLAKE2b keyed with the secret over a fixed label: one secret, independent keys for
    hashing members and for encrypting shards.
    """
    return hashlib.blake2b(f"vexil list {purpose} key v1".encode(), key=secret,
                           digest_size=32).digest()


def member_hash(member_key: bytes, member: str) -> int:
    """The 64-bit keyed hash of one member id (what shards store; big-endian int)."""
    digest = hashlib.blake2b(member.encode("utf-8", "surrogatepass"), key=member_key,
                             digest_size=MEMBER_HASH_BYTES).digest()
    return int.from_bytes(digest, "big")


def shard_of(hashed: int) -> int:
    """The shard (the hash's top ``SHARD_BITS`` bits) a hashed member lives in."""
    return hashed >> _SHIFT


def encode_secret(secret: bytes) -> str:
    """The list secret as it appears in a document (base64url, no padding)."""
    return base64.urlsafe_b64encode(secret).rstrip(b"=").decode("ascii")


def decode_secret(text: str) -> bytes | None:
    """The list secret of a document, or None if ``text`` is not 32 base64url bytes."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == SECRET_BYTES else None


class Membership:
    """The members of one list, ready for lookups; immutable, shared between threads.

    The shards (each sorted, shard ``i`` holding the hashes whose top bits are ``i``) are
    joined into one sorted run of 8-byte big-endian hashes in a ``bytes`` object, and a
    bucket index on the hash's top ``bits`` bits (about four members a bucket) gives the
    byte range a member must be in. A lookup is then one keyed hash, two index reads and a
    C ``bytes.find`` over ~32 bytes with the digest itself — no Python int per element read
    (a C ``bisect`` over ``array('Q')`` creates one per comparison and cost twice as much).
    Memory: 8 bytes a member plus 8 bytes a bucket (about 10 MB per million).
    """

    __slots__ = ("_blob", "_hasher", "_key", "_memo", "_offsets", "_shift", "_sub", "count")

    def __init__(self, member_key: bytes, shards: Sequence[array[int]]) -> None:
        """Join ``shards`` (``SHARD_COUNT`` sorted arrays, in shard order) and index them."""
        if len(shards) != SHARD_COUNT:
            raise ValueError(f"expected {SHARD_COUNT} shards, got {len(shards)}")
        self._key = member_key
        # Keyed once: ``copy()`` + ``update`` skips BLAKE2b's key block per lookup (same
        # digest as ``member_hash``; ~20% of the hash's cost).
        self._hasher = hashlib.blake2b(key=member_key, digest_size=MEMBER_HASH_BYTES)
        # The last (context key object, digest): a context evaluated against many flags on
        # this list (``evaluate_all``) is hashed once. Compared by identity, and the memo
        # holds the key, so its id cannot be reused while it is here; one tuple store, so
        # threads see either the old pair or the new one.
        self._memo: tuple[object, bytes] = (None, b"")
        self.count: int = sum(len(shard) for shard in shards)
        bits = min(max((self.count // 4).bit_length(), SHARD_BITS), 22)
        self._shift = MEMBER_HASH_BYTES * 8 - bits
        # One preallocated buffer, filled shard by shard: no second full-size copy (a joined
        # array plus its bytes would leave ~6 MB per million behind in the allocator).
        blob = bytearray(8 * self.count)
        offsets = array("Q")  # offsets[b] = byte offset of the first hash with top bits >= b
        sub = self._sub = 1 << (bits - SHARD_BITS)
        base = 0
        for index, shard in enumerate(shards):
            first = index * sub
            offsets.extend(8 * (base + bisect_left(shard, (first + j) << self._shift))
                           for j in range(sub))
            chunk = array("Q", shard)
            if sys.byteorder == "little":
                chunk.byteswap()  # big-endian: what digest() returns
            blob[8 * base:8 * (base + len(shard))] = chunk.tobytes()
            base += len(shard)
        offsets.append(8 * self.count)
        self._offsets = offsets
        self._blob = blob  # private and never written again: bytearray.find, no extra copy

    def __repr__(self) -> str:
        return f"Membership({self.count} members)"

    def shard(self, index: int) -> array[int]:
        """Shard ``index`` again (sorted hashes): a reader reuses the shards a new manifest
        did not change instead of downloading them."""
        start = self._offsets[index * self._sub]
        end = self._offsets[(index + 1) * self._sub]
        out = array("Q")
        out.frombytes(bytes(self._blob[start:end]))
        if sys.byteorder == "little":
            out.byteswap()
        return out

    def contains(self, member: str) -> bool:
        """True when ``member`` (a context key) is in the list. Never raises for a str."""
        try:
            data = member.encode()
        except UnicodeEncodeError:  # a lone surrogate: hashed as the writer hashed it
            data = member.encode("utf-8", "surrogatepass")
        hasher = self._hasher.copy()
        hasher.update(data)
        digest = hasher.digest()
        bucket = int.from_bytes(digest, "big") >> self._shift
        offsets = self._offsets
        start, end = offsets[bucket], offsets[bucket + 1]
        pos = self._blob.find(digest, start, end)
        while pos >= 0 and pos & 7:  # a match across two entries: not a member, look on
            pos = self._blob.find(digest, pos + 1, end)
        return pos >= 0


def empty_shards() -> list[array[int]]:
    """``SHARD_COUNT`` empty shards."""
    return [array("Q") for _ in range(SHARD_COUNT)]


@dataclass(frozen=True, slots=True)
class ListRef:
    """Where a published list lives: its manifest's object key and SHA-256, and its secret.

    ``repr`` hides the secret.
    """

    manifest: str
    sha256: str
    members: int
    seq: int
    secret: bytes = field(repr=False)


@dataclass(slots=True, eq=False)
class ListSlot:
    """One list segment of a compiled environment: the reference and, once loaded, members.

    The reader writes ``members`` (one attribute store, atomic in CPython) after fetching
    and verifying the shards; clauses read it on every evaluation. ``stale`` says the
    members are an older list's (the new one failed to load: the last good is kept).
    """

    segment: str
    context_kind: str
    ref: ListRef | None
    absent_reason: str  # why ``ref`` is None, or "not loaded yet"
    members: Membership | None = None
    stale: bool = False

    @property
    def why(self) -> str:
        """The detail's message while the list cannot answer."""
        return (f"list segment {self.segment!r} is not loaded ({self.absent_reason}): "
                "its clauses did not match")


def compile_list_segment(
    key: str, raw: Mapping[str, Any], path: str, problems: Problems, kind: str,
) -> ListSlot:
    """Check a ``type: list`` segment and return its (empty) slot.

    A list segment has no ``included``/``excluded``/``rules`` (its members are the list).
    Without ``list`` (the API's stored form, a client-scope document, or a list never
    published) the slot stays empty and its clauses never match.
    """
    for name in RULES_ONLY_SEGMENT_FIELDS:
        if raw.get(name):
            problems.error(f"{path}.{name}", "a list segment takes its members from its list, "
                           f"not from {name!r}", "list_segment")
    ref_raw = raw.get("list")
    if ref_raw is None:
        return ListSlot(key, kind, None,
                        "no list in this bundle: a client bundle, or no members yet")
    ref = _parse_ref(ref_raw, f"{path}.list", problems)
    if ref is None:
        return ListSlot(key, kind, None, "invalid list reference")
    return ListSlot(key, kind, ref, "not loaded yet")


def _parse_ref(raw: object, path: str, problems: Problems) -> ListRef | None:
    if not isinstance(raw, Mapping):
        problems.error(path, f"must be an object, got {type_name(raw)}", "type")
        return None
    before = len(problems.errors)
    for name in raw:
        if name not in _REF_FIELDS:
            problems.error(f"{path}.{name}", "unknown field", "unknown_field")
    manifest = get_str(raw, "manifest", path, problems, max_length=1024)
    sha = get_str(raw, "sha256", path, problems, max_length=64)
    members = get_int(raw, "members", path, problems)
    seq = get_int(raw, "seq", path, problems)
    text = get_str(raw, "secret", path, problems, max_length=64)
    secret = decode_secret(text) if text is not None else None
    if text is not None and secret is None:
        problems.error(f"{path}.secret", "must be 32 bytes in base64url", "invalid_secret")
    if sha is not None and (len(sha) != 64 or not set(sha) <= _HEX64):
        problems.error(f"{path}.sha256", "must be 64 lowercase hex digits", "pattern")
    if (len(problems.errors) > before or manifest is None or sha is None or members is None
            or seq is None or secret is None):
        if len(problems.errors) == before:
            problems.error(path, "needs manifest, sha256, members, seq and secret", "required")
        return None
    return ListRef("".join((manifest, "")), "".join((sha, "")), members, seq, secret)


def list_matcher(slot: ListSlot) -> Callable[[Kinds], bool]:
    """The segment's condition: the context's key of the segment's kind is a member.

    The membership test is written out here rather than calling ``Membership.contains``:
    one Python call less on every evaluation of a flag on a list (the same steps).
    """
    kind = slot.context_kind
    from_bytes = int.from_bytes

    def in_list(kinds: Kinds) -> bool:
        members = slot.members
        if members is None:
            return False
        attrs = kinds.get(kind)
        if attrs is None:
            return False
        key = attrs.get("key")
        if key.__class__ is not str:
            return False
        memo = members._memo
        if memo[0] is key:
            digest = memo[1]
        else:
            try:
                data = key.encode()
            except UnicodeEncodeError:
                return members.contains(key)
            hasher = members._hasher.copy()
            hasher.update(data)
            digest = hasher.digest()
            members._memo = (key, digest)
        bucket = from_bytes(digest, "big") >> members._shift
        offsets = members._offsets
        end = offsets[bucket + 1]
        pos = members._blob.find(digest, offsets[bucket], end)
        if pos & 7:  # -1 (absent) or a match across two entries: the careful path
            return pos >= 0 and members.contains(key)
        return True

    in_list.list_slot = slot  # type: ignore[attr-defined]
    return in_list


def _segment_names(node: object, out: set[str]) -> None:
    """Every segment named by a ``segment_match`` anywhere inside ``node`` (any nesting)."""
    if isinstance(node, Mapping):
        if node.get("op") in _SEGMENT_OPS:
            out.update(v for v in node.get("values") or () if isinstance(v, str))
        for value in node.values():
            if isinstance(value, Mapping | list):
                _segment_names(value, out)
    elif isinstance(node, list):
        for item in node:
            _segment_names(item, out)


def lists_reached(
    raw_flag: object, raw_segments: Mapping[str, Any], slots: Mapping[str, ListSlot],
) -> tuple[ListSlot, ...]:
    """The list slots a flag's rules reach through segments (transitively)."""
    todo: set[str] = set()
    _segment_names(raw_flag, todo)
    seen: set[str] = set()
    found: list[ListSlot] = []
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in slots:
            found.append(slots[name])
        else:
            _segment_names(raw_segments.get(name), todo)
    return tuple(sorted(found, key=lambda s: s.segment))


Run = Callable[[Kinds], EvaluationDetail]


def guard_runs(
    runs: dict[str, Run], raw_flags: Mapping[str, Any], raw_segments: Mapping[str, Any],
    slots: Mapping[str, ListSlot],
) -> None:
    """Wrap the run of every flag reaching a list, so its detail says when a list is not
    loaded (the value is what the flag serves with that list matching no one)."""
    if not slots:
        return
    for key, run in list(runs.items()):
        reached = lists_reached(raw_flags.get(key), raw_segments, slots)
        if reached:
            runs[key] = _guarded(run, reached)


def _guarded(run: Run, slots: tuple[ListSlot, ...]) -> Run:
    if len(slots) == 1:
        (only,) = slots

        def guarded_one(kinds: Kinds) -> EvaluationDetail:
            detail = run(kinds)
            if only.members is None:
                return EvaluationDetail(detail.value, detail.variant, detail.reason,
                                        detail.error_code, only.why, detail.rule_index,
                                        detail.rule_id, detail.flag_metadata)
            return detail

        return guarded_one

    def guarded(kinds: Kinds) -> EvaluationDetail:
        detail = run(kinds)
        for slot in slots:
            if slot.members is None:
                return EvaluationDetail(detail.value, detail.variant, detail.reason,
                                        detail.error_code, slot.why, detail.rule_index,
                                        detail.rule_id, detail.flag_metadata)
        return detail

    return guarded



def split_shards(hashes: Iterable[int]) -> list[array[int]]:
    """Hashed members (any order, duplicates allowed) as ``SHARD_COUNT`` sorted shards."""
    buckets: list[list[int]] = [[] for _ in range(SHARD_COUNT)]
    for h in hashes:
        buckets[h >> _SHIFT].append(h)
    return [array("Q", sorted(set(b))) for b in buckets]


MAX_ID_LENGTH: Final = 1024
_ID_HEADERS: Final = frozenset({"id", "key", "member", "targeting_key"})


@dataclass(slots=True)
class MemberFile:
    """A parsed member file: distinct ids in order, duplicates dropped, bad lines."""

    ids: list[str] = field(default_factory=list)
    duplicates: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line number, why)


def parse_member_file(text: str, fmt: str) -> MemberFile:
    """Parse a member file — ``csv`` (first column; a header ``id``/``key`` skipped; blank
    lines skipped) or ``ndjson`` (a JSON string, or an object with a string ``id``/``key``,
    per line) — the one rule the API's imports and the CLI both apply."""
    out = MemberFile()
    seen: dict[str, None] = {}
    total = 0
    rows = _csv_rows(text) if fmt == "csv" else _ndjson_rows(text)
    for number, value, found in rows:
        problem = found
        if problem is None and (not value or len(value) > MAX_ID_LENGTH):
            problem = f"an id must be 1-{MAX_ID_LENGTH} characters"
        if problem is not None or value is None:
            out.problems.append((number, problem or "no id"))
            continue
        total += 1
        seen[value] = None
    out.ids = list(seen)
    out.duplicates = total - len(seen)
    return out


_Row = tuple[int, "str | None", "str | None"]


def _csv_rows(text: str) -> Iterable[_Row]:
    reader = csv.reader(io.StringIO(text))
    try:
        for row in reader:
            if not row or not any(cell.strip() for cell in row):
                continue
            value = row[0].strip()
            if reader.line_num == 1 and value.lower() in _ID_HEADERS:
                continue
            yield reader.line_num, value, None
    except csv.Error as exc:
        yield reader.line_num, None, f"not CSV ({exc})"


def _ndjson_rows(text: str) -> Iterable[_Row]:
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, None, f"not JSON ({exc.msg})"
            continue
        except RecursionError:  # a hostile line of 100,000 '[': its number, not line 0
            yield number, None, "not JSON (nested too deeply)"
            continue
        if isinstance(doc, dict):
            doc = doc.get("id", doc.get("key"))
        if not isinstance(doc, str):
            yield number, None, "expected a JSON string or an object with a string id/key"
            continue
        yield number, doc, None
