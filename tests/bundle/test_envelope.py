"""ESDK envelope: KMS + SDK-key keyrings, exact context checks, bounded data-key reuse.

Runs against the session's moto_server KMS (real KMS API calls through boto3).
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
from tests.bundle.conftest import KmsCalls

PLAINTEXT = b'{"flags":{},"segments":{}}' * 100
CTX = encryption_context("shop", "prod", 5, "server")


def _encrypt(kms_key_arn: str, kms_client: Any, keys: list[Any], **over: Any) -> bytes:
    return encrypt_bundle(
        over.pop("plaintext", PLAINTEXT),
        context=over.pop("context", CTX),
        kms_key_id=kms_key_arn,
        kms_client=kms_client,
        sdk_keys=keys,
        cache=over.pop("cache", None),
    )


def test_every_sdk_key_alone_opens_it_without_any_aws_call(
    kms_key_arn: str, kms_client: Any, kms_calls: KmsCalls, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = [generate_sdk_key("srv"), generate_sdk_key("srv"), generate_sdk_key("cli")]
    ciphertext = _encrypt(kms_key_arn, kms_client, keys)
    before = list(kms_calls.names)

    def no_aws() -> None:
        raise AssertionError("decrypting with an SDK key must not touch AWS")

    monkeypatch.setattr(envelope_mod, "default_kms_client", no_aws)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # unreachable on purpose
    for key in keys:
        assert decrypt_bundle(ciphertext, sdk_key=key, expected=CTX) == PLAINTEXT
        assert decrypt_bundle(ciphertext, sdk_key=key.text, expected=CTX) == PLAINTEXT
    assert kms_calls.names == before


def test_kms_alone_opens_it(kms_key_arn: str, kms_client: Any, kms_calls: KmsCalls) -> None:
    ciphertext = _encrypt(kms_key_arn, kms_client, [generate_sdk_key("srv")])
    assert decrypt_bundle(ciphertext, kms_client=kms_client, kms_key_id=kms_key_arn,
                          expected=CTX) == PLAINTEXT
    assert kms_calls.count("Decrypt") == 1


def test_message_uses_the_signed_committing_suite_and_64k_frames(
    kms_key_arn: str, kms_client: Any
) -> None:
    import aws_encryption_sdk

    key = generate_sdk_key("srv")
    big = os.urandom(200_000)
    ciphertext = _encrypt(kms_key_arn, kms_client, [key], plaintext=big)
    header = aws_encryption_sdk.EncryptionSDKClient().decrypt(
        source=ciphertext, keyring=envelope_mod._aes_keyring(key)
    )[1]
    assert header.algorithm == Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
    assert header.frame_length == 65536
    assert "aws-crypto-public-key" in header.encryption_context
    assert {k: v for k, v in header.encryption_context.items()
            if k.startswith("vexil:")} == CTX


def test_a_key_not_in_the_keyring_set_cannot_open_it(kms_key_arn: str, kms_client: Any) -> None:
    ciphertext = _encrypt(kms_key_arn, kms_client, [generate_sdk_key("srv")])
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
    kms_key_arn: str, kms_client: Any, other: dict[str, str], field: str
) -> None:
    key = generate_sdk_key("srv")
    ciphertext = _encrypt(kms_key_arn, kms_client, [key])
    with pytest.raises(EnvelopeError, match=field):
        decrypt_bundle(ciphertext, sdk_key=key, expected=other)
    with pytest.raises(EnvelopeError, match=field):
        decrypt_bundle(ciphertext, kms_client=kms_client, kms_key_id=kms_key_arn,
                       expected=other)


def test_tampered_or_truncated_messages_are_refused(kms_key_arn: str, kms_client: Any) -> None:
    key = generate_sdk_key("srv")
    ciphertext = bytearray(_encrypt(kms_key_arn, kms_client, [key]))
    flipped = bytearray(ciphertext)
    flipped[len(flipped) // 2] ^= 0x01
    for bad in (bytes(flipped), bytes(ciphertext[:-10]), b"", b"garbage"):
        with pytest.raises(EnvelopeError):
            decrypt_bundle(bad, sdk_key=key, expected=CTX)


def test_encrypt_input_errors_are_clear(kms_key_arn: str, kms_client: Any) -> None:
    with pytest.raises(EnvelopeError, match="context: missing"):
        _encrypt(kms_key_arn, kms_client, [], context={"vexil:project": "shop"})
    with pytest.raises(EnvelopeError, match="kms_key_id"):
        encrypt_bundle(PLAINTEXT, context=CTX, kms_key_id="", sdk_keys=[])
    with pytest.raises(EnvelopeError, match="sdk_key, or kms_key_id"):
        decrypt_bundle(b"x", expected=CTX)


def test_kms_failure_is_an_envelope_error(kms_client: Any) -> None:
    missing = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    with pytest.raises(EnvelopeError, match="encrypt"):
        _encrypt(missing, kms_client, [generate_sdk_key("srv")])


def test_data_key_reuse_is_bounded_per_context(
    kms_key_arn: str, kms_client: Any, kms_calls: KmsCalls
) -> None:
    keys = [generate_sdk_key("srv")]
    cache = EnvelopeCache(max_age=300.0, max_messages=2)
    outs = [_encrypt(kms_key_arn, kms_client, keys, cache=cache) for _ in range(3)]
    # 3 messages with max_messages=2: one fresh data key, one reuse, then a fresh one.
    assert kms_calls.count("GenerateDataKey") == 2
    assert len(set(outs)) == 3  # reuse never repeats a message (fresh message id each time)
    for out in outs:
        assert decrypt_bundle(out, sdk_key=keys[0], expected=CTX) == PLAINTEXT
    # Another revision is another context: never shares a data key.
    ctx6 = encryption_context("shop", "prod", 6, "server")
    _encrypt(kms_key_arn, kms_client, keys, cache=cache, context=ctx6)
    assert kms_calls.count("GenerateDataKey") == 3


def test_reuse_expires_with_max_age(
    kms_key_arn: str, kms_client: Any, kms_calls: KmsCalls, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = [generate_sdk_key("srv")]
    cache = EnvelopeCache(max_age=10.0, max_messages=100)
    now = [1000.0]
    monkeypatch.setattr("edge_reader.bundle.esdk.time.monotonic", lambda: now[0])
    _encrypt(kms_key_arn, kms_client, keys, cache=cache)
    _encrypt(kms_key_arn, kms_client, keys, cache=cache)
    assert kms_calls.count("GenerateDataKey") == 1
    now[0] += 11
    _encrypt(kms_key_arn, kms_client, keys, cache=cache)
    assert kms_calls.count("GenerateDataKey") == 2


def test_a_different_key_set_never_reuses_materials(
    kms_key_arn: str, kms_client: Any, kms_calls: KmsCalls
) -> None:
    cache = EnvelopeCache()
    a, b = generate_sdk_key("srv"), generate_sdk_key("srv")
    _encrypt(kms_key_arn, kms_client, [a], cache=cache)
    out = _encrypt(kms_key_arn, kms_client, [a, b], cache=cache)
    assert kms_calls.count("GenerateDataKey") == 2
    assert decrypt_bundle(out, sdk_key=b, expected=CTX) == PLAINTEXT


def test_a_failed_decrypt_logs_no_secondary_traceback(
    kms_key_arn: str, kms_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # The ESDK's own decrypt (decrypt_bundle's SDK-key path no longer goes through it).
    ciphertext = _encrypt(kms_key_arn, kms_client, [generate_sdk_key("srv")])
    with pytest.raises(EnvelopeError):
        envelope_mod.open_with_sdk_key(ciphertext, generate_sdk_key("srv"), expected=CTX)
    assert not [r for r in caplog.records if r.getMessage() == "Error on closing"]
