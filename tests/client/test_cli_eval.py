"""evaluate_from_source: the function behind `vexil eval`."""

from __future__ import annotations

from pathlib import Path

import orjson

from edge_reader import ErrorCode, Reason
from edge_reader.client._cache import encode_cache_file
from edge_reader.client.cli_eval import evaluate_from_source
from tests.client.bundles import BundleFactory, bool_flag, targeted_flag
from tests.client.cdn import LoopbackCdn


def test_from_pointer_url(cdn: LoopbackCdn, factory: BundleFactory) -> None:
    factory.publish(cdn, factory.build(3, {"t": targeted_flag("DE")}))
    detail = evaluate_from_source(
        cdn.url(factory.pointer_path),
        "t",
        {"targetingKey": "u", "country": "DE"},
        factory.sdk_key.text,
    )
    assert detail.value is True
    assert detail.reason is Reason.TARGETING_MATCH


def test_context_as_json_text(cdn: LoopbackCdn, factory: BundleFactory) -> None:
    factory.publish(cdn, factory.build(3, {"t": targeted_flag("DE")}))
    detail = evaluate_from_source(
        cdn.url(factory.pointer_path),
        "t",
        '{"targetingKey": "u", "country": "FR"}',
        factory.sdk_key,
    )
    assert detail.value is False


def test_from_pointer_file_with_bundle_beside_it(tmp_path: Path, factory: BundleFactory) -> None:
    built = factory.build(3, {"a": bool_flag(on=False)})
    (tmp_path / "current.json").write_bytes(built.pointer_bytes)
    (tmp_path / built.pointer.key.rsplit("/", 1)[-1]).write_bytes(built.ciphertext)
    detail = evaluate_from_source(str(tmp_path / "current.json"), "a", {}, factory.sdk_key)
    assert detail.value is False
    assert detail.error_code is None


def test_from_cache_file(tmp_path: Path, factory: BundleFactory) -> None:
    built = factory.build(3, {"a": bool_flag(on=True)})
    path = tmp_path / "x.vexilcache"
    path.write_bytes(encode_cache_file(built.pointer_bytes, built.ciphertext))
    assert evaluate_from_source(str(path), "a", None, factory.sdk_key).value is True


def test_from_plaintext_document_needs_no_key(tmp_path: Path, factory: BundleFactory) -> None:
    path = tmp_path / "doc.json"
    path.write_bytes(orjson.dumps(factory.document(1, {"a": bool_flag(on=True)})))
    assert evaluate_from_source(str(path), "a", {"targetingKey": "u"}).value is True


def test_failures_are_details_not_exceptions(
    tmp_path: Path, factory: BundleFactory, cdn: LoopbackCdn
) -> None:
    missing = evaluate_from_source(str(tmp_path / "nope.json"), "a", {}, default=False)
    assert missing.value is False
    assert missing.error_code is ErrorCode.PROVIDER_NOT_READY
    assert "cannot read" in (missing.error_message or "")

    built = factory.build(3, {"a": bool_flag()})
    path = tmp_path / "x.vexilcache"
    path.write_bytes(encode_cache_file(built.pointer_bytes, built.ciphertext))
    no_key = evaluate_from_source(str(path), "a", {})
    assert "SDK key" in (no_key.error_message or "")

    cdn.fault(factory.pointer_path, status=403)
    denied = evaluate_from_source(cdn.url(factory.pointer_path), "a", {}, factory.sdk_key)
    assert "403" in (denied.error_message or "")

    bad_ctx = evaluate_from_source(str(path), "a", "{not json", factory.sdk_key)
    assert "context" in (bad_ctx.error_message or "")

    bad_key = evaluate_from_source(str(path), "a", {}, "vxl_srv_bad")
    assert bad_key.error_code is ErrorCode.PROVIDER_NOT_READY


def test_wrong_environment_is_rejected(tmp_path: Path, factory: BundleFactory) -> None:
    built = factory.build(3, {"a": bool_flag()})
    path = tmp_path / "x.vexilcache"
    path.write_bytes(encode_cache_file(built.pointer_bytes, built.ciphertext))
    detail = evaluate_from_source(str(path), "a", {}, factory.sdk_key, environment="staging")
    assert "wrong_environment" in (detail.error_message or "")
