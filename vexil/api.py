"""A small, synchronous client for the control-plane HTTP API, on the standard library alone.

Why not urllib3: the CLI must run from a wheel without the server extras, and it needs little
of it — one request at a time to one origin, no redirects, no proxies, no compression. What
it keeps (the same rules as the reader's ``edge_reader/client/_http.py``, which is GET-only
and has no client certificates, hence this module):

* one keep-alive connection per client (threads sharing a client take turns), reused only
  while the server has not closed it;
* separate connect (5 s, TLS handshake included) and read timeouts;
* TLS always verified (TLS 1.2+, hostname checked), against the system store or
  ``ca_bundle``; a client certificate (``client_cert``/``client_key``) for mutual TLS;
* GETs retried twice (0.2 s, 0.4 s) on connection failures; other methods are retried only
  when the connection could not be opened at all (nothing was sent), so no write is doubled.

Every error becomes :class:`vexil.errors.ApiError` whose message is one readable line:
``PUT /v1/projects/shop/flags/x: 412 precondition_failed: ... (field: reason)``; a 401/403
also says where the token came from. A network failure is a ``VexilError``
``cannot reach the API at ...``.
"""

from __future__ import annotations

import http.client
import json
import select
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from vexil.errors import ApiError, UsageError, VexilError
from vexil.settings import Settings

USER_AGENT = "vexil-cli/1"
CONNECT_TIMEOUT = 5.0
GET_RETRIES = 2
RETRY_BACKOFF = 0.2  # seconds, doubled per attempt


@dataclass(frozen=True)
class Response:
    """A successful API answer: status, decoded JSON body (or None), ETag and headers."""

    status: int
    body: Any
    etag: str | None
    headers: Mapping[str, str] = field(default_factory=dict)


def path(*segments: str) -> str:
    """Join URL path segments, percent-encoding each one (``path("v1", "projects", p)``)."""
    return "/" + "/".join(quote(s, safe="") for s in segments)


def version_etag(version: int | str) -> str:
    """The ETag the API uses for an entity version: ``"<version>"``."""
    return f'"{version}"'


class _NotSent(Exception):
    """The connection could not be opened: the request never left, any method may retry."""


