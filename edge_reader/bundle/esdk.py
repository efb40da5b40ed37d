"""The envelope's heavy half: aws-encryption-sdk messages built from MPL keyrings.

Imported by the publisher (encrypt) and by readers that open bundles with KMS; importing it
loads aws-encryption-sdk, the MPL and boto3, so the reader's SDK-key path never does.

Encrypt (publisher): a multi-keyring whose generator is an AWS KMS keyring and whose
children are one raw AES-256 keyring per SDK key allowed to read the scope (namespace
``vexil``, name = key id). The default signed, key-committing suite
(AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384), commitment policy
REQUIRE_ENCRYPT_REQUIRE_DECRYPT and ``frame_length=65536``.

Decrypt (readers): the raw AES keyring of one SDK key (no AWS call at all), or KMS. The
message's encryption context must be *exactly* the expected one, or
:class:`EnvelopeError` — a bundle for another environment, revision or scope never opens.

Data-key reuse: :class:`EnvelopeCache` keeps the MPL client, keyrings and a bounded
encryption-materials cache (max age, max messages) keyed by encryption context and keyring
set. Because the revision is part of the context, a data key is reused only when the *same*
revision and scope is encrypted again (publisher retries, replays, racing invocations in one
container): KMS is called once per (scope, revision) and never per retry.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

import aws_encryption_sdk
from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
from aws_cryptographic_material_providers.mpl.models import (
    AesWrappingAlg,
    CreateAwsKmsKeyringInput,
    CreateDefaultCryptographicMaterialsManagerInput,
    CreateMultiKeyringInput,
    CreateRawAesKeyringInput,
)
from aws_encryption_sdk import CommitmentPolicy
from aws_encryption_sdk.identifiers import Algorithm
from aws_encryption_sdk.materials_managers import EncryptionMaterialsRequest
from aws_encryption_sdk.materials_managers.mpl.cmm import CryptoMaterialsManagerFromMPL

from edge_reader.bundle.envelope import (
    ALGORITHM_ID,
    FRAME_LENGTH,
    KEY_NAMESPACE,
    MAX_ENCRYPTED_DATA_KEYS,
    check_context,
    check_expected_context,
)
from edge_reader.bundle.errors import EnvelopeError
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
_MPL_LOCK = threading.Lock()
_MPL: AwsCryptographicMaterialProviders | None = None


def _mpl() -> AwsCryptographicMaterialProviders:
    global _MPL  # noqa: PLW0603 - one MPL client per process, built on first use
    with _MPL_LOCK:
        if _MPL is None:
            _MPL = AwsCryptographicMaterialProviders(MaterialProvidersConfig())
        return _MPL


class _Lru:
    """A small thread-safe LRU map; keyrings and materials are cheap to rebuild, not free."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._capacity:
                self._data.popitem(last=False)

    def pop(self, key: Any) -> None:
        with self._lock:
            self._data.pop(key, None)


def _secret_id(key: SdkKey) -> str:
    # Cache keys hold a hash, not the secret itself.
    return hashlib.sha256(key.key_id.encode() + b"\0" + key.secret).hexdigest()


_AES_KEYRINGS = _Lru(1024)
_KMS_KEYRINGS = _Lru(64)


def _aes_keyring(key: SdkKey) -> Any:
    cache_key = _secret_id(key)
    keyring = _AES_KEYRINGS.get(cache_key)
    if keyring is None:
        keyring = _mpl().create_raw_aes_keyring(
            CreateRawAesKeyringInput(
                key_namespace=KEY_NAMESPACE,
                key_name=key.key_id,
                wrapping_key=key.wrapping_key(),
                wrapping_alg=AesWrappingAlg.ALG_AES256_GCM_IV12_TAG16,
            )
        )
        _AES_KEYRINGS.put(cache_key, keyring)
    return keyring


def _kms_keyring(kms_key_id: str, kms_client: Any) -> Any:
    cache_key = (kms_key_id, id(kms_client))
    entry = _KMS_KEYRINGS.get(cache_key)
    # Keep the client in the entry so id() cannot be recycled while it is cached.
    if entry is not None and entry[0] is kms_client:
        return entry[1]
    keyring = _mpl().create_aws_kms_keyring(
        CreateAwsKmsKeyringInput(kms_key_id=kms_key_id, kms_client=kms_client)
    )
    _KMS_KEYRINGS.put(cache_key, (kms_client, keyring))
    return keyring


class _ReusingMaterialsManager(CryptoMaterialsManagerFromMPL):  # type: ignore[misc]
    """The MPL default CMM plus a bounded encryption-materials cache.

    The ESDK's own CachingCryptoMaterialsManager cannot wrap MPL materials (it loads the
    signing key in the wrong encoding), so this subclass keeps the ESDK's MPL adapter and
    adds reuse: same encryption context → same materials, for at most ``max_age`` seconds
    and ``max_messages`` messages.
    """

    def __init__(self, mpl_cmm: Any, *, max_age: float, max_messages: int) -> None:
        super().__init__(mpl_cmm)
        self._max_age = max_age
        self._max_messages = max_messages
        self._entries = _Lru(256)

    def get_encryption_materials(self, request: EncryptionMaterialsRequest) -> Any:
        """Return cached materials for this context when still within bounds, else fresh."""
        key = (
            tuple(sorted(request.encryption_context.items())),
            request.algorithm.algorithm_id if request.algorithm else None,
        )
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None:
            created, uses, materials = entry
            if now - created < self._max_age and uses < self._max_messages:
                self._entries.put(key, (created, uses + 1, materials))
                return materials
            self._entries.pop(key)
        materials = super().get_encryption_materials(request)
        self._entries.put(key, (now, 1, materials))
        return materials


