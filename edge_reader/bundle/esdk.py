"""The envelope's heavy half: aws-encryption-sdk messages built from MPL keyrings.

Imported by the publisher (encrypt) and by readers that open bundles with KMS; importing it
loads aws-encryption-sdk, the MPL and boto3, so the reader's SDK-key path never does.

Encrypt (publisher): a multi-keyring whose generator is the AWS KMS *Hierarchical* keyring
(:mod:`edge_reader.bundle.hierarchy`: one branch key per environment, in a DynamoDB key
store, wrapped by the bundle KMS key) and whose children are one raw AES-256 keyring per SDK
key allowed to read the scope (namespace ``vexil``, name = key id). The default signed,
key-committing suite (AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384), commitment policy
REQUIRE_ENCRYPT_REQUIRE_DECRYPT and ``frame_length=65536``.

Decrypt (readers): the raw AES keyring of one SDK key (no AWS call at all), or a
hierarchical keyring over the same key store (KMS readers). The message's encryption
context must be *exactly* the expected one, or :class:`EnvelopeError` — a bundle for
another environment, revision or scope never opens.

KMS calls: every message gets a fresh data key (no data-key reuse at all), wrapped under
the environment's branch key. The keyring caches branch-key material for ``ttl_seconds``
(:class:`EnvelopeCache`, default 300 s), so one process makes one KMS ``Decrypt`` (and one
DynamoDB ``GetItem``) per environment per TTL, whatever the publish or read rate.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import aws_encryption_sdk
from aws_cryptographic_material_providers.mpl.models import (
    AesWrappingAlg,
    CreateMultiKeyringInput,
    CreateRawAesKeyringInput,
)
from aws_encryption_sdk import CommitmentPolicy
from aws_encryption_sdk.identifiers import Algorithm

from edge_reader.bundle._contract import (
    ALGORITHM_ID,
    FRAME_LENGTH,
    KEY_NAMESPACE,
    MAX_ENCRYPTED_DATA_KEYS,
    check_context,
    check_expected_context,
)
from edge_reader.bundle._mpl import Lru, default_client, mpl
from edge_reader.bundle.errors import EnvelopeError
from edge_reader.bundle.hierarchy import (
    DEFAULT_CACHE_ENTRIES,
    DEFAULT_TTL_SECONDS,
    BranchKeyStore,
    hierarchical_keyring,
)
from edge_reader.bundle.sdk_key import SdkKey

ALGORITHM = Algorithm.get_by_id(ALGORITHM_ID)  # AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384


class _DropCloseNoise(logging.Filter):
    """Drop the ESDK's "Error on closing" traceback that follows every failed decrypt.

    The failure itself is raised as :class:`EnvelopeError`; the extra ERROR record (with a
    secondary "Footer not read" traceback) only buries it in readers' logs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "Error on closing"


logging.getLogger("aws_encryption_sdk.streaming_client").addFilter(_DropCloseNoise())

_ESDK = aws_encryption_sdk.EncryptionSDKClient(
    commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
    max_encrypted_data_keys=MAX_ENCRYPTED_DATA_KEYS,
)


def _secret_id(key: SdkKey) -> str:
    # Cache keys hold a hash, not the secret itself.
    return hashlib.sha256(key.key_id.encode() + b"\0" + key.secret).hexdigest()


_AES_KEYRINGS = Lru(1024)


def _aes_keyring(key: SdkKey) -> Any:
    cache_key = _secret_id(key)
    keyring = _AES_KEYRINGS.get(cache_key)
    if keyring is None:
        keyring = mpl().create_raw_aes_keyring(
            CreateRawAesKeyringInput(
                key_namespace=KEY_NAMESPACE,
                key_name=key.key_id,
                wrapping_key=key.wrapping_key(),
                wrapping_alg=AesWrappingAlg.ALG_AES256_GCM_IV12_TAG16,
            )
        )
        _AES_KEYRINGS.put(cache_key, keyring)
    return keyring