class ApiClient:
    """Talks to one control-plane base URL with one bearer token (optionally over mTLS)."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        ca_bundle: str | None = None,
        timeout: float = 30.0,
        client_cert: str | None = None,
        client_key: str | None = None,
        token_source: str = "",
    ) -> None:
        """``token_source`` (``--token``, ``$VEXIL_TOKEN``, a dev.json path) is named in
        401/403 errors. Certificate files are read at the first HTTPS request."""
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.token_source = token_source
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"API URL {base_url!r}: expected http(s)://host[:port][/prefix]")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        try:
            self._port = parts.port or (443 if self._https else 80)
        except ValueError as exc:
            raise UsageError(f"API URL {base_url!r}: {exc}") from None
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout
        self._ca_bundle = ca_bundle
        self._client_cert = client_cert
        self._client_key = client_key
        self._tls: ssl.SSLContext | None = None
        self._conn: http.client.HTTPConnection | None = None
        # One connection, so one request at a time; threads sharing a client take turns.
        self._lock = threading.Lock()
        self.connections_opened = 0  # observable keep-alive, for tests

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiClient:
        """A client for resolved CLI settings (see :mod:`vexil.settings`)."""
        return cls(settings.api, settings.token, ca_bundle=settings.ca_bundle,
                   client_cert=settings.client_cert, client_key=settings.client_key,
                   token_source=settings.token_source)

    def request(
        self,
        method: str,
        url_path: str,
        *,
        body: Any = None,
        if_match: str | None = None,
        query: Mapping[str, Any] | None = None,
        reason: str | None = None,
    ) -> Response:
        """Send one request; return the Response or raise ApiError (status ≥ 400)."""
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if if_match is not None:
            headers["If-Match"] = if_match
        if reason:
            headers["X-Vexil-Reason"] = reason
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        target = self._prefix + url_path
        if query:
            clean = {k: v for k, v in query.items() if v is not None}
            if clean:
                target += "?" + urlencode(clean)
        with self._lock:
            status, resp_headers, raw = self._send(method, target, data, headers)
        payload: Any = None
        if raw:
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = raw.decode("utf-8", "replace")
        if status >= 400:
            raise _api_error(method, url_path, status, payload, self.token_source)
        return Response(status=status, body=payload, etag=resp_headers.get("etag"),
                        headers=resp_headers)

    def get(self, url_path: str, **query: Any) -> Response:
        """GET ``url_path`` with optional query parameters."""
        return self.request("GET", url_path, query=query or None)

    def paginate(self, url_path: str, **query: Any) -> Iterator[dict[str, Any]]:
        """Yield every item of a paginated list (``items`` + ``next_cursor``)."""
        cursor: str | None = None
        while True:
            page = self.request("GET", url_path, query={**query, "cursor": cursor}).body
            if not isinstance(page, dict):
                raise VexilError(f"GET {url_path}: unexpected response (not an object)")
            yield from page.get("items", [])
            cursor = page.get("next_cursor") or page.get("cursor")
            if not cursor:
                return

    def close(self) -> None:
        """Close the kept-alive connection, if any."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # ------------------------------------------------------------------ transport

    def _send(self, method: str, target: str, data: bytes | None,
              headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """One exchange, retried by the rules in the module docstring."""
        attempts = 1 + GET_RETRIES
        for attempt in range(attempts):
            try:
                return self._exchange(method, target, data, headers)
            except _NotSent as exc:
                failure: BaseException = exc.__cause__ or exc
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                # A TLS refusal (certificate, protocol) does not heal by retrying.
                if method != "GET" or isinstance(exc, ssl.SSLError):
                    raise self._unreachable(exc) from None
                failure = exc
            if attempt + 1 < attempts:
                time.sleep(RETRY_BACKOFF * 2 ** attempt)
        raise self._unreachable(failure)

    def _exchange(self, method: str, target: str, data: bytes | None,
                  headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        conn, reused = self._connection()
        try:
            conn.request(method, target, body=data, headers=headers)
            resp = conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.close()
            if not reused:
                raise
            # The server closed the idle connection as we reused it: it never saw this
            # request (no response byte came back), so one fresh attempt is safe.
            conn, _ = self._connection()
            conn.request(method, target, body=data, headers=headers)
            resp = conn.getresponse()
        raw = resp.read()
        resp_headers = {k.lower(): v for k, v in resp.getheaders()}
        if resp.will_close:
            self.close()
        return resp.status, resp_headers, raw

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """The kept-alive connection if the server has not closed it, else a new one."""
        if self._conn is not None and _still_open(self._conn):
            return self._conn, True
        self.close()
        conn: http.client.HTTPConnection
        if self._https:
            conn = http.client.HTTPSConnection(self._host, self._port, timeout=CONNECT_TIMEOUT,
                                               context=self._tls_context())
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=CONNECT_TIMEOUT)
        try:
            conn.connect()
        except ssl.SSLError as exc:  # a TLS refusal does not heal by retrying
            conn.close()
            raise self._unreachable(exc) from None
        except OSError as exc:
            conn.close()
            raise _NotSent() from exc
        if conn.sock is not None:
            conn.sock.settimeout(self._timeout)
        self.connections_opened += 1
        self._conn = conn
        return conn, False

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            try:
                ctx = ssl.create_default_context(cafile=self._ca_bundle)
            except (OSError, ssl.SSLError) as exc:
                raise UsageError(f"cannot load CA bundle {self._ca_bundle}: {exc}") from None
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.hostname_checks_common_name = False
            if self._client_cert:
                try:
                    ctx.load_cert_chain(self._client_cert, self._client_key)
                except (OSError, ssl.SSLError) as exc:
                    raise UsageError(
                        f"cannot load client certificate {self._client_cert}"
                        + (f" / key {self._client_key}" if self._client_key else "")
                        + f": {exc}") from None
            self._tls = ctx
        return self._tls

    def _unreachable(self, exc: BaseException) -> VexilError:
        text = f"cannot reach the API at {self.base_url}: {_short(exc)}"
        alert = str(exc).upper()
        if "CERTIFICATE_REQUIRED" in alert and not self._client_cert:
            text += (" — the server requires a client certificate (--client-cert/--client-key "
                     "or $VEXIL_CLIENT_CERT/$VEXIL_CLIENT_KEY)")
        elif self._https and not self._client_cert and isinstance(
                exc, ssl.SSLEOFError | ConnectionResetError | BrokenPipeError):
            # Some servers drop the connection instead of sending the TLS alert.
            text += (" — does the server require a client certificate? (--client-cert/"
                     "--client-key or $VEXIL_CLIENT_CERT/$VEXIL_CLIENT_KEY)")
        elif self._client_cert and isinstance(exc, ssl.SSLError) \
                and "CERTIFICATE_VERIFY_FAILED" not in alert:  # that one is about the server's
            text += (" — the server refused the connection: is the client certificate "
                     f"{self._client_cert} one it trusts?")
        return VexilError(text)


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


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text if len(text) < 200 else text[:200] + "…"


def _api_error(method: str, url_path: str, status: int, payload: Any,
               token_source: str = "") -> ApiError:
    code = ""
    message = ""
    details: list[dict[str, str]] = []
    err = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(err, dict):
        code = str(err.get("code", ""))
        message = str(err.get("message", ""))
        details = [d for d in err.get("details") or [] if isinstance(d, dict)]
    elif isinstance(err, str):
        message = err
    elif isinstance(payload, dict) and ("Message" in payload or "message" in payload):
        message = str(payload.get("Message") or payload.get("message"))  # API Gateway
    elif isinstance(payload, str):
        message = payload.strip()[:200]
    parts = [f"{method} {url_path}: {status}" + (f" {code}" if code else "")]
    if message:
        parts.append(message)
    line = ": ".join(parts)
    if details:
        line += " (" + "; ".join(
            f"{d.get('path', '?')}: {d.get('message', '')}" for d in details[:5]
        ) + (f"; +{len(details) - 5} more" if len(details) > 5 else "") + ")"
    if status == 401:
        # The authorizer says no more than "Unauthorized" (by design); say which token it was.
        line += (f" — the token from {token_source or 'nowhere'} is missing, unknown, "
                 "revoked or expired")
    elif status == 403 and token_source:
        line += f" (token from {token_source})"
    return ApiError(line, status=status, code=code, details=details, body=payload)
