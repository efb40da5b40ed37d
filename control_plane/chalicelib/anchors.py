"""External anchors for the audit chains: the format, where they live, and the check.

Why: every record of a chain hashes its predecessor, so editing one record breaks the
chain — but someone with write access to the table can rewrite a whole chain and recompute
every hash. An anchor is a claim made outside the table: "chain C had hash H at seq N",
signed by the publisher's KMS key (the same key and signature format as pointers,
:func:`edge_reader.bundle.signing.sign_digest_set`) and written once to S3 (Object Lock in
AWS: nobody, the publisher included, can change or delete it during its retention). A
rewrite that touches any record at or before an anchored seq changes the hash at that seq
and is reported by :func:`check_anchors`; a rewrite of records after the newest anchor is
not (the residual risk, bounded by the anchoring cadence).

Object layout (one object per anchored head, never overwritten with different content)::

    anchors/env/<project>/<environment>/<seq:012d>-<hash>.json
    anchors/global/<seq:012d>-<hash>.json

The key repeats the claim so a listing alone says which anchors agree with the chain; only
anchors that are relied on (the newest agreeing one) or that disagree are fetched and
their signature verified. An anchor whose signature does not verify is refused: it is
reported, never believed, and never makes a chain fail.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from typing import Any

import orjson
from botocore.exceptions import ClientError

from chalicelib.audit import Chain
from chalicelib.canonical import canonical
from edge_reader.bundle.errors import BundleError
from edge_reader.bundle.pointer import PointerSignature
from edge_reader.bundle.signing import TrustedKey, verify_signed_digest

ANCHOR_FORMAT = 1
ANCHOR_PREFIX = "anchors/"
_ANCHOR_DOMAIN = b"vexil audit anchor v1\n"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_B64 = re.compile(r"[A-Za-z0-9+/]{16,400}={0,2}")
_NAME = re.compile(r"(?P<seq>[0-9]{12})-(?P<hash>[0-9a-f]{64})\.json")
MAX_ANCHOR_DIGESTS = 1024  # one anchor batch signs at most this many heads
_FIELDS = ("format", "project", "environment", "seq", "hash", "at")


class AnchorFormatError(ValueError):
    """Anchor JSON that is malformed, or whose content does not match its object name."""


@dataclass(frozen=True, slots=True)
class Anchor:
    """A signed claim: chain (project, environment; both None for the global chain) had
    record hash ``hash`` at ``seq`` when the publisher looked at ``at``."""

    project: str | None
    environment: str | None
    seq: int
    hash: str
    at: str
    signature: PointerSignature | None = None

    @classmethod
    def of_head(cls, chain: Chain, seq: int, head: str, at: str) -> Anchor:
        """The unsigned anchor of a chain's head."""
        return cls(chain.project, chain.environment, seq, head, at)

    def unsigned(self) -> Anchor:
        """This anchor without its signature (what the digest covers)."""
        return replace(self, signature=None)


def chain_prefix(chain: Chain) -> str:
    """The S3 prefix holding every anchor of ``chain``."""
    if chain.project is None or chain.environment is None:
        return f"{ANCHOR_PREFIX}global/"
    return f"{ANCHOR_PREFIX}env/{chain.project}/{chain.environment}/"


def _chain_of(anchor: Anchor) -> Chain:
    if anchor.project is None or anchor.environment is None:
        return Chain.global_chain()
    return Chain.for_environment(anchor.project, anchor.environment)


def object_key(anchor: Anchor) -> str:
    """Where ``anchor`` is stored: its chain's prefix, then seq and hash."""
    return f"{chain_prefix(_chain_of(anchor))}{anchor.seq:012d}-{anchor.hash}.json"


def parse_name(key: str, prefix: str) -> tuple[int, str] | None:
    """(seq, hash) from an anchor object key under ``prefix``; None for anything else."""
    match = _NAME.fullmatch(key[len(prefix):]) if key.startswith(prefix) else None
    return (int(match["seq"]), match["hash"]) if match else None


def _body(anchor: Anchor) -> dict[str, Any]:
    return {"format": ANCHOR_FORMAT, "project": anchor.project,
            "environment": anchor.environment, "seq": anchor.seq, "hash": anchor.hash,
            "at": anchor.at}


def anchor_digest(anchor: Anchor) -> str:
    """The digest a signature covers: SHA-256 of the anchor domain tag and the canonical
    unsigned anchor (the domain keeps it apart from pointer digests in one signed set)."""
    return hashlib.sha256(_ANCHOR_DOMAIN + canonical(_body(anchor)).encode("utf-8")).hexdigest()


def encode_anchor(anchor: Anchor) -> bytes:
    """Canonical JSON of an anchor, its signature included when it has one."""
    body = _body(anchor)
    if anchor.signature is not None:
        sig = anchor.signature
        body["signature"] = {"key": sig.key, "digests": list(sig.digests), "value": sig.value}
    return canonical(body).encode("utf-8")


