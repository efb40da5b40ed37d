"""AWS Lambda entry point for the OFREP edge: ``edge_reader.edge.lambda_handler.handler``.

One handler for the three ways AWS invokes it:

* API Gateway HTTP API (payload format 2.0) and REST API (1.0);
* Application Load Balancer target;
* Lambda@Edge (CloudFront ``origin-request``/``viewer-request`` with "include body").

The app and its FlagClients are built once per container (first invoke) in **Lambda mode**:
no background threads (Lambda freezes them between invokes); a client refreshes on use when
its bundle is older than ``lambda_ttl``, within ``lambda_timeout`` seconds, and otherwise
serves what it holds.

Config: the JSON text of ``VEXIL_EDGE_CONFIG_JSON`` (what infra/edge.tf sets: the bucket,
the environments and their client keys, CORS origins, signing keys), else the file named by
``VEXIL_EDGE_CONFIG``, else ``vexil-edge.json`` in the function's root (Lambda@Edge has no
environment variables, so ship the file in the package).

``VEXIL_EDGE_ORIGIN_SECRET``, when set, must arrive as the ``x-vexil-origin-verify`` header
(CloudFront adds it as a custom origin header): the HTTP API endpoint is public, and this keeps
callers from going around the distribution's WAF and rate limits. Requests without it get
a JSON 403.
"""

from __future__ import annotations

import base64
import hmac
import os
import threading
from collections.abc import Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any

import orjson

from edge_reader.edge._app import HttpResponse, OfrepApp
from edge_reader.edge._config import ConfigError, EdgeConfig, load_config, parse_config
from edge_reader.edge._factory import build_app

ORIGIN_HEADER = "x-vexil-origin-verify"
_APP: OfrepApp | None = None
_APP_LOCK = threading.Lock()


def config_path() -> Path:
    """Where the config is read from (see module docstring)."""
    explicit = os.environ.get("VEXIL_EDGE_CONFIG")
    if explicit:
        return Path(explicit)
    root = os.environ.get("LAMBDA_TASK_ROOT") or str(Path(__file__).resolve().parents[2])
    return Path(root) / "vexil-edge.json"


def get_app() -> OfrepApp:
    """The container's app, built on first use (raises ConfigError if misconfigured)."""
    global _APP  # noqa: PLW0603 - one app per container, like a boto3 client
    with _APP_LOCK:
        if _APP is None:
            inline = os.environ.get("VEXIL_EDGE_CONFIG_JSON")
            config = (
                _inline_config(inline) if inline else load_config(config_path())
            )
            _APP = build_app(config, mode="lambda")
        return _APP


def _inline_config(text: str) -> EdgeConfig:
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"VEXIL_EDGE_CONFIG_JSON: not valid JSON ({exc})") from None
    return parse_config(raw)


def reset_app() -> None:
    """Forget the container's app (tests; a config change)."""
    global _APP  # noqa: PLW0603
    with _APP_LOCK:
        if _APP is not None:
            _APP.close()
        _APP = None


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """Translate the event, let the app answer, translate the response back."""
    if "Records" in event and event["Records"] and "cf" in event["Records"][0]:
        return _edge(event)
    method, path, headers, body = _http_request(event)
    response = _answer(method, path, headers, body)
    out: dict[str, Any] = {
        "statusCode": response.status,
        "headers": response.headers,
        "body": response.body.decode("utf-8"),
        "isBase64Encoded": False,
    }
    if "requestContext" in event and "elb" in event["requestContext"]:
        out["statusDescription"] = _status_line(response.status)
    return out


def _answer(method: str, path: str, headers: Mapping[str, str], body: bytes) -> HttpResponse:
    secret = os.environ.get("VEXIL_EDGE_ORIGIN_SECRET")
    # Constant-time: the header value is the secret itself.
    if secret and not hmac.compare_digest(
        headers.get(ORIGIN_HEADER, "").encode(), secret.encode()
    ):
        payload = {"errorCode": "GENERAL", "errorDetails": "requests must come through the CDN"}
        return HttpResponse(403, {"content-type": "application/json"}, orjson.dumps(payload))
    try:
        app = get_app()
    except ConfigError as exc:
        payload = {"errorCode": "GENERAL", "errorDetails": f"edge misconfigured: {exc}"}
        return HttpResponse(500, {"content-type": "application/json"}, orjson.dumps(payload))
    response = app.handle(method, path, headers, body)
    app.flush_insights()  # the end of the invocation: sends at most once per interval
    return response


def _http_request(event: Mapping[str, Any]) -> tuple[str, str, dict[str, str], bytes]:
    """API Gateway v1/v2 and ALB events → (method, path, lower-cased headers, body)."""
    ctx = event.get("requestContext") or {}
    http = ctx.get("http") if isinstance(ctx, Mapping) else None
    if isinstance(http, Mapping):  # API Gateway HTTP API, payload 2.0
        method = str(http.get("method", "GET"))
        path = str(event.get("rawPath") or http.get("path") or "/")
    else:  # REST API 1.0 and ALB
        method = str(event.get("httpMethod", "GET"))
        path = str(event.get("path") or "/")
    headers: dict[str, str] = {}
    multi = event.get("multiValueHeaders")
    if isinstance(multi, Mapping):
        for name, values in multi.items():
            if values:
                headers[str(name).lower()] = str(values[-1])
    raw_headers = event.get("headers")
    if isinstance(raw_headers, Mapping):
        for name, value in raw_headers.items():
            if value is not None:
                headers[str(name).lower()] = str(value)
    raw_body = event.get("body") or ""
    body = (
        base64.b64decode(raw_body)
        if event.get("isBase64Encoded")
        else str(raw_body).encode("utf-8")
    )
    return method, path, headers, body


def _edge(event: Mapping[str, Any]) -> dict[str, Any]:
    """Lambda@Edge: answer the CloudFront request directly (a generated response)."""
    request = event["Records"][0]["cf"]["request"]
    headers = {
        name.lower(): entries[0]["value"]
        for name, entries in (request.get("headers") or {}).items()
        if entries
    }
    body_info = request.get("body") or {}
    data = body_info.get("data") or ""
    body = (
        base64.b64decode(data)
        if body_info.get("encoding") == "base64"
        else str(data).encode("utf-8")
    )
    if body_info.get("inputTruncated"):
        response = HttpResponse(
            413,
            {"content-type": "application/json"},
            b'{"errorCode":"GENERAL","errorDetails":"request body too large"}',
        )
    else:
        response = _answer(
            str(request.get("method", "GET")), str(request.get("uri", "/")), headers, body
        )
    return {
        "status": str(response.status),
        "statusDescription": HTTPStatus(response.status).phrase,
        "headers": {
            name.lower(): [{"key": name, "value": value}]
            for name, value in response.headers.items()
        },
        "body": response.body.decode("utf-8"),
        "bodyEncoding": "text",
    }


def _status_line(status: int) -> str:
    return f"{status} {HTTPStatus(status).phrase}"
