"""The pointer: a tiny JSON object naming the current immutable bundle of one scope.

Layout (see docs/architecture.md)::

    bundles/<p>/<e>/<revision>-<sha256>.bundle                 scope "server"
    bundles/<p>/<e>/current.json
    bundles/<p>/<e>/scopes/<scope>/<revision>-<sha256>.bundle  other scopes
    bundles/<p>/<e>/scopes/<scope>/current.json
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from typing import Any

import orjson

from edge_reader.bundle.errors import BundleFormatError
from edge_reader.engine.keys import KEY_RULE, is_key

POINTER_FORMAT = 1
SERVER_SCOPE = "server"
CLIENT_SCOPE = "client"
BUNDLE_PREFIX = "bundles/"

# "server", "client" or "key-<keyid>" (keyid: 10 lowercase base32 characters).
_SCOPE_RE = re.compile(r"^(server|client|key-[a-z2-7]{10})$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def _check_name(field: str, value: str) -> None:
    if not is_key(value):
        raise BundleFormatError(f"{field}: must match {KEY_RULE}, got {value!r}")


def check_scope(scope: str) -> None:
    """Raise :class:`BundleFormatError` unless ``scope`` is server, client or key-<keyid>."""
    if not isinstance(scope, str) or not _SCOPE_RE.fullmatch(scope):
        raise BundleFormatError(
            f"scope: must be 'server', 'client' or 'key-<keyid>', got {scope!r}"
        )


def _scope_prefix(project: str, environment: str, scope: str) -> str:
    _check_name("project", project)
    _check_name("environment", environment)
    check_scope(scope)
    base = f"{BUNDLE_PREFIX}{project}/{environment}/"
    return base if scope == SERVER_SCOPE else f"{base}scopes/{scope}/"


def bundle_object_key(
    project: str, environment: str, scope: str, revision: int, sha256: str
) -> str:
    """S3 key of an immutable bundle; revision and content hash make it unique forever."""
    if not isinstance(revision, int) or isinstance(revision, bool) or revision < 0:
        raise BundleFormatError(f"revision: must be a non-negative integer, got {revision!r}")
    if not isinstance(sha256, str) or not _SHA256_RE.fullmatch(sha256):
        raise BundleFormatError("sha256: must be 64 lowercase hex characters")
    return f"{_scope_prefix(project, environment, scope)}{revision}-{sha256}.bundle"


def pointer_object_key(project: str, environment: str, scope: str) -> str:
    """S3 key of the pointer (``current.json``) of one scope of one environment."""
    return f"{_scope_prefix(project, environment, scope)}current.json"


@dataclass(frozen=True, slots=True)
class Pointer:
    """What ``current.json`` says: which immutable object is live, and its hash and size.

    ``sha256`` and ``size`` describe the *encrypted* object bytes, so a reader can verify
    what it downloaded before spending a decrypt on it.
    """

    format: int
    project: str
    environment: str
    scope: str
    revision: int
    key: str
    sha256: str
    size: int
    generated_at: str
    # Unix seconds after which a reader that verifies signatures refuses this pointer
    # (docs/security.md, "Freshness"); the publisher re-signs before then. None: no expiry
    # (unsigned pointers, and signed pointers from before expiry existed).
    expires_at: int | None = None
    # The publisher's signature (see edge_reader.bundle.signing); None on an unsigned pointer.
    signature: PointerSignature | None = None

    def unsigned(self) -> Pointer:
        """This pointer without its signature: what the signature covers."""
        return self if self.signature is None else replace(self, signature=None)


@dataclass(frozen=True, slots=True)
class PointerSignature:
    """The publisher's signature over a set of pointers written together.

    ``digests`` are the sha256 digests (hex, sorted) of every pointer of one publish, this
    one included; ``value`` (base64 of a DER ECDSA P-256 / SHA-256 signature) signs that
    list; ``key`` is the fingerprint (sha256 hex of the DER SubjectPublicKeyInfo) of the
    signing key, so a reader knows which of its trusted keys to check against.
    """

    key: str
    digests: tuple[str, ...]
    value: str


_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
_B64_RE = re.compile(r"^[A-Za-z0-9+/]{16,400}={0,2}$")
MAX_SIGNED_POINTERS = 1024  # far above any real scope count; bounds a hostile pointer


_POINTER_FIELDS: dict[str, type] = {
    "format": int,
    "project": str,
    "environment": str,
    "scope": str,
    "revision": int,
    "key": str,
    "sha256": str,
    "size": int,
    "generated_at": str,
}
# Optional members: absent from the JSON when None, so an older pointer's bytes (and the
# digest its signature covers) are unchanged.
_OPTIONAL_FIELDS = ("expires_at",)


def encode_pointer(pointer: Pointer) -> bytes:
    """Canonical JSON of a pointer (sorted keys); validates it first.

    An unsigned pointer has no ``signature`` member at all, so its bytes are exactly what a
    signature over it covers.
    """
    raw = asdict(pointer)
    signature = raw.pop("signature")
    for name in _OPTIONAL_FIELDS:
        if raw[name] is None:
            del raw[name]
    _validate_pointer(raw)
    if signature is not None:
        signature["digests"] = list(signature["digests"])
        _validate_signature(signature)
        raw["signature"] = signature
    return orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)


def decode_pointer(data: bytes) -> Pointer:
    """Parse and validate pointer JSON; raise :class:`BundleFormatError` naming the field."""
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BundleFormatError(f"pointer: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise BundleFormatError("pointer: expected a JSON object")
    signature = raw.pop("signature", None)
    _validate_pointer(raw)
    fields = {name: raw[name] for name in (*_POINTER_FIELDS, *_OPTIONAL_FIELDS) if name in raw}
    if signature is None:
        return Pointer(**fields)
    _validate_signature(signature)
    return Pointer(
        **fields,
        signature=PointerSignature(
            signature["key"], tuple(signature["digests"]), signature["value"]
        ),
    )


def _validate_signature(raw: object) -> None:
    if not isinstance(raw, dict):
        raise BundleFormatError("pointer.signature: expected an object")
    extra = set(raw) - {"key", "digests", "value"}
    if extra:
        raise BundleFormatError(f"pointer.signature: unknown field(s) {sorted(extra)}")
    key, digests, value = raw.get("key"), raw.get("digests"), raw.get("value")
    if not isinstance(key, str) or not _HEX64_RE.fullmatch(key):
        raise BundleFormatError("pointer.signature.key: expected 64 lowercase hex characters")
    if (
        not isinstance(digests, list)
        or not 1 <= len(digests) <= MAX_SIGNED_POINTERS
        or not all(isinstance(d, str) and _HEX64_RE.fullmatch(d) for d in digests)
    ):
        raise BundleFormatError(
            f"pointer.signature.digests: expected 1 to {MAX_SIGNED_POINTERS} sha256 hex digests"
        )
    if digests != sorted(set(digests)):
        raise BundleFormatError("pointer.signature.digests: must be sorted and distinct")
    if not isinstance(value, str) or not _B64_RE.fullmatch(value):
        raise BundleFormatError("pointer.signature.value: expected a base64 signature")


def _validate_pointer(raw: dict[str, Any]) -> None:
    for name, typ in _POINTER_FIELDS.items():
        if name not in raw:
            raise BundleFormatError(f"pointer.{name}: missing")
        value = raw[name]
        # bool is an int subclass: refuse it where an integer is meant.
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            raise BundleFormatError(
                f"pointer.{name}: expected {typ.__name__}, got {type(value).__name__}"
            )
    expires = raw.get("expires_at", 0)
    if not isinstance(expires, int) or isinstance(expires, bool) or expires < 0:
        raise BundleFormatError("pointer.expires_at: expected a non-negative integer")
    if raw["format"] != POINTER_FORMAT:
        raise BundleFormatError(f"pointer.format: unsupported format {raw['format']!r}")
    if raw["revision"] < 0 or raw["size"] < 0:
        raise BundleFormatError("pointer.revision/size: must be non-negative")
    expected_key = bundle_object_key(
        raw["project"], raw["environment"], raw["scope"], raw["revision"], raw["sha256"]
    )
    if raw["key"] != expected_key:
        # A pointer may only name the object its own fields describe: a tampered or
        # mis-built pointer cannot redirect a reader to another env's or scope's bundle.
        raise BundleFormatError(f"pointer.key: expected {expected_key!r}, got {raw['key']!r}")
    extra = set(raw) - set(_POINTER_FIELDS) - set(_OPTIONAL_FIELDS)
    if extra:
        raise BundleFormatError(f"pointer: unknown field(s) {sorted(extra)}")
