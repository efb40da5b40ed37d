"""The OFREP app: HTTP-shaped in, HTTP-shaped out, no sockets.

``OfrepApp.handle(method, path, headers, body)`` implements the OpenFeature Remote
Evaluation Protocol (core endpoints) over one ``FlagClient`` per configured environment —
the same object behind the local HTTP server and the Lambda handler:

===========================================  =========================================
``POST /ofrep/v1/evaluate/flags/{key}``      one flag: 200 success, 400 bad context
                                             (``PARSE_ERROR``/``INVALID_CONTEXT``/
                                             ``TARGETING_KEY_MISSING``/``GENERAL``),
                                             404 ``FLAG_NOT_FOUND``
``POST /ofrep/v1/evaluate/flags``            every client-visible flag; ``ETag`` on 200,
                                             ``304`` when ``If-None-Match`` matches
``GET /ofrep/v1/configuration``              provider configuration (polling hints)
``GET /ofrep/v1/openapi.json``               this edge's OpenAPI document (no auth)
``GET /healthz``                             200 when every environment is served
``OPTIONS *``                                CORS preflight
any other method on those paths              JSON 405 with ``Allow``
===========================================  =========================================

The wire shapes are declared in ``_openapi.py`` (what OFREP leaves open, e.g. the 503 while
no bundle is loaded, is declared there too).

Auth: ``Authorization: Bearer <client SDK key>`` or ``X-API-Key``; missing/malformed → 401,
unknown → 403. Flags are evaluated from compiled snapshots held in memory: a request never
decrypts or compiles anything. Only client-visible flags are served (the client scope bundle
holds nothing else; the app checks ``client_visible`` again anyway).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import orjson

from edge_reader.bundle import SdkKey, parse_sdk_key
from edge_reader.client import ClientStatus, FlagClient, Snapshot
from edge_reader.edge._config import EdgeConfig, EdgeEnvironment
from edge_reader.edge._openapi import openapi_document
from edge_reader.engine import Context, ErrorCode, EvaluationDetail

log = logging.getLogger("edge_reader.edge")

MAX_REQUEST_BODY = 64 * 1024
_PREFIX = "/ofrep/v1/evaluate/flags"
_BAD_REQUEST_CODES = frozenset(
    {ErrorCode.PARSE_ERROR, ErrorCode.INVALID_CONTEXT, ErrorCode.TARGETING_KEY_MISSING}
)
_JSON = "application/json"
_OPENAPI = "/ofrep/v1/openapi.json"
_GET_ROUTES = frozenset({"/healthz", "/ofrep/v1/configuration", _OPENAPI})


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """Status, headers and body bytes (JSON unless empty)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(slots=True)
class _Tenant:
    env: EdgeEnvironment
    client: FlagClient
    started: bool
    # Per-snapshot caches (reset when the bundle changes): the client-visible flag keys, and
    # the rendered JSON of each success detail. The engine pre-builds one detail object per
    # exit point, so (flag, detail identity) → bytes turns bulk evaluation into lookups.
    visible_for: object = None
    visible: tuple[str, ...] | None = None  # computed on the first bulk request
    rendered: dict[tuple[str, int], tuple[EvaluationDetail, bytes]] = field(default_factory=dict)

    def refresh_caches(self, snap: Snapshot, *, bulk: bool = False) -> None:
        """Recompute the per-snapshot caches if ``snap`` is not the one they describe; the
        client-visible key list only for a bulk request (``bulk``): listing it reads every
        flag's info, which compiles every flag of a reader's lazy environment (engine/_lazy.py),
        and a single-flag request must not pay that."""
        if self.visible_for is not snap:
            self.rendered = {}
            self.visible = None
            self.visible_for = snap
        if bulk and self.visible is None:
            env = snap.env
            self.visible = tuple(
                sorted(k for k in env.flag_keys if (i := env.flag_info(k)) and i.client_visible)
            )

    def render(self, key: str, detail: EvaluationDetail) -> bytes:
        """The OFREP JSON object for one flag's detail (cached for successes)."""
        if detail.error_code is not None:
            return orjson.dumps(_failure(key, detail))
        slot = (key, id(detail))
        hit = self.rendered.get(slot)
        # Holding the detail in the entry keeps its id from being reused while cached.
        if hit is not None and hit[0] is detail:
            return hit[1]
        data = orjson.dumps(_success(key, detail))
        if len(self.rendered) < _RENDER_CACHE_MAX:
            self.rendered[slot] = (detail, data)
        return data


