"""The web console's static files on 127.0.0.1, with the headers CloudFront adds on AWS.

``python -m vexil.devstack.consoleserve --port N --api URL [--root DIR]`` serves ``console/``
under ``/console/`` (``/`` redirects there) and ``/console/config.json`` naming the API, each
response with the strict Content-Security-Policy of :func:`content_security_policy` — the same
directives `infra/console.tf` puts on the CloudFront behaviour (a test compares them). It is
a file server and nothing else: no API proxy, so the browser talks to the API across origins
exactly as it does on AWS (CORS limited to this origin).
"""

from __future__ import annotations

import argparse
import json
import mimetypes
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from vexil.devstack.httpserve import GuardedHandler, path_only

PREFIX = "/console/"


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url`` (what CORS and CSP name)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(api_origin: str) -> str:
    """The console's CSP: its own files only, no inline script or style, XHR to the API only
    (and ``'self'`` for ``config.json``), never framed, forms posting nowhere."""
    return "; ".join([
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        f"connect-src 'self' {api_origin}",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ])


def security_headers(api_origin: str) -> dict[str, str]:
    """Every header the console's responses carry (CloudFront's response headers policy)."""
    return {
        "Content-Security-Policy": content_security_policy(api_origin),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-cache",
    }


class ConsoleHandler(GuardedHandler):
    """GET/HEAD of the console's files; anything else is 405, outside the root 404."""

    def __init__(self, *args: object, root: Path, api: str, **kwargs: object) -> None:
        self.root = root
        self.api = api
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def do_GET(self) -> None:
        """Serve one file (or config.json, or the redirect to the console)."""
        path = path_only(self.path)
        if path in ("/", "/console"):
            self._send(302, b"", "text/plain", {"Location": PREFIX})
            return
        if not path.startswith(PREFIX):
            self._send(404, b"not found\n", "text/plain")
            return
        name = path[len(PREFIX):] or "index.html"
        if name == "config.json":
            self._send(200, json.dumps({"api": self.api}).encode(), "application/json")
            return
        file = (self.root / name).resolve()
        # Only files inside the console's root: `..` and symlinks out are not served.
        if not file.is_relative_to(self.root) or not file.is_file():
            self._send(404, b"not found\n", "text/plain")
            return
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if file.suffix == ".js":
            kind = "text/javascript"
        self._send(200, file.read_bytes(), kind)

    def do_HEAD(self) -> None:
        """As GET (the body is written anyway by http.server's HEAD handling being ours)."""
        self.do_GET()

    def _send(self, status: int, body: bytes, kind: str, extra: dict[str, str] | None = None
              ) -> None:
        self.send_response(status)
        headers = {**security_headers(origin_of(self.api)), "Content-Type": kind,
                   "Content-Length": str(len(body)), **(extra or {})}
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def default_root() -> Path:
    """The repository's ``console/`` folder."""
    return Path(__file__).resolve().parents[2] / "console"


def main(argv: list[str] | None = None) -> None:
    """Serve until killed."""
    parser = argparse.ArgumentParser(prog="python -m vexil.devstack.consoleserve")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api", required=True, help="the control-plane API's base URL")
    parser.add_argument("--root", type=Path, default=default_root())
    args = parser.parse_args(argv)
    handler = partial(ConsoleHandler, root=args.root.resolve(), api=args.api)
    ThreadingHTTPServer((args.host, args.port), handler).serve_forever()


if __name__ == "__main__":
    main()
