"""What the simulated clients decide, without Locust: pointer bookkeeping, OFREP checks."""

from __future__ import annotations

import json
import random

import pytest

from loadtests.behaviour import (
    PollState,
    check_bulk,
    check_single,
    edited_config,
    random_context,
    token_request,
)


def _pointer(revision: int, key: str = "bundles/p/e/1-a.bundle", size: int = 10) -> bytes:
    return json.dumps({"revision": revision, "key": key, "size": size}).encode()


def test_first_pointer_asks_for_the_bundle_then_304s_ask_for_nothing() -> None:
    state = PollState()
    assert state.on_pointer(200, '"e1"', _pointer(1)) == "bundles/p/e/1-a.bundle"
    state.on_bundle("bundles/p/e/1-a.bundle", 200, 10)
    assert state.etag == '"e1"'
    assert state.on_pointer(304, None, b"") is None
    assert state.on_pointer(200, '"e2"', _pointer(2, "bundles/p/e/2-b.bundle")) == (
        "bundles/p/e/2-b.bundle")


@pytest.mark.parametrize(("status", "body", "message"), [
    (304, b"", "304 without a previous ETag"),
    (503, b"", "pointer answered 503"),
    (200, b"not json", "unreadable pointer"),
    (200, b'{"revision": 1}', "unreadable pointer"),
])
def test_bad_pointer_answers_are_failures(status: int, body: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PollState().on_pointer(status, None, body)


def test_older_revision_and_wrong_bundle_size_are_refused() -> None:
    state = PollState()
    key = state.on_pointer(200, '"e5"', _pointer(5))
    assert key is not None
    with pytest.raises(ValueError, match="pointer says 10"):
        state.on_bundle(key, 200, 9)
    with pytest.raises(ValueError, match="backwards"):
        state.on_pointer(200, '"e4"', _pointer(4))


def test_contexts_vary_and_mobile_ones_carry_an_app_version() -> None:
    rng = random.Random(7)
    ctxs = [random_context(rng) for _ in range(500)]
    assert len({c["targetingKey"] for c in ctxs}) > 490
    assert {c["platform"] for c in ctxs} == {"web", "ios", "android"}
    assert all(("appVersion" in c) == (c["platform"] != "web") for c in ctxs)


def test_ofrep_response_checks() -> None:
    check_single("a", 200, b'{"key": "a", "value": true}')
    with pytest.raises(ValueError, match="not an OFREP success"):
        check_single("a", 200, b'{"key": "b", "value": true}')
    with pytest.raises(ValueError, match="answered 404"):
        check_single("a", 404, b"{}")
    check_bulk(304, b"", sent_etag=True)
    with pytest.raises(ValueError, match="answered 304"):
        check_bulk(304, b"", sent_etag=False)
    with pytest.raises(ValueError, match="without flags"):
        check_bulk(200, b'{"flags": []}', sent_etag=False)


def test_api_edit_keeps_config_fields_and_replaces_targets() -> None:
    config = {"enabled": True, "off_variation": "off", "rules": [], "version": 3,
              "default": {"variation": "on"}}
    body = edited_config(config, ["on", "off"], 7)
    assert body["targets"] == [{"context_kind": "user", "values": ["loadtest-7"],
                                "variation": "off"}]
    assert "version" not in body
    assert body["default"] == {"variation": "on"}
    assert token_request("auditor", "shop")["role"] == "auditor"
