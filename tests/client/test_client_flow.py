"""FlagClient end to end against the loopback CDN with real encrypted bundles."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

from edge_reader import ClientStatus, ErrorCode, FlagClient, Reason
from edge_reader.bundle import Pointer, bundle_object_key, encode_pointer, generate_sdk_key
from tests.client.bundles import (
    USER,
    BundleFactory,
    bool_flag,
    make_client,
    string_flag,
    targeted_flag,
)
from tests.client.cdn import LoopbackCdn
from tests.client.fixtures import KmsAccess


def test_loads_verifies_and_evaluates(cdn: LoopbackCdn, factory: BundleFactory) -> None:
    factory.publish(cdn, factory.build(1, {"a": bool_flag(on=True), "s": string_flag("hi")}))
    client = make_client(cdn, factory)
    assert client.status().state is ClientStatus.NOT_READY
    result = client.refresh()
    assert result.outcome == "updated"
    assert result.revision == 1
    assert client.get_boolean("a", USER, False) is True
    assert client.get_string("s", USER, "default") == "hi"
    detail = client.get_boolean_details("a", USER, False)
    assert detail.variant == "on"
    assert detail.error_code is None
    report = client.status()
    assert report.state is ClientStatus.READY
    assert report.revision == 1
    assert report.source == "cdn"


def test_304_costs_no_download_no_decrypt(cdn: LoopbackCdn, factory: BundleFactory) -> None:
    built = factory.build(1, {"a": bool_flag()})
    factory.publish(cdn, built)
    client = make_client(cdn, factory)
    client.refresh()
    snap = client.snapshot()
    result = client.refresh()
    assert result.outcome == "unchanged"
    assert client.snapshot() is snap  # nothing was rebuilt
    assert cdn.requests_for(factory.pointer_path) == [200, 304]
    assert cdn.requests_for(built.pointer.key) == [200]


def test_update_notifies_listeners_with_changed_flags(
    cdn: LoopbackCdn, factory: BundleFactory
) -> None:
    flags = {"a": bool_flag(on=True), "b": bool_flag(on=True), "c": string_flag("x")}
    factory.publish(cdn, factory.build(1, flags))
    client = make_client(cdn, factory)
    seen: list[frozenset[str]] = []
    client.add_change_listener(seen.append)
    client.refresh()
    assert seen == [frozenset({"a", "b", "c"})]
    flags2 = {"a": bool_flag(on=False, version=2), "b": bool_flag(on=True), "d": string_flag("y")}
    factory.publish(cdn, factory.build(2, flags2))
    result = client.refresh()
    assert result.changed == frozenset({"a", "c", "d"})
    assert seen[-1] == frozenset({"a", "c", "d"})
    assert client.get_boolean("a", USER, True) is False


def test_segment_change_marks_dependent_flags(cdn: LoopbackCdn, factory: BundleFactory) -> None:
    seg_flag = {
        "kind": "boolean",
        "variations": {"on": True, "off": False},
        "enabled": True,
        "off_variation": "off",
        "version": 1,
        "client_visible": True,
        "rules": [
            {
                "id": "r",
                "clauses": [
                    {
                        "context_kind": "user",
                        "attribute": "key",
                        "op": "segment_match",
                        "values": ["beta"],
                    }
                ],
                "serve": {"variation": "on"},
            }
        ],
        "default": {"variation": "off"},
    }
    flags = {"uses-seg": seg_flag, "plain": bool_flag()}
    seg = {"context_kind": "user", "included": ["u-1"], "excluded": [], "rules": [], "version": 1}
    factory.publish(cdn, factory.build(1, flags, segments={"beta": seg}))
    client = make_client(cdn, factory)
    client.refresh()
    assert client.get_boolean("uses-seg", USER, False) is True
    seg2 = dict(seg, included=[], version=2)
    factory.publish(cdn, factory.build(2, flags, segments={"beta": seg2}))
    assert client.refresh().changed == frozenset({"uses-seg"})
    assert client.get_boolean("uses-seg", USER, True) is False


def _load_rev(cdn: LoopbackCdn, factory: BundleFactory, revision: int) -> FlagClient:
    factory.publish(cdn, factory.build(revision, {"a": bool_flag(on=True, version=revision)}))
    client = make_client(cdn, factory)
    assert client.refresh().revision == revision
    return client


def _assert_rejected(client: FlagClient, kind: str, revision: int) -> None:
    result = client.refresh()
    assert result.outcome == "failed", result
    assert result.kind == kind, result
    assert client.revision == revision  # previous bundle kept
    assert client.get_boolean("a", USER, False) is True
    report = client.status()
    assert report.state is ClientStatus.STALE
    assert report.error_kind == kind
    assert report.reason
    assert kind in report.reason


def test_older_revision_is_refused(cdn: LoopbackCdn, factory: BundleFactory) -> None:
    old = factory.build(2, {"a": bool_flag(on=False)})
    client = _load_rev(cdn, factory, 3)
    factory.publish(cdn, old)
    _assert_rejected(client, "rollback", 3)


def test_tampered_ciphertext_is_refused(cdn: LoopbackCdn, factory: BundleFactory) -> None:
    client = _load_rev(cdn, factory, 1)
    built = factory.build(2, {"a": bool_flag(on=False)})
    tampered = bytearray(built.ciphertext)
    tampered[len(tampered) // 2] ^= 0x01
    sha = hashlib.sha256(tampered).hexdigest()
    key = bundle_object_key("shop", "prod", "server", 2, sha)
    pointer = Pointer(1, "shop", "prod", "server", 2, key, sha, len(tampered), "x")
    cdn.put(key, bytes(tampered))
    cdn.put(factory.pointer_path, encode_pointer(pointer))
    _assert_rejected(client, "decrypt_failed", 1)


def test_bundle_of_another_environment_is_refused(cdn: LoopbackCdn, factory: BundleFactory) -> None:
    client = _load_rev(cdn, factory, 1)
    # The staging pointer and bundle copied over prod's pointer path.
    staging = BundleFactory(
        factory.envelope, factory.sdk_key, environment="staging"
    ).build(5, {"a": bool_flag(on=False)})
    cdn.put(staging.pointer.key, staging.ciphertext)
    cdn.put(factory.pointer_path, staging.pointer_bytes)
    _assert_rejected(client, "wrong_environment", 1)


def test_ciphertext_bound_to_another_context_is_refused(
    cdn: LoopbackCdn, factory: BundleFactory
) -> None:
    client = _load_rev(cdn, factory, 1)
    # A prod-looking pointer whose envelope was sealed for staging: only the context catches it.
    forged = factory.build(
        2,
        {"a": bool_flag(on=False)},
        context_override={
            "vexil:project": "shop",
            "vexil:environment": "staging",
            "vexil:revision": "2",
            "vexil:scope": "server",
            "vexil:format": "1",
        },
    )
    factory.publish(cdn, forged)
    _assert_rejected(client, "decrypt_failed", 1)


def test_sha_mismatch_is_refused(cdn: LoopbackCdn, factory: BundleFactory) -> None:
    client = _load_rev(cdn, factory, 1)
    built = factory.build(2, {"a": bool_flag(on=False)})
    other = factory.build(2, {"a": bool_flag(on=False)})  # same size class, different bytes
    factory.publish(cdn, built)
    cdn.put(
        built.pointer.key, other.ciphertext[: built.pointer.size].ljust(built.pointer.size, b"\0")
    )
    _assert_rejected(client, "sha_mismatch", 1)


def test_wrong_content_at_pointer_is_refused(cdn: LoopbackCdn, factory: BundleFactory) -> None:
    client = _load_rev(cdn, factory, 1)
    cdn.put(factory.pointer_path, b"<html>oops</html>")
    _assert_rejected(client, "invalid_pointer", 1)


def test_wrong_sdk_key_cannot_open(cdn: LoopbackCdn, factory: BundleFactory) -> None:
    factory.publish(cdn, factory.build(1, {"a": bool_flag()}))
    client = make_client(cdn, factory, sdk_key=generate_sdk_key("srv"))
    result = client.refresh()
    assert result.kind == "key_refused"  # no data key for it: a refusal, not damage
    assert client.status().state is ClientStatus.ERROR


def test_403_with_nothing_loaded_is_error_and_getters_return_default(
    cdn: LoopbackCdn, factory: BundleFactory
) -> None:
    cdn.fault(factory.pointer_path, status=403)
    client = make_client(cdn, factory)
    result = client.refresh()
    assert result.kind == "http_403"
    report = client.status()
    assert report.state is ClientStatus.ERROR
    assert "403" in (report.reason or "")
    detail = client.get_boolean_details("a", USER, True)
    assert detail.value is True
    assert detail.reason is Reason.ERROR
    assert detail.error_code is ErrorCode.PROVIDER_NOT_READY
    assert "403" in (detail.error_message or "")
    assert client.evaluate_all(USER) == {}
    assert client.wait_until_ready(0.01) is False


def test_transient_5xx_keeps_serving_then_recovers(
    cdn: LoopbackCdn, factory: BundleFactory
) -> None:
    client = _load_rev(cdn, factory, 1)
    cdn.fault(factory.pointer_path, status=503)
    assert client.refresh().kind == "http_503"
    assert client.status().state is ClientStatus.STALE
    cdn.clear_faults()
    assert client.refresh().ok
    assert client.status().state is ClientStatus.READY


def test_truncated_bundle_is_retried_later(cdn: LoopbackCdn, factory: BundleFactory) -> None:
    built = factory.build(1, {"a": bool_flag()})
    factory.publish(cdn, built)
    cdn.fault(built.pointer.key, truncate_to=50)
    client = make_client(cdn, factory)
    assert client.refresh().kind == "truncated"
    cdn.clear_faults()
    assert client.refresh().outcome == "updated"


def test_stale_after_age(cdn: LoopbackCdn, factory: BundleFactory) -> None:
    factory.publish(cdn, factory.build(1, {"a": bool_flag()}))
    client = make_client(cdn, factory, stale_after=0.0)
    client.refresh()
    report = client.status()
    assert report.state is ClientStatus.STALE
    assert "stale after" in (report.reason or "")


def test_evaluate_all_is_one_consistent_snapshot(cdn: LoopbackCdn, factory: BundleFactory) -> None:
    factory.publish(cdn, factory.build(1, {"a": bool_flag(), "t": targeted_flag("DE")}))
    client = make_client(cdn, factory)
    client.refresh()
    details = client.evaluate_all(USER)
    assert set(details) == {"a", "t"}
    assert details["t"].value is True
    assert details["t"].reason is Reason.TARGETING_MATCH


def test_getters_never_raise_on_bad_input(cdn: LoopbackCdn, factory: BundleFactory) -> None:
    factory.publish(cdn, factory.build(1, {"a": bool_flag(), "s": string_flag("x")}))
    client = make_client(cdn, factory)
    client.refresh()
    assert client.get_boolean("missing", USER, True) is True
    assert client.get_boolean_details("missing", USER, True).error_code is ErrorCode.FLAG_NOT_FOUND
    assert client.get_string_details("a", USER, "d").error_code is ErrorCode.TYPE_MISMATCH
    bad = client.get_boolean_details("a", 42, False)  # type: ignore[arg-type]
    assert bad.value is False
    assert bad.error_code is ErrorCode.INVALID_CONTEXT


def test_background_poller_picks_up_changes(cdn: LoopbackCdn, factory: BundleFactory) -> None:
    factory.publish(cdn, factory.build(1, {"a": bool_flag(on=True)}))
    client = make_client(cdn, factory, poll_interval=0.05, start=True)
    try:
        assert client.wait_until_ready(10)
        changed = threading.Event()
        client.add_change_listener(lambda keys: changed.set())
        factory.publish(cdn, factory.build(2, {"a": bool_flag(on=False, version=2)}))
        assert changed.wait(10)
        assert client.get_boolean("a", USER, True) is False
    finally:
        client.close()
    assert not any(
        t.name.startswith("vexil-poller") and t.is_alive() for t in threading.enumerate()
    )


def test_status_listener_sees_transitions(cdn: LoopbackCdn, factory: BundleFactory) -> None:
    factory.publish(cdn, factory.build(1, {"a": bool_flag()}))
    client = make_client(cdn, factory)
    states: list[ClientStatus] = []
    client.add_status_listener(lambda r: states.append(r.state))
    client.refresh()
    cdn.fault(factory.pointer_path, status=500)
    client.refresh()
    client.refresh()
    cdn.clear_faults()
    client.refresh()
    assert states == [ClientStatus.READY, ClientStatus.STALE, ClientStatus.READY]


def test_offline_bootstrap_from_plaintext_file(tmp_path: Path, factory: BundleFactory) -> None:
    doc = factory.document(7, {"a": bool_flag(on=False)})
    path = tmp_path / "flags.json"
    path.write_bytes(orjson.dumps(doc))
    client = FlagClient(project="shop", environment="prod", mode="offline", bootstrap_file=path)
    assert client.wait_until_ready(0)
    assert client.get_boolean("a", USER, True) is False
    report = client.status()
    assert report.state is ClientStatus.READY
    assert report.source == "bootstrap"
    assert report.revision == 7
    assert client.refresh().kind == "offline"


def test_bootstrap_for_another_environment_is_ignored(
    tmp_path: Path, factory: BundleFactory
) -> None:
    doc = factory.document(7, {"a": bool_flag()})
    doc["environment"] = "staging"
    path = tmp_path / "flags.json"
    path.write_bytes(orjson.dumps(doc))
    client = FlagClient(project="shop", environment="prod", mode="offline", bootstrap_file=path)
    assert client.revision is None
    assert client.status().state is ClientStatus.NOT_READY


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"\xef\xbb\xbf{}", b'{"flags": NaN}'])
def test_a_bootstrap_file_that_is_not_a_document_is_ignored(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "flags.json"
    path.write_bytes(content)
    client = FlagClient(project="shop", environment="prod", mode="offline", bootstrap_file=path)
    assert client.revision is None
    assert client.status().state is ClientStatus.NOT_READY
    assert any("ignoring bootstrap file" in r.getMessage() for r in caplog.records)


def test_constructor_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError, match="pointer_url"):
        FlagClient(project="p", environment="e", sdk_key=generate_sdk_key("srv"), start=False)
    with pytest.raises(ValueError, match="mode"):
        FlagClient(project="p", environment="e", mode="sometimes", start=False)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sdk_key"):
        FlagClient(project="p", environment="e", sdk_key="vxl_nope", pointer_url="http://x/")


def test_client_key_defaults_to_client_scope(client_key: Any) -> None:
    client = FlagClient(
        project="shop",
        environment="prod",
        sdk_key=client_key,
        cdn_url="https://cdn.example/",
        start=False,
    )
    assert client.identity.scope == "client"
    assert client._refresher is not None
    assert client._refresher.pointer_url == (
        "https://cdn.example/bundles/shop/prod/scopes/client/current.json"
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"project": "Bad Name"}, "project"),
        ({"environment": ""}, "environment"),
        ({"scope": "everything"}, "scope"),
        ({"pointer_url": "ftp://x/current.json"}, "pointer_url"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"jitter": 1.5}, "jitter"),
        ({"sdk_key": None, "kms_key_id": "arn:aws:kms:us-east-1:1:key/x"}, "key_store_table"),
    ],
)
def test_constructor_names_the_bad_field(kwargs: dict[str, Any], field: str) -> None:
    options: dict[str, Any] = {
        "project": "shop",
        "environment": "prod",
        "sdk_key": generate_sdk_key("srv"),
        "pointer_url": "https://cdn.example/current.json",
        "start": False,
    }
    options.update(kwargs)
    with pytest.raises(ValueError, match=field):
        FlagClient(**options)


def test_kms_access_instead_of_an_sdk_key(
    cdn: LoopbackCdn, factory: BundleFactory, kms: KmsAccess
) -> None:
    factory.publish(cdn, factory.build(1, {"a": bool_flag(on=False)}))
    client = make_client(cdn, factory, sdk_key=None, **kms.reader_options())
    assert client.refresh().outcome == "updated"
    assert client.get_boolean("a", USER, True) is False
    # The same through vexil eval's loader (the CLI's KMS path).
    from edge_reader.client.cli_eval import evaluate_from_source

    detail = evaluate_from_source(cdn.url(factory.pointer_path), "a", {}, None,
                                  **kms.reader_options())
    assert detail.value is False
    assert detail.error_code is None