ClientFactory = Callable[[EdgeEnvironment], FlagClient]
_RENDER_CACHE_MAX = 100_000


class OfrepApp:
    """Routes OFREP requests to the FlagClient of the caller's environment."""

    def __init__(
        self,
        config: EdgeConfig,
        client_factory: ClientFactory,
        *,
        lazy_start: bool = False,
    ) -> None:
        """Build one client per environment with ``client_factory`` (which must not start it
        when ``lazy_start``; the app then starts each on its first request — Lambda mode)."""
        self.config = config
        self._tenants: dict[str, _Tenant] = {}
        for env in config.environments:
            self._tenants[env.sdk_key.key_id] = _Tenant(env, client_factory(env), not lazy_start)
        # Exact credential text → tenant: a valid key costs one dict lookup (a string hash
        # lookup reveals nothing a guesser can use); anything else takes the parsing path.
        self._by_credential = {t.env.sdk_key.text: t for t in self._tenants.values()}
        self._cors = _Cors(config.cors_origins)
        self._openapi = orjson.dumps(openapi_document())

    def flush_insights(self) -> None:
        """Send each environment's evaluation summary when due (Lambda mode calls this at
        the end of every invocation; background clients flush on their poller thread)."""
        for tenant in self._tenants.values():
            if tenant.started:
                tenant.client.flush_insights()

    @property
    def clients(self) -> list[FlagClient]:
        """Every FlagClient, in config order."""
        return [t.client for t in self._tenants.values()]

    def close(self) -> None:
        """Close every client (stops pollers)."""
        for tenant in self._tenants.values():
            tenant.client.close()

    # ------------------------------------------------------------------ dispatch

    def handle(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> HttpResponse:
        """Answer one request; never raises (an internal fault is a JSON 500)."""
        try:
            response = self._route(method.upper(), path.split("?", 1)[0], headers, body)
        except Exception:
            log.exception("unhandled error for %s %s", method, path)
            response = _json(500, {"errorCode": "GENERAL", "errorDetails": "internal error"})
        response.headers.update(self._cors.headers(headers.get("origin")))
        return response

    def _route(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> HttpResponse:
        if method == "OPTIONS":
            return HttpResponse(204, {"access-control-max-age": "600"})
        if path in _GET_ROUTES:
            if method != "GET":
                return _method_not_allowed("GET")
            if path == "/healthz":
                return self._health()
            if path == _OPENAPI:
                return HttpResponse(200, {"content-type": _JSON}, self._openapi)
            return self._configuration(headers)
        if path == _PREFIX or path == _PREFIX + "/":
            if method != "POST":
                return _method_not_allowed("POST")
            return self._bulk(headers, body)
        if path.startswith(_PREFIX + "/"):
            if method != "POST":
                return _method_not_allowed("POST")
            key = unquote(path[len(_PREFIX) + 1 :])
            return self._single(key, headers, body)
        return _json(404, {"errorDetails": f"no route for {path}"})

    # ------------------------------------------------------------------ endpoints

    def _request(
        self, headers: Mapping[str, str], body: bytes, key: str | None
    ) -> tuple[_Tenant, Context, Snapshot] | HttpResponse:
        """The opening both evaluation routes share: authenticate, parse the context, take
        one snapshot. Returns those three, or the error response to answer instead."""
        tenant, denied = self._authenticate(headers)
        if tenant is None:
            return denied
        context, problem = _parse_request(body)
        if problem is not None:
            code, message = problem
            error = {"errorCode": code, "errorDetails": message}
            return _json(400, error if key is None else {"key": key, **error})
        client = self._client(tenant)
        snap = client.snapshot()
        if snap is None:
            return _not_ready(client, key)
        return tenant, context, snap

    def _single(self, key: str, headers: Mapping[str, str], body: bytes) -> HttpResponse:
        request = self._request(headers, body, key)
        if isinstance(request, HttpResponse):
            return request
        tenant, context, snap = request
        info = snap.env.flag_info(key)
        if info is None or not info.client_visible:
            return _json(
                404,
                {
                    "key": key,
                    "errorCode": "FLAG_NOT_FOUND",
                    "errorDetails": f"flag {key!r} does not exist or is not client-visible",
                },
            )
        detail = snap.env.evaluate(key, context, None)
        summary = tenant.client.insights
        if summary is not None:
            summary.record(key, detail.variant, detail.reason)
        if detail.error_code is None:
            tenant.refresh_caches(snap)
            return HttpResponse(200, {"content-type": _JSON}, tenant.render(key, detail))
        status = 404 if detail.error_code is ErrorCode.FLAG_NOT_FOUND else 400
        return _json(status, _failure(key, detail))

    def _bulk(self, headers: Mapping[str, str], body: bytes) -> HttpResponse:
        request = self._request(headers, body, None)
        if isinstance(request, HttpResponse):
            return request
        tenant, context, snap = request
        tenant.refresh_caches(snap, bulk=True)
        evaluate = snap.env.evaluate
        render = tenant.render
        summary = tenant.client.insights
        if summary is None:
            parts = [render(key, evaluate(key, context, None)) for key in tenant.visible or ()]
        else:
            # Every flag served counts as evaluated (the edge cannot see which ones the
            # browser reads afterwards): docs/insights.md.
            record = summary.record
            parts = []
            for key in tenant.visible or ():
                detail = evaluate(key, context, None)
                record(key, detail.variant, detail.reason)
                parts.append(render(key, detail))
        payload = b'{"flags":[%b],"metadata":{"revision":%d}}' % (b",".join(parts), snap.revision)
        etag = '"' + hashlib.blake2b(payload, digest_size=16).hexdigest() + '"'
        if _etag_matches(headers.get("if-none-match"), etag):
            return HttpResponse(304, {"etag": etag})
        return HttpResponse(200, {"content-type": _JSON, "etag": etag}, payload)

    def _configuration(self, headers: Mapping[str, str]) -> HttpResponse:
        tenant, denied = self._authenticate(headers)
        if tenant is None:
            return denied
        return _json(
            200,
            {
                "name": "vexil",
                "capabilities": {
                    "cacheInvalidation": {
                        "polling": {
                            "enabled": True,
                            "minPollingIntervalMs": int(self.config.poll_interval * 1000),
                        }
                    },
                    "flagEvaluation": {
                        # OFREP's names for OpenFeature's types ("int", not "integer").
                        "supportedTypes": ["boolean", "string", "int", "float", "object"]
                    },
                },
            },
        )

    def _health(self) -> HttpResponse:
        envs = []
        healthy = True
        for tenant in self._tenants.values():
            report = tenant.client.status()
            served = report.revision is not None
            healthy = healthy and served
            envs.append(
                {
                    "project": tenant.env.project,
                    "environment": tenant.env.environment,
                    "state": report.state.value,
                    "revision": report.revision,
                    "reason": report.reason,
                    "error_kind": report.error_kind,  # e.g. list_not_loaded
                }
            )
        return _json(200 if healthy else 503, {"ok": healthy, "environments": envs})

    # ------------------------------------------------------------------ helpers

    def _client(self, tenant: _Tenant) -> FlagClient:
        if not tenant.started:
            tenant.started = True
            tenant.client.start()
        return tenant.client

    def _authenticate(self, headers: Mapping[str, str]) -> tuple[_Tenant | None, HttpResponse]:
        text = headers.get("x-api-key")
        auth = headers.get("authorization")
        if text is None and auth is not None:
            scheme, _, credential = auth.partition(" ")
            if scheme.lower() == "bearer":
                text = credential.strip()
        if text is not None:
            known = self._by_credential.get(text)
            if known is not None:
                return known, _EMPTY
        if not text:
            return None, _auth_error(
                401, "missing credentials: send Authorization: Bearer <client SDK key>"
            )
        try:
            key: SdkKey = parse_sdk_key(text)
        except ValueError:
            return None, _auth_error(401, "malformed SDK key")
        tenant = self._tenants.get(key.key_id)
        # Constant-time comparison of the secret: the key id alone is public.
        if tenant is None or not hmac.compare_digest(tenant.env.sdk_key.secret, key.secret):
            return None, _auth_error(403, "unknown SDK key")
        return tenant, _EMPTY


_EMPTY = HttpResponse(200)


def _parse_request(body: bytes) -> tuple[Context, tuple[str, str] | None]:
    """OFREP request body → Context, or (errorCode, details) for a 400."""
    if len(body) > MAX_REQUEST_BODY:
        return Context.from_mapping({}), (
            "INVALID_CONTEXT",
            f"request body exceeds {MAX_REQUEST_BODY} bytes",
        )
    if not body.strip():
        return Context.from_mapping({}), None
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return Context.from_mapping({}), ("PARSE_ERROR", f"request body is not valid JSON: {exc}")
    if not isinstance(raw, dict):
        return Context.from_mapping({}), ("PARSE_ERROR", "request body must be a JSON object")
    ctx_raw = raw.get("context", {})
    if ctx_raw is None:
        ctx_raw = {}
    if not isinstance(ctx_raw, dict):
        return Context.from_mapping({}), ("INVALID_CONTEXT", "context: must be a JSON object")
    context = Context.from_mapping(ctx_raw)
    if context.error is not None:
        return context, ("INVALID_CONTEXT", f"context: {context.error}")
    return context, None


def _success(key: str, detail: EvaluationDetail) -> dict[str, Any]:
    """OFREP success object. Engine reasons are OpenFeature reasons and pass through as they
    are (docs/sdk-guide.md, "OFREP mapping")."""
    out: dict[str, Any] = {
        "key": key,
        "reason": detail.reason,  # a str enum: orjson writes its value
        "metadata": dict(detail.flag_metadata),
    }
    # No variant: the flag served "the caller's default" (disabled with no off variation).
    # OFREP has no default in the request and no null variant, so both keys are left out and
    # the provider falls back to its own default (OFREP's optional value for code defaults).
    if detail.variant is None:
        return out
    out["variant"] = detail.variant
    # A json variation whose value is null has no OFREP value type: same code-default rule.
    if detail.value is not None:
        out["value"] = detail.value
    return out


def _failure(key: str, detail: EvaluationDetail) -> dict[str, Any]:
    code = detail.error_code.value if detail.error_code is not None else "GENERAL"
    return {
        "key": key,
        "errorCode": code,
        "errorDetails": detail.error_message or code,
        "metadata": dict(detail.flag_metadata),
    }


def _not_ready(client: FlagClient, key: str | None) -> HttpResponse:
    report = client.status()
    body: dict[str, Any] = {
        "errorCode": "PROVIDER_NOT_READY" if report.state is not ClientStatus.ERROR else "GENERAL",
        "errorDetails": report.reason or "flags not loaded yet",
    }
    if key is not None:
        body["key"] = key
    response = _json(503, body)
    response.headers["retry-after"] = "1"
    return response


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    candidates = (c.strip() for c in header.split(","))
    return any(c.removeprefix("W/") == etag for c in candidates)


def _auth_error(status: int, message: str) -> HttpResponse:
    response = _json(status, {"errorCode": "GENERAL", "errorDetails": message})
    if status == 401:
        response.headers["www-authenticate"] = 'Bearer realm="vexil"'
    return response


def _method_not_allowed(allowed: str) -> HttpResponse:
    response = _json(
        405, {"errorCode": "GENERAL", "errorDetails": f"method not allowed; use {allowed}"}
    )
    response.headers["allow"] = f"{allowed}, OPTIONS"
    return response


def _json(status: int, payload: Any) -> HttpResponse:
    return HttpResponse(status, {"content-type": _JSON}, orjson.dumps(payload))


class _Cors:
    """CORS answers from the configured origins: ``*`` for any, else the caller's origin
    echoed when listed (with ``Vary: Origin``: the edge's POSTs are never cached, but a
    shared cache in between must not hand one origin's answer to another)."""

    def __init__(self, origins: Iterable[str]) -> None:
        allowed = tuple(origins)
        self._any = "*" in allowed
        self._allowed = frozenset(allowed)
        self._common = {
            "access-control-allow-headers": "authorization, content-type, x-api-key, if-none-match",
            "access-control-allow-methods": "POST, GET, OPTIONS",
            "access-control-expose-headers": "etag",
        }
        self._wildcard = {"access-control-allow-origin": "*", **self._common}

    def headers(self, origin: str | None) -> dict[str, str]:
        """The CORS headers for a request from ``origin`` (none when it is not allowed)."""
        if self._any:
            return self._wildcard
        if not self._allowed:
            return {}
        if origin is not None and origin in self._allowed:
            return {"access-control-allow-origin": origin, "vary": "origin", **self._common}
        return {"vary": "origin"}
