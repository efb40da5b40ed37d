"""List shards and manifests on S3: the published form of a list segment.

Layout (beside the environment's bundles, so the CDN serves them like bundles)::

    bundles/<p>/<e>/lists/<segment>/<sha256>.shard       immutable, content-addressed
    bundles/<p>/<e>/lists/<segment>/<sha256>.manifest    immutable, content-addressed

A **shard** holds the keyed hashes (engine/lists.py) whose top 8 bits are its index,
sorted, 8 bytes little-endian each, behind a magic line, encrypted with AES-256-GCM under
the list's shard key (derived from the list secret, which only the envelope-encrypted
server bundle carries). The nonce is synthetic — the first 12 bytes of a BLAKE2b MAC of the
plaintext under the shard key — so equal plaintexts give equal ciphertexts (a delta leaves
untouched shards byte-identical: same object key, nothing rewritten) and different
plaintexts get different nonces (a 96-bit PRF output: a repeat is a 2^-48 event after 2^24
shards). The associated data binds project, environment, segment and index, so a shard
copied to another place does not open. The object key is the SHA-256 of the ciphertext.

The **manifest** is canonical JSON (not secret: counts and digests only)::

    {"format": 1, "project", "environment", "segment", "seq", "members", "shard_bits": 8,
     "shards": [null | {"key", "sha256", "size", "members"}, ... 256 entries]}

An empty shard is ``null`` (no object, no request). The server bundle's segment names the
manifest's key and SHA-256, so the signed pointer covers the bundle, the bundle the
manifest, and the manifest every shard: each is verified by digest before it is believed.
"""

from __future__ import annotations

import hashlib
import re
import sys
from array import array
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from edge_reader.bundle.errors import BundleFormatError
from edge_reader.bundle.pointer import pointer_object_key
from edge_reader.engine.lists import SHARD_BITS, SHARD_COUNT, derive_key, shard_of

MANIFEST_FORMAT = 1
_MAGIC = b"VEXILSHARD1\n"
_NONCE = 12
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_SHARD_FIELDS = frozenset({"key", "sha256", "size", "members"})
_MANIFEST_FIELDS = frozenset({"format", "project", "environment", "segment", "seq", "members",
                              "shard_bits", "shards"})


def lists_prefix(project: str, environment: str, segment: str) -> str:
    """The S3 prefix of one list segment's shards and manifests."""
    base = pointer_object_key(project, environment, "server").rsplit("/", 1)[0]
    return f"{base}/lists/{segment}/"


def shard_object_key(project: str, environment: str, segment: str, sha256: str) -> str:
    """S3 key of a shard: content-addressed by the SHA-256 of its ciphertext."""
    return f"{lists_prefix(project, environment, segment)}{sha256}.shard"


def manifest_object_key(project: str, environment: str, segment: str, sha256: str) -> str:
    """S3 key of a manifest: content-addressed by the SHA-256 of its bytes."""
    return f"{lists_prefix(project, environment, segment)}{sha256}.manifest"


def _aad(project: str, environment: str, segment: str, index: int) -> bytes:
    return "\0".join(("vexil list shard v1", project, environment, segment, str(index))).encode()


def _le(values: array[int]) -> bytes:
    if sys.byteorder == "little":
        return values.tobytes()
    swapped = array("Q", values)
    swapped.byteswap()
    return swapped.tobytes()


def encrypt_shard(secret: bytes, where: tuple[str, str, str], index: int,
                  hashes: array[int]) -> bytes:
    """The ciphertext of shard ``index`` holding ``hashes`` (sorted, all in that shard)."""
    shard_key = derive_key(secret, "shard")
    plaintext = _MAGIC + _le(hashes)
    nonce = hashlib.blake2b(plaintext, key=shard_key, digest_size=_NONCE).digest()
    return nonce + AESGCM(shard_key).encrypt(nonce, plaintext, _aad(*where, index))


