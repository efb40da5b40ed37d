"""Client status: what the reader serves and why.

=========  ==================================================================
NOT_READY  nothing loaded yet and no attempt has failed (still starting)
READY      a verified bundle is served and the last check succeeded recently
STALE      a bundle is served, but the last successful check is older than
           ``stale_after``, or the last attempt failed, or (with ``signing_keys``) the
           held pointer has expired: ``error_kind`` ``stale_pointer`` (``reason`` says why),
           or a list segment it names is not loaded (``list_not_loaded``) or only its
           previous members are (``list_stale``)
ERROR      nothing to serve and an attempt failed (``reason`` says why)
=========  ==================================================================
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from edge_reader.client._refresh import RefreshResult

log = logging.getLogger("edge_reader.client")


class ClientStatus(StrEnum):
    """The four states a FlagClient can be in (values are OpenFeature's status names)."""

    NOT_READY = "NOT_READY"
    READY = "READY"
    STALE = "STALE"
    ERROR = "ERROR"


@dataclass(frozen=True, slots=True)
class StatusReport:
    """A point-in-time view of the client.

    ``age`` is seconds since the last successful check (download or 304), ``reason`` and
    ``error_kind`` describe the last failure (None when the last attempt succeeded).
    """

    state: ClientStatus
    reason: str | None
    error_kind: str | None
    revision: int | None
    source: str | None
    age: float | None
    last_success_at: float | None  # wall clock, seconds since the epoch


StatusListener = Callable[[StatusReport], None]


class StatusTracker:
    """Folds refresh results into a ``StatusReport``; notifies on state transitions."""

    def __init__(self, *, stale_after: float, clock: Callable[[], float] = time.time) -> None:
        """``stale_after``: seconds without a successful check before READY turns STALE."""
        self._stale_after = stale_after
        self._clock = clock
        self._lock = threading.Lock()
        self._last_ok_mono: float | None = None
        self._last_ok_wall: float | None = None
        self._failure: RefreshResult | None = None
        self._last_state: ClientStatus | None = None
        self._listeners: list[StatusListener] = []

    def add_listener(self, listener: StatusListener) -> None:
        """Call ``listener(report)`` whenever the state changes."""
        with self._lock:
            self._listeners.append(listener)

    def record(self, result: RefreshResult) -> None:
        """Note one cycle's outcome (success resets the failure)."""
        with self._lock:
            if result.ok:
                self._last_ok_mono = time.monotonic()
                self._last_ok_wall = self._clock()
                self._failure = None
            else:
                self._failure = result

    def seconds_until_stale(self) -> float | None:
        """Seconds until the age alone turns READY into STALE (None: never, or nothing held
        yet); 0 when that moment has passed."""
        with self._lock:
            last = self._last_ok_mono
        if last is None or self._stale_after == float("inf"):
            return None
        return max(0.0, self._stale_after - (time.monotonic() - last))

    def record_loaded(self) -> None:
        """A bundle was installed from disk or a file: serve it as READY until proven stale.

        The age starts now (not at the bundle's publish time) so a restart with a good cache
        is READY at once; a failed CDN check afterwards turns it STALE with the reason.
        """
        with self._lock:
            if self._last_ok_mono is None:
                self._last_ok_mono = time.monotonic()
                self._last_ok_wall = self._clock()

    def report(self, revision: int | None, source: str | None,
               stale_pointer: str | None = None,
               lists: tuple[str, str] | None = None) -> StatusReport:
        """The current status, given what the store holds; ``stale_pointer``: why the held
        pointer is past its expiry (None when it is fresh or expiry is not checked);
        ``lists``: (error kind, reason) when a list segment is not (fully) loaded."""
        with self._lock:
            failure = self._failure
            age = None if self._last_ok_mono is None else time.monotonic() - self._last_ok_mono
            last_wall = self._last_ok_wall
        reason: str | None = failure.reason if failure else None
        kind = failure.kind if failure else None
        if revision is None:
            state = ClientStatus.ERROR if failure else ClientStatus.NOT_READY
        elif stale_pointer is not None:
            # Said even between refreshes: expiry passes with the clock, not with a fetch.
            state, kind = ClientStatus.STALE, "stale_pointer"
            reason = (f"serving revision {revision} from {source}; its pointer is stale: "
                      f"{stale_pointer}" + (f"; last refresh failed: {reason}" if failure else ""))
        elif failure is not None:
            state = ClientStatus.STALE
            reason = f"serving revision {revision} from {source}; last refresh failed: {reason}"
        elif age is not None and age > self._stale_after:
            state = ClientStatus.STALE
            reason = f"last successful check {age:.0f}s ago (stale after {self._stale_after:.0f}s)"
        else:
            state = ClientStatus.READY
        if lists is not None and revision is not None:
            # Said apart from the bundle's own health: a list retried on every cycle.
            if state is ClientStatus.READY:
                state, kind, reason = ClientStatus.STALE, lists[0], lists[1]
            else:
                reason = f"{reason}; {lists[1]}"
        return StatusReport(
            state=state,
            reason=reason,
            error_kind=kind,
            revision=revision,
            source=source,
            age=age,
            last_success_at=last_wall,
        )

    def publish(self, report: StatusReport) -> None:
        """Notify listeners if ``report.state`` differs from the last published state."""
        with self._lock:
            if report.state is self._last_state:
                return
            self._last_state = report.state
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(report)
            except Exception:  # a listener's bug must not break refreshes
                log.exception("status listener failed")
