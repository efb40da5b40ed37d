"""The poller: when to refresh. Interval, jitter, exponential backoff; nothing else.

Default schedule (documented in docs/sdk-guide.md by the local-stack helper):
* success or 304 → wait ``interval`` (default 30 s) ± ``jitter`` (default 10 %);
* failure n (n = 1, 2, …) → wait ``min(max_backoff, first_retry · 2^(n-1))`` ± jitter
  (default 1 s, 2 s, 4 s … capped at 300 s); failures never stop the thread — a 403 may be
  fixed by an operator, and the client keeps serving its last good bundle meanwhile.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass

from edge_reader.client._refresh import RefreshResult

log = logging.getLogger("edge_reader.client")

DEFAULT_POLL_INTERVAL = 30.0


@dataclass(frozen=True, slots=True)
class Schedule:
    """Polling parameters, in seconds (``jitter`` is a fraction of the delay)."""

    interval: float = DEFAULT_POLL_INTERVAL
    jitter: float = 0.1
    first_retry: float = 1.0
    max_backoff: float = 300.0

    def delay(self, consecutive_failures: int, rng: random.Random) -> float:
        """Seconds to wait after a cycle, given the current failure streak."""
        if consecutive_failures <= 0:
            base = self.interval
        else:
            base = min(self.max_backoff, self.first_retry * 2 ** min(consecutive_failures - 1, 30))
        # Jitter spreads a fleet's polls so a CDN purge does not become a thundering herd.
        return max(0.0, base * rng.uniform(1 - self.jitter, 1 + self.jitter))


class Poller:
    """A daemon thread calling ``refresh()`` on the schedule until ``stop()``."""

    def __init__(
        self,
        refresh: Callable[[], RefreshResult],
        schedule: Schedule,
        *,
        name: str = "vexil-poller",
        rng: random.Random | None = None,
    ) -> None:
        """Prepare (not start) the thread; ``refresh`` must never raise (it is guarded)."""
        self._refresh = refresh
        self._schedule = schedule
        self._rng = rng or random.Random()  # noqa: S311 — jitter, not security
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.failures = 0

    def start(self) -> None:
        """Start polling; the first cycle runs immediately."""
        self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop the thread and wait up to ``timeout`` seconds for it to finish."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        """True while the thread runs."""
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                result = self._refresh()
            except Exception as exc:  # defensive: the thread must survive any bug
                log.exception("refresh cycle crashed")
                result = RefreshResult(
                    "failed", kind="internal", reason=f"{type(exc).__name__}: {exc}"
                )
            self.failures = 0 if result.ok else self.failures + 1
            delay = self._schedule.delay(self.failures, self._rng)
            self._stop.wait(delay)  # set by stop(): ends the wait at once