class EnvelopeCache:
    """Per-process encryption state: materials managers per keyring set, with reuse bounds.

    Create one per container (module level in the publisher) and pass it to every
    :func:`encrypt_bundle` call. ``max_age`` (seconds) and ``max_messages`` bound how long
    and how often one data key is reused.
    """

    def __init__(self, *, max_age: float = 300.0, max_messages: int = 100) -> None:
        self.max_age = max_age
        self.max_messages = max_messages
        self._managers = _Lru(128)

    def materials_manager(
        self, kms_key_id: str, kms_client: Any, sdk_keys: Iterable[SdkKey]
    ) -> Any:
        """The (cached) reusing CMM for this KMS key, KMS client and set of SDK keys."""
        keys = sorted(set(sdk_keys), key=lambda k: k.key_id)
        cache_key = (kms_key_id, id(kms_client), tuple(_secret_id(k) for k in keys))
        entry = self._managers.get(cache_key)
        if entry is not None and entry[0] is kms_client:
            return entry[1]
        manager = _ReusingMaterialsManager(
            _default_cmm(kms_key_id, kms_client, keys),
            max_age=self.max_age,
            max_messages=self.max_messages,
        )
        self._managers.put(cache_key, (kms_client, manager))
        return manager


def _default_cmm(kms_key_id: str, kms_client: Any, keys: list[SdkKey]) -> Any:
    keyring = _mpl().create_multi_keyring(
        CreateMultiKeyringInput(
            generator=_kms_keyring(kms_key_id, kms_client),
            child_keyrings=[_aes_keyring(k) for k in keys],
        )
    )
    return _mpl().create_default_cryptographic_materials_manager(
        CreateDefaultCryptographicMaterialsManagerInput(keyring=keyring)
    )


_DEFAULT_KMS_CLIENT: Any = None


def default_kms_client() -> Any:
    """A process-wide boto3 KMS client (honours AWS_ENDPOINT_URL), created on first use."""
    global _DEFAULT_KMS_CLIENT  # noqa: PLW0603 - boto3 clients are built once per container
    with _MPL_LOCK:
        if _DEFAULT_KMS_CLIENT is None:
            import boto3  # noqa: PLC0415 - late: SDK-key readers never pay for boto3

            _DEFAULT_KMS_CLIENT = boto3.session.Session().client("kms")
        return _DEFAULT_KMS_CLIENT


def encrypt_bundle(
    plaintext: bytes,
    *,
    context: Mapping[str, str],
    kms_key_id: str,
    kms_client: Any | None = None,
    sdk_keys: Iterable[SdkKey] = (),
    cache: EnvelopeCache | None = None,
) -> bytes:
    """Encrypt bundle plaintext for KMS and every given SDK key; return the ESDK message.

    The message is signed (ECDSA P-384), key-committing, framed at 64 KiB and bound to
    ``context`` (see :func:`encryption_context`). Any failure (KMS unreachable, bad key)
    raises :class:`EnvelopeError`; nothing is returned half-built.
    """
    check_context(context)
    if not kms_key_id:
        raise EnvelopeError("kms_key_id: required to encrypt a bundle")
    client = kms_client if kms_client is not None else default_kms_client()
    keys = list(sdk_keys)
    manager = (cache or EnvelopeCache(max_messages=1)).materials_manager(
        kms_key_id, client, keys
    )
    try:
        ciphertext, _header = _ESDK.encrypt(
            source=bytes(plaintext),
            materials_manager=manager,
            encryption_context=dict(context),
            frame_length=FRAME_LENGTH,
            algorithm=ALGORITHM,
        )
    except Exception as exc:
        raise EnvelopeError(f"encrypt: {type(exc).__name__}: {exc}") from None
    return bytes(ciphertext)


def open_with_sdk_key(ciphertext: bytes, key: SdkKey, *, expected: Mapping[str, str]) -> bytes:
    """Decrypt with one SDK key's raw AES keyring (no AWS call); check suite and context."""
    return _open(ciphertext, _aes_keyring(key), expected)


def open_with_kms(
    ciphertext: bytes, *, kms_key_id: str, kms_client: Any | None, expected: Mapping[str, str]
) -> bytes:
    """Decrypt through KMS with the keyring of ``kms_key_id`` (the key ARN: MPL's discovery
    keyring cannot skip the raw-AES data keys in the same message); check suite and context."""
    client = kms_client if kms_client is not None else default_kms_client()
    return _open(ciphertext, _kms_keyring(kms_key_id, client), expected)


def _open(ciphertext: bytes, keyring: Any, expected: Mapping[str, str]) -> bytes:
    try:
        plaintext, header = _ESDK.decrypt(source=bytes(ciphertext), keyring=keyring)
    except Exception as exc:
        raise EnvelopeError(f"decrypt: {type(exc).__name__}: {exc}") from None
    if header.algorithm != ALGORITHM:
        raise EnvelopeError(f"decrypt: unexpected algorithm suite {header.algorithm.name}")
    check_expected_context(header.encryption_context, expected)
    return bytes(plaintext)
