"""Publisher signatures on pointers: a reader accepts only what the publisher signed.

Why: an ESDK message is signed with a key made for that one message, and every holder of
an SDK key can produce a message that other holders of the same key open. Encryption alone
therefore keeps bundles secret, but does not prove who made them. The publisher signs
with an asymmetric KMS key (ECC_NIST_P256, ``ECDSA_SHA_256``) that only it may use; readers
pin that key's public half, so a forged pointer (and through its sha256, a forged bundle)
is refused even by a reader whose SDK key could decrypt it.

What is signed: one publish writes a pointer per scope. Each pointer's digest is
``sha256("vexil pointer v1\\n" ‖ canonical unsigned pointer JSON)``; the publisher signs the
sorted list of all of them once (one KMS ``Sign`` per publish, however many scopes) and
every pointer carries that list and the signature. A reader checks that its own pointer's
digest is in the list and that the signature over the list verifies under a trusted key.
The list reveals nothing about other scopes but their digests.

This module is pure (``cryptography`` only): the KMS call is injected as ``sign_digest``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from edge_reader.bundle.errors import BundleError, BundleFormatError
from edge_reader.bundle.pointer import Pointer, PointerSignature, encode_pointer

# The KMS key spec and signing algorithm the publisher's key must have.
KEY_SPEC = "ECC_NIST_P256"
SIGNING_ALGORITHM = "ECDSA_SHA_256"
_POINTER_DOMAIN = b"vexil pointer v1\n"
_SET_DOMAIN = b"vexil pointer set v1\n"


class SignatureError(BundleError):
    """A pointer's signature is missing, made by an untrusted key, or does not verify."""


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """A public key readers accept pointer signatures from, with its fingerprint."""

    fingerprint: str
    public_key: ec.EllipticCurvePublicKey


