"""A small, synchronous client for the control-plane HTTP API (urllib3).

Every error becomes :class:`vexil.errors.ApiError` whose message is one readable line:
``PUT /v1/projects/shop/flags/x: 412 precondition_failed: ... (field: reason)``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import urllib3

from vexil.errors import ApiError, VexilError
from vexil.settings import Settings

USER_AGENT = "vexil-cli/1"


@dataclass(frozen=True)
class Response:
    """A successful API answer: status, decoded JSON body (or None) and ETag."""

    status: int
    body: Any
    etag: str | None


def path(*segments: str) -> str:
    """Join URL path segments, percent-encoding each one (``path("v1", "projects", p)``)."""
    return "/" + "/".join(quote(s, safe="") for s in segments)


def version_etag(version: int | str) -> str:
    """The ETag the API uses for an entity version: ``"<version>"``."""
    return f'"{version}"'


class ApiClient:
    """Talks to one control-plane base URL with one bearer token."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        ca_bundle: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        kwargs: dict[str, Any] = {}
        if ca_bundle:
            kwargs["ca_certs"] = ca_bundle
        self._pool = urllib3.PoolManager(
            retries=urllib3.Retry(total=2, connect=2, read=0, status=0, backoff_factor=0.2,
                                  allowed_methods=frozenset({"GET"})),
            timeout=urllib3.Timeout(connect=5.0, read=timeout),
            **kwargs,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiClient:
        """A client for resolved CLI settings (see :mod:`vexil.settings`)."""
        return cls(settings.api, settings.token, ca_bundle=settings.ca_bundle)

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
        url = self.base_url + url_path
        if query:
            clean = {k: v for k, v in query.items() if v is not None}
            if clean:
                url += "?" + urlencode(clean)
        try:
            resp = self._pool.request(method, url, body=data, headers=headers)
        except urllib3.exceptions.HTTPError as exc:
            raise VexilError(f"cannot reach the API at {self.base_url}: {_short(exc)}") from None
        payload: Any = None
        if resp.data:
            try:
                payload = json.loads(resp.data)
            except ValueError:
                payload = resp.data.decode("utf-8", "replace")
        if resp.status >= 400:
            raise _api_error(method, url_path, resp.status, payload)
        return Response(status=resp.status, body=payload, etag=resp.headers.get("ETag"))

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


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) < 200 else text[:200] + "…"


def _api_error(method: str, url_path: str, status: int, payload: Any) -> ApiError:
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
    elif isinstance(payload, dict) and "Message" in payload:  # API Gateway / authorizer
        message = str(payload["Message"])
    elif isinstance(payload, str):
        message = payload.strip()[:200]
    parts = [f"{method} {url_path}: {status}"]
    if code:
        parts.append(code)
    if message:
        parts.append(message)
    line = ": ".join(parts)
    if details:
        line += " (" + "; ".join(
            f"{d.get('path', '?')}: {d.get('message', '')}" for d in details[:5]
        ) + ")"
    return ApiError(line, status=status, code=code, details=details, body=payload)
