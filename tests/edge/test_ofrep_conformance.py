"""Every answer of the OFREP edge, over real HTTP on 127.0.0.1, against the edge's own
OpenAPI document (edge_reader/edge/_openapi.py, served at /ofrep/v1/openapi.json), which
restates OFREP's core schemas: the status must be declared for that path and method, and
the JSON body must validate against the declared schema."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator

from edge_reader.bundle import SdkKey, generate_sdk_key
from edge_reader.edge import EdgeServer, build_app, parse_config
from edge_reader.edge._openapi import REASONS, openapi_document
from tests.client.bundles import BundleFactory
from tests.client.cdn import LoopbackCdn
from tests.edge.edgekit import client_flags, edge_config, publish_client_bundle

SINGLE = "/ofrep/v1/evaluate/flags/{key}"
BULK = "/ofrep/v1/evaluate/flags"
CONFIG = "/ofrep/v1/configuration"
OPENAPI = "/ofrep/v1/openapi.json"
CTX = {"context": {"targetingKey": "u-1", "country": "DE"}}


def conformance_flags() -> dict[str, Any]:
    """The edge kit's flags plus the shapes OFREP has no type for."""
    flags = client_flags()
    for key, value in (("arr", [1, "two", {"three": 3}]), ("nul", None)):
        flags[key] = {
            "kind": "json",
            "variations": {"v": value},
            "enabled": True,
            "default": {"variation": "v"},
            "version": 1,
            "client_visible": True,
        }
    flags["split"] = {
        "kind": "boolean",
        "variations": {"on": True, "off": False},
        "enabled": True,
        "default": {"rollout": {"variations": [{"variation": "on", "weight": 50000},
                                               {"variation": "off", "weight": 50000}]}},
        "version": 1,
        "client_visible": True,
        "metadata": {"owner": "web", "tier": 2, "beta": True},
    }
    return flags


@pytest.fixture
def edge(cdn: LoopbackCdn, factory: BundleFactory, client_key: SdkKey) -> Iterator[EdgeServer]:
    publish_client_bundle(cdn, factory, client_key, flags=conformance_flags())
    app = build_app(parse_config(edge_config(cdn, client_key)))
    for c in app.clients:
        assert c.wait_until_ready(10)
    server = EdgeServer(("127.0.0.1", 0), app)
    server.start_background()
    yield server
    server.stop()


