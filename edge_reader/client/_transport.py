"""The one I/O seam of the reader: ``Transport.handle_request``.

Everything the fetcher does over the network goes through ``handle_request``, so tests can
replace the network with a plain function for fault injection (the main tests still use a
real HTTP server on loopback). The production implementation is
:class:`edge_reader.client._http.HttpTransport` (standard library: keep-alive, TLS verified,
optional custom CA bundle, no retries — the poller owns retry policy — and a hard cap on the
body size). This module holds only the seam's types, so importing it loads no network code.

Exceptions::

    TransportError            network-level failure (no HTTP status)
      kind = "timeout" | "connect" | "truncated" | "too_large" | "tls" | "protocol"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

DEFAULT_MAX_BODY = 64 * 1024 * 1024  # bundles are a few MB at most; refuse anything absurd


@dataclass(frozen=True, slots=True)
class Request:
    """One request: URL, headers, and the time budget for connect and read (seconds).

    A GET (the fetcher) unless ``method`` says otherwise; ``body`` is sent with a POST (the
    insights flush)."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    max_body: int = DEFAULT_MAX_BODY
    method: str = "GET"
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class Response:
    """A complete HTTP response: status, lower-cased headers, the whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class TransportError(Exception):
    """A request that produced no usable HTTP response; ``kind`` classifies why."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


class Transport(Protocol):
    """Anything that can turn a ``Request`` into a ``Response`` or a ``TransportError``."""

    def handle_request(self, request: Request) -> Response:
        """Perform the request; raise ``TransportError`` when no response could be read."""
        ...

    def close(self) -> None:
        """Release pooled connections."""
        ...
