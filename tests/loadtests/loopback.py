"""Tiny loopback HTTP servers that play CDN, OFREP edge and control plane for the locustfiles.

Each server records every request (method, path, headers, body) so tests can assert what
the simulated clients actually sent, and answers like the real part would for the few
routes the locustfile uses.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from loadtests.loadgen import parse_locust_json
from loadtests.target import TARGET_ENV, Target, write_target

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Seen:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Reply = tuple[int, dict[str, str], bytes]


@dataclass
class Recorder:
    """The requests a loopback server received (thread-safe append)."""

    requests: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, seen: Seen) -> None:
        """Record one request."""
        with self.lock:
            self.requests.append(seen)


@contextmanager
def serve(handle: Callable[[Seen], Reply]) -> Iterator[tuple[str, Recorder]]:
    """Run ``handle`` behind a keep-alive HTTP/1.1 server on 127.0.0.1; stop it after."""
    recorder = Recorder()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else delayed ACKs stall each keep-alive reply

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                        self.rfile.read(length) if length else b"")
            recorder.add(seen)
            status, headers, body = handle(seen)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = _any

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", recorder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def pointer_body(revision: int, key: str, size: int) -> bytes:
    """A pointer document in the published shape."""
    return json.dumps({"format": 1, "project": "shop", "environment": "staging",
                       "scope": "server", "revision": revision, "key": key,
                       "sha256": "0" * 64, "size": size, "generated_at": "x"}).encode()


def etag_of(body: bytes) -> str:
    """A strong ETag for ``body``."""
    return '"' + hashlib.md5(body, usedforsecurity=False).hexdigest() + '"'


def run_locust(locustfile: str, target: Target, tmp: Path, *, users: int, seconds: int,
               extra: list[str] | None = None, env: dict[str, str] | None = None,
               ) -> dict[str, Any]:
    """Run a locustfile headless against ``target``; return the parsed final stats."""
    target_file = tmp / "target.json"
    write_target(target_file, target)
    prefix = tmp / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(ROOT / "loadtests" / locustfile),
         "--headless", "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
         "--stop-timeout", "1", "--json-file", str(prefix), "--loglevel", "WARNING",
         *(extra or [])],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
        env={**os.environ, TARGET_ENV: str(target_file), "PYTHONPATH": str(ROOT), **(env or {})},
    )
    stats = Path(f"{prefix}.json")
    assert stats.is_file(), proc.stderr[-2000:]
    return parse_locust_json(stats)