def call(
    edge: EdgeServer, method: str, path: str, body: Any = None, key: SdkKey | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request with http.client (urllib3 refuses some methods, e.g. made-up ones)."""
    host, port = edge.server_address[:2]
    conn = http.client.HTTPConnection(str(host), int(port), timeout=10)
    try:
        h = {"content-type": "application/json"}
        if key is not None:
            h["authorization"] = f"Bearer {key.text}"
        h.update(headers or {})
        data = None if body is None else body if isinstance(body, bytes) else orjson.dumps(body)
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def conforms(template: str, method: str, status: int, body: bytes) -> Any:
    """Assert ``status`` is declared for the operation and ``body`` matches its schema."""
    doc = openapi_document()
    responses = doc["paths"][template][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {template}: {status} is not declared"
    content = responses[str(status)].get("content")
    if content is None:
        assert body == b""
        return None
    decoded = orjson.loads(body)
    schema = {**content["application/json"]["schema"], "components": doc["components"]}
    Draft202012Validator(schema).validate(decoded)
    return decoded


def test_the_document_is_served_and_its_schemas_are_valid(edge: EdgeServer) -> None:
    status, headers, body = call(edge, "GET", OPENAPI)
    assert status == 200
    assert headers["content-type"] == "application/json"
    doc = orjson.loads(body)
    assert doc == orjson.loads(orjson.dumps(openapi_document()))
    assert doc["openapi"].startswith("3.1")
    from openapi_spec_validator import validate

    validate(doc)  # a valid OpenAPI 3.1 document, not only valid JSON Schemas
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    # 503 and its Retry-After are declared where OFREP leaves them out.
    for template in (SINGLE, BULK):
        declared = doc["paths"][template]["post"]["responses"]["503"]
        assert "Retry-After" in declared["headers"]


@pytest.mark.parametrize("key", sorted(k for k, f in conformance_flags().items()
                                       if f.get("client_visible")))
def test_single_evaluation_of_every_flag_shape_conforms(
    edge: EdgeServer, client_key: SdkKey, key: str
) -> None:
    status, _, body = call(edge, "POST", f"/ofrep/v1/evaluate/flags/{key}", CTX, client_key)
    assert status == 200
    out = conforms(SINGLE, "POST", status, body)
    assert out["reason"] in REASONS
    assert out.get("variant", "") is not None  # never "variant": null


def test_mapping_of_values_without_an_ofrep_type(edge: EdgeServer, client_key: SdkKey) -> None:
    def single(key: str) -> dict[str, Any]:
        status, _, body = call(edge, "POST", f"/ofrep/v1/evaluate/flags/{key}", CTX, client_key)
        assert status == 200
        return dict(orjson.loads(body))

    dark = single("dark")  # disabled, no off variation: the caller's default
    assert dark["reason"] == "DISABLED"
    assert "variant" not in dark
    assert "value" not in dark
    nul = single("nul")  # json null: variant kept, value left to the code default
    assert nul["variant"] == "v"
    assert "value" not in nul
    assert single("arr")["value"] == [1, "two", {"three": 3}]
    assert single("split")["reason"] == "SPLIT"
    assert single("split")["metadata"] == {"owner": "web", "tier": 2, "beta": True}
    assert single("b")["reason"] == "STATIC"


def test_bulk_and_its_304_conform(edge: EdgeServer, client_key: SdkKey) -> None:
    status, headers, body = call(edge, "POST", BULK, CTX, client_key)
    out = conforms(BULK, "POST", status, body)
    assert status == 200
    keys = {f["key"] for f in out["flags"]}
    assert "secret" not in keys
    assert {"dark", "nul", "arr", "split"} <= keys
    status, _, body = call(edge, "POST", BULK, CTX, client_key,
                           {"if-none-match": headers["etag"]})
    assert status == 304
    conforms(BULK, "POST", status, body)


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"{nope", 400), (b"[]", 400), (b'{"context": 5}', 400), (b"x" * (70 * 1024), 413)],
)
def test_bad_requests_conform(
    edge: EdgeServer, client_key: SdkKey, body: bytes, status: int
) -> None:
    got, _, raw = call(edge, "POST", "/ofrep/v1/evaluate/flags/b", body, client_key)
    assert got == status
    conforms(SINGLE, "POST", got, raw)
    got, _, raw = call(edge, "POST", BULK, body, client_key)
    assert got == status
    conforms(BULK, "POST", got, raw)


def test_not_found_and_auth_failures_conform(edge: EdgeServer, client_key: SdkKey) -> None:
    for flag in ("missing", "secret"):
        status, _, body = call(edge, "POST", f"/ofrep/v1/evaluate/flags/{flag}", CTX, client_key)
        assert status == 404
        assert conforms(SINGLE, "POST", status, body)["errorCode"] == "FLAG_NOT_FOUND"
    other = generate_sdk_key("cli")
    for key, expected in ((None, 401), (other, 403)):
        for template, path, method in ((SINGLE, "/ofrep/v1/evaluate/flags/b", "POST"),
                                       (BULK, BULK, "POST"), (CONFIG, CONFIG, "GET")):
            status, _, body = call(edge, method, path, CTX if method == "POST" else None, key)
            assert status == expected, (path, key)
            conforms(template, method, status, body)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "HEAD", "TRACE", "BREW"])
def test_every_other_method_is_a_json_405(edge: EdgeServer, method: str) -> None:
    for template, path, allowed in ((SINGLE, "/ofrep/v1/evaluate/flags/b", "POST"),
                                    (BULK, BULK, "POST")):
        status, headers, body = call(edge, method, path, b"")
        assert status == 405, (method, path)
        assert headers["allow"] == f"{allowed}, OPTIONS"
        if method != "HEAD":
            assert conforms(template, "POST", status, body)["errorCode"] == "GENERAL"
    if method != "GET":
        status, headers, body = call(edge, method, CONFIG, b"")
        assert status == 405
        assert headers["allow"] == "GET, OPTIONS"


def test_protocol_errors_are_json_not_html(edge: EdgeServer) -> None:
    host, port = edge.server_address[:2]
    with socket.create_connection((str(host), int(port)), timeout=10) as sock:
        sock.sendall(b"GET /healthz extra-word HTTP/1.1\r\n\r\n")  # bad syntax
        # Read until the server closes: head and body may arrive in separate segments.
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.split(b" ", 2)[1] == b"400"
    assert b"application/json" in head.lower()
    assert orjson.loads(body)["errorCode"] == "GENERAL"


def test_configuration_conforms_and_uses_ofrep_type_names(
    edge: EdgeServer, client_key: SdkKey
) -> None:
    status, _, body = call(edge, "GET", CONFIG, None, client_key)
    out = conforms(CONFIG, "GET", status, body)
    assert status == 200
    assert out["capabilities"]["flagEvaluation"]["supportedTypes"] == [
        "boolean", "string", "int", "float", "object"]


def test_not_ready_is_a_declared_503_with_retry_after(
    cdn: LoopbackCdn, client_key: SdkKey
) -> None:
    app = build_app(parse_config(edge_config(cdn, client_key)))  # nothing published
    try:
        for template, path in ((SINGLE, "/ofrep/v1/evaluate/flags/b"), (BULK, BULK)):
            resp = app.handle("POST", path, {"authorization": f"Bearer {client_key.text}"},
                              orjson.dumps(CTX))
            assert resp.status == 503
            assert resp.headers["retry-after"].isdigit()
            conforms(template, "POST", resp.status, resp.body)
    finally:
        app.close()


def test_cors_origins_come_from_configuration(
    cdn: LoopbackCdn, factory: BundleFactory, client_key: SdkKey
) -> None:
    publish_client_bundle(cdn, factory, client_key)
    allowed = ["https://shop.example", "https://admin.example"]
    app = build_app(parse_config(edge_config(cdn, client_key, cors_origins=allowed)))
    try:
        auth = {"authorization": f"Bearer {client_key.text}"}
        for origin in allowed:
            resp = app.handle("OPTIONS", BULK, {"origin": origin}, b"")
            assert resp.headers["access-control-allow-origin"] == origin
            assert resp.headers["vary"] == "origin"
        resp = app.handle("POST", BULK, {**auth, "origin": "https://evil.example"}, b"{}")
        assert "access-control-allow-origin" not in resp.headers
        assert resp.headers["vary"] == "origin"
        resp = app.handle("POST", BULK, auth, b"{}")  # same-origin or server caller
        assert "access-control-allow-origin" not in resp.headers
    finally:
        app.close()
