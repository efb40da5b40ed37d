"""Publisher signatures on pointers: only the holder of the signing key makes pointers readers
accept; the signature survives the pointer's JSON round trip and covers every field."""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from edge_reader.bundle import BundleFormatError, Pointer, decode_pointer, encode_pointer
from edge_reader.bundle.signing import (
    SignatureError,
    key_fingerprint,
    load_trusted_key,
    load_trusted_keys,
    pointer_digest,
    public_key_pem,
    sign_pointers,
    verify_pointer,
)
from tests.bundle.signers import LocalSigner
from tests.bundle.test_pointer import SHA, make_pointer


def scopes() -> list[Pointer]:
    client_key = f"bundles/shop/prod/scopes/client/7-{SHA}.bundle"
    return [make_pointer(), make_pointer(scope="client", key=client_key)]


def test_one_signature_covers_every_pointer_of_a_publish_and_survives_json() -> None:
    signer = LocalSigner()
    signed = signer.sign(scopes())
    assert signer.calls == 1
    for pointer in signed:
        decoded = decode_pointer(encode_pointer(pointer))
        assert decoded == pointer
        verify_pointer(decoded, [signer.trusted])


def test_an_unsigned_pointer_encodes_exactly_as_before() -> None:
    raw = orjson.loads(encode_pointer(make_pointer()))
    assert "signature" not in raw


@pytest.mark.parametrize(
    "change",
    [
        {"revision": 8},
        {"sha256": "cd" * 32},
        {"size": 124},
        {"generated_at": "2026-11-24T06:00:00.001Z"},
        {"environment": "staging"},
    ],
)
def test_changing_any_field_breaks_the_signature(change: dict[str, Any]) -> None:
    signer = LocalSigner()
    (signed,) = signer.sign([make_pointer()])
    fields = {**change}
    if {"revision", "sha256", "environment"} & set(change):
        from edge_reader.bundle import bundle_object_key

        merged = replace(signed, **change)
        fields["key"] = bundle_object_key(merged.project, merged.environment, merged.scope,
                                          merged.revision, merged.sha256)
    tampered = replace(signed, **fields)
    with pytest.raises(SignatureError, match="does not cover"):
        verify_pointer(tampered, [signer.trusted])


def test_a_signature_by_another_key_is_refused_even_under_the_trusted_fingerprint() -> None:
    signer, forger = LocalSigner(), LocalSigner()
    (forged,) = forger.sign([make_pointer()])
    assert forged.signature is not None
    with pytest.raises(SignatureError, match="untrusted key"):
        verify_pointer(forged, [signer.trusted])
    relabelled = replace(
        forged, signature=replace(forged.signature, key=signer.trusted.fingerprint))
    with pytest.raises(SignatureError, match="does not verify"):
        verify_pointer(relabelled, [signer.trusted])


def test_digest_list_cannot_be_extended_to_cover_a_forged_pointer() -> None:
    signer = LocalSigner()
    (signed,) = signer.sign([make_pointer()])
    assert signed.signature is not None
    forged = make_pointer(size=999)
    digests = tuple(sorted({*signed.signature.digests, pointer_digest(forged)}))
    smuggled = replace(forged, signature=replace(signed.signature, digests=digests))
    with pytest.raises(SignatureError, match="does not verify"):
        verify_pointer(smuggled, [signer.trusted])


def test_unsigned_pointers_are_refused_by_a_reader_that_requires_signatures() -> None:
    with pytest.raises(SignatureError, match="not signed"):
        verify_pointer(make_pointer(), [LocalSigner().trusted])


@pytest.mark.parametrize(
    ("signature", "field"),
    [
        ({"key": "x", "digests": ["ab" * 32], "value": "A" * 20}, "signature.key"),
        ({"key": "ab" * 32, "digests": [], "value": "A" * 20}, "signature.digests"),
        ({"key": "ab" * 32, "digests": ["cd" * 32, "ab" * 32], "value": "A" * 20},
         "sorted"),
        ({"key": "ab" * 32, "digests": ["ab" * 32], "value": "not base64!"}, "signature.value"),
        ({"key": "ab" * 32, "digests": ["ab" * 32], "value": "A" * 20, "x": 1}, "unknown"),
        ("nope", "signature"),
    ],
)
def test_malformed_signatures_are_format_errors_naming_the_field(
    signature: Any, field: str
) -> None:
    raw = orjson.loads(encode_pointer(make_pointer()))
    raw["signature"] = signature
    with pytest.raises(BundleFormatError, match=field):
        decode_pointer(orjson.dumps(raw))


def test_trusted_keys_load_from_pem_and_der_and_refuse_other_curves() -> None:
    signer = LocalSigner()
    public = signer.private.public_key()
    der = public.public_bytes(serialization.Encoding.DER,
                              serialization.PublicFormat.SubjectPublicKeyInfo)
    assert load_trusted_key(der).fingerprint == signer.trusted.fingerprint == key_fingerprint(
        public)
    other = ec.generate_private_key(ec.SECP384R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(BundleFormatError, match="P-256"):
        load_trusted_key(other)
    with pytest.raises(BundleFormatError, match="not a public key"):
        load_trusted_key(b"garbage")


def test_a_rotation_file_holds_several_keys_and_each_loads() -> None:
    old, new = LocalSigner(), LocalSigner()
    both = load_trusted_keys("# old\n" + old.pem + "\n# new\n" + new.pem)
    assert [k.fingerprint for k in both] == [old.trusted.fingerprint, new.trusted.fingerprint]
    der = old.private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert [k.fingerprint for k in load_trusted_keys(der)] == [old.trusted.fingerprint]
    assert public_key_pem(der) == old.pem
    with pytest.raises(BundleFormatError, match="no '-----BEGIN PUBLIC KEY-----' block"):
        load_trusted_keys("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    other_curve = ec.generate_private_key(ec.SECP384R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with pytest.raises(BundleFormatError, match="P-256"):
        load_trusted_keys(old.pem + other_curve)


def test_a_kms_signature_verifies(vexil_resources: dict[str, str]) -> None:
    # The real KMS API (moto): Sign (RAW over the 32-byte digest) makes what readers verify.
    import boto3

    kms = boto3.session.Session().client("kms")
    key_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"][
        "KeyId"]
    trusted = load_trusted_key(kms.get_public_key(KeyId=key_id)["PublicKey"])

    def kms_sign(digest: bytes) -> bytes:
        out = kms.sign(KeyId=key_id, Message=digest, MessageType="RAW",
                       SigningAlgorithm="ECDSA_SHA_256")
        return bytes(out["Signature"])

    signed = sign_pointers(scopes(), key_fingerprint=trusted.fingerprint, sign_digest=kms_sign)
    for pointer in signed:
        verify_pointer(decode_pointer(encode_pointer(pointer)), [trusted])
    assert signed[0].signature is not None
    assert base64.b64decode(signed[0].signature.value)  # a real DER signature, not empty