def decrypt_shard(secret: bytes, where: tuple[str, str, str], index: int,
                  ciphertext: bytes) -> array[int]:
    """The sorted hashes of shard ``index``; ``BundleFormatError`` unless it opens, is
    well-formed, sorted and every hash belongs to that shard."""
    try:
        plaintext = AESGCM(derive_key(secret, "shard")).decrypt(
            ciphertext[:_NONCE], ciphertext[_NONCE:], _aad(*where, index))
    except (InvalidTag, ValueError) as exc:
        raise BundleFormatError(f"shard {index}: does not open ({type(exc).__name__})") from exc
    body = plaintext[len(_MAGIC):]
    if not plaintext.startswith(_MAGIC) or len(body) % 8:
        raise BundleFormatError(f"shard {index}: malformed plaintext")
    values = array("Q")
    values.frombytes(body)
    if sys.byteorder != "little":
        values.byteswap()
    if values and (shard_of(values[0]) != index or shard_of(values[-1]) != index):
        raise BundleFormatError(f"shard {index}: holds hashes of another shard")
    as_list = values.tolist()
    if as_list != sorted(set(as_list)):  # C-speed: bisect needs strictly ascending hashes
        raise BundleFormatError(f"shard {index}: not strictly sorted")
    return values


@dataclass(frozen=True, slots=True)
class ShardEntry:
    """One manifest entry: where a non-empty shard is and what it must hash to."""

    key: str
    sha256: str
    size: int
    members: int


@dataclass(frozen=True, slots=True)
class Manifest:
    """A decoded manifest (see the module docstring)."""

    project: str
    environment: str
    segment: str
    seq: int
    members: int
    shards: tuple[ShardEntry | None, ...]


def encode_manifest(manifest: Manifest) -> bytes:
    """Canonical bytes of ``manifest`` (sorted keys, no whitespace)."""
    return orjson.dumps({
        "format": MANIFEST_FORMAT, "project": manifest.project,
        "environment": manifest.environment, "segment": manifest.segment,
        "seq": manifest.seq, "members": manifest.members, "shard_bits": SHARD_BITS,
        "shards": [None if s is None else {"key": s.key, "sha256": s.sha256, "size": s.size,
                                           "members": s.members} for s in manifest.shards],
    }, option=orjson.OPT_SORT_KEYS)


def decode_manifest(data: bytes, where: tuple[str, str, str]) -> Manifest:
    """Parse and check a manifest for ``(project, environment, segment)``; raise
    ``BundleFormatError`` naming what is wrong."""
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BundleFormatError(f"manifest: not JSON ({exc})") from exc
    if not isinstance(raw, dict) or set(raw) != _MANIFEST_FIELDS:
        raise BundleFormatError("manifest: wrong fields")
    if raw["format"] != MANIFEST_FORMAT or raw["shard_bits"] != SHARD_BITS:
        raise BundleFormatError("manifest: unknown format or shard_bits")
    if (raw["project"], raw["environment"], raw["segment"]) != where:
        raise BundleFormatError("manifest: names another list")
    shards = raw["shards"]
    if not isinstance(shards, list) or len(shards) != SHARD_COUNT:
        raise BundleFormatError(f"manifest: shards must be {SHARD_COUNT} entries")
    entries = tuple(_entry(s, i, where) for i, s in enumerate(shards))
    for name in ("seq", "members"):
        if not isinstance(raw[name], int) or isinstance(raw[name], bool) or raw[name] < 0:
            raise BundleFormatError(f"manifest: {name} must be a non-negative integer")
    if sum(e.members for e in entries if e is not None) != raw["members"]:
        raise BundleFormatError("manifest: member counts disagree")
    return Manifest(*where, raw["seq"], raw["members"], entries)


def _entry(raw: Any, index: int, where: tuple[str, str, str]) -> ShardEntry | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or set(raw) != _SHARD_FIELDS:
        raise BundleFormatError(f"manifest: shard {index} has wrong fields")
    sha, size, members = raw["sha256"], raw["size"], raw["members"]
    if not isinstance(sha, str) or not _SHA256_RE.fullmatch(sha):
        raise BundleFormatError(f"manifest: shard {index} sha256 is not 64 hex digits")
    if raw["key"] != shard_object_key(*where, sha):
        raise BundleFormatError(f"manifest: shard {index} key is not its content address")
    for value in (size, members):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise BundleFormatError(f"manifest: shard {index} size/members invalid")
    return ShardEntry(raw["key"], sha, size, members)