def load_trusted_key(data: bytes | str) -> TrustedKey:
    """Load a P-256 public key from PEM text or DER bytes (as KMS ``GetPublicKey`` returns).

    Raises :class:`BundleFormatError` when it is not an EC public key on P-256.
    """
    raw = data.encode("ascii") if isinstance(data, str) else bytes(data)
    try:
        if raw.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(raw)
        else:
            key = serialization.load_der_public_key(raw)
    except (ValueError, TypeError) as exc:
        raise BundleFormatError(f"signing key: not a public key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise BundleFormatError("signing key: must be an EC public key on P-256 (ECC_NIST_P256)")
    return TrustedKey(key_fingerprint(key), key)


_PEM_BLOCK = re.compile(
    rb"-----BEGIN PUBLIC KEY-----\r?\n.*?-----END PUBLIC KEY-----", re.DOTALL
)


def load_trusted_keys(data: bytes | str) -> list[TrustedKey]:
    """Load every P-256 public key in ``data``: PEM text with one or more
    ``PUBLIC KEY`` blocks (a rotation file holds the old and the new key), or one DER key.

    Raises :class:`BundleFormatError` when there is no key, or any key is not on P-256.
    """
    raw = data.encode("ascii") if isinstance(data, str) else bytes(data)
    if b"-----BEGIN" not in raw:
        return [load_trusted_key(raw)]
    blocks = _PEM_BLOCK.findall(raw)
    if not blocks:
        raise BundleFormatError("signing key: no '-----BEGIN PUBLIC KEY-----' block")
    return [load_trusted_key(block) for block in blocks]


def public_key_pem(data: bytes | str) -> str:
    """The PEM text of a P-256 public key given as PEM or DER (KMS ``GetPublicKey``)."""
    key = load_trusted_key(data).public_key
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode("ascii")


def key_fingerprint(key: ec.EllipticCurvePublicKey) -> str:
    """sha256 (hex) of the key's DER SubjectPublicKeyInfo: the ``key`` named in signatures."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def pointer_digest(pointer: Pointer) -> str:
    """The digest of a pointer that a signature covers (its signature excluded)."""
    return hashlib.sha256(_POINTER_DOMAIN + encode_pointer(pointer.unsigned())).hexdigest()


def signed_digest(digests: Iterable[str]) -> bytes:
    """The 32-byte message actually signed: SHA-256 of the domain tag and the sorted digests.

    The publisher signs it as a RAW message (KMS hashes it once more with SHA-256), which
    keeps the request tiny whatever the scope count, and works the same on moto (which
    does not implement ``MessageType=DIGEST``) and on AWS.
    """
    return hashlib.sha256(_SET_DOMAIN + "\n".join(sorted(digests)).encode("ascii")).digest()


def sign_digest_set(
    digests: Iterable[str],
    *,
    key_fingerprint: str,
    sign_digest: Callable[[bytes], bytes],
) -> PointerSignature:
    """Sign a set of domain-separated digests with one call of ``sign_digest``.

    The one signature format of the publisher: pointers and audit anchors
    (:mod:`chalicelib.anchors`) each hash under their own domain tag, so a digest of one
    kind can never be taken for the other, and one publish signs both with one KMS call.
    ``sign_digest`` takes the 32-byte :func:`signed_digest` and returns a DER ECDSA P-256
    signature over it (KMS ``Sign``: ``SigningAlgorithm=ECDSA_SHA_256``, ``MessageType=RAW``).
    ``key_fingerprint`` names the signing key (:func:`key_fingerprint` of its public half).
    """
    ordered = tuple(sorted(set(digests)))
    value = base64.b64encode(sign_digest(signed_digest(ordered))).decode("ascii")
    return PointerSignature(key_fingerprint, ordered, value)


def sign_pointers(
    pointers: Sequence[Pointer],
    *,
    key_fingerprint: str,
    sign_digest: Callable[[bytes], bytes],
    extra_digests: Iterable[str] = (),
) -> list[Pointer]:
    """Return ``pointers`` signed together with one call of ``sign_digest``
    (:func:`sign_digest_set`; ``extra_digests``, e.g. an audit anchor's, join the set).
    """
    if not pointers:
        return []
    digests = {pointer_digest(p) for p in pointers} | set(extra_digests)
    signature = sign_digest_set(digests, key_fingerprint=key_fingerprint,
                                sign_digest=sign_digest)
    return [replace(p.unsigned(), signature=signature) for p in pointers]


def pointer_staleness(pointer: Pointer, now: float) -> str | None:
    """Why a signed pointer may no longer be believed at ``now`` (Unix seconds), else None.

    The freshness rule (docs/security.md): a pointer is good until its ``expires_at``; one
    without ``expires_at`` is never fresh, or any old genuine pointer could be replayed
    forever. Only meaningful together with :func:`verify_pointer` (an unsigned expiry is
    anyone's claim).
    """
    if pointer.expires_at is None:
        return "the pointer carries no expires_at (published before pointer expiry existed)"
    if now >= pointer.expires_at:
        return (f"the pointer expired {now - pointer.expires_at:.0f}s ago "
                f"(expires_at {pointer.expires_at}); the publisher's heartbeat has not renewed it")
    return None


def verify_pointer(pointer: Pointer, trusted: Sequence[TrustedKey]) -> None:
    """Raise :class:`SignatureError` unless a trusted key signed ``pointer``.

    Checks, in order: the pointer is signed; the signing key is one of ``trusted``; this
    pointer's digest is among the signed ones; the signature verifies.
    """
    signature = pointer.signature
    if signature is None:
        raise SignatureError("the pointer is not signed, and this reader requires signatures")
    verify_signed_digest(pointer_digest(pointer), signature, trusted, what="pointer")


def verify_signed_digest(digest: str, signature: PointerSignature,
                         trusted: Sequence[TrustedKey], *, what: str) -> None:
    """Raise :class:`SignatureError` unless ``signature`` is by a ``trusted`` key, covers
    ``digest``, and verifies (``what`` names the signed thing in the message)."""
    key = next((k for k in trusted if k.fingerprint == signature.key), None)
    if key is None:
        raise SignatureError(f"the {what} is signed by an untrusted key {signature.key[:16]}…")
    if digest not in signature.digests:
        raise SignatureError(f"the signature does not cover this {what}")
    try:
        der = base64.b64decode(signature.value, validate=True)
        key.public_key.verify(
            der,
            signed_digest(signature.digests),
            ec.ECDSA(hashes.SHA256()),
        )
    except (InvalidSignature, ValueError):
        raise SignatureError(f"the {what}'s signature does not verify") from None
