"""Readers that pin the publisher's signing key serve only what the publisher signed.

Bundles are real ESDK messages and pointers are signed by the publisher's own
``PointerSigner`` on moto KMS (``signed_factory``). Forgeries are made the way an SDK-key
holder can make them: the ESDK with that key's raw AES keyring alone (``forge_with_sdk_key``).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from edge_reader import ClientStatus
from edge_reader.bundle.signing import load_trusted_key
from edge_reader.client import DiskCache, FlagClient, _trust
from edge_reader.client.cli_eval import evaluate_from_source
from tests.bundle.signers import LocalSigner
from tests.client.bundles import USER, BundleFactory, bool_flag, forge_with_sdk_key, make_client
from tests.client.cdn import LoopbackCdn


def test_a_reader_with_the_publishers_key_serves_what_it_signed(
    cdn: LoopbackCdn, signed_factory: BundleFactory, publisher_pem: str
) -> None:
    signed_factory.publish(cdn, signed_factory.build(3, {"a": bool_flag(on=True)}))
    client = make_client(cdn, signed_factory, signing_keys=publisher_pem)
    assert client.verifies_publisher
    assert client.refresh().outcome == "updated"
    assert client.status().state is ClientStatus.READY
    assert client.get_boolean("a", USER, False) is True


def test_a_forgery_made_with_a_valid_sdk_key_opens_unless_the_publisher_is_verified(
    cdn: LoopbackCdn, signed_factory: BundleFactory, publisher_pem: str
) -> None:
    # The gap: the SDK key alone makes a bundle every holder of that key accepts...
    signed_factory.publish(cdn, signed_factory.build(3, {"kill": bool_flag(on=True)}))
    trusting = make_client(cdn, signed_factory)
    verifying = make_client(cdn, signed_factory, signing_keys=publisher_pem)
    assert trusting.refresh().ok
    assert verifying.refresh().ok
    forged = forge_with_sdk_key(signed_factory, 4, {"kill": bool_flag(on=False)})
    signed_factory.publish(cdn, forged)
    assert trusting.refresh().outcome == "updated"
    assert trusting.get_boolean("kill", USER, True) is False  # the attacker's value
    # ...the control: a reader that pins the publisher's key refuses it, before any download.
    requests_before = len(cdn.requests)
    result = verifying.refresh()
    assert (result.outcome, result.kind) == ("failed", "bad_signature")
    assert [seen.path for seen in cdn.requests[requests_before:]] == [
        "/" + signed_factory.pointer_path]
    assert verifying.revision == 3
    assert verifying.get_boolean("kill", USER, False) is True
    report = verifying.status()
    assert report.state is ClientStatus.STALE
    assert "bad_signature" in (report.reason or "")
    assert "not signed" in (report.reason or "")


def test_a_disk_cache_entry_with_a_bad_signature_is_refused_at_start(
    tmp_path: Path, cdn: LoopbackCdn, signed_factory: BundleFactory, publisher_pem: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = DiskCache(tmp_path, signed_factory.project, signed_factory.environment, "server")
    genuine = signed_factory.build(5, {"a": bool_flag(on=True)})
    assert genuine.pointer.signature is not None
    # An attacker with the SDK key and write access to the cache directory: a forged bundle
    # behind a pointer wearing the genuine signature (which covers another pointer).
    forged = forge_with_sdk_key(signed_factory, 6, {"a": bool_flag(on=False)},
                                signature=genuine.pointer.signature)
    cache.store(forged.pointer_bytes, forged.ciphertext)
    with caplog.at_level(logging.WARNING, logger="edge_reader.client"):
        refused = make_client(cdn, signed_factory, cache_dir=tmp_path, mode="offline",
                              start=True, signing_keys=publisher_pem)
    assert refused.revision is None
    assert refused.get_boolean("a", USER, True) is True  # the default: nothing served
    assert any("bad_signature" in r.getMessage() and "does not cover" in r.getMessage()
               for r in caplog.records)
    # Without the key the same file is served: the cache is no safer than the CDN.
    assert make_client(cdn, signed_factory, cache_dir=tmp_path, mode="offline",
                       start=True).revision == 6
    # The genuine entry is served from disk.
    cache.store(genuine.pointer_bytes, genuine.ciphertext)
    kept = make_client(cdn, signed_factory, cache_dir=tmp_path, mode="offline", start=True,
                       signing_keys=publisher_pem)
    assert (kept.revision, kept.status().source) == (5, "disk")


def test_an_unsigned_cache_from_before_verification_gives_way_to_the_signed_cdn(
    tmp_path: Path, cdn: LoopbackCdn, factory: BundleFactory, signed_factory: BundleFactory,
    publisher_pem: str,
) -> None:
    old = factory.build(5, {"a": bool_flag(on=False)})  # written by an unsigned publisher
    DiskCache(tmp_path, "shop", "prod", "server").store(old.pointer_bytes, old.ciphertext)
    signed_factory.publish(cdn, signed_factory.build(5, {"a": bool_flag(on=True)}))
    # Lambda mode: start() loads the local sources (the cache is refused), then fetches once.
    client = make_client(cdn, signed_factory, cache_dir=tmp_path, mode="lambda", start=True,
                         signing_keys=publisher_pem)
    assert client.revision == 5
    assert client.status().source == "cdn"
    assert client.get_boolean("a", USER, False) is True


def test_a_plaintext_bootstrap_file_stays_trusted_as_a_local_file(
    tmp_path: Path, cdn: LoopbackCdn, signed_factory: BundleFactory, publisher_pem: str
) -> None:
    boot = tmp_path / "bootstrap.json"
    boot.write_bytes(_plaintext(signed_factory, 2))
    client = make_client(cdn, signed_factory, bootstrap_file=boot, mode="offline", start=True,
                         signing_keys=publisher_pem)
    assert (client.revision, client.status().source) == (2, "bootstrap")


def _plaintext(factory: BundleFactory, revision: int) -> bytes:
    from edge_reader.bundle import encode_bundle_document

    return encode_bundle_document(factory.document(revision, {"a": bool_flag(on=True)}))


def test_a_reader_trusting_the_old_and_the_new_key_accepts_either(
    cdn: LoopbackCdn, signed_factory: BundleFactory, signer: Any, publisher_pem: str,
    tmp_path: Path, vexil_resources: dict[str, str],
) -> None:
    from chalicelib.publish.signing import PointerSigner

    from vexil.resources import signing_public_key_pem

    kms = boto3.session.Session().client("kms")
    new_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256",
                            Description="rotation test")["KeyMetadata"]["Arn"]
    new_pem = signing_public_key_pem(new_id)
    new = replace(signed_factory, signer=PointerSigner(kms, new_id))
    # Operators ship one file with both keys (Terraform's pointer_signing_public_keys_pem).
    both = tmp_path / "vexil-signing.pem"
    both.write_text(publisher_pem + new_pem, encoding="ascii")
    rotating = make_client(cdn, signed_factory, signing_keys=both)
    only_new = make_client(cdn, signed_factory, signing_keys=[new_pem])

    signed_factory.publish(cdn, signed_factory.build(3, {"a": bool_flag(on=True)}))  # old key
    assert rotating.refresh().outcome == "updated"
    result = only_new.refresh()
    assert (result.kind, "untrusted key" in (result.reason or "")) == ("bad_signature", True)

    new.publish(cdn, new.build(4, {"a": bool_flag(on=False)}))  # publisher switched keys
    assert rotating.refresh().outcome == "updated"
    assert rotating.get_boolean("a", USER, True) is False
    assert only_new.refresh().outcome == "updated"
    assert only_new.revision == 4


def test_signing_keys_are_parsed_at_construction(
    tmp_path: Path, publisher_pem: str, server_key: Any
) -> None:
    def client(keys: Any) -> FlagClient:
        return FlagClient(project="shop", environment="prod", sdk_key=server_key,
                          mode="offline", signing_keys=keys)

    key = load_trusted_key(publisher_pem)
    path = tmp_path / "key.pem"
    path.write_text(publisher_pem, encoding="ascii")
    der = tmp_path / "key.der"
    der.write_bytes(_der(publisher_pem))
    # PEM text, DER bytes, a path (str or Path), a loaded key; one or a list; deduplicated.
    for accepted in (publisher_pem, _der(publisher_pem), str(path), path, der, key,
                     [publisher_pem, str(path), key]):
        assert client(accepted)._keys.signing_keys == (key,), accepted
    for refused, says in (
        ([], "empty"),
        ("no-such-file.pem", r"signing_keys\[0\]: cannot read"),
        ([publisher_pem, b"garbage"], r"signing_keys\[1\]: signing key: not a public key"),
        ([42], "expected PEM text, DER bytes or a file path"),
    ):
        with pytest.raises(ValueError, match=says):
            client(refused)


def _der(pem: str) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return load_trusted_key(pem).public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_a_reader_without_keys_says_once_that_it_does_not_verify_the_publisher(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, server_key: Any,
    publisher_pem: str,
) -> None:
    monkeypatch.setattr(_trust, "_warned", threading.Event())
    with caplog.at_level(logging.WARNING, logger="edge_reader.client"):
        for _ in range(3):
            FlagClient(project="shop", environment="prod", sdk_key=server_key, mode="offline")
        FlagClient(project="shop", environment="prod", sdk_key=server_key, mode="offline",
                   signing_keys=publisher_pem)
    said = [r for r in caplog.records if "does not verify that the publisher" in r.getMessage()]
    assert len(said) == 1


def test_vexil_eval_refuses_a_forged_source_and_accepts_a_signed_one(
    tmp_path: Path, cdn: LoopbackCdn, signed_factory: BundleFactory, publisher_pem: str,
) -> None:
    forged = forge_with_sdk_key(signed_factory, 4, {"a": bool_flag(on=False)})
    signed_factory.publish(cdn, forged)
    url = cdn.url(signed_factory.pointer_path)
    refused = evaluate_from_source(url, "a", USER, signed_factory.sdk_key, default=True,
                                   signing_keys=[publisher_pem])
    assert refused.value is True
    assert "bad_signature" in (refused.error_message or "")
    genuine = signed_factory.build(5, {"a": bool_flag(on=False)})
    signed_factory.publish(cdn, genuine)
    accepted = evaluate_from_source(url, "a", USER, signed_factory.sdk_key, default=True,
                                    signing_keys=[publisher_pem])
    assert (accepted.value, accepted.error_code) == (False, None)
    cache_file = tmp_path / "x.vexilcache"
    from edge_reader.client._cache import encode_cache_file

    cache_file.write_bytes(encode_cache_file(forged.pointer_bytes, forged.ciphertext))
    from_file = evaluate_from_source(str(cache_file), "a", USER, signed_factory.sdk_key,
                                     default=True, signing_keys=publisher_pem)
    assert "bad_signature" in (from_file.error_message or "")


def test_a_signature_by_a_key_the_reader_does_not_trust_is_refused(
    cdn: LoopbackCdn, signed_factory: BundleFactory, publisher_pem: str
) -> None:
    # An attacker signs the forgery with a key of its own and names the trusted key.
    signed_factory.publish(cdn, signed_factory.build(3, {"a": bool_flag(on=True)}))
    client = make_client(cdn, signed_factory, signing_keys=publisher_pem)
    assert client.refresh().ok
    attacker = LocalSigner()
    forged = forge_with_sdk_key(signed_factory, 4, {"a": bool_flag(on=False)})
    (self_signed,) = attacker.sign([forged.pointer])
    assert self_signed.signature is not None
    relabelled = replace(self_signed, signature=replace(
        self_signed.signature, key=load_trusted_key(publisher_pem).fingerprint))
    from edge_reader.bundle import encode_pointer

    for pointer, says in ((self_signed, "untrusted key"), (relabelled, "does not verify")):
        cdn.put(forged.pointer.key, forged.ciphertext)
        cdn.put(signed_factory.pointer_path, encode_pointer(pointer))
        result = client.refresh()
        assert (result.kind, says in (result.reason or "")) == ("bad_signature", True)
        assert client.get_boolean("a", USER, False) is True
