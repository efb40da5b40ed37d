"""Evaluation insights: a bounded summary table per client and its flush to the ingest API.

What is counted: per (flag key, variant, reason), how many evaluations in the current
window, plus the SDK name/version and the client's project/environment. Nothing about the
context (no user keys, no attributes) ever leaves the reader.

Cost on the hot path (goal: 40 ns per evaluation): the getters of
:class:`~edge_reader.client.FlagClient` do the counting themselves, inline (a Python call
costs more than the whole budget), and without building a tuple or hashing more than the
flag key (whose hash the ``str`` caches). The engine returns prebuilt detail objects (a
value getter takes the compiled run's own with ``CompiledEnvironment.detail_of``), so a
flag's table entry is a small list ``[detail_a, count_a, detail_b, count_b]`` holding the
two details seen first in the window, compared by identity::

    slot = summary.slots[key]              # KeyError: first evaluation of the flag
    if slot[0] is detail: slot[1] += 1
    elif slot[2] is detail: slot[3] += 1
    else: summary.add(key, detail)         # a third detail, or a per-call one (errors)

``add`` is the slow path: it fills the entry's free detail slot, else counts by
(flag, variant, reason) in ``other``. A flush turns both into (flag, variant, reason)
counters, so identity is only a fast way to find the counter, never what is reported.

The table is bounded whatever the traffic: at most ``max_entries`` flag entries plus
(flag, variant, reason) counters per window; what does not fit is counted in ``dropped``
(sent with the window, so the store can say the figures are partial). Windows are swapped,
not locked: a getter racing the swap may count one evaluation into the window being sent,
or lose it — insights are statistics, evaluation must not wait for them.

Flushing: :meth:`Insights.flush` takes the window, builds payloads (at most
``MAX_COUNTERS_PER_PAYLOAD`` counters each) and POSTs them with the SDK key as bearer
credential. It runs on the poller thread (background mode), at the end of an invocation
(Lambda mode, :meth:`FlagClient.flush_insights`) and on ``close()``. A failed POST is
kept and retried at the next flush (``MAX_ATTEMPTS`` attempts, at most ``MAX_PENDING``
payloads held), then dropped; a 4xx other than 408/429 is dropped at once, and a 401/403
turns insights off for the client (logged once: the key is wrong or revoked). Nothing here
raises into the caller.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from edge_reader.client._transport import Request, Transport, TransportError
from edge_reader.engine import EvaluationDetail

log = logging.getLogger("edge_reader.client")

SDK_NAME: Final = "vexil-python"
SDK_VERSION: Final = "0.1.0"
PAYLOAD_FORMAT: Final = 1
INGEST_PATH: Final = "/v1/insights/evaluations"
DEFAULT_FLUSH_INTERVAL: Final = 60.0
DEFAULT_MAX_ENTRIES: Final = 65_536
MAX_COUNTERS_PER_PAYLOAD: Final = 5_000
"""Counters in one POST (the ingest endpoint refuses more: ``MAX_COUNTERS`` there)."""
MAX_ATTEMPTS: Final = 3
MAX_PENDING: Final = 16
_RETRYABLE_4XX = frozenset({408, 429})

Triple = tuple[str, str | None, str]


@dataclass
class Window:
    """One summary window: per-flag detail slots, other counters, what could not be counted.

    ``slots[key]`` is ``[detail, count, detail, count]`` (see the module docstring);
    ``other`` counts evaluations by (flag, variant, reason) that no slot took.
    """

    started: float  # wall clock, seconds
    slots: dict[str, list[Any]] = field(default_factory=dict)
    other: dict[Triple, int] = field(default_factory=dict)
    dropped: int = 0

    def counters(self) -> dict[Triple, int]:
        """Every count of the window by (flag, variant, reason)."""
        out = dict(self.other)
        for key, slot in list(self.slots.items()):
            for detail, n in ((slot[0], slot[1]), (slot[2], slot[3])):
                if detail is not None and n:
                    triple = (key, detail.variant, str(detail.reason))
                    out[triple] = out.get(triple, 0) + n
        return out

    def size(self) -> int:
        """Entries held: flag entries plus other counters (what ``max_entries`` bounds)."""
        return len(self.slots) + len(self.other)


@dataclass
class _Pending:
    body: bytes
    counters: int
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class FlushResult:
    """What one flush did (for tests, benchmarks and ``FlagClient.flush_insights``)."""

    sent: int = 0  # payloads accepted by the endpoint
    failed: int = 0  # payloads kept for a retry
    dropped: int = 0  # payloads given up (attempts exhausted, refused, or over MAX_PENDING)
    counters: int = 0  # counters in the accepted payloads


class Insights:
    """One client's summary table and its sender; see the module docstring.

    ``url`` is the ingest endpoint (``https://api.example/v1/insights/evaluations``);
    ``transport`` performs the POST (the client's own HTTP transport); ``sdk_key_text`` is
    the credential. ``clock`` is the wall clock (windows are stamped in epoch seconds).
    """

    # Slotted: ``slots`` is read on every evaluation, and a slot attribute is the cheapest.
    __slots__ = ("_auth", "_ca_bundle", "_clock", "_flush_lock", "_next_flush",
                 "_own_transport", "_pending", "_timeout", "_transport", "_window",
                 "dropped_payloads", "enabled", "environment", "flush_interval",
                 "max_entries", "project", "slots", "url")

    def __init__(self, *, url: str, sdk_key_text: str, project: str, environment: str,
                 transport: Transport | None = None, ca_bundle: str | None = None,
                 flush_interval: float = DEFAULT_FLUSH_INTERVAL,
                 max_entries: int = DEFAULT_MAX_ENTRIES, timeout: float = 5.0,
                 clock: Callable[[], float] = time.time) -> None:
        """Configure; nothing is sent before the first :meth:`flush`."""
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"insights_url: must be an http(s) URL, got {url!r}")
        if not flush_interval > 0:
            raise ValueError(f"insights_flush_interval: must be positive, got {flush_interval!r}")
        if max_entries < 1:
            raise ValueError(f"insights_max_entries: must be at least 1, got {max_entries!r}")
        self.url = url
        self._auth = f"Bearer {sdk_key_text}"
        self.project = project
        self.environment = environment
        self._transport = transport
        self._own_transport = transport is None
        self._ca_bundle = ca_bundle
        self.flush_interval = flush_interval
        self.max_entries = max_entries
        self._timeout = timeout
        self._clock = clock
        self._window = Window(started=clock())
        self.slots: dict[str, list[Any]] = self._window.slots  # read by the getters, inline
        self._pending: list[_Pending] = []
        self._flush_lock = threading.Lock()
        self._next_flush = time.monotonic() + flush_interval
        self.enabled = True
        self.dropped_payloads = 0

    # ------------------------------------------------------------------ recording

    def add(self, key: str, detail: EvaluationDetail) -> None:
        """Count one evaluation the getters' inline fast path did not (the slow path)."""
        window = self._window
        slot = window.slots.get(key)
        if slot is None:
            if window.size() >= self.max_entries:
                window.dropped += 1
            elif detail.error_code is None:
                window.slots[key] = [detail, 1, None, 0]
            else:
                # Error details are built per call: a slot would never match again.
                window.slots[key] = [None, 0, None, 0]
                self._count_other(window, (key, detail.variant, str(detail.reason)))
            return
        if slot[0] is detail:  # another thread filled the slot meanwhile
            slot[1] += 1
        elif slot[2] is detail:
            slot[3] += 1
        elif slot[0] is None and detail.error_code is None:
            slot[0], slot[1] = detail, 1
        elif slot[2] is None and detail.error_code is None:
            slot[2], slot[3] = detail, 1
        else:
            self._count_other(window, (key, detail.variant, str(detail.reason)))

    def _count_other(self, window: Window, triple: Triple) -> None:
        other = window.other
        if triple in other:
            other[triple] += 1
        elif window.size() < self.max_entries:
            other[triple] = 1
        else:
            window.dropped += 1

    def record(self, key: str, variant: str | None, reason: str) -> None:
        """Count one evaluation by its parts (for callers off the hot path: the OFREP edge,
        which sees its details only briefly)."""
        self._count_other(self._window, (key, variant, str(reason)))

    @property
    def window(self) -> Window:
        """The window being filled."""
        return self._window

    def take_window(self) -> Window:
        """Swap in an empty window and return the full one."""
        old = self._window
        self._window = Window(started=self._clock())
        self.slots = self._window.slots
        return old

    # ------------------------------------------------------------------ flushing

    def due(self) -> bool:
        """True when ``flush_interval`` has passed since the last flush."""
        return self.enabled and time.monotonic() >= self._next_flush

    def flush_if_due(self) -> FlushResult | None:
        """:meth:`flush` when due (the poller's and Lambda mode's call), else None."""
        return self.flush() if self.due() else None

    def flush(self) -> FlushResult:
        """Send the current window and any pending payloads; never raises.

        One flush at a time: a second caller meanwhile returns an empty result at once.
        """
        if not self._flush_lock.acquire(blocking=False):
            return FlushResult()
        try:
            self._next_flush = time.monotonic() + self.flush_interval
            window = self.take_window()
            if not self.enabled:
                return FlushResult()
            for body, counters in self.payloads(window, self._clock()):
                self._pending.append(_Pending(body, counters))
            return self._send_pending()
        except Exception:  # defensive: insights must never hurt the reader
            log.exception("insights flush failed")
            return FlushResult()
        finally:
            self._flush_lock.release()

    def payloads(self, window: Window, ended: float) -> list[tuple[bytes, int]]:
        """The JSON bodies for ``window`` with their counter counts (none when it counted
        nothing)."""
        items = [{"flag": k, "variant": v, "reason": r, "count": n}
                 for (k, v, r), n in window.counters().items()]
        if not items and not window.dropped:
            return []
        head = {
            "format": PAYLOAD_FORMAT,
            "sdk": {"name": SDK_NAME, "version": SDK_VERSION},
            "project": self.project, "environment": self.environment,
            "window": {"start": int(window.started * 1000), "end": int(ended * 1000)},
        }
        chunks = [items[i:i + MAX_COUNTERS_PER_PAYLOAD]
                  for i in range(0, len(items), MAX_COUNTERS_PER_PAYLOAD)] or [[]]
        # The drop count travels once, with the first chunk.
        return [(orjson.dumps({**head, "dropped": window.dropped if i == 0 else 0,
                               "counters": chunk}), len(chunk))
                for i, chunk in enumerate(chunks)]

    def _send_pending(self) -> FlushResult:
        sent = failed = dropped = counters = 0
        keep: list[_Pending] = []
        for item in self._pending:
            if not self.enabled:
                dropped += 1
                continue
            outcome = self._post(item.body)
            item.attempts += 1
            if outcome == "ok":
                sent += 1
                counters += item.counters
            elif outcome == "retry" and item.attempts < MAX_ATTEMPTS:
                keep.append(item)
            else:
                dropped += 1
        if len(keep) > MAX_PENDING:
            dropped += len(keep) - MAX_PENDING
            keep = keep[-MAX_PENDING:]  # the newest windows matter most to "last seen"
        failed = len(keep)
        self._pending = keep
        self.dropped_payloads += dropped
        return FlushResult(sent=sent, failed=failed, dropped=dropped, counters=counters)

    def _post(self, body: bytes) -> str:
        """One POST: ``ok``, ``retry`` (network, 5xx, 408/429) or ``drop``."""
        request = Request(
            url=self.url, method="POST", body=body,
            headers={"Authorization": self._auth, "Content-Type": "application/json",
                     "User-Agent": f"{SDK_NAME}/{SDK_VERSION}"},
            connect_timeout=self._timeout, read_timeout=self._timeout, max_body=65536)
        try:
            response = self._get_transport().handle_request(request)
        except TransportError as exc:
            log.info("insights: POST %s failed (%s); will retry", self.url, exc.kind)
            return "retry"
        status = response.status
        if 200 <= status < 300:
            return "ok"
        if status >= 500 or status in _RETRYABLE_4XX:
            return "retry"
        if status in (401, 403):
            self.enabled = False
            log.warning("insights: the endpoint refused this SDK key (%d); summaries are off "
                        "for %s/%s until the client is rebuilt", status, self.project,
                        self.environment)
        else:
            log.warning("insights: the endpoint refused a summary (%d): %s", status,
                        _snippet(response.body))
        return "drop"

    def _get_transport(self) -> Transport:
        if self._transport is None:
            # Late, like the fetcher's: http.client and ssl load only when a flush sends.
            from edge_reader.client._http import HttpTransport  # noqa: PLC0415

            self._transport = HttpTransport(ca_bundle=self._ca_bundle, maxsize=1)
        return self._transport

    def close(self) -> None:
        """Release the sender's connection (a transport given by the caller is left open)."""
        if self._own_transport and self._transport is not None:
            self._transport.close()

    def stats(self) -> dict[str, Any]:
        """Counters for diagnostics: entries in the window, drops, pending payloads."""
        return {"entries": self._window.size(), "dropped": self._window.dropped,
                "pending": len(self._pending), "dropped_payloads": self.dropped_payloads,
                "enabled": self.enabled}


def _snippet(body: bytes) -> str:
    return body[:200].decode("utf-8", "replace")


def build_insights(url: str | None, sdk_key_text: str, project: str, environment: str,
                   transport: Transport | None, ca_bundle: str | None, flush_interval: float,
                   max_entries: int, clock: Callable[[], float], timeout: float = 5.0,
                   ) -> Insights | None:
    """The client's :class:`Insights`, or None when no ingest URL is configured.

    ``url`` falls back to ``$VEXIL_INSIGHTS_URL``; a URL ending in ``/`` or naming only the
    API's root gets :data:`INGEST_PATH` appended. Raises ``ValueError`` for a bad setting.
    """
    url = url or os.environ.get("VEXIL_INSIGHTS_URL") or None
    if url is None:
        return None
    if not url.rstrip("/").endswith(INGEST_PATH):
        url = url.rstrip("/") + INGEST_PATH
    return Insights(url=url, sdk_key_text=sdk_key_text, project=project,
                    environment=environment, transport=transport, ca_bundle=ca_bundle,
                    flush_interval=flush_interval, max_entries=max_entries, timeout=timeout,
                    clock=clock)