class EnvelopeCache:
    """Per-process encryption state: the branch-key store, ONE hierarchical keyring (whose
    cache holds branch-key material for ``ttl_seconds``) and a multi-keyring per SDK-key set.

    Create one per container (the publisher holds it) and pass it to every
    :func:`encrypt_bundle` call. ``ttl_seconds`` (default 300) bounds both how often KMS is
    called per environment and how long this process keeps wrapping under a branch key
    version after a rotation.
    """

    def __init__(
        self,
        key_store: BranchKeyStore,
        *,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        cache_entries: int = DEFAULT_CACHE_ENTRIES,
    ) -> None:
        self.key_store = key_store
        self.ttl_seconds = ttl_seconds
        self._hierarchy = hierarchical_keyring(
            key_store, ttl_seconds=ttl_seconds, cache_entries=cache_entries
        )
        self._keyrings = Lru(256)

    def keyring(self, sdk_keys: Iterable[SdkKey]) -> Any:
        """The (cached) multi-keyring: the hierarchical generator plus these SDK keys."""
        keys = sorted(set(sdk_keys), key=lambda k: k.key_id)
        cache_key = tuple(_secret_id(k) for k in keys)
        keyring = self._keyrings.get(cache_key)
        if keyring is None:
            keyring = mpl().create_multi_keyring(
                CreateMultiKeyringInput(
                    generator=self._hierarchy,
                    child_keyrings=[_aes_keyring(k) for k in keys],
                )
            )
            self._keyrings.put(cache_key, keyring)
        return keyring


def encrypt_bundle(
    plaintext: bytes,
    *,
    context: Mapping[str, str],
    cache: EnvelopeCache,
    sdk_keys: Iterable[SdkKey] = (),
) -> bytes:
    """Encrypt bundle plaintext for its environment's branch key and every given SDK key.

    The message is signed (ECDSA P-384), key-committing, framed at 64 KiB and bound to
    ``context`` (see :func:`encryption_context`). The environment's branch key is created
    first if it does not exist yet. Any failure (KMS or the key store unreachable, bad key)
    raises :class:`EnvelopeError`; nothing is returned half-built.
    """
    check_context(context)
    try:
        cache.key_store.ensure(context["vexil:project"], context["vexil:environment"])
        ciphertext, _header = _ESDK.encrypt(
            source=bytes(plaintext),
            keyring=cache.keyring(sdk_keys),
            encryption_context=dict(context),
            frame_length=FRAME_LENGTH,
            algorithm=ALGORITHM,
        )
    except EnvelopeError:
        raise
    except Exception as exc:
        raise EnvelopeError(f"encrypt: {type(exc).__name__}: {exc}") from None
    return bytes(ciphertext)


def open_with_sdk_key(ciphertext: bytes, key: SdkKey, *, expected: Mapping[str, str]) -> bytes:
    """Decrypt with one SDK key's raw AES keyring (no AWS call); check suite and context."""
    return _open(ciphertext, _aes_keyring(key), expected)


_READER_KEYRINGS = Lru(64)


def _reader_keyring(
    kms_key_arn: str, key_store_table: str, kms_client: Any, dynamodb_client: Any
) -> Any:
    cache_key = (kms_key_arn, key_store_table, id(kms_client), id(dynamodb_client))
    entry = _READER_KEYRINGS.get(cache_key)
    # Keep the clients in the entry so id() cannot be recycled while it is cached.
    if entry is not None and entry[0] is kms_client and entry[1] is dynamodb_client:
        return entry[2]
    store = BranchKeyStore(table=key_store_table, kms_key_arn=kms_key_arn,
                           dynamodb_client=dynamodb_client, kms_client=kms_client)
    keyring = hierarchical_keyring(store)
    _READER_KEYRINGS.put(cache_key, (kms_client, dynamodb_client, keyring))
    return keyring


def open_with_kms(
    ciphertext: bytes,
    *,
    kms_key_id: str,
    key_store_table: str,
    kms_client: Any | None = None,
    dynamodb_client: Any | None = None,
    expected: Mapping[str, str],
) -> bytes:
    """Decrypt through the branch-key store (key ARN ``kms_key_id``, table
    ``key_store_table``); check suite and context.

    The keyring is cached per (key, table, clients) in this process, and with it the
    branch-key material: one KMS ``Decrypt`` + one DynamoDB ``GetItem`` per branch-key
    version per 300 s, however many bundles are opened.
    """
    kms = kms_client if kms_client is not None else default_client("kms")
    ddb = dynamodb_client if dynamodb_client is not None else default_client("dynamodb")
    keyring = _reader_keyring(kms_key_id, key_store_table, kms, ddb)
    return _open(ciphertext, keyring, expected)


def _open(ciphertext: bytes, keyring: Any, expected: Mapping[str, str]) -> bytes:
    try:
        plaintext, header = _ESDK.decrypt(source=bytes(ciphertext), keyring=keyring)
    except Exception as exc:
        raise EnvelopeError(f"decrypt: {type(exc).__name__}: {exc}") from None
    if header.algorithm != ALGORITHM:
        raise EnvelopeError(f"decrypt: unexpected algorithm suite {header.algorithm.name}")
    check_expected_context(header.encryption_context, expected)
    return bytes(plaintext)
