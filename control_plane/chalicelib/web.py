"""HTTP glue between Chalice and the use cases: principal, body, errors, ETags, timing.

``register(app, authorizer)`` returns a decorator that registers a handler for a route of
:mod:`chalicelib.routes`, enforces the route's permission before the handler runs, parses
and validates the body against the route's schema, and maps domain errors to JSON
responses. Handlers stay one call into a use case (:mod:`chalicelib.usecases`).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from botocore.exceptions import BotoCoreError, ClientError
from chalice import Chalice, CORSConfig, Response  # type: ignore[attr-defined]

from chalicelib import approvals, observability
from chalicelib.errors import ApiError, Forbidden, ServiceUnavailable, Unauthorized
from chalicelib.rbac import ROLE_PERMS, Perm, Principal
from chalicelib.repository import DynamoRepository
from chalicelib.requests import etag, parse_body, reason
from chalicelib.routes import BY_KEY, RouteSpec
from chalicelib.timing import aws_seconds_and_reset
from chalicelib.usecases import projects
from chalicelib.usecases.base import Call, Ctx, NeedsApproval

_log = observability.api_logger

# Types Chalice hands to our handlers instead of answering its own 415 (so a wrong content
# type gets our error body). Anything else still gets Chalice's 415.
CONTENT_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded",
                 "application/xml", "text/html", "multipart/form-data"]

_CTX: list[Ctx] = []


def get_ctx() -> Ctx:
    """The process-wide use-case context (built on first use from VEXIL_TABLE: once per
    container)."""
    if not _CTX:
        _CTX.append(Ctx(DynamoRepository(os.environ["VEXIL_TABLE"])))
    return _CTX[0]


def set_ctx(ctx: Ctx | None) -> None:
    """Replace the process-wide context (tests inject a clock or a faulty repository)."""
    _CTX.clear()
    if ctx is not None:
        _CTX.append(ctx)


@dataclass
class Req:
    """What a handler gets: the caller, the validated body, headers and query."""

    principal: Principal
    body: dict[str, Any]
    headers: Mapping[str, str]
    query: Mapping[str, str]
    ctx: Ctx = field(repr=False)

    @property
    def call(self) -> Call:
        """Who and why, for the use case."""
        return Call(self.principal, reason(self.headers, self.body))


@dataclass
class Result:
    """A handler's answer when it is not a plain 200 JSON object."""

    body: Any
    status: int = 200
    version: int | None = None


ANONYMOUS = Principal("anonymous", "anonymous", "none", (), ())
# Routes without the token authorizer: public ones, and those that check an SDK key
# themselves (the insights ingest; a denied SDK key is not written to the denied log, which
# anyone could otherwise fill).
NO_TOKEN = (Perm.PUBLIC, Perm.SDK_KEY)


def principal_from_context(context: Mapping[str, Any]) -> Principal:
    """Rebuild the principal the authorizer put in the request context."""
    auth = context.get("authorizer") or {}
    if not auth.get("token_id"):
        raise Unauthorized("no authenticated principal")
    return Principal(
        token_id=str(auth["token_id"]), name=str(auth["name"]), role=str(auth["role"]),
        projects=tuple(orjson.loads(auth.get("projects", "[]"))),
        environments=tuple(orjson.loads(auth.get("environments", "[]"))),
    )


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None
                  ) -> Response:
    """A JSON response serialized with orjson (floats and unicode as stored)."""
    return Response(body=orjson.dumps(body).decode("utf-8"), status_code=status,
                    headers={"Content-Type": "application/json", **(headers or {})})


def error_response(exc: ApiError) -> Response:
    """The JSON error body for a domain error (503s also carry ``Retry-After``)."""
    headers = ({"Retry-After": str(exc.retry_after_seconds)}
               if isinstance(exc, ServiceUnavailable) else {})
    return json_response(exc.body(), exc.status, headers)


def _storage_error(exc: BotoCoreError | ClientError) -> ServiceUnavailable:
    """An AWS failure that outlasted botocore's and our retries. Every write is one
    transaction, so nothing was half-written: the client may simply retry."""
    # The AWS error code goes to the log, not the body: it describes our internals.
    code = exc.response["Error"].get("Code", "") if isinstance(exc, ClientError) else type(exc)
    _log.warning("storage unavailable past retries", code=str(code))
    return ServiceUnavailable("storage is unavailable; nothing was written, retry later")


def _to_response(value: Any, spec: RouteSpec) -> Response:
    if isinstance(value, Response):
        return value
    if isinstance(value, Result):
        headers = {"ETag": etag(value.version)} if value.version is not None else {}
        return json_response(value.body, value.status, headers)
    headers = {}
    if isinstance(value, dict) and isinstance(value.get("version"), int):
        headers["ETag"] = etag(value["version"])
    return json_response(value, spec.status, headers)


def _denied_environment(spec: RouteSpec, params: Mapping[str, str], body: Mapping[str, Any]
                        ) -> tuple[str, str] | None:
    project = params.get("project")
    env = params.get("env") or (body.get("to") if isinstance(body.get("to"), str) else None)
    if spec.perm in (Perm.READ, Perm.AUDIT, Perm.SELF, *NO_TOKEN) or not project or not env:
        return None
    return project, str(env)


