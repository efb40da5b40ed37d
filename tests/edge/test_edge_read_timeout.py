"""The OFREP edge server drops an unfinished request within seconds (raw sockets), refuses a
non-ASCII Content-Length, and never logs a query string."""

from __future__ import annotations

import logging
import socket

import pytest
import urllib3

from edge_reader.bundle import SdkKey
from edge_reader.edge import EdgeServer
from edge_reader.edge._server import READ_TIMEOUT_SECONDS
from tests.edge.test_edge_http import SINGLE, edge  # noqa: F401 - the fixture

UNFINISHED = [
    pytest.param(b"POST /ofrep/v1/evaluate/flags HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"context\":",
                 id="body"),
    pytest.param(b"POST /ofrep/v1/evaluate/flags HTTP/1.1\r\nHost: x\r\n", id="headers"),
    pytest.param(b"POS", id="request-line"),
]


def _port(server: EdgeServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


@pytest.mark.parametrize("payload", UNFINISHED)
def test_unfinished_request_is_dropped(edge: EdgeServer, payload: bytes) -> None:  # noqa: F811
    wait = READ_TIMEOUT_SECONDS * 3
    with socket.create_connection(("127.0.0.1", _port(edge)), timeout=wait) as sock:
        sock.sendall(payload)
        try:
            while sock.recv(4096):
                pass
        except TimeoutError:
            pytest.fail(f"connection still open after {wait} s")
        except ConnectionResetError:
            pass
    assert urllib3.request("GET", edge.url + "/health", retries=False).status in (200, 404)


@pytest.mark.parametrize("length", ["²", "٣", "1" * 40, "-1"])
def test_non_ascii_or_huge_content_length_is_400(
    edge: EdgeServer, length: str,  # noqa: F811
) -> None:
    head = (f"POST /ofrep/v1/evaluate/flags HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n"
            "\r\n").encode()
    with socket.create_connection(("127.0.0.1", _port(edge)), timeout=10) as sock:
        sock.sendall(head)
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]


def test_query_string_is_not_logged(
    edge: EdgeServer, client_key: SdkKey, caplog: pytest.LogCaptureFixture,  # noqa: F811
) -> None:
    secret = "S" * 43
    with caplog.at_level(logging.DEBUG, logger="edge_reader.edge"):
        r = urllib3.request("POST", f"{edge.url}{SINGLE}some-flag?key={secret}",
                            body=b'{"context":{"targetingKey":"u"}}',
                            headers={"content-type": "application/json",
                                     "authorization": f"Bearer {client_key.text}"},
                            retries=False)
        assert r.status in (200, 404)
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert f"{SINGLE}some-flag" in logged
    assert secret not in logged