def decode_anchor(data: bytes) -> Anchor:
    """Parse and validate anchor JSON; raise :class:`AnchorFormatError` naming the field."""
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise AnchorFormatError(f"anchor: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise AnchorFormatError("anchor: expected a JSON object")
    extra = set(raw) - {*_FIELDS, "signature"}
    if extra:
        raise AnchorFormatError(f"anchor: unknown field(s) {sorted(extra)}")
    if raw.get("format") != ANCHOR_FORMAT:
        raise AnchorFormatError(f"anchor.format: expected {ANCHOR_FORMAT}")
    project, environment = raw.get("project"), raw.get("environment")
    if not ((project is None and environment is None)
            or (isinstance(project, str) and isinstance(environment, str))):
        raise AnchorFormatError("anchor.project/environment: both strings, or both null")
    seq = raw.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise AnchorFormatError("anchor.seq: expected a positive integer")
    if not isinstance(raw.get("hash"), str) or not _HEX64.fullmatch(raw["hash"]):
        raise AnchorFormatError("anchor.hash: expected 64 lowercase hex characters")
    if not isinstance(raw.get("at"), str):
        raise AnchorFormatError("anchor.at: expected a string")
    signature = _signature(raw["signature"]) if "signature" in raw else None
    return Anchor(project, environment, seq, raw["hash"], raw["at"], signature)


def _signature(raw: Any) -> PointerSignature:
    if not isinstance(raw, dict) or set(raw) != {"key", "digests", "value"}:
        raise AnchorFormatError("anchor.signature: expected {key, digests, value}")
    key, digests, value = raw["key"], raw["digests"], raw["value"]
    if not isinstance(key, str) or not _HEX64.fullmatch(key):
        raise AnchorFormatError("anchor.signature.key: expected 64 lowercase hex characters")
    if (not isinstance(digests, list) or not 1 <= len(digests) <= MAX_ANCHOR_DIGESTS
            or not all(isinstance(d, str) and _HEX64.fullmatch(d) for d in digests)
            or digests != sorted(set(digests))):
        raise AnchorFormatError("anchor.signature.digests: expected sorted, distinct sha256 "
                                f"hex digests (1 to {MAX_ANCHOR_DIGESTS})")
    if not isinstance(value, str) or not _B64.fullmatch(value):
        raise AnchorFormatError("anchor.signature.value: expected a base64 signature")
    return PointerSignature(key, tuple(digests), value)


def verify_anchor(anchor: Anchor, trusted: list[TrustedKey]) -> None:
    """Raise :class:`edge_reader.bundle.errors.BundleError` (``SignatureError``) unless a
    ``trusted`` key signed exactly this anchor."""
    if anchor.signature is None:
        raise AnchorFormatError("the anchor is not signed")
    verify_signed_digest(anchor_digest(anchor), anchor.signature, trusted, what="anchor")


def load_verified(data: bytes, key: str, trusted: list[TrustedKey]) -> Anchor:
    """The anchor stored at object ``key``: decoded, its signature verified, and its content
    the claim its name makes. Raises :class:`AnchorFormatError` or ``BundleError``."""
    anchor = decode_anchor(data)
    if object_key(anchor) != key:
        raise AnchorFormatError(f"anchor content does not match its name {key}")
    verify_anchor(anchor, trusted)
    return anchor


RefusedError = (AnchorFormatError, BundleError)
"""What :func:`load_verified` raises for an anchor that must not be believed."""


class AnchorStore:
    """Anchor objects in one bucket (the bundle bucket locally; a bucket of their own with
    Object Lock in AWS, whose default retention locks every object on write)."""

    def __init__(self, s3: Any, bucket: str) -> None:
        """``s3``: a boto3 S3 client; ``bucket``: where ``anchors/`` lives."""
        self.s3 = s3
        self.bucket = bucket

    def put(self, anchor: Anchor) -> str:
        """Write a signed anchor; return its key."""
        key = object_key(anchor)
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=encode_anchor(anchor),
                           ContentType="application/json")
        return key

    def exists(self, anchor: Anchor) -> bool:
        """Whether this chain head is already anchored (so a periodic run can skip it)."""
        try:
            self.s3.head_object(Bucket=self.bucket, Key=object_key(anchor))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def listed(self, chain: Chain) -> list[tuple[int, str, str]]:
        """(seq, hash, key) of every anchor object of ``chain``, by seq (names only)."""
        prefix = chain_prefix(chain)
        found: list[tuple[int, str, str]] = []
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                  Prefix=prefix)
        for page in pages:
            for obj in page.get("Contents", []):
                parsed = parse_name(str(obj["Key"]), prefix)
                if parsed is not None:
                    found.append((*parsed, str(obj["Key"])))
        return sorted(found)

    def get(self, key: str) -> bytes:
        """The bytes of one anchor object."""
        return bytes(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
