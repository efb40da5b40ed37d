"""The local stand-in for the rollout controller's schedule: the Lambda's own code on a timer.

``python -m vexil.rollout_worker [--tick S] [--once]`` runs
:func:`chalicelib.rollout_controller.handler` every ``S`` seconds (default
``$VEXIL_ROLLOUT_TICK_SECONDS`` or 1; on AWS the EventBridge rule fires every minute) against
``$VEXIL_TABLE`` and the emulator's CloudWatch and SNS (``AWS_ENDPOINT_URL``). Without
``$VEXIL_ROLLOUT_TOPIC_ARN`` it creates the topic ``<table>-rollouts`` and publishes there.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from typing import Any

from vexil.extras import requires

log = logging.getLogger("vexil.rollout_worker")


def ensure_topic(table: str) -> str:
    """The rollout notice topic: ``$VEXIL_ROLLOUT_TOPIC_ARN``, else ``<table>-rollouts``
    (created if missing: local stacks only)."""
    given = os.environ.get("VEXIL_ROLLOUT_TOPIC_ARN")
    if given:
        return given
    import boto3  # noqa: PLC0415 - the server extra

    arn = str(boto3.client("sns").create_topic(Name=f"{table}-rollouts")["TopicArn"])
    os.environ["VEXIL_ROLLOUT_TOPIC_ARN"] = arn
    return arn


def run(tick_seconds: float, stop: threading.Event, *, once: bool = False) -> int:
    """Tick until ``stop`` is set (or once); return the number of ticks run. A failed tick
    is logged and retried on the next one, as a failed scheduled invocation would be."""
    with requires("vexil.rollout_worker"):
        from chalicelib.rollout_controller import handler  # noqa: PLC0415 - server pkg

    ticks = 0
    while not stop.is_set():
        try:
            report = handler({"source": "vexil.rollouts"}, None)
            moved = {k: v for k, v in report.items() if v}
            if moved:
                log.info("tick: %s", moved)
        except Exception:
            log.exception("rollout tick failed; retrying on the next tick")
        ticks += 1
        if once:
            break
        stop.wait(tick_seconds)
    return ticks


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m vexil.rollout_worker``."""
    parser = argparse.ArgumentParser(prog="vexil.rollout_worker",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--tick", type=float,
                        default=float(os.environ.get("VEXIL_ROLLOUT_TICK_SECONDS") or 1),
                        help="seconds between controller runs (default "
                             "$VEXIL_ROLLOUT_TICK_SECONDS or 1)")
    parser.add_argument("--once", action="store_true", help="run the controller once, exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    table = os.environ.get("VEXIL_TABLE")
    if not table:
        parser.error("VEXIL_TABLE is required")
    if args.tick <= 0:
        parser.error("--tick must be > 0")
    log.info("rollout controller every %.1f s, notices to %s", args.tick, ensure_topic(table))
    stop = threading.Event()

    def on_signal(*_: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    run(args.tick, stop, once=args.once)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
