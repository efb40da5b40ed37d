"""``chalice local`` with a read timeout and a query-free access log (the local API).

``python -m vexil.devstack.apiserver --port N [--host 127.0.0.1] [--stage local]``, run in
the Chalice project dir, serves exactly what ``chalice local --no-autoreload`` serves (the
same app, config and local authorizer, built by Chalice's own CLI factory) with one
difference: its request handler is a :class:`~vexil.devstack.httpserve.GuardedHandler`, so
an unfinished request is dropped after ``READ_TIMEOUT_SECONDS`` (``chalice local`` waits
forever) and a token pasted into a query string never reaches the log.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys

from chalice.cli import create_local_server
from chalice.cli.factory import CLIFactory
from chalice.local import ChaliceRequestHandler, LocalDevServer, LocalGatewayException

from vexil.devstack.httpserve import GuardedHandler


class _Handler(GuardedHandler, ChaliceRequestHandler):
    """Chalice's local handler with the stack's timeout and access log."""

    def _send_error_response(self, error: LocalGatewayException) -> None:
        # The authorizer's 401/403 is answered by the gateway, not the app, so Chalice adds
        # no CORS headers and a browser would see a network error instead of the 401. On
        # AWS the API's gateway responses carry the console origin (infra/console.tf); the
        # same here, so the console can say "token rejected".
        origin = os.environ.get("VEXIL_CONSOLE_ORIGIN", "").strip()
        if origin:
            error.headers = {**(error.headers or {}), "Access-Control-Allow-Origin": origin,
                             "Vary": "Origin"}
        super()._send_error_response(error)


def build_server(host: str, port: int, stage: str, project_dir: str) -> LocalDevServer:
    """The Chalice local server for ``project_dir``, its handler swapped for :class:`_Handler`."""
    server = create_local_server(CLIFactory(project_dir), host, port, stage)
    wrapped = server.server.RequestHandlerClass
    # Chalice binds app and config into a partial of its handler class; rebuild the same
    # partial around our subclass. Fail loudly if a Chalice upgrade changes that shape.
    if not (isinstance(wrapped, functools.partial) and wrapped.func is ChaliceRequestHandler):
        raise RuntimeError("unexpected chalice.local server shape; cannot set a read timeout")
    server.server.RequestHandlerClass = functools.partial(
        _Handler, *wrapped.args, **wrapped.keywords)
    return server


def main(argv: list[str] | None = None) -> None:
    """Serve until killed."""
    parser = argparse.ArgumentParser(prog="python -m vexil.devstack.apiserver")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stage", default="local")
    parser.add_argument("--project-dir", default=os.getcwd())
    args = parser.parse_args(argv)
    # As `chalice local` does: the app's log lines (the denied log too) go to stdout.
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    build_server(args.host, args.port, args.stage, args.project_dir).serve_forever()


if __name__ == "__main__":
    main()
