"""The fetcher: one conditional GET, classified into a small result type.

``Fetcher.get(url, etag)`` returns exactly one of:

* ``NotModified``  – the server answered 304 to our ``If-None-Match``;
* ``Fetched``      – a 200 with its body and ETag;
* ``FetchFailure`` – anything else, classified ``recoverable`` (5xx, 429, 408, timeouts,
  truncated or oversized bodies, connection errors) or not (401, 403, 404 and other 4xx:
  retrying the same request will not help until someone changes configuration).

It never raises: retry policy belongs to the poller, not here.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_reader.client._transport import DEFAULT_MAX_BODY, Request, Transport, TransportError

# 4xx answers that a retry may cure (LaunchDarkly's SDKs draw the same line).
_RECOVERABLE_4XX = frozenset({400, 408, 429})


@dataclass(frozen=True, slots=True)
class NotModified:
    """304: what we hold is current."""

    url: str


@dataclass(frozen=True, slots=True)
class Fetched:
    """200: the body and its validator."""

    url: str
    body: bytes
    etag: str | None


@dataclass(frozen=True, slots=True)
class FetchFailure:
    """No usable body. ``kind``: ``http`` (see ``status``) or a transport kind."""

    url: str
    kind: str
    message: str
    recoverable: bool
    status: int | None = None

    def describe(self) -> str:
        """A one-line human reason, e.g. ``GET …/current.json: HTTP 403``."""
        what = f"HTTP {self.status}" if self.status is not None else self.kind
        return (
            f"GET {self.url}: {what} ({self.message})"
            if self.message
            else f"GET {self.url}: {what}"
        )


FetchResult = NotModified | Fetched | FetchFailure


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Connect and read timeouts in seconds."""

    connect: float = 3.0
    read: float = 10.0


class Fetcher:
    """Conditional GETs over one transport (keep-alive pool by default)."""

    def __init__(
        self,
        transport: Transport | None = None,
        *,
        ca_bundle: str | None = None,
        timeouts: Timeouts | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        user_agent: str = "vexil-edge-reader/1",
    ) -> None:
        """Use ``transport`` or build an ``HttpTransport`` trusting ``ca_bundle``."""
        if transport is None:
            # Late: http.client and ssl load only for a reader that really fetches.
            from edge_reader.client._http import HttpTransport  # noqa: PLC0415

            transport = HttpTransport(ca_bundle=ca_bundle)
        self._transport = transport
        self._timeouts = timeouts or Timeouts()
        self._max_body = max_body
        self._user_agent = user_agent

    def get(self, url: str, etag: str | None = None, *, budget: float | None = None) -> FetchResult:
        """GET ``url`` with ``If-None-Match: etag``; ``budget`` caps both timeouts (seconds)."""
        headers = {"User-Agent": self._user_agent, "Accept-Encoding": "identity"}
        if etag:
            headers["If-None-Match"] = etag
        connect, read = self._timeouts.connect, self._timeouts.read
        if budget is not None:
            # Lambda mode: never wait longer than the hard budget, whatever the defaults say.
            budget = max(budget, 0.001)
            connect, read = min(connect, budget), min(read, budget)
        request = Request(
            url=url,
            headers=headers,
            connect_timeout=connect,
            read_timeout=read,
            max_body=self._max_body,
        )
        try:
            response = self._transport.handle_request(request)
        except TransportError as exc:
            return FetchFailure(url=url, kind=exc.kind, message=exc.message, recoverable=True)
        except Exception as exc:  # a broken transport must not kill the poller
            return FetchFailure(
                url=url, kind="transport", message=f"{type(exc).__name__}: {exc}", recoverable=True
            )
        status = response.status
        if status == 304:
            return NotModified(url=url)
        if status == 200:
            return Fetched(url=url, body=response.body, etag=response.headers.get("etag"))
        recoverable = status >= 500 or status in _RECOVERABLE_4XX or 300 <= status < 400
        return FetchFailure(
            url=url, kind="http", message="", recoverable=recoverable, status=status
        )

    def close(self) -> None:
        """Release the transport's connections."""
        self._transport.close()
