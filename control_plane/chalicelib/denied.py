"""The denied log: every refused request, logged as one JSON line and counted — bounded.

An environment's audit chain records what happened *to that environment*. A caller with no
scope on the project could otherwise write one chain record per refused request, at will
(noise an outsider controls, and DynamoDB writes they make us pay for). Their refusals come
here instead: a structured log line (CloudWatch on AWS, stderr locally) and a counter.

Bounded in two ways, per process (a Lambda container, or ``chalice local``):

* memory: the last :data:`CAPACITY` refusals and at most :data:`CAPACITY` counters;
* log volume: per caller and :data:`WINDOW_SECONDS` window, the first :data:`LOG_FIRST`
  refusals are logged one by one, then one line per :data:`LOG_EVERY` carrying the count.

Nothing here ever holds a token secret or a query string: the caller is named by token id
and name, the resource by the request path only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

import orjson

from chalicelib.rbac import Principal

CAPACITY = 1000
WINDOW_SECONDS = 60
LOG_FIRST = 10
LOG_EVERY = 100

_log = logging.getLogger(__name__)


class DeniedLog:
    """Recent refusals and per-caller counts per time window (thread-safe, bounded)."""

    def __init__(self, capacity: int = CAPACITY, window_seconds: int = WINDOW_SECONDS,
                 now: Callable[[], float] = time.time) -> None:
        """An empty log keeping ``capacity`` entries and counting per ``window_seconds``."""
        self._capacity = capacity
        self._window = window_seconds
        self._now = now
        self._lock = threading.Lock()
        self._recent: deque[dict[str, Any]] = deque(maxlen=capacity)
        self._counts: OrderedDict[tuple[str, int], int] = OrderedDict()

    def record(self, principal: Principal, action: str, resource: str,
               project: str | None = None, environment: str | None = None) -> int:
        """Remember one refusal; log it (rate-limited); return the caller's count in this
        window, this refusal included."""
        at = self._now()
        entry = {"event": "denied", "at": round(at, 3), "token_id": principal.token_id,
                 "name": principal.name, "role": principal.role, "action": action,
                 "resource": resource, "project": project, "environment": environment}
        key = (principal.token_id, int(at // self._window))
        with self._lock:
            count = self._counts.pop(key, 0) + 1
            self._counts[key] = count  # re-inserted last: the oldest counters go first
            while len(self._counts) > self._capacity:
                self._counts.popitem(last=False)
            entry["count_in_window"] = count
            self._recent.append(entry)
        if count <= LOG_FIRST or count % LOG_EVERY == 0:
            _log.warning("%s", orjson.dumps(entry).decode("utf-8"))
        return count

    def recent(self) -> list[dict[str, Any]]:
        """The remembered refusals, oldest first (at most ``capacity``)."""
        with self._lock:
            return list(self._recent)

    def count(self, token_id: str) -> int:
        """Refusals of ``token_id`` in the current window."""
        key = (token_id, int(self._now() // self._window))
        with self._lock:
            return self._counts.get(key, 0)


DENIED = DeniedLog()
"""The process-wide denied log."""
