"""How a reader opens a bundle: the light dispatcher between an SDK key and KMS.

A bundle is an aws-encryption-sdk message (see :mod:`edge_reader.bundle.esdk`, which builds
them): the default signed, key-committing suite, framed at 64 KiB, with one encrypted data
key wrapped under the environment's branch key (AWS KMS Hierarchical keyring) and one raw
AES-256 key per SDK key allowed to read the scope (key namespace ``vexil``, key name = the
SDK key id). What the publisher and every reader agree on (suite, frame length, key
namespace, the encryption context and its checks) lives in :mod:`edge_reader.bundle._contract`.

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
