"""The OFREP app as a local HTTP server (the local stack's edge function).

``ThreadingHTTPServer`` with HTTP/1.1 keep-alive: one thread per connection, which is the
shape a load generator with N persistent connections (wrk, Locust, browsers) exercises.
The app evaluates from in-memory compiled snapshots, so a request is microseconds of
engine work plus HTTP parsing; FlagClients poll the CDN in their own threads.
"""

from __future__ import annotations

import logging
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from edge_reader.edge._app import MAX_REQUEST_BODY, OfrepApp

log = logging.getLogger("edge_reader.edge")

READ_TIMEOUT_SECONDS = 5
"""Longest wait for any read of a request (line, headers, body) before the connection is
dropped: a client that stops mid-request cannot hold a thread. Also closes keep-alive
connections idle for that long."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    # Headers and body leave in separate writes; with Nagle on, a keep-alive client's
    # delayed ACK stalls every response by ~40 ms. TCP_NODELAY removes the stall.
    disable_nagle_algorithm = True
    server_version = "vexil-edge/1"
    # StreamRequestHandler.setup() sets it on the socket; a TimeoutError closes the connection.
    timeout = READ_TIMEOUT_SECONDS
    app: OfrepApp  # set on the subclass built by make_server

    def version_string(self) -> str:
        """The Server header: our name only (no Python version on the wire)."""
        return self.server_version

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_OPTIONS(self) -> None:
        self._serve()

    def __getattr__(self, name: str) -> Any:
        # Every other method (TRACE, PUT, DELETE, PATCH, HEAD, made-up ones) reaches the
        # app, which answers a JSON 405; without this the base class sends a 501 HTML page.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol-level errors (bad request line, oversized headers) as JSON, not HTML."""
        self.log_error("code %d, message %s", code, message)
        body = orjson.dumps(
            {"errorCode": "GENERAL", "errorDetails": message or HTTPStatus(code).phrase}
        )
        self.send_response(code, message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.close_connection = True
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)

    def _serve(self) -> None:
        length_text = self.headers.get("Content-Length", "0") or "0"
        # ASCII digits, bounded: "²".isdigit() is true and int() refuses it.
        if not (length_text.isascii() and length_text.isdigit() and len(length_text) <= 12):
            self._reply(
                400,
                {"content-type": "application/json"},
                b'{"errorCode":"PARSE_ERROR","errorDetails":"bad Content-Length"}',
            )
            return
        length = int(length_text)
        if length > MAX_REQUEST_BODY:
            self.close_connection = True  # do not read an oversized body off the socket
            self._reply(
                413,
                {"content-type": "application/json"},
                b'{"errorCode":"GENERAL","errorDetails":"request body too large"}',
            )
            return
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        response = self.app.handle(self.command, self.path, headers, body)
        self._reply(response.status, response.headers, response.body)

    def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Access log line without the query string (it may carry a pasted secret)."""
        # No path when the request line itself was refused (send_error before parsing).
        path = str(getattr(self, "path", "-")).split("?", 1)[0]
        self.log_message('"%s %s" %s %s', self.command, path, str(getattr(code, "value", code)),
                         str(size))

    def log_message(self, format: str, *args: object) -> None:
        # Access logs at DEBUG: at thousands of requests per second stderr would dominate.
        log.debug("%s - " + format, self.address_string(), *args)


class EdgeServer(ThreadingHTTPServer):
    """ThreadingHTTPServer serving one ``OfrepApp``; ``stop()`` also closes the app."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def __init__(self, address: tuple[str, int], app: OfrepApp) -> None:
        """Bind ``address``; requests are answered by ``app``."""
        handler = type("Handler", (_Handler,), {"app": app})
        super().__init__(address, handler)
        self.app = app
        self._thread: threading.Thread | None = None

    def handle_error(self, request: object, client_address: object) -> None:
        """Log instead of printing to stderr; a client hanging up is routine, not an error."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            log.debug("client %s went away: %s", client_address, exc)
        else:
            log.exception("error serving %s", client_address)

    @property
    def url(self) -> str:
        """``http://host:port`` of the bound socket."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start_background(self) -> None:
        """Serve in a daemon thread (tests, embedding)."""
        # A short poll interval makes stop() prompt; the cost is an idle wake-up every 50 ms.
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="vexil-edge",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, close the socket and the app's clients."""
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self.app.close()
