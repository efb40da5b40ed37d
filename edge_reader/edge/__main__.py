"""``python -m edge_reader.edge --host 127.0.0.1 --port 8081 --config edge.json``."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from types import FrameType

from edge_reader.edge._config import ConfigError, load_config
from edge_reader.edge._factory import build_app
from edge_reader.edge._server import EdgeServer


def main(argv: list[str] | None = None) -> int:
    """Run the OFREP edge server until SIGINT/SIGTERM; exit 2 on a bad config."""
    parser = argparse.ArgumentParser(prog="python -m edge_reader.edge", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--config", required=True, help="edge config JSON file")
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=10.0,
        help="seconds to wait for the first bundles before serving anyway",
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app = build_app(config)
    for client in app.clients:
        client.wait_until_ready(args.ready_timeout)
    try:
        server = EdgeServer((args.host, args.port), app)
    except OSError as exc:
        print(
            f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        app.close()
        return 2

    def _stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    print(f"vexil edge listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
