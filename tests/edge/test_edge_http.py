"""The OFREP edge as a real HTTP server on 127.0.0.1: protocol shapes and status codes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import urllib3

from edge_reader.bundle import SdkKey, generate_sdk_key
from edge_reader.edge import EdgeServer, build_app, parse_config
from tests.client.bundles import BundleFactory
from tests.client.cdn import LoopbackCdn
from tests.edge.edgekit import client_flags, edge_config, publish_client_bundle


@pytest.fixture
def edge(cdn: LoopbackCdn, factory: BundleFactory, client_key: SdkKey) -> Iterator[EdgeServer]:
    publish_client_bundle(cdn, factory, client_key)
    app = build_app(parse_config(edge_config(cdn, client_key)))
    for c in app.clients:
        assert c.wait_until_ready(10)
    server = EdgeServer(("127.0.0.1", 0), app)
    server.start_background()
    yield server
    server.stop()


def post(
    edge: EdgeServer,
    path: str,
    body: Any,
    key: SdkKey | None,
    headers: dict[str, str] | None = None,
) -> urllib3.BaseHTTPResponse:
    h = {"content-type": "application/json"}
    if key is not None:
        h["authorization"] = f"Bearer {key.text}"
    h.update(headers or {})
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return urllib3.request("POST", edge.url + path, body=data, headers=h, retries=False)


SINGLE = "/ofrep/v1/evaluate/flags/"
BULK = "/ofrep/v1/evaluate/flags"
CTX = {"context": {"targetingKey": "u-1", "country": "DE"}}


def test_single_flag_success_shape(edge: EdgeServer, client_key: SdkKey) -> None:
    r = post(edge, SINGLE + "t", CTX, client_key)
    assert r.status == 200
    assert r.json() == {
        "key": "t",
        "value": True,
        "reason": "TARGETING_MATCH",
        "variant": "on",
        "metadata": {},
    }
    assert r.headers["access-control-allow-origin"] == "*"


def test_disabled_flag_without_off_variation_omits_value(
    edge: EdgeServer, client_key: SdkKey
) -> None:
    body = post(edge, SINGLE + "dark", CTX, client_key).json()
    assert body["reason"] == "DISABLED"
    assert "value" not in body


def test_unknown_and_hidden_flags_are_404(edge: EdgeServer, client_key: SdkKey) -> None:
    for key in ("nope", "secret"):
        r = post(edge, SINGLE + key, CTX, client_key)
        assert r.status == 404
        assert r.json()["errorCode"] == "FLAG_NOT_FOUND"
        assert r.json()["key"] == key


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "PARSE_ERROR"),
        (b"[1,2]", "PARSE_ERROR"),
        (orjson.dumps({"context": "u-1"}), "INVALID_CONTEXT"),
        (orjson.dumps({"context": {"kind": "multi"}}), "INVALID_CONTEXT"),
    ],
)
def test_bad_context_is_400(edge: EdgeServer, client_key: SdkKey, body: bytes, code: str) -> None:
    r = post(edge, SINGLE + "b", body, client_key)
    assert r.status == 400
    assert r.json()["errorCode"] == code
    assert r.json()["errorDetails"]
    bulk = post(edge, BULK, body, client_key)
    assert bulk.status == 400
    assert bulk.json()["errorCode"] == code


def test_auth(edge: EdgeServer, client_key: SdkKey) -> None:
    assert post(edge, SINGLE + "b", CTX, None).status == 401
    assert post(edge, SINGLE + "b", CTX, None, {"authorization": "Bearer junk"}).status == 401
    assert post(edge, SINGLE + "b", CTX, generate_sdk_key("cli")).status == 403
    forged = SdkKey(kind="cli", key_id=client_key.key_id, secret=b"\x00" * 32)
    assert post(edge, SINGLE + "b", CTX, forged).status == 403
    via_header = post(edge, SINGLE + "b", CTX, None, {"x-api-key": client_key.text})
    assert via_header.status == 200


def test_bulk_lists_only_client_visible_flags_with_etag(
    edge: EdgeServer, client_key: SdkKey
) -> None:
    r = post(edge, BULK, CTX, client_key)
    assert r.status == 200
    body = r.json()
    keys = [f["key"] for f in body["flags"]]
    assert "secret" not in keys
    assert set(keys) == set(client_flags()) - {"secret"}
    t = next(f for f in body["flags"] if f["key"] == "t")
    assert t["value"] is True
    etag = r.headers["etag"]
    again = post(edge, BULK, CTX, client_key, {"if-none-match": etag})
    assert again.status == 304
    assert again.data == b""
    other = post(
        edge,
        BULK,
        {"context": {"targetingKey": "u-2", "country": "FR"}},
        client_key,
        {"if-none-match": etag},
    )
    assert other.status == 200


def test_bulk_etag_changes_when_the_bundle_changes(
    edge: EdgeServer, cdn: LoopbackCdn, factory: BundleFactory, client_key: SdkKey
) -> None:
    etag = post(edge, BULK, CTX, client_key).headers["etag"]
    flags = client_flags()
    flags["s"]["variations"]["v"] = "changed"
    flags["s"]["version"] = 2
    changed = threading.Event()
    edge.app.clients[0].add_change_listener(lambda keys: changed.set())
    publish_client_bundle(cdn, factory, client_key, revision=2, flags=flags)
    assert changed.wait(10)
    r = post(edge, BULK, CTX, client_key, {"if-none-match": etag})
    assert r.status == 200
    assert r.headers["etag"] != etag


def test_cors_preflight_and_method_checks(edge: EdgeServer) -> None:
    r = urllib3.request("OPTIONS", edge.url + SINGLE + "b", retries=False)
    assert r.status == 204
    assert "authorization" in r.headers["access-control-allow-headers"]
    assert urllib3.request("GET", edge.url + SINGLE + "b", retries=False).status == 405
    assert urllib3.request("GET", edge.url + "/elsewhere", retries=False).status == 404


def test_oversized_body_is_413(edge: EdgeServer, client_key: SdkKey) -> None:
    r = post(edge, SINGLE + "b", b"x" * (70 * 1024), client_key)
    assert r.status == 413


def test_health_and_configuration(edge: EdgeServer, client_key: SdkKey) -> None:
    health = urllib3.request("GET", edge.url + "/healthz", retries=False)
    assert health.status == 200
    assert health.json()["environments"][0]["revision"] == 1
    conf = urllib3.request(
        "GET",
        edge.url + "/ofrep/v1/configuration",
        headers={"authorization": f"Bearer {client_key.text}"},
        retries=False,
    )
    assert conf.status == 200
    assert conf.json()["capabilities"]["cacheInvalidation"]["polling"]["enabled"] is True


def test_not_ready_is_503(cdn: LoopbackCdn, client_key: SdkKey) -> None:
    app = build_app(parse_config(edge_config(cdn, client_key)))  # nothing published
    try:
        resp = app.handle(
            "POST", SINGLE + "b", {"authorization": f"Bearer {client_key.text}"}, orjson.dumps(CTX)
        )
        assert resp.status == 503
        assert orjson.loads(resp.body)["errorCode"] in {"PROVIDER_NOT_READY", "GENERAL"}
    finally:
        app.close()


@pytest.mark.parametrize(
    ("cfg", "field"),
    [
        ({}, "cdn"),
        ({"cdn": "ftp://x"}, "cdn"),
        ({"cdn": "http://x", "environments": []}, "environments"),
        (
            {
                "cdn": "http://x",
                "environments": [{"project": "p", "environment": "e", "sdk_key": "nope"}],
            },
            "environments[0].sdk_key",
        ),
        (
            {"cdn": "http://x", "environments": [{"project": "p", "environment": "e"}]},
            "environments[0].sdk_key",
        ),
        (
            {
                "cdn": "http://x",
                "poll_interval": -1,
                "environments": [
                    {"project": "p", "environment": "e", "sdk_key": generate_sdk_key("cli").text}
                ],
            },
            "poll_interval",
        ),
    ],
)
def test_config_errors_name_the_field(cfg: dict[str, Any], field: str) -> None:
    from edge_reader.edge import ConfigError

    with pytest.raises(ConfigError, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_config(cfg)


def test_config_refuses_server_keys() -> None:
    from edge_reader.edge import ConfigError

    cfg = {
        "cdn": "http://x",
        "environments": [
            {"project": "p", "environment": "e", "sdk_key": generate_sdk_key("srv").text}
        ],
    }
    with pytest.raises(ConfigError, match="client key"):
        parse_config(cfg)
