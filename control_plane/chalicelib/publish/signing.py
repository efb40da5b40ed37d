"""The publisher's pointer signatures: one KMS ``Sign`` per publish, checked before use.

Why: every holder of an SDK key can make a bundle that other holders of that key open
(the ESDK signs each message with a key of its own), so encryption does not prove the
publisher made a bundle. The publisher signs the pointers of each publish with an
asymmetric KMS key (``ECC_NIST_P256``, ``SIGN_VERIFY``) whose policy lets only the
publisher's role call ``kms:Sign``; readers pin its public half
(:mod:`edge_reader.bundle.signing` has the format).

* The public key (and with it the fingerprint pointers name) is fetched with
  ``GetPublicKey`` once per container, on first use: a failure fails that publish like any
  other KMS failure, and the retry fetches again.
* ``Sign`` is called with the key's own id as ``GetPublicKey`` returned it, never an alias,
  so the signature is always by the key whose fingerprint the pointers name.
* Every signature is verified with the public key before it is used: a pointer readers
  would refuse is never written (a wrong key, a broken response), and the cached key is
  dropped so the retry starts afresh.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edge_reader.bundle import Pointer
from edge_reader.bundle.pointer import PointerSignature
from edge_reader.bundle.signing import (
    KEY_SPEC,
    SIGNING_ALGORITHM,
    TrustedKey,
    load_trusted_key,
    sign_digest_set,
    sign_pointers,
    verify_pointer,
    verify_signed_digest,
)

# KMS hashes the message itself (SHA-256) before signing: the publisher sends the 32-byte
# digest of the pointer set as the message. The key policy allows exactly this message type.
MESSAGE_TYPE = "RAW"


DEFAULT_POINTER_MAX_AGE = 3600  # seconds a signed pointer is believed (expires_at - signing)
DEFAULT_HEARTBEAT_INTERVAL = 900  # seconds between heartbeats that re-sign pointers


@dataclass(frozen=True, slots=True)
class Freshness:
    """How long a signed pointer lives and how often the heartbeat renews it.

    A pointer is renewed by the first heartbeat that finds it older than half an interval,
    so it is re-signed at most 1.5 intervals after it was signed and keeps at least
    ``max_age - 1.5 * heartbeat`` seconds (defaults: 37.5 of 60 min) of life: readers ride
    out a late or failed heartbeat. ``max_age`` must be at least twice ``heartbeat``.
    """

    max_age: int = DEFAULT_POINTER_MAX_AGE
    heartbeat: int = DEFAULT_HEARTBEAT_INTERVAL

    def __post_init__(self) -> None:
        if self.heartbeat <= 0 or self.max_age < 2 * self.heartbeat:
            raise ValueError(
                f"pointer freshness: need heartbeat > 0 and max age >= 2 x heartbeat, got "
                f"max age {self.max_age}s, heartbeat {self.heartbeat}s")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Freshness:
        """From VEXIL_POINTER_MAX_AGE / VEXIL_HEARTBEAT_INTERVAL (seconds; defaults 1 h, 15 min)."""
        return cls(
            max_age=int(environ.get("VEXIL_POINTER_MAX_AGE") or DEFAULT_POINTER_MAX_AGE),
            heartbeat=int(environ.get("VEXIL_HEARTBEAT_INTERVAL") or DEFAULT_HEARTBEAT_INTERVAL),
        )

    def expires_at(self, now: float) -> int:
        """The ``expires_at`` of a pointer signed at ``now``."""
        return int(now) + self.max_age

    def needs_renewal(self, pointer: Pointer, now: float) -> bool:
        """True when a live signed pointer should be re-signed at ``now`` (see above)."""
        if pointer.expires_at is None:
            return True
        return pointer.expires_at - now < self.max_age - self.heartbeat / 2


class SigningKeyError(Exception):
    """The configured key cannot sign pointers readers would accept (wrong spec or usage,
    or a signature that does not verify)."""


class PointerSigner:
    """Signs all pointers of one publish with one KMS ``Sign`` call; one per container."""

    def __init__(self, kms: Any, key_id: str) -> None:
        """``kms``: a boto3 KMS client; ``key_id``: the signing key (id, ARN or alias)."""
        self.kms = kms
        self.key_id = key_id
        self._key: tuple[str, TrustedKey] | None = None  # (KMS key id, public key)

    def public_key(self) -> TrustedKey:
        """The signing key's public half (fetched once, then cached)."""
        return self._resolve()[1]

    def sign(self, pointers: Sequence[Pointer], extra_digests: Iterable[str] = ()
             ) -> list[Pointer]:
        """``pointers`` signed together (with ``extra_digests``, e.g. the publish's audit
        anchor, in the same signed set); raises (``ClientError``, :class:`SigningKeyError`)
        when KMS fails or the signature would not verify. Nothing is signed for no pointers.
        """
        if not pointers:
            return []
        key_id, trusted = self._resolve()
        signed = sign_pointers(pointers, key_fingerprint=trusted.fingerprint,
                               sign_digest=self._kms_sign(key_id), extra_digests=extra_digests)
        try:
            # One check covers all: every pointer carries the same digest list and signature.
            verify_pointer(signed[0], [trusted])
        except Exception as exc:
            self._key = None
            raise SigningKeyError(f"KMS signature does not verify: {exc}") from None
        return signed

    def sign_digests(self, digests: Sequence[str]) -> PointerSignature:
        """One KMS ``Sign`` over a set of digests (a batch of audit anchors); verified like
        :meth:`sign`, raises the same errors. ``digests`` must not be empty."""
        key_id, trusted = self._resolve()
        signature = sign_digest_set(digests, key_fingerprint=trusted.fingerprint,
                                    sign_digest=self._kms_sign(key_id))
        try:
            verify_signed_digest(digests[0], signature, [trusted], what="digest set")
        except Exception as exc:
            self._key = None
            raise SigningKeyError(f"KMS signature does not verify: {exc}") from None
        return signature

    def _kms_sign(self, key_id: str) -> Callable[[bytes], bytes]:
        def kms_sign(digest: bytes) -> bytes:
            out = self.kms.sign(KeyId=key_id, Message=digest, MessageType=MESSAGE_TYPE,
                                SigningAlgorithm=SIGNING_ALGORITHM)
            return bytes(out["Signature"])

        return kms_sign

    def _resolve(self) -> tuple[str, TrustedKey]:
        if self._key is None:
            out = self.kms.get_public_key(KeyId=self.key_id)
            spec = out.get("KeySpec") or out.get("CustomerMasterKeySpec")
            if out.get("KeyUsage") != "SIGN_VERIFY" or spec != KEY_SPEC:
                raise SigningKeyError(
                    f"{self.key_id}: must be a {KEY_SPEC} SIGN_VERIFY key, is {spec} "
                    f"{out.get('KeyUsage')}")
            if SIGNING_ALGORITHM not in out.get("SigningAlgorithms", []):
                raise SigningKeyError(f"{self.key_id}: does not offer {SIGNING_ALGORITHM}")
            self._key = (str(out["KeyId"]), load_trusted_key(bytes(out["PublicKey"])))
        return self._key
