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

Run as ``python -m vexil.devstack.motoserver -H 127.0.0.1 -p 4566`` (what ``vexil dev up``
starts), or in-process with :class:`SerialMotoServer` (what the test fixtures start).
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import sys
import threading
from collections.abc import Iterable, Sequence
from types import FrameType
from typing import TYPE_CHECKING

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from vexil.devstack import moto_transactions

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

CHUNK = 65536


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
    read before waiting for the lock.
    """

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse
                 ) -> Iterable[bytes]:
        body = _read_body(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        if not environ.get("wsgi.input_terminated"):
            environ["CONTENT_LENGTH"] = str(len(body))
        with self.lock:
            result = self.app(environ, start_response)
            try:
                # Materialised under the lock: a lazy body may still read moto's state.
                return [b"".join(result)]
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()


def moto_app() -> SerialisedApp:
    """moto's server app (every service, routed by host/signature) behind the lock."""
    # One request at a time is what makes moto_transactions' per-item rollback exact.
    moto_transactions.install()
    return SerialisedApp(DomainDispatcherApplication(create_backend_app))


def make_moto_server(host: str, port: int) -> BaseWSGIServer:
    """A threaded werkzeug server on ``host:port`` serving :func:`moto_app` (not started)."""
    return make_server(host, port, moto_app(), threaded=True,
                       request_handler=MotoRequestHandler)


class SerialMotoServer:
    """An in-process serialised moto_server on a thread (for tests and benchmarks).

    ``start()`` returns once the socket is bound and listening; ``stop()`` shuts it down and
    closes the socket. Also a context manager.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = make_moto_server(host, port)
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                        name="moto-serial")

    @property
    def url(self) -> str:
        """``http://host:port`` of the bound socket."""
        return f"http://{self.server.host}:{self.server.port}"

    def start(self) -> SerialMotoServer:
        """Serve on a daemon thread (the socket already listens since construction)."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(10)

    def __enter__(self) -> SerialMotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m vexil.devstack.motoserver [-H HOST] [-p PORT]``: serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=4566)
    args = parser.parse_args(argv)
    # moto builds some URLs (queue URLs, presigned links) from MOTO_PORT, as its own CLI sets it.
    os.environ.setdefault("MOTO_PORT", str(args.port))
    server = make_moto_server(args.host, args.port)

    def _stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever to return: call it off the serving thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"serialised moto_server on http://{args.host}:{args.port}", flush=True)
    server.serve_forever()
    server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
