"""The publisher signs every pointer of a publish together, with one KMS Sign, or fails.

The publisher is built from VEXIL_* exactly as the Lambda builds it; the session's signing
key is the local stack's (an ECC_NIST_P256 SIGN_VERIFY key on moto). Signatures are checked
with the public key as readers load it (its PEM).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from chalicelib.anchors import anchor_digest, decode_anchor
from chalicelib.publish.publisher import Publisher, PublishError, publisher_from_env
from chalicelib.publish.signing import PointerSigner

from edge_reader.bundle import generate_sdk_key
from edge_reader.bundle.signing import load_trusted_key, pointer_digest, verify_pointer
from tests.publisher.conftest import Bucket
from tests.publisher.tablekit import TableKit


def _calls(client: Any) -> list[str]:
    names: list[str] = []
    client.meta.events.register("before-call.kms", lambda model, **_: names.append(model.name))
    return names


def _bundles(bucket: Bucket, project: str) -> set[str]:
    out = bucket.s3.list_objects_v2(Bucket=bucket.name, Prefix=f"bundles/{project}/")
    return {o["Key"] for o in out.get("Contents", []) if o["Key"].endswith(".bundle")}


@pytest.fixture(scope="module")
def publisher_key(vexil_resources: dict[str, str]) -> Any:
    from vexil.resources import signing_public_key_pem

    return load_trusted_key(signing_public_key_pem(vexil_resources["VEXIL_SIGNING_KEY_ID"]))


def test_every_scope_is_signed_by_one_kms_call_and_verifies(
    kit: TableKit, publisher: Publisher, bucket: Bucket, vexil_resources: dict[str, str],
    publisher_key: Any,
) -> None:
    kms_key = vexil_resources["VEXIL_KMS_KEY_ID"]
    kit.env(revision=1)
    kit.flag("checkout", tags=["checkout"], client_visible=True)
    kit.flag("search", tags=["search"])
    kit.sdk_key(generate_sdk_key("srv"), kms_key)
    kit.sdk_key(generate_sdk_key("cli"), kms_key)
    tagged = generate_sdk_key("srv")
    kit.sdk_key(tagged, kms_key, tags=("checkout",))
    assert publisher.signer is not None
    calls = _calls(publisher.signer.kms)

    outcome = publisher.publish(kit.project, "prod")

    scopes = sorted(outcome.published)
    assert scopes == sorted(["server", "client", tagged.scope_name])
    assert calls == ["GetPublicKey", "Sign"]  # one Sign for all three scopes
    pointers = [bucket.pointer(kit.project, scope=s) for s in scopes]
    signatures = set()
    for pointer in pointers:
        assert pointer is not None
        assert pointer.signature is not None
        verify_pointer(pointer, [publisher_key])  # raises unless genuine
        assert pointer.signature.key == publisher_key.fingerprint
        signatures.add(pointer.signature)
    # One signature over the digests of exactly the pointers written together, and of the
    # environment's audit anchor (chalicelib.anchors), which the same Sign covers.
    (signature,) = signatures
    assert outcome.anchor is not None
    anchor = decode_anchor(bucket.s3.get_object(Bucket=bucket.name, Key=outcome.anchor)
                           ["Body"].read())
    assert signature.digests == tuple(sorted([*(pointer_digest(p) for p in pointers if p),
                                              anchor_digest(anchor)]))

    # The next publish of this container: the public key is known, one Sign again.
    calls.clear()
    kit.flag("search", tags=["search"], version=2)
    kit.bump()
    assert sorted(publisher.publish(kit.project, "prod").published) == scopes
    assert calls == ["Sign"]
    # Nothing to publish: nothing signed.
    calls.clear()
    assert publisher.publish(kit.project, "prod").published == []
    assert calls == []


def test_without_a_signing_key_pointers_are_unsigned_and_it_is_said(
    kit: TableKit, bucket: Bucket, boto_session: Any, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("VEXIL_SIGNING_KEY_ID")
    with caplog.at_level(logging.WARNING, logger="vexil-publisher"):
        publisher = publisher_from_env(boto_session)
    assert publisher.signer is None
    assert any("pointers are published unsigned" in r.getMessage() for r in caplog.records)
    kit.env(revision=1)
    kit.flag("a")
    publisher.publish(kit.project, "prod")
    pointer = bucket.pointer(kit.project)
    assert pointer is not None
    assert pointer.signature is None
    raw = bucket.s3.get_object(Bucket=bucket.name,
                               Key=f"bundles/{kit.project}/prod/current.json")["Body"].read()
    assert b"signature" not in raw  # byte-for-byte the pointer format from before signing


def test_a_key_that_cannot_sign_pointers_fails_the_publish_before_anything_is_written(
    kit: TableKit, publisher: Publisher, bucket: Bucket, vexil_resources: dict[str, str],
) -> None:
    kit.env(revision=1)
    kit.flag("a")
    publisher.publish(kit.project, "prod")
    live = bucket.pointer(kit.project)
    uploaded = _bundles(bucket, kit.project)
    kit.bump()
    # Misconfigured: the (symmetric) bundle key named as the signing key.
    good = publisher.signer
    assert good is not None
    publisher.signer = PointerSigner(good.kms, vexil_resources["VEXIL_KMS_KEY_ID"])
    with pytest.raises(PublishError) as info:
        publisher.publish(kit.project, "prod")
    assert info.value.stage == "sign"
    assert "SIGN_VERIFY" in info.value.reason
    assert bucket.pointer(kit.project) == live
    assert _bundles(bucket, kit.project) == uploaded  # signing comes before any upload
    publisher.signer = good
    assert sorted(publisher.publish(kit.project, "prod").published) == ["client", "server"]


def test_a_signature_that_does_not_verify_is_never_written(
    kit: TableKit, publisher: Publisher, bucket: Bucket,
) -> None:
    kit.env(revision=1)
    kit.flag("a")
    assert publisher.signer is not None
    signer = publisher.signer

    def wrong_signature(params: dict[str, Any], **_: Any) -> None:
        params["Message"] = b"\x00" * 32  # KMS signs something else than the pointers

    signer.kms.meta.events.register("provide-client-params.kms.Sign", wrong_signature)
    with pytest.raises(PublishError, match="does not verify") as info:
        publisher.publish(kit.project, "prod")
    assert info.value.stage == "sign"
    assert bucket.pointer(kit.project) is None
    signer.kms.meta.events.unregister("provide-client-params.kms.Sign", wrong_signature)
    calls = _calls(signer.kms)
    assert sorted(publisher.publish(kit.project, "prod").published) == ["client", "server"]
    assert calls == ["GetPublicKey", "Sign"]  # the key was fetched afresh after the failure
