"""Both CDN stand-ins drop an unfinished request within seconds and never log a query string.

Raw TLS sockets against nginx and the Python fallback proxy (the ``cdn`` fixture of
test_cdn_standin, both kinds), as a slow-loris client would hold them.
"""

from __future__ import annotations

import socket
import ssl
import time
from pathlib import Path

import pytest
import urllib3

from tests.cli.test_cdn_standin import cdn, origin  # noqa: F401 - fixtures used below
from vexil.devstack.httpserve import READ_TIMEOUT_SECONDS

UNFINISHED = [
    pytest.param(b"GET /bundles/x/current.json HTTP/1.1\r\nHost: 127.0.0.1\r\n", id="headers"),
    pytest.param(b"GET /bundles/x/current.json HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Length: 1000\r\n\r\n{\"partial\":", id="body"),
    pytest.param(b"GET /bund", id="request-line"),
]


def _closed_within(url: str, ca: str, payload: bytes, wait: float) -> None:
    host, port = url.removeprefix("https://").split(":")
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection((host, int(port)), timeout=wait) as raw, \
            ctx.wrap_socket(raw, server_hostname=host) as sock:
        sock.sendall(payload)
        try:
            while sock.recv(4096):
                pass  # a 400/408 before the close is fine
        except TimeoutError:
            pytest.fail(f"connection still open after {wait} s")
        except (ConnectionResetError, ssl.SSLError):
            pass  # reset or TLS teardown: dropped all the same


@pytest.mark.parametrize("payload", UNFINISHED)
def test_cdn_standin_drops_an_unfinished_request(
    cdn: tuple[str, str, urllib3.PoolManager], payload: bytes,  # noqa: F811
) -> None:
    _kind, url, pool = cdn
    ca = str(pool.connection_pool_kw["ca_certs"])
    _closed_within(url, ca, payload, wait=READ_TIMEOUT_SECONDS * 3)
    assert pool.request("GET", f"{url}/health").status == 200  # still serving others


def test_cdn_standin_never_logs_a_query_string(
    cdn: tuple[str, str, urllib3.PoolManager], tmp_path: Path,  # noqa: F811
) -> None:
    kind, url, pool = cdn
    secret = "vxl_srv_" + "S" * 40
    for path in (f"/bundles/x/current.json?key={secret}", f"/health?token={secret}"):
        assert pool.request("GET", url + path).status in (200, 403, 404)
    time.sleep(1.5)  # nginx flushes its buffered access log every second
    logs = "".join(p.read_text(errors="replace") for p in (tmp_path / "logs").glob("*"))
    if kind == "nginx":
        assert "/bundles/x/current.json" in logs  # the request is logged, its query is not
    assert "S" * 40 not in logs
