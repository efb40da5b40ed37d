"""A real HTTP server on 127.0.0.1 standing in for the CDN, with switchable faults.

``LoopbackCdn.put(path, body)`` serves ``body`` with a strong ETag and answers
``If-None-Match`` with 304, like CloudFront/nginx. ``fault(path, ...)`` makes one path
misbehave: a status code, a delay before the headers, a truncated body (Content-Length
larger than what is sent), a chunked body (optionally cut before its last chunk), a stall
in the middle of the body, a redirect, dropping the connection without an answer (the
first ``drop`` times), closing the connection after answering, or arbitrary bytes. Every
request is recorded in ``log``; ``requests`` also keeps the client's address (one TCP
connection = one address) and the request headers.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Fault:
    status: int | None = None
    delay: float = 0.0
    truncate_to: int | None = None
    body: bytes | None = None
    chunked: bool = False
    stall_after: int | None = None  # send this many body bytes, then wait ``delay`` seconds
    location: str | None = None
    drop: int = 0  # close the connection on the next ``drop`` requests without any answer
    close_after: bool = False  # answer, then close the connection (no Connection: close)


@dataclass(frozen=True)
class Seen:
    path: str
    client: tuple[str, int]
    headers: dict[str, str]


class LoopbackCdn:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.faults: dict[str, Fault] = {}
        self.log: list[tuple[str, int]] = []
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        cdn = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                cdn._serve(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        class QuietServer(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                # Clients that give up mid-body (timeouts, size limits) are expected here.
                pass

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    def put(self, path: str, body: bytes) -> None:
        with self._lock:
            self.objects["/" + path.lstrip("/")] = body

    def fault(self, path: str, **kwargs: object) -> None:
        with self._lock:
            self.faults["/" + path.lstrip("/")] = Fault(**kwargs)  # type: ignore[arg-type]

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def requests_for(self, path: str) -> list[int]:
        p = "/" + path.lstrip("/")
        return [status for (req, status) in self.log if req == p]

    def connections(self) -> int:
        """How many distinct TCP connections the requests so far arrived on."""
        with self._lock:
            return len({seen.client for seen in self.requests})

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        with self._lock:
            fault = self.faults.get(path)
            body = self.objects.get(path)
            self.requests.append(Seen(path, h.client_address, dict(h.headers.items())))
            drop = fault is not None and fault.drop > 0
            if drop and fault is not None:
                fault.drop -= 1
        if drop:
            h.close_connection = True  # no status line at all: the client sees EOF
            return
        if fault and fault.close_after:
            h.close_connection = True
        if fault and fault.location is not None:
            with self._lock:
                self.log.append((path, 302))
            h.send_response(302)
            h.send_header("Location", fault.location)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        if fault and fault.delay and fault.stall_after is None:
            time.sleep(fault.delay)
        if fault and fault.status is not None:
            self._send(h, path, fault.status, fault.body or b"error", None)
            return
        if fault and fault.body is not None:
            body = fault.body
        if body is None:
            self._send(h, path, 404, b"not found", None)
            return
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        if h.headers.get("If-None-Match") == etag:
            self._send(h, path, 304, b"", etag)
            return
        if fault and fault.chunked:
            self._send_chunked(h, path, body, etag, fault)
            return
        if fault and fault.stall_after is not None:
            self._send_head(h, path, body, etag)
            h.wfile.write(body[: fault.stall_after])
            h.wfile.flush()
            time.sleep(fault.delay)
            h.wfile.write(body[fault.stall_after :])
            return
        if fault and fault.truncate_to is not None:
            self._send_head(h, path, body, etag)  # promises all of body, sends a part
            h.wfile.write(body[: fault.truncate_to])
            h.wfile.flush()
            h.close_connection = True
            return
        self._send(h, path, 200, body, etag)

    def _send(
        self, h: BaseHTTPRequestHandler, path: str, status: int, body: bytes, etag: str | None
    ) -> None:
        with self._lock:
            self.log.append((path, status))
        h.send_response(status)
        if etag:
            h.send_header("ETag", etag)
        h.send_header("Content-Length", str(len(body) if status != 304 else 0))
        h.end_headers()
        if status != 304:
            h.wfile.write(body)

    def _send_head(self, h: BaseHTTPRequestHandler, path: str, body: bytes, etag: str) -> None:
        with self._lock:
            self.log.append((path, 200))
        h.send_response(200)
        h.send_header("Content-Length", str(len(body)))
        h.send_header("ETag", etag)
        h.end_headers()

    def _send_chunked(
        self, h: BaseHTTPRequestHandler, path: str, body: bytes, etag: str, fault: Fault
    ) -> None:
        with self._lock:
            self.log.append((path, 200))
        h.send_response(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.send_header("ETag", etag)
        h.end_headers()
        cut = fault.truncate_to
        sent = body if cut is None else body[:cut]
        for i in range(0, len(sent), 4096):
            part = sent[i : i + 4096]
            h.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        if cut is None:
            h.wfile.write(b"0\r\n\r\n")
        else:
            h.close_connection = True  # the terminating chunk never comes
        h.wfile.flush()
