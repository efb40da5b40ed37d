"""ESDK envelope: branch-key (hierarchical) + SDK-key keyrings, exact context checks, KMS
calls bounded by the branch-key cache.

Runs against the session's moto_server KMS and DynamoDB (real calls through boto3, the real
aws-encryption-sdk and MPL).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from aws_encryption_sdk.identifiers import Algorithm

import edge_reader.bundle.esdk as envelope_mod
from edge_reader.bundle import (
    EnvelopeError,
    decrypt_bundle,
    encryption_context,
    generate_sdk_key,
)
from edge_reader.bundle.esdk import EnvelopeCache, encrypt_bundle
from edge_reader.bundle.hierarchy import BranchKeyStore
from tests.bundle.conftest import Calls, Reader
from tests.conftest import MplClock

PLAINTEXT = b'{"flags":{},"segments":{}}' * 100
CTX = encryption_context("shop", "prod", 5, "server")


def _encrypt(envelope: EnvelopeCache, keys: list[Any], **over: Any) -> bytes:
    return encrypt_bundle(
        over.pop("plaintext", PLAINTEXT),
        context=over.pop("context", CTX),
        sdk_keys=keys,
        cache=envelope,
    )


def test_every_sdk_key_alone_opens_it_without_any_aws_call(
    envelope: EnvelopeCache, kms_calls: Calls, ddb_calls: Calls,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keys = [generate_sdk_key("srv"), generate_sdk_key("srv"), generate_sdk_key("cli")]
    ciphertext = _encrypt(envelope, keys)
    before = (list(kms_calls.names), list(ddb_calls.names))

    def no_aws(service: str) -> None:
        raise AssertionError(f"decrypting with an SDK key must not touch AWS ({service})")

    monkeypatch.setattr(envelope_mod, "default_client", no_aws)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # unreachable on purpose
    for key in keys:
        assert decrypt_bundle(ciphertext, sdk_key=key, expected=CTX) == PLAINTEXT
        assert decrypt_bundle(ciphertext, sdk_key=key.text, expected=CTX) == PLAINTEXT
    assert (kms_calls.names, ddb_calls.names) == before


def test_kms_alone_opens_it_and_caches_the_branch_key(
    envelope: EnvelopeCache, kms_reader: Reader
) -> None:
    ciphertexts = [_encrypt(envelope, [generate_sdk_key("srv")],
                            context=encryption_context("shop", "prod", r, "server"))
                   for r in (5, 6, 7)]
    for revision, ciphertext in zip((5, 6, 7), ciphertexts, strict=True):
        assert decrypt_bundle(
            ciphertext, expected=encryption_context("shop", "prod", revision, "server"),
            **kms_reader.access) == PLAINTEXT
    # One unwrap of the branch key (one key store read) for all three bundles.
    assert kms_reader.kms_calls.names == ["Decrypt"]
    assert kms_reader.ddb_calls.names == ["GetItem"]


def test_kms_reading_needs_the_key_store_table(envelope: EnvelopeCache,
                                               kms_reader: Reader) -> None:
    ciphertext = _encrypt(envelope, [])
    access = {**kms_reader.access, "key_store_table": None}
    with pytest.raises(EnvelopeError, match="key_store_table"):
        decrypt_bundle(ciphertext, expected=CTX, **access)
    alias = {**kms_reader.access, "kms_key_id": "alias/vexil-bundles"}
    with pytest.raises(EnvelopeError, match="ARN"):
        decrypt_bundle(ciphertext, expected=CTX, **alias)


def test_message_uses_the_signed_committing_suite_and_64k_frames(
    envelope: EnvelopeCache,
) -> None:
    import aws_encryption_sdk

    key = generate_sdk_key("srv")
    big = os.urandom(200_000)
    ciphertext = _encrypt(envelope, [key], plaintext=big)
    header = aws_encryption_sdk.EncryptionSDKClient().decrypt(
        source=ciphertext, keyring=envelope_mod._aes_keyring(key)
    )[1]
    assert header.algorithm == Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
    assert header.frame_length == 65536
    assert "aws-crypto-public-key" in header.encryption_context
    assert {k: v for k, v in header.encryption_context.items()
            if k.startswith("vexil:")} == CTX
    providers = sorted((e.key_provider.provider_id, e.key_provider.key_info.decode()
                        if e.key_provider.provider_id == "aws-kms-hierarchy" else "")
                       for e in header.encrypted_data_keys)
    # One data key under the environment's branch key, one per SDK key (raw AES).
    assert providers == [("aws-kms-hierarchy", "vexil/shop/prod"), ("vexil", "")]


def test_a_key_not_in_the_keyring_set_cannot_open_it(envelope: EnvelopeCache) -> None:
    ciphertext = _encrypt(envelope, [generate_sdk_key("srv")])
    with pytest.raises(EnvelopeError, match="decrypt"):
        decrypt_bundle(ciphertext, sdk_key=generate_sdk_key("srv"), expected=CTX)


@pytest.mark.parametrize(
    ("other", "field"),
    [
        (encryption_context("shop", "staging", 5, "server"), "vexil:environment"),
        (encryption_context("shop", "prod", 4, "server"), "vexil:revision"),
        (encryption_context("shop", "prod", 5, "client"), "vexil:scope"),
        (encryption_context("blog", "prod", 5, "server"), "vexil:project"),
        ({**CTX, "vexil:format": "2"}, "vexil:format"),
        ({**CTX, "extra": "x"}, "extra"),
        ({k: v for k, v in CTX.items() if k != "vexil:scope"}, "vexil:scope"),
    ],
)
def test_a_bundle_for_one_context_does_not_open_under_another(
    envelope: EnvelopeCache, kms_reader: Reader, other: dict[str, str], field: str
) -> None:
    key = generate_sdk_key("srv")
    ciphertext = _encrypt(envelope, [key])
    with pytest.raises(EnvelopeError, match=field):
        decrypt_bundle(ciphertext, sdk_key=key, expected=other)
    with pytest.raises(EnvelopeError, match=field):
        decrypt_bundle(ciphertext, expected=other, **kms_reader.access)


def test_a_message_wrapped_under_another_environments_branch_key_never_opens(
    branch_keys: BranchKeyStore, kms_reader: Reader
) -> None:
    # A message that *claims* staging but whose data key is wrapped under prod's branch key
    # (what a confused or hostile writer holding prod's key could build): the reader's
    # keyring looks only for staging's branch key, so it is refused before any context check.
    from aws_cryptographic_material_providers.mpl.models import (
        CreateAwsKmsHierarchicalKeyringInput,
    )

    from edge_reader.bundle._mpl import mpl

    branch_keys.ensure("shop", "prod")
    branch_keys.ensure("shop", "staging")
    prod_only = mpl().create_aws_kms_hierarchical_keyring(CreateAwsKmsHierarchicalKeyringInput(
        key_store=branch_keys.key_store, branch_key_id="vexil/shop/prod", ttl_seconds=60))
    staging = encryption_context("shop", "staging", 5, "server")
    forged, _ = envelope_mod._ESDK.encrypt(source=PLAINTEXT, keyring=prod_only,
                                          encryption_context=staging,
                                          algorithm=envelope_mod.ALGORITHM)
    with pytest.raises(EnvelopeError, match="No Encrypted Data Keys found to match"):
        decrypt_bundle(forged, expected=staging, **kms_reader.access)
    assert kms_reader.kms_calls.names == []  # never even unwrapped a branch key


def test_tampered_or_truncated_messages_are_refused(envelope: EnvelopeCache) -> None:
    key = generate_sdk_key("srv")
    ciphertext = bytearray(_encrypt(envelope, [key]))
    flipped = bytearray(ciphertext)
    flipped[len(flipped) // 2] ^= 0x01
    for bad in (bytes(flipped), bytes(ciphertext[:-10]), b"", b"garbage"):
        with pytest.raises(EnvelopeError):
            decrypt_bundle(bad, sdk_key=key, expected=CTX)


def test_encrypt_input_errors_are_clear(envelope: EnvelopeCache, key_store_table: str,
                                        kms_client: Any, ddb_client: Any) -> None:
    with pytest.raises(EnvelopeError, match="context: missing"):
        _encrypt(envelope, [], context={"vexil:project": "shop"})
    with pytest.raises(EnvelopeError, match="ARN"):
        BranchKeyStore(table=key_store_table, kms_key_arn="alias/vexil-bundles",
                       dynamodb_client=ddb_client, kms_client=kms_client)
    with pytest.raises(EnvelopeError, match="sdk_key, or kms_key_id"):
        decrypt_bundle(b"x", expected=CTX)


def test_a_kms_failure_is_an_envelope_error(key_store_table: str, kms_client: Any,
                                            ddb_client: Any) -> None:
    from tests.publisher.tablekit import unique

    missing = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    store = BranchKeyStore(table=key_store_table, kms_key_arn=missing,
                           dynamodb_client=ddb_client, kms_client=kms_client)
    fresh = encryption_context(unique("kf"), "prod", 1, "server")  # no branch key yet
    with pytest.raises(EnvelopeError, match="encrypt"):
        _encrypt(EnvelopeCache(store), [generate_sdk_key("srv")], context=fresh)
    assert not store.exists(fresh["vexil:project"], "prod")  # nothing half-created


def test_kms_calls_do_not_grow_with_messages(
    envelope: EnvelopeCache, kms_calls: Calls, ddb_calls: Calls, mpl_clock: MplClock
) -> None:
    envelope.key_store.ensure("shop", "prod")  # creation is once per environment, ever
    kms_calls.names.clear()
    ddb_calls.names.clear()
    keys = [generate_sdk_key("srv")]
    outs = [_encrypt(envelope, keys, context=encryption_context("shop", "prod", r, "server"))
            for r in range(1, 21)]
    # 20 messages (20 revisions): ONE branch-key unwrap, ONE key store read.
    assert kms_calls.names == ["Decrypt"]
    assert ddb_calls.names == ["GetItem"]
    assert len(set(outs)) == 20
    mpl_clock.advance(envelope.ttl_seconds - 30)  # inside the TTL (and its grace period)
    _encrypt(envelope, keys, context=encryption_context("shop", "prod", 21, "server"))
    assert kms_calls.names == ["Decrypt"]
    mpl_clock.advance(31)  # past the TTL: the material is fetched and unwrapped again
    _encrypt(envelope, keys, context=encryption_context("shop", "prod", 22, "server"))
    assert kms_calls.names == ["Decrypt", "Decrypt"]
    assert ddb_calls.names == ["GetItem", "GetItem"]


def test_one_keyring_serves_every_environment_with_one_unwrap_each(
    envelope: EnvelopeCache, kms_calls: Calls
) -> None:
    for env in ("prod", "staging"):
        envelope.key_store.ensure("shop", env)
    kms_calls.names.clear()
    for revision in range(1, 6):
        for env in ("prod", "staging"):
            _encrypt(envelope, [], context=encryption_context("shop", env, revision, "server"))
    assert kms_calls.names == ["Decrypt", "Decrypt"]


def test_a_different_key_set_gets_its_own_data_keys(envelope: EnvelopeCache) -> None:
    a, b = generate_sdk_key("srv"), generate_sdk_key("srv")
    first = _encrypt(envelope, [a])
    second = _encrypt(envelope, [a, b])
    assert decrypt_bundle(second, sdk_key=b, expected=CTX) == PLAINTEXT
    with pytest.raises(EnvelopeError):
        decrypt_bundle(first, sdk_key=b, expected=CTX)


def test_a_failed_decrypt_logs_no_secondary_traceback(
    envelope: EnvelopeCache, caplog: pytest.LogCaptureFixture
) -> None:
    # The ESDK's own decrypt (decrypt_bundle's SDK-key path no longer goes through it).
    ciphertext = _encrypt(envelope, [generate_sdk_key("srv")])
    with pytest.raises(EnvelopeError):
        envelope_mod.open_with_sdk_key(ciphertext, generate_sdk_key("srv"), expected=CTX)
    assert not [r for r in caplog.records if r.getMessage() == "Error on closing"]
