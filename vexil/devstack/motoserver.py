"""moto_server with one request at a time: a local DynamoDB that keeps DynamoDB's promises.

moto's backends keep no lock of their own. Under concurrent requests its
``TransactWriteItems`` (a deep copy of the table, the writes, and on any cancellation the
copy put back) and its conditional writes (read, compare, write) interleave: a cancelled
transaction restores a copy taken before another client's successful write, which is then
lost although that client got a 200, and two conditional writes can both pass their check
(reproduced in ``tests/reliability/test_emulator_isolation.py``). DynamoDB serialises these
per item; the simplest faithful stand-in is to run moto's whole WSGI app under one lock.

The socket work stays concurrent: each connection has its own thread, and a request's body is
read in full *before* the lock is taken, so a slow or stalled client never holds up the
others. moto's DynamoDB, S3 and KMS handlers never block waiting for another request, so the
lock cannot deadlock. moto is CPU-bound Python under the GIL, so the lock costs little
throughput (measured: ``python -m loadtests.bench_emulator``; docs/performance.md).

Two more things moto does not do, done here because this process owns moto's memory:

* **State across restarts** (``--state-file``): DynamoDB, S3 and KMS are restored from the
  newest good snapshot on start and saved atomically every ``--save-interval`` seconds after
  a write and on SIGTERM (:mod:`vexil.devstack.emulator_state`).
* **Bounded memory**: shard iterators expire after 15 minutes and stream records after 24
  hours, as on AWS (:mod:`vexil.devstack.emulator_bounds`); the buckets' lifecycle rules
  are applied, a lifecycle "day" being 10 s (:mod:`vexil.devstack.emulator_lifecycle`).
  ``GET /_vexil/emulator`` reports RSS and what moto holds.

Run as ``python -m vexil.devstack.motoserver -H 127.0.0.1 -p 4566 --state-file F`` (what
``vexil dev up`` starts), or in-process with :class:`SerialMotoServer` (what the test
fixtures start).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from vexil.devstack import (
    emulator_bounds,
    emulator_lifecycle,
    emulator_state,
    moto_expressions,
    moto_query,
    moto_responses,
    moto_transactions,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

CHUNK = 65536
# The launcher's own read-only route: what the emulator holds (bench_soak reads it).
CENSUS_PATH = "/_vexil/emulator"


def _read_body(environ: WSGIEnvironment) -> bytes:
    """The whole request body: ``Content-Length`` bytes, or up to EOF for a chunked body."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    if environ.get("wsgi.input_terminated"):
        # werkzeug de-chunks Transfer-Encoding: chunked and marks the stream terminated.
        return bytes(stream.read())
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    parts: list[bytes] = []
    while length > 0:
        part = stream.read(min(length, CHUNK))
        if not part:
            break  # the client hung up early: nobody waits for the reply to this body
        parts.append(part)
        length -= len(part)
    return b"".join(parts)


class SerialisedApp:
    """A WSGI app that runs ``app`` for one request at a time.

    Promise: no two requests are ever inside ``app`` at once, from reading the first byte of
    the body ``app`` sees to the last byte of the response it produced; request bodies are
    read before waiting for the lock. Between two requests (under the lock, at most every
    :func:`emulator_bounds.maintain_every_seconds`) it runs :func:`emulator_bounds.maintain`;
    after a request that may have written, it tells ``persister`` (when there is one).
    """

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.persister: emulator_state.Persister | None = None
        self.restored: dict[str, Any] | None = None
        self.maintained: dict[str, int] = {"iterators_expired": 0, "stream_records_trimmed": 0,
                                           "s3_expired": 0, "s3_versions_deleted": 0}
        self.maintain_every = emulator_bounds.maintain_every_seconds()
        self._next_maintenance = time.monotonic() + self.maintain_every

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse
                 ) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == CENSUS_PATH:
            return self._census(start_response)
        body = _read_body(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        if not environ.get("wsgi.input_terminated"):
            environ["CONTENT_LENGTH"] = str(len(body))
        with self.lock:
            self._maintain_if_due()
            result = self.app(environ, start_response)
            try:
                # Materialised under the lock: a lazy body may still read moto's state.
                return [b"".join(result)]
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
                if self.persister is not None and not is_read_only(environ):
                    self.persister.mark_dirty()

    def _maintain_if_due(self) -> None:
        now = time.monotonic()
        if now < self._next_maintenance:
            return
        self._next_maintenance = now + self.maintain_every
        for name, count in emulator_bounds.maintain().items():
            self.maintained[name] = self.maintained.get(name, 0) + count
            if count and self.persister is not None:
                self.persister.mark_dirty()

    def _census(self, start_response: StartResponse) -> Iterable[bytes]:
        with self.lock:
            report = emulator_census(self)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(report).encode()]


# Operations that never change what the emulator stores (X-Amz-Target's operation names).
_READ_PREFIXES = ("Get", "Describe", "List", "Query", "Scan", "BatchGet", "TransactGet",
                  "Sign", "Verify", "Encrypt", "Decrypt", "GenerateDataKey", "GenerateRandom")


def is_read_only(environ: WSGIEnvironment) -> bool:
    """True when the request cannot have changed the emulator's state (a GET/HEAD, or a
    JSON-protocol read such as GetItem, Query, GetRecords or Sign). Unknown means write:
    a needless save is cheap, a missed one loses data."""
    if environ.get("REQUEST_METHOD") in ("GET", "HEAD", "OPTIONS"):
        return True
    target = str(environ.get("HTTP_X_AMZ_TARGET") or "")
    operation = target.rpartition(".")[2]
    return bool(operation) and operation.startswith(_READ_PREFIXES)


