"""vexil.api.ApiClient on the standard library: keep-alive, GET retries, writes never sent
twice, readable errors. Against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import free_port
from vexil.api import ApiClient
from vexil.errors import ApiError, VexilError


class _Server(http.server.ThreadingHTTPServer):
    hits: list[str]
    drop_first: bool


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server: _Server

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.hits.append(f"{self.command} {self.path}")
        if self.server.drop_first:
            self.server.drop_first = False
            self.close_connection = True  # no response at all: as a crashed proxy would
            return
        out: dict[str, Any]
        if self.path.startswith("/v1/bad"):
            status, out = 422, {"error": {"code": "invalid", "message": "bad body", "details": [
                {"path": "body.name", "message": "is required"}]}}
        else:
            status, out = 200, {"method": self.command, "echo": json.loads(body or b"null"),
                                "if_match": self.headers.get("If-Match")}
        data = json.dumps(out).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", '"7"')
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.hits, srv.drop_first = [], False
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


def _client(srv: _Server) -> ApiClient:
    return ApiClient(f"http://127.0.0.1:{srv.server_address[1]}", "vxl_tok_x",
                     token_source="$VEXIL_TOKEN")


def test_requests_share_one_keep_alive_connection(server: _Server) -> None:
    api = _client(server)
    for _ in range(3):
        assert api.get("/v1/x", q="1").body["method"] == "GET"
    resp = api.request("PUT", "/v1/x", body={"a": 1}, if_match='"3"')
    assert resp.body == {"method": "PUT", "echo": {"a": 1}, "if_match": '"3"'}
    assert resp.etag == '"7"'
    assert api.connections_opened == 1
    assert server.hits[0] == "GET /v1/x?q=1"


def test_a_get_that_got_no_answer_is_retried(server: _Server) -> None:
    server.drop_first = True
    assert _client(server).get("/v1/x").body["method"] == "GET"
    assert server.hits == ["GET /v1/x", "GET /v1/x"]


def test_a_write_that_got_no_answer_is_not_sent_again(server: _Server) -> None:
    server.drop_first = True
    with pytest.raises(VexilError, match=r"^cannot reach the API at http://127\.0\.0\.1:"):
        _client(server).request("POST", "/v1/x", body={"a": 1})
    assert server.hits == ["POST /v1/x"]  # the server may have acted on it: never twice


def test_error_body_becomes_one_line(server: _Server) -> None:
    with pytest.raises(ApiError) as caught:
        _client(server).request("POST", "/v1/bad", body={})
    assert caught.value.message == (
        "POST /v1/bad: 422 invalid: bad body (body.name: is required)")
    assert (caught.value.status, caught.value.code) == (422, "invalid")


def test_nobody_listening_is_a_clear_error() -> None:
    api = ApiClient(f"http://127.0.0.1:{free_port()}", None)
    with pytest.raises(VexilError, match=r"cannot reach the API at .*ConnectionRefusedError"):
        api.request("POST", "/v1/x", body={})
