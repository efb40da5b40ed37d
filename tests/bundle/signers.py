"""An in-process P-256 signer standing in for the publisher's KMS key (same interface as
``chalicelib.publish.signing.PointerSigner``: ``sign(pointers)``, ``public_key()``)."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from edge_reader.bundle import Pointer
from edge_reader.bundle.signing import TrustedKey, load_trusted_key, sign_pointers


class LocalSigner:
    """A fresh P-256 key; counts its signatures."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.calls = 0

    def sign_digest(self, digest: bytes) -> bytes:
        """What KMS Sign (ECDSA_SHA_256, MessageType RAW) returns for ``digest``."""
        self.calls += 1
        return self.private.sign(digest, ec.ECDSA(hashes.SHA256()))

    @property
    def pem(self) -> str:
        """The public key as PEM text."""
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    @property
    def trusted(self) -> TrustedKey:
        """The public key as a reader loads it."""
        return load_trusted_key(self.pem)

    def public_key(self) -> TrustedKey:
        """Same as :attr:`trusted` (the PointerSigner interface)."""
        return self.trusted

    def sign(self, pointers: list[Pointer]) -> list[Pointer]:
        """``pointers`` signed together, one signature."""
        return sign_pointers(pointers, key_fingerprint=self.trusted.fingerprint,
                             sign_digest=self.sign_digest)
