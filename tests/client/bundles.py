"""Builders for real encrypted bundles (ESDK envelope via edge_reader.bundle) and flags.

``BundleFactory(signer=...)`` also signs each pointer the way the publisher does (the
publisher's own ``PointerSigner`` on moto KMS, or a local key); ``forge_with_sdk_key``
makes what any SDK-key holder can make without the publisher.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from typing import Any

from edge_reader.bundle import (
    Pointer,
    SdkKey,
    bundle_object_key,
    encode_bundle_document,
    encode_pointer,
    encryption_context,
    pointer_object_key,
)
from edge_reader.bundle.esdk import EnvelopeCache, encrypt_bundle
from edge_reader.client import FlagClient


def bool_flag(
    *, on: bool = True, version: int = 1, client_visible: bool = True, **extra: Any
) -> dict[str, Any]:
    """A boolean flag serving ``on`` (variant "on") or ``off`` to everyone."""
    flag: dict[str, Any] = {
        "kind": "boolean",
        "variations": {"on": True, "off": False},
        "enabled": True,
        "off_variation": "off",
        "default": {"variation": "on" if on else "off"},
        "version": version,
        "client_visible": client_visible,
    }
    flag.update(extra)
    return flag


def string_flag(value: str, *, version: int = 1, client_visible: bool = True) -> dict[str, Any]:
    return {
        "kind": "string",
        "variations": {"v": value, "other": "other"},
        "enabled": True,
        "default": {"variation": "v"},
        "version": version,
        "client_visible": client_visible,
    }


def targeted_flag(country: str, *, version: int = 1) -> dict[str, Any]:
    """on for users whose ``country`` is ``country``, off otherwise."""
    return {
        "kind": "boolean",
        "variations": {"on": True, "off": False},
        "enabled": True,
        "off_variation": "off",
        "version": version,
        "client_visible": True,
        "rules": [
            {
                "id": "r1",
                "clauses": [
                    {
                        "context_kind": "user",
                        "attribute": "country",
                        "op": "in",
                        "values": [country],
                    }
                ],
                "serve": {"variation": "on"},
            }
        ],
        "default": {"variation": "off"},
    }


def many_flags(n: int) -> dict[str, Any]:
    return {
        f"flag-{i:05d}": targeted_flag("DE", version=i) if i % 2 else bool_flag(version=i)
        for i in range(n)
    }


@dataclass(frozen=True)
class Built:
    pointer: Pointer
    pointer_bytes: bytes
    ciphertext: bytes
    document: dict[str, Any]


@dataclass
class BundleFactory:
    """Encrypts documents for one (project, environment, scope) with the environment's
    branch key (the publisher's envelope) + one SDK key."""

    envelope: EnvelopeCache
    sdk_key: SdkKey
    project: str = "shop"
    environment: str = "prod"
    scope: str = "server"
    signer: Any = None  # .sign(list[Pointer]) -> list[Pointer], e.g. PointerSigner
    max_age: int = 3600  # signed pointers expire this long after build(), like the publisher's

    def for_scope(self, scope: str, sdk_key: SdkKey) -> BundleFactory:
        return replace(self, scope=scope, sdk_key=sdk_key)

    def document(
        self,
        revision: int,
        flags: dict[str, Any],
        segments: dict[str, Any] | None = None,
        **meta: Any,
    ) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "format": 1,
            "project": self.project,
            "environment": self.environment,
            "revision": revision,
            "generated_at": "2026-11-24T06:00:00.000Z",
            "engine": "1",
            "scope": self.scope,
            "flags": flags,
            "segments": segments or {},
        }
        doc.update(meta)
        return doc

    def build(
        self,
        revision: int,
        flags: dict[str, Any],
        *,
        segments: dict[str, Any] | None = None,
        context_override: dict[str, str] | None = None,
        document: dict[str, Any] | None = None,
        expires_at: int | None = None,
    ) -> Built:
        """``expires_at``: default ``max_age`` from now when signed, none when unsigned."""
        if expires_at is None and self.signer is not None:
            expires_at = int(time.time()) + self.max_age
        doc = document if document is not None else self.document(revision, flags, segments)
        plaintext = encode_bundle_document(doc)
        context = context_override or encryption_context(
            self.project, self.environment, revision, self.scope
        )
        ciphertext = encrypt_bundle(
            plaintext,
            context=context,
            cache=self.envelope,
            sdk_keys=[self.sdk_key],
        )
        sha = hashlib.sha256(ciphertext).hexdigest()
        pointer = Pointer(
            format=1,
            project=self.project,
            environment=self.environment,
            scope=self.scope,
            revision=revision,
            key=bundle_object_key(self.project, self.environment, self.scope, revision, sha),
            sha256=sha,
            size=len(ciphertext),
            generated_at="2026-11-24T06:00:00.000Z",
            expires_at=expires_at,
        )
        if self.signer is not None:
            (pointer,) = self.signer.sign([pointer])
        return Built(pointer, encode_pointer(pointer), ciphertext, doc)

    @property
    def pointer_path(self) -> str:
        return pointer_object_key(self.project, self.environment, self.scope)

    def publish(self, cdn: Any, built: Built) -> None:
        """Upload the bundle, then the pointer (the publisher's order)."""
        cdn.put(built.pointer.key, built.ciphertext)
        cdn.put(self.pointer_path, built.pointer_bytes)


def forge_with_sdk_key(factory: BundleFactory, revision: int, flags: dict[str, Any],
                       *, signature: Any = None) -> Built:
    """A bundle made by a holder of ``factory.sdk_key`` alone — no KMS, no branch key, no
    publisher: an ESDK message (the signed, committing suite, exactly the publisher's shape)
    encrypted for that key's raw AES keyring, bound to the right context, and an unsigned
    pointer naming it (``signature``: a ``PointerSignature`` to paste onto it instead).
    Every reader holding the key opens it; only the publisher's signature tells it apart.
    """
    import aws_encryption_sdk
    from aws_encryption_sdk import CommitmentPolicy

    from edge_reader.bundle._contract import FRAME_LENGTH
    from edge_reader.bundle.esdk import ALGORITHM, _aes_keyring

    doc = factory.document(revision, flags)
    esdk = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    ciphertext, _ = esdk.encrypt(
        source=encode_bundle_document(doc), keyring=_aes_keyring(factory.sdk_key),
        encryption_context=encryption_context(factory.project, factory.environment, revision,
                                              factory.scope),
        frame_length=FRAME_LENGTH, algorithm=ALGORITHM)
    sha = hashlib.sha256(ciphertext).hexdigest()
    pointer = Pointer(
        format=1, project=factory.project, environment=factory.environment,
        scope=factory.scope, revision=revision,
        key=bundle_object_key(factory.project, factory.environment, factory.scope, revision,
                              sha),
        sha256=sha, size=len(ciphertext), generated_at="2026-11-24T06:00:00.000Z",
        signature=signature)
    return Built(pointer, encode_pointer(pointer), bytes(ciphertext), doc)


USER = {"targetingKey": "u-1", "country": "DE"}


def make_client(cdn: Any, factory: BundleFactory, **kw: Any) -> FlagClient:
    options: dict[str, Any] = {
        "project": factory.project,
        "environment": factory.environment,
        "sdk_key": factory.sdk_key,
        "pointer_url": cdn.url(factory.pointer_path),
        "start": False,
        "first_retry": 0.01,
    }
    options.update(kw)
    return FlagClient(**options)
