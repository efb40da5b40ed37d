"""The one I/O seam of the reader: ``Transport.handle_request``.

Everything the fetcher does over the network goes through ``handle_request``, so tests can
replace the network with a plain function for fault injection (the main tests still use a
real HTTP server on loopback). ``Urllib3Transport`` is the production implementation: one
``urllib3.PoolManager`` (keep-alive, TLS verified, optional custom CA bundle), no retries
(the poller owns retry policy), a hard cap on the body size.

Exceptions::

    TransportError            network-level failure (no HTTP status)
      kind = "timeout" | "connect" | "truncated" | "too_large" | "tls" | "protocol"
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    IncompleteRead,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
    TimeoutError,
)

DEFAULT_MAX_BODY = 64 * 1024 * 1024  # bundles are a few MB at most; refuse anything absurd


@dataclass(frozen=True, slots=True)
class Request:
    """One GET: URL, headers, and the time budget for connect and read (seconds)."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    max_body: int = DEFAULT_MAX_BODY


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


class Urllib3Transport:
    """HTTP(S) over one keep-alive ``urllib3.PoolManager``; TLS always verified."""

    def __init__(self, *, ca_bundle: str | None = None, maxsize: int = 4) -> None:
        """Build the pool; ``ca_bundle`` adds a PEM file of trusted CAs (local stack)."""
        kwargs: dict[str, object] = {
            "cert_reqs": ssl.CERT_REQUIRED,
            "retries": False,
            "maxsize": maxsize,
        }
        if ca_bundle:
            kwargs["ca_certs"] = ca_bundle
        self._pool = urllib3.PoolManager(**kwargs)  # type: ignore[arg-type]

    def handle_request(self, request: Request) -> Response:
        """GET ``request.url``; read at most ``max_body`` bytes; classify network faults."""
        timeout = urllib3.Timeout(connect=request.connect_timeout, read=request.read_timeout)
        try:
            resp = self._pool.request(
                "GET",
                request.url,
                headers=dict(request.headers),
                timeout=timeout,
                preload_content=False,
                redirect=False,
            )
        except NewConnectionError as exc:
            # Before the timeout clause: urllib3 2 makes NewConnectionError a subclass of
            # ConnectTimeoutError, but "connection refused" is not a timeout.
            raise TransportError("connect", str(exc)) from exc
        except (ConnectTimeoutError, ReadTimeoutError, TimeoutError) as exc:
            raise TransportError("timeout", str(exc)) from exc
        except SSLError as exc:
            raise TransportError("tls", str(exc)) from exc
        except HTTPError as exc:
            raise TransportError(_classify(exc), str(exc)) from exc
        try:
            declared = resp.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > request.max_body:
                raise TransportError("too_large", f"Content-Length {declared} exceeds limit")
            chunks: list[bytes] = []
            total = 0
            for chunk in resp.stream(65536):
                total += len(chunk)
                if total > request.max_body:
                    raise TransportError("too_large", f"body exceeds {request.max_body} bytes")
                chunks.append(chunk)
            headers = {k.lower(): v for k, v in resp.headers.items()}
            return Response(status=resp.status, headers=headers, body=b"".join(chunks))
        except (ReadTimeoutError, TimeoutError) as exc:
            raise TransportError("timeout", str(exc)) from exc
        except HTTPError as exc:
            raise TransportError(_classify(exc), str(exc)) from exc
        finally:
            resp.release_conn()

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.clear()


def _classify(exc: HTTPError) -> str:
    """Name a urllib3 failure; a body shorter than Content-Length is ``truncated``."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, IncompleteRead):
            return "truncated"
        if isinstance(seen, (ReadTimeoutError, TimeoutError)):
            return "timeout"
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    if "IncompleteRead" in text or "incomplete" in text.lower():
        return "truncated"
    if isinstance(exc, ProtocolError):
        return "protocol"
    return "connect"
