"""The stored SDK-key record and the KMS encryption context of its secret (docs/data-model.md).

One definition of the shape, used by every writer and reader of it: the API creates records
with :func:`new_item`, the publisher reads them with :func:`read_item` and
:func:`unwrap_secret`, and tests and load tests put records with :func:`new_item` too, so
the publisher's tests read exactly what production writes.

Item fields: ``pk``/``sk`` (``E#<p>#<e>`` / ``SDKKEY#<keyid>``), ``key_id``, ``kind`` (the
long kind name, ``server``/``client``), ``scope`` (``tags``, ``prefixes``),
``wrapped_secret`` (``kms.encrypt`` of the 32 raw secret bytes under :func:`wrap_context`),
``created_at``, ``revoked_at`` (absent until revoked), ``version``, ``verifier``
(:func:`verifier`: how the insights ingest endpoint checks a presented key without KMS;
absent on records created before evaluation insights).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib import keys
from edge_reader.bundle.errors import SdkKeyFormatError
from edge_reader.bundle.sdk_key import KIND_NAMES, SdkKey, kind_of_name, parse_sdk_key

SDK_KEY_PURPOSE = "sdk-key"
PURPOSE_CONTEXT_KEY = "vexil:purpose"
"""The KMS encryption-context key naming what a wrapped secret is (also list secrets)."""
READ_FIELDS = ("key_id", "kind", "scope", "wrapped_secret", "revoked_at")
"""The attributes a reader of records needs (the publisher projects exactly these)."""


class SdkKeyRecordError(ValueError):
    """A stored record is malformed; the message names the field (``sdk_keys.<id>.<field>``)."""


@dataclass(frozen=True, slots=True)
class StoredSdkKey:
    """The fields of a live (not revoked) record, checked; the secret still wrapped."""

    key_id: str
    kind: str  # "server" | "client"
    tags: tuple[str, ...]
    prefixes: tuple[str, ...]
    wrapped: bytes


def wrap_context(project: str, environment: str) -> dict[str, str]:
    """The KMS encryption context binding a wrapped SDK-key secret to its environment."""
    return {
        PURPOSE_CONTEXT_KEY: SDK_KEY_PURPOSE,
        "vexil:project": project,
        "vexil:environment": environment,
    }


# Domain separation: the verifier is never equal to any other hash of the secret (the bundle
# wrapping key is an HKDF of it with another label).
_VERIFIER_LABEL = b"vexil sdk-key verifier v1\x00"


def verifier(key: SdkKey) -> str:
    """The stored check value of an SDK key: SHA-256 (hex) of a label and its secret.

    Like API tokens, only a hash is kept: the secret is 256 random bits, so the hash can
    neither be reversed nor guessed, and knowing it opens no bundle.
    """
    return hashlib.sha256(_VERIFIER_LABEL + key.secret).hexdigest()


def verifies(item: Mapping[str, Any], key: SdkKey) -> bool:
    """True when ``key`` is the key this record was created for (constant-time compare)."""
    stored = item.get("verifier")
    return isinstance(stored, str) and hmac.compare_digest(stored, verifier(key))


def new_item(
    *,
    project: str,
    environment: str,
    key: SdkKey,
    kms: Any,
    kms_key_id: str,
    created_at: str,
    tags: tuple[str, ...] = (),
    prefixes: tuple[str, ...] = (),
    revoked_at: str | None = None,
) -> dict[str, Any]:
    """A new record of ``key`` (plain item, version 1), its secret wrapped by KMS now.

    ``revoked_at`` is for tests of revoked records; the API revokes with an update.
    """
    wrapped = kms.encrypt(
        KeyId=kms_key_id, Plaintext=key.secret,
        EncryptionContext=wrap_context(project, environment),
    )["CiphertextBlob"]
    item: dict[str, Any] = {
        "pk": keys.env_pk(project, environment),
        "sk": keys.sdk_key_sk(key.key_id),
        "key_id": key.key_id,
        "kind": key.kind_name,
        "scope": {"tags": list(tags), "prefixes": list(prefixes)},
        "wrapped_secret": bytes(wrapped),
        "created_at": created_at,
        "version": 1,
        "verifier": verifier(key),
    }
    if revoked_at is not None:
        item["revoked_at"] = revoked_at
    return item


def is_revoked(item: Mapping[str, Any]) -> bool:
    """True when the record is revoked: it gets no keyring and opens no new bundle."""
    return bool(item.get("revoked_at"))


def key_id_of(item: Mapping[str, Any]) -> str:
    """The record's key id (its ``key_id`` field, else the one in its sort key)."""
    return str(item.get("key_id") or str(item["sk"])[len(keys.SDKKEY_SK_PREFIX):])


def read_item(item: Mapping[str, Any]) -> StoredSdkKey:
    """The checked fields of a plain record; raise :class:`SdkKeyRecordError` if malformed."""
    key_id = key_id_of(item)
    kind = str(item.get("kind", ""))
    if kind not in KIND_NAMES.values():
        raise SdkKeyRecordError(f"sdk_keys.{key_id}.kind: must be server or client")
    wrapped = item.get("wrapped_secret")
    if not isinstance(wrapped, bytes):
        raise SdkKeyRecordError(f"sdk_keys.{key_id}.wrapped_secret: missing or not binary")
    scope = item.get("scope") or {}
    return StoredSdkKey(
        key_id=key_id,
        kind=kind,
        tags=tuple(str(t) for t in scope.get("tags") or ()),
        prefixes=tuple(str(p) for p in scope.get("prefixes") or ()),
        wrapped=wrapped,
    )


def unwrap_secret(kms: Any, project: str, environment: str, stored: StoredSdkKey) -> SdkKey:
    """The SDK key of a record (one KMS Decrypt); raise :class:`SdkKeyRecordError` if invalid.

    KMS refuses a secret wrapped for another environment (the context does not match).
    """
    plaintext = bytes(kms.decrypt(
        CiphertextBlob=stored.wrapped,
        EncryptionContext=wrap_context(project, environment),
    )["Plaintext"])
    key_id = stored.key_id
    try:
        # A record may wrap the whole key text (vxl_...) or just the raw secret bytes.
        if plaintext.startswith(b"vxl_"):
            key = parse_sdk_key(plaintext.decode("ascii"))
            if key.key_id != key_id:
                raise SdkKeyRecordError(f"sdk_keys.{key_id}: wrapped key names another key id")
            return key
        return SdkKey(kind=kind_of_name(stored.kind), key_id=key_id, secret=plaintext)
    except (SdkKeyFormatError, UnicodeDecodeError):
        raise SdkKeyRecordError(f"sdk_keys.{key_id}.wrapped_secret: not a valid secret") from None