# Headers the web console sends and reads across origins (docs/console.md).
CORS_REQUEST_HEADERS = ["Authorization", "Content-Type", "If-Match", "X-Vexil-Reason"]
CORS_EXPOSED_HEADERS = ["ETag", "Location", "X-Request-Id"]


def cors_config() -> CORSConfig | None:
    """CORS for the web console's origin only (``$VEXIL_CONSOLE_ORIGIN``), or none at all.

    One exact origin, never ``*``: a page elsewhere must not drive the API with a token it
    tricked out of a user. Read at import, as the API Gateway OPTIONS methods are generated
    from it when packaging.
    """
    origin = os.environ.get("VEXIL_CONSOLE_ORIGIN", "").strip()
    if not origin:
        return None
    return CORSConfig(allow_origin=origin, allow_headers=CORS_REQUEST_HEADERS,
                      expose_headers=CORS_EXPOSED_HEADERS, max_age=600)


def register(app: Chalice, authorizer: Any) -> Callable[[str, str], Callable[..., Any]]:
    """Return ``route(path, method)``: a decorator registering a handler for that route."""

    cors = cors_config()

    def route(path: str, method: str) -> Callable[..., Any]:
        spec = BY_KEY[(path, method)]

        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(fn)
            def view(**params: str) -> Response:
                started = time.perf_counter()
                authorizer_aws = aws_seconds_and_reset()  # the token lookup, same thread
                response = _handle(app, spec, fn, params)
                response.headers["Server-Timing"] = _server_timing(started, authorizer_aws)
                _log_request(app, spec, params, response, started)
                return response

            app.route(path, methods=[method], content_types=CONTENT_TYPES, cors=cors,
                      authorizer=None if spec.perm in NO_TOKEN else authorizer)(view)
            return fn

        return decorate

    return route


def _handle(app: Chalice, spec: RouteSpec, fn: Callable[..., Any], params: dict[str, str]
            ) -> Response:
    request = app.current_request
    assert request is not None  # Chalice sets it before calling a view
    headers = request.headers
    body: dict[str, Any] = {}
    try:
        principal = (ANONYMOUS if spec.perm in NO_TOKEN
                     else principal_from_context(request.context))
        ctx = get_ctx()
        if spec.perm not in NO_TOKEN:
            _route_permission(principal, spec, params)
        if spec.request:
            raw = request.raw_body
            body = parse_body(raw.encode() if isinstance(raw, str) else raw,
                              headers.get("content-type"), spec.request, spec.max_body)
        req = Req(principal, body, headers, request.query_params or {}, ctx)
        try:
            return _to_response(fn(req, **params), spec)
        except NeedsApproval as need:
            change_request = approvals.file(ctx, req.call, need)
            return json_response({"change_request": change_request}, 202,
                                 {"Location": _cr_location(change_request)})
    except Forbidden as exc:
        # request.path only: a query string may carry a secret pasted by mistake.
        project, env = _denied_environment(spec, params, body) or (params.get("project"), None)
        projects.record_denied(get_ctx(), principal, project, env,
                               f"denied:{spec.operation_id}", request.path)
        return error_response(exc)
    except ApiError as exc:
        return error_response(exc)
    except (BotoCoreError, ClientError) as exc:
        return error_response(_storage_error(exc))


def _principal_fields(context: Mapping[str, Any]) -> dict[str, str] | None:
    """Who called, for the log: token id, name and role (the authorizer never puts the
    token's secret in the context, so none can reach the log from here)."""
    auth = context.get("authorizer") or {}
    if not auth.get("token_id"):
        return None
    return {"token_id": str(auth["token_id"]), "name": str(auth.get("name", "")),
            "role": str(auth.get("role", ""))}


def _log_request(app: Chalice, spec: RouteSpec, params: Mapping[str, str], response: Response,
                 started: float) -> None:
    request = app.current_request
    assert request is not None  # Chalice sets it before calling a view
    context = request.context or {}
    rid = observability.request_id(context)
    response.headers["X-Request-Id"] = rid
    observability.log_request(
        request_id=rid, operation=spec.operation_id, method=request.method,
        route=spec.path, params=params, status=response.status_code,
        duration_ms=(time.perf_counter() - started) * 1000,
        principal=_principal_fields(context))


def _route_permission(principal: Principal, spec: RouteSpec, params: Mapping[str, str]) -> None:
    """The route-level check; handlers add checks that depend on the body or query."""
    if spec.perm is Perm.AUDIT:
        # The chain's scope comes from the query/body (the handler checks it); here the role.
        if Perm.AUDIT not in ROLE_PERMS.get(principal.role, frozenset()):
            raise Forbidden(f"role {principal.role!r} may not read or verify the audit log")
        return
    principal.require(spec.perm, params.get("project"), params.get("env"),
                      all_environments=spec.all_environments)


def _cr_location(cr: Mapping[str, Any]) -> str:
    return (f"/v1/projects/{cr['project']}/environments/{cr['environment']}/change-requests/"
            f"{cr['id']}")


def _server_timing(started: float, authorizer_aws: float) -> str:
    """``handler`` = view time; ``aws`` = its share inside boto3 calls; ``authz`` = the
    authorizer's token lookup (before the view, so not part of ``handler``)."""
    total = time.perf_counter() - started
    aws = aws_seconds_and_reset()
    return (f"handler;dur={total * 1000:.2f}, aws;dur={aws * 1000:.2f}, "
            f"authz;dur={authorizer_aws * 1000:.2f}")
