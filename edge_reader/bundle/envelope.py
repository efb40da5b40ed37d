"""The envelope contract: what a bundle's encryption context is, and how a reader opens one.

A bundle is an aws-encryption-sdk message (see :mod:`edge_reader.bundle.esdk`, which builds
them): the default signed, key-committing suite, framed at 64 KiB, with one encrypted data
key wrapped under the environment's branch key (AWS KMS Hierarchical keyring) and one raw
AES-256 key per SDK key allowed to read the scope (key namespace ``vexil``, key name = the
SDK key id).

This module is deliberately light: it imports neither aws-encryption-sdk nor boto3, so a
reader that opens bundles with an SDK key pays for neither. With an SDK key the message is
opened by :mod:`edge_reader.bundle._message`, a strict decrypt-only reader of exactly this
message shape (``cryptography`` only, cross-tested against the ESDK); the ESDK itself is
imported only when a caller asks for KMS.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge_reader.bundle.errors import EnvelopeError
from edge_reader.bundle.sdk_key import SdkKey, parse_sdk_key

FORMAT_VERSION = "1"
KEY_NAMESPACE = "vexil"
FRAME_LENGTH = 65536
# AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384: the ESDK's default (signed, committing) suite.
ALGORITHM_ID = 0x0578
# Bounds what a hostile message can make a reader do; far above any real key count.
MAX_ENCRYPTED_DATA_KEYS = 1024
CONTEXT_KEYS: tuple[str, ...] = (
    "vexil:project",
    "vexil:environment",
    "vexil:revision",
    "vexil:scope",
    "vexil:format",
)
# Added by the ESDK itself for signed suites; not part of what the caller expects.
SDK_CONTEXT_KEYS = frozenset({"aws-crypto-public-key"})


def encryption_context(
    project: str, environment: str, revision: int, scope: str
) -> dict[str, str]:
    """The encryption context of one bundle: project, environment, revision, scope, format."""
    return {
        "vexil:project": project,
        "vexil:environment": environment,
        "vexil:revision": str(int(revision)),
        "vexil:scope": scope,
        "vexil:format": FORMAT_VERSION,
    }


def check_context(context: Mapping[str, str]) -> None:
    """Raise :class:`EnvelopeError` unless ``context`` has every key of CONTEXT_KEYS, as strings."""
    missing = [k for k in CONTEXT_KEYS if k not in context]
    if missing:
        raise EnvelopeError(f"context: missing {missing}")
    for k, v in context.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise EnvelopeError(f"context.{k}: keys and values must be strings")


def check_expected_context(actual: Mapping[str, str], expected: Mapping[str, str]) -> None:
    """Raise :class:`EnvelopeError` unless a message's context is *exactly* ``expected``.

    ``actual`` is the context read from the message header; the ESDK's own keys
    (SDK_CONTEXT_KEYS) are ignored. A bundle for another environment, revision or scope
    never opens, even under a key that could decrypt it.
    """
    got = {k: v for k, v in actual.items() if k not in SDK_CONTEXT_KEYS}
    wanted = dict(expected)
    if got != wanted:
        diffs = sorted(k for k in set(got) | set(wanted) if got.get(k) != wanted.get(k))
        raise EnvelopeError(f"decrypt: encryption context mismatch on {diffs}")


def decrypt_bundle(
    ciphertext: bytes,
    *,
    sdk_key: SdkKey | str | None = None,
    kms_client: Any | None = None,
    kms_key_id: str | None = None,
    key_store_table: str | None = None,
    dynamodb_client: Any | None = None,
    expected: Mapping[str, str],
) -> bytes:
    """Open a bundle with an SDK key (no AWS call) or with KMS; return the plaintext.

    With ``sdk_key`` only that key's raw AES data key is tried (by the light decoder, which
    never imports aws-encryption-sdk). Otherwise KMS is used through the branch-key store:
    ``kms_key_id`` (the bundle key's ARN) and ``key_store_table`` (the key store's DynamoDB
    table) are both required; the clients default to process-wide ones. Raises
    :class:`EnvelopeError` when the message cannot be opened, is not the signed committing
    suite, or its encryption context differs in any way from ``expected``.
    """
    # Late imports: the machinery for each key kind loads only when that kind is used.
    if sdk_key is not None:
        # The light decoder (cryptography only): the ESDK's import alone would cost a reader
        # ~62 MB. It is cross-tested against the ESDK in tests/bundle/test_message.py.
        from edge_reader.bundle import _message  # noqa: PLC0415

        key = parse_sdk_key(sdk_key) if isinstance(sdk_key, str) else sdk_key
        return _message.open_message(ciphertext, key, expected=expected)
    from edge_reader.bundle import esdk  # noqa: PLC0415

    if kms_key_id:
        if not key_store_table:
            raise EnvelopeError("decrypt: key_store_table is required with kms_key_id")
        return esdk.open_with_kms(
            ciphertext, kms_key_id=kms_key_id, key_store_table=key_store_table,
            kms_client=kms_client, dynamodb_client=dynamodb_client, expected=expected,
        )
    raise EnvelopeError(
        "decrypt: give sdk_key, or kms_key_id (key ARN) and key_store_table to use KMS"
    )