def emulator_census(app: SerialisedApp) -> dict[str, Any]:
    """What ``GET /_vexil/emulator`` answers: the process's RSS, moto's stores
    (:func:`emulator_bounds.census`), what maintenance pruned, the last save, and — with
    ``VEXIL_EMULATOR_TRACEMALLOC=1`` — the 15 largest allocation sites. Call under the lock."""
    report: dict[str, Any] = {"rss_bytes": rss_bytes(), **emulator_bounds.census(),
                              "maintained": dict(app.maintained), "restored": app.restored}
    if app.persister is not None:
        stats = app.persister.stats
        report["state"] = {"file": str(app.persister.path), "saves": stats.saves,
                           "writes": app.persister.generation,
                           "writes_saved": app.persister.saved_generation,
                           "last_bytes": stats.last_bytes,
                           "last_seconds": round(stats.last_seconds, 4)}
    if tracemalloc.is_tracing():
        top = tracemalloc.take_snapshot().statistics("lineno")[:15]
        report["tracemalloc"] = [{"site": str(s.traceback), "bytes": s.size, "count": s.count}
                                 for s in top]
    return report


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of ``pid`` (this process by default), from /proc; 0 if unknown."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def moto_app(state_file: Path | None = None, *,
             save_interval: float = emulator_state.DEFAULT_INTERVAL) -> SerialisedApp:
    """moto's server app (every service, routed by host/signature) behind the lock.

    With ``state_file``: the newest good snapshot there is restored first, and a
    :class:`emulator_state.Persister` (not yet started) is attached to the app.
    """
    # One request at a time is what makes moto_transactions' per-item rollback exact.
    moto_transactions.install()
    moto_expressions.install()  # a pure function's result kept: see its docstring
    moto_responses.install()  # byte-identical responses, fewer lookups: see its docstring
    moto_query.install()  # a Query reads its partition only; also one request at a time
    emulator_bounds.install()
    emulator_lifecycle.install()
    app = SerialisedApp(DomainDispatcherApplication(create_backend_app))
    if state_file is not None:
        restored = app.restored = emulator_state.load(state_file)
        if restored is not None:
            print(f"restored emulator state from {restored['file']} (saved "
                  f"{time.ctime(restored['saved_at'])})", flush=True)
        app.persister = emulator_state.Persister(state_file, app.lock, interval=save_interval)
    return app


def make_moto_server(host: str, port: int, app: SerialisedApp | None = None
                     ) -> BaseWSGIServer:
    """A threaded werkzeug server on ``host:port`` serving ``app`` (default
    :func:`moto_app`, no state file); not started."""
    return make_server(host, port, app or moto_app(), threaded=True,
                       request_handler=MotoRequestHandler)


class SerialMotoServer:
    """An in-process serialised moto_server on a thread (for tests and benchmarks).

    ``start()`` returns once the socket is bound and listening; ``stop()`` shuts it down and
    closes the socket. Also a context manager.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 state_file: Path | None = None, save_interval: float = 1.0) -> None:
        self.app = moto_app(state_file, save_interval=save_interval)
        self.server = make_moto_server(host, port, self.app)
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                        name="moto-serial")

    @property
    def url(self) -> str:
        """``http://host:port`` of the bound socket."""
        return f"http://{self.server.host}:{self.server.port}"

    def start(self) -> SerialMotoServer:
        """Serve on a daemon thread (the socket already listens since construction)."""
        if self.app.persister is not None:
            self.app.persister.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket, and save the state a last time (if any)."""
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(10)
        if self.app.persister is not None:
            self.app.persister.close()

    def __enter__(self) -> SerialMotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m vexil.devstack.motoserver [-H HOST] [-p PORT] [--state-file F]``: serve
    until SIGTERM/SIGINT; with a state file, restore it first and save it on the way out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=4566)
    parser.add_argument("--state-file", type=Path, default=None,
                        help="keep DynamoDB, S3 and KMS state here across restarts")
    parser.add_argument("--save-interval", type=float, default=emulator_state.DEFAULT_INTERVAL,
                        help="seconds between saves of a changed state (default %(default)s)")
    args = parser.parse_args(argv)
    if os.environ.get("VEXIL_EMULATOR_TRACEMALLOC") == "1":
        tracemalloc.start(1)
    # moto builds some URLs (queue URLs, presigned links) from MOTO_PORT, as its own CLI sets it.
    os.environ.setdefault("MOTO_PORT", str(args.port))
    try:
        app = moto_app(args.state_file, save_interval=args.save_interval)
    except emulator_state.StateFileError as exc:
        # Refuse rather than start empty: an empty start would overwrite the last good copy.
        sys.exit(f"cannot restore the emulator state ({exc}); move the files away or run "
                 "`vexil dev reset` to start afresh")
    server = make_moto_server(args.host, args.port, app)

    def _stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever to return: call it off the serving thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if app.persister is not None:
        app.persister.start()
    print(f"serialised moto_server on http://{args.host}:{args.port}", flush=True)
    server.serve_forever()
    server.server_close()
    if app.persister is not None:
        app.persister.close()
        print(f"saved emulator state to {args.state_file}", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
