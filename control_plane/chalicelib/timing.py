"""Time spent inside AWS calls, per request (reported in the ``Server-Timing`` header).

botocore emits ``before-call``/``after-call`` events around every API call; summing their
distance tells handler time apart from DynamoDB/KMS (moto, locally) time. Lambda runs one
request per process at a time; ``chalice local`` may use threads, hence the thread-local.
"""

from __future__ import annotations

import threading
import time
from typing import Any

_state = threading.local()


def _before(**_: Any) -> None:
    _state.started = time.perf_counter()


def _after(**_: Any) -> None:
    started = getattr(_state, "started", None)
    if started is not None:
        _state.total = getattr(_state, "total", 0.0) + time.perf_counter() - started
        _state.started = None


def instrument(client: Any) -> Any:
    """Register the timing hooks on a boto3 client; return it."""
    client.meta.events.register("before-call.*.*", _before)
    client.meta.events.register("after-call.*.*", _after)
    return client


def aws_seconds_and_reset() -> float:
    """Seconds spent in AWS calls on this thread since the last call; resets the counter."""
    total = float(getattr(_state, "total", 0.0))
    _state.total = 0.0
    return total
