"""The CDN stand-in used only when nginx is not installed: an HTTPS pass-through proxy.

``python -m vexil.devstack.cdnproxy --port N --origin http://127.0.0.1:M/<bucket>
--cert C --key K`` serves ``GET /bundles/...`` from the origin, forwarding
``If-None-Match`` so ETag/304 behave as with the CDN. Like the distribution's cache
policies it forwards no query string (``?versionId=<older>`` must not reach S3). It has no
shared cache and no stale-if-error: ``vexil dev up`` says so when it falls back to it.
"""

from __future__ import annotations

import argparse
import ssl
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import urllib3

from vexil.devstack.httpserve import GuardedHandler

_PASSED_HEADERS = ("content-type", "content-length", "etag", "cache-control", "last-modified")


def make_handler(origin: str) -> type[BaseHTTPRequestHandler]:
    """A request handler class forwarding GETs under /bundles/ to ``origin``."""
    pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2.0, read=10.0))

    class Handler(GuardedHandler):  # read timeout: a stalled client is dropped
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return  # stdout stays quiet; the origin logs requests

        def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Cache-Status", "BYPASS")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:
            # The query string is dropped, as CloudFront's cache policy drops it.
            path = self.path.split("?", 1)[0]
            if path == "/health":
                self._reply(200, b"ok\n", {"Content-Type": "text/plain"})
                return
            if not path.startswith("/bundles/") or ".." in path:
                self._reply(404, b"", {})
                return
            fwd = {}
            if inm := self.headers.get("If-None-Match"):
                fwd["If-None-Match"] = inm
            try:
                resp = pool.request("GET", origin + path, headers=fwd, preload_content=True)
            except urllib3.exceptions.HTTPError:
                self._reply(502, b"origin unreachable\n", {"Content-Type": "text/plain"})
                return
            headers = {
                k: v for k, v in resp.headers.items()
                if k.lower() in _PASSED_HEADERS and k.lower() != "content-length"
            }
            # S3 answers 403 for a missing key to anonymous callers; a CDN shows 404.
            status = 404 if resp.status == 403 else resp.status
            self._reply(status, resp.data if status == 200 else b"", headers)

        do_HEAD = do_GET

    return Handler


def main(argv: list[str] | None = None) -> None:
    """Run the proxy until killed."""
    parser = argparse.ArgumentParser(prog="python -m vexil.devstack.cdnproxy")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--origin", required=True, help="http://127.0.0.1:PORT/<bucket>")
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args.origin.rstrip("/")))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
