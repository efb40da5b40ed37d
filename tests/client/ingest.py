"""A real HTTP endpoint on 127.0.0.1 standing in for the insights ingest API: it records
every POST body and Authorization header and answers the statuses a test queues."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


class IngestServer:
    """Records every POST; answers ``status`` (a list is consumed one answer per request)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.auth: list[str] = []
        self.statuses: list[int] = []
        self.received = threading.Condition()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers["Content-Length"]))
                status = server.statuses.pop(0) if server.statuses else 200
                with server.received:
                    server.bodies.append(orjson.loads(data))
                    server.auth.append(self.headers.get("Authorization", ""))
                    server.received.notify_all()
                body = b'{"ok": true}'
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1/insights/evaluations"

    def wait_for(self, n: int, timeout: float = 20.0) -> bool:
        with self.received:
            return self.received.wait_for(lambda: len(self.bodies) >= n, timeout)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
