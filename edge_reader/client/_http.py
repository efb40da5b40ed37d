"""``HttpTransport``: the reader's production transport, on the standard library alone.

Why not urllib3: it costs a reader about 3 MB more RSS than ``http.client`` + ``ssl``, which
it is built on anyway, and the reader needs little of it: one GET at a time, no redirects,
no retries (the poller owns retry policy), no proxies, no compression. What it does need is
kept here:

* keep-alive: a small pool of idle connections per origin; a connection is reused only if
  the server has not closed it (a readable idle socket means EOF or garbage), and a GET that
  fails before any response byte on a *reused* connection is retried once on a fresh one;
* separate connect and read timeouts (the TLS handshake counts as connecting; the read
  timeout bounds every wait for bytes, as urllib3's does);
* TLS always verified: TLS 1.2+, certificate and hostname checked (never the common name);
  the system trust store, or, when ``ca_bundle`` is given, that PEM file instead;
* a hard cap on the body size (``Content-Length`` first, then while reading), and a body
  shorter than its ``Content-Length`` reported as ``truncated``;
* clear ``TransportError`` kinds: timeout, connect, tls, truncated, too_large, protocol.

This module is imported only when a ``Fetcher`` builds its default transport, so code that
never fetches (offline readers, a custom transport) does not load ``http.client`` or ``ssl``.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
from urllib.parse import urlsplit

from edge_reader.client._transport import Request, Response, TransportError

_CHUNK = 65536
# Failures that, on a reused keep-alive connection, mean "the server closed it meanwhile".
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class HttpTransport:
    """HTTP(S) requests (GETs, and the insights POST) over pooled keep-alive ``http.client``
    connections; TLS always verified."""

    def __init__(self, *, ca_bundle: str | None = None, maxsize: int = 4) -> None:
        """``ca_bundle``: a PEM file of CAs to trust instead of the system store (it is read
        at the first HTTPS request, so a bad path is a ``tls`` failure, not a crash)."""
        self._ca_bundle = ca_bundle
        self._maxsize = maxsize
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None
        self.connections_opened = 0  # for tests and diagnostics: keep-alive is observable

    def handle_request(self, request: Request) -> Response:
        """GET ``request.url``; read at most ``max_body`` bytes; classify network faults."""
        parts = urlsplit(request.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TransportError("protocol", f"unsupported URL {request.url!r}")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise TransportError("protocol", f"bad port in URL: {exc}") from exc
        origin = (parts.scheme, parts.hostname, port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn, reused = self._checkout(origin, request)
        try:
            try:
                resp = self._send(conn, target, request)
            except _STALE:
                # Only a GET is replayed: a POST may have reached the server.
                if not reused or request.method != "GET":
                    raise
                conn.close()  # it died while idle: one fresh attempt, as the GET is idempotent
                conn, reused = self._connect(origin, request), False
                resp = self._send(conn, target, request)
            response = self._read(resp, request)
        except TransportError:
            conn.close()
            raise
        except Exception as exc:  # anything else http.client, ssl or socket raise
            conn.close()
            raise _classify(exc) from exc
        if resp.will_close:
            conn.close()
        else:
            self._checkin(origin, conn)
        return response

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

    # ------------------------------------------------------------------ internals

    def _checkout(
        self, origin: tuple[str, str, int], request: Request
    ) -> tuple[http.client.HTTPConnection, bool]:
        while True:
            with self._lock:
                conns = self._idle.get(origin)
                conn = conns.pop() if conns else None
            if conn is None:
                return self._connect(origin, request), False
            if _still_open(conn):
                if conn.sock is not None:
                    conn.sock.settimeout(request.read_timeout)
                return conn, True
            conn.close()

    def _checkin(self, origin: tuple[str, str, int], conn: http.client.HTTPConnection) -> None:
        with self._lock:
            conns = self._idle.setdefault(origin, [])
            if len(conns) < self._maxsize:
                conns.append(conn)
                return
        conn.close()

    def _connect(
        self, origin: tuple[str, str, int], request: Request
    ) -> http.client.HTTPConnection:
        scheme, host, port = origin
        conn: http.client.HTTPConnection
        if scheme == "https":
            conn = http.client.HTTPSConnection(
                host, port, timeout=request.connect_timeout, context=self._tls_context()
            )
        else:
            conn = http.client.HTTPConnection(host, port, timeout=request.connect_timeout)
        try:
            conn.connect()  # TCP connect and TLS handshake, both under the connect timeout
        except Exception as exc:
            conn.close()
            raise _classify(exc, connecting=f"connect to {host}:{port}") from exc
        if conn.sock is not None:  # connect() either sets it or raises
            conn.sock.settimeout(request.read_timeout)
        self.connections_opened += 1
        return conn

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            try:
                ctx = ssl.create_default_context(cafile=self._ca_bundle)
            except (OSError, ssl.SSLError) as exc:
                raise TransportError(
                    "tls", f"cannot load CA bundle {self._ca_bundle}: {exc}"
                ) from exc
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.hostname_checks_common_name = False
            ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_TICKET
            self._tls = ctx  # verify_mode CERT_REQUIRED and check_hostname come with it
        return self._tls

    @staticmethod
    def _send(
        conn: http.client.HTTPConnection, target: str, request: Request
    ) -> http.client.HTTPResponse:
        conn.request(request.method, target, body=request.body, headers=dict(request.headers))
        return conn.getresponse()

    @staticmethod
    def _read(resp: http.client.HTTPResponse, request: Request) -> Response:
        declared_text = resp.getheader("content-length")
        declared = int(declared_text) if declared_text and declared_text.isdigit() else None
        if declared is not None and declared > request.max_body:
            raise TransportError("too_large", f"Content-Length {declared} exceeds limit")
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = resp.read(_CHUNK)  # chunked bodies cut short raise IncompleteRead
            if not chunk:
                break
            total += len(chunk)
            if total > request.max_body:
                raise TransportError("too_large", f"body exceeds {request.max_body} bytes")
            chunks.append(chunk)
        if declared is not None and total != declared and resp.status not in (204, 304):
            # http.client's read(n) returns b"" at a premature EOF instead of raising.
            raise TransportError("truncated", f"got {total} of {declared} bytes")
        headers = {k.lower(): v for k, v in resp.getheaders()}
        return Response(status=resp.status, headers=headers, body=b"".join(chunks))


def _still_open(conn: http.client.HTTPConnection) -> bool:
    """An idle keep-alive socket must have nothing to read: readable means closed or junk."""
    sock = conn.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _classify(exc: Exception, *, connecting: str | None = None) -> TransportError:
    """Name a standard-library network failure (order matters: subclasses first).

    ``connecting`` names the connect step when the failure happened there, so a timeout
    says whether it was connecting or reading.
    """
    if isinstance(exc, TransportError):
        return exc
    text = f"{type(exc).__name__}: {exc}"
    if connecting:
        text = f"{connecting}: {text}"
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return TransportError("tls", text)
    if isinstance(exc, TimeoutError | socket.timeout):
        return TransportError("timeout", text)
    if isinstance(exc, http.client.IncompleteRead):
        return TransportError("truncated", text)
    if isinstance(exc, http.client.HTTPException):
        return TransportError("protocol", text)  # bad status line, headers, chunking
    if connecting or isinstance(exc, OSError):
        return TransportError("connect", text)
    return TransportError("protocol", text)
