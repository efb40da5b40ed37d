"""The OpenAPI 3.1 document, generated from the route table and the request schemas.

``GET /v1/openapi.json`` serves it and ``docs/openapi.json`` is written from it
(``python -m chalicelib.openapi > ../docs/openapi.json``), so docs and app cannot drift.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from chalicelib.rbac import Perm
from chalicelib.routes import ROUTES, RouteSpec
from chalicelib.schemas import KEY_PATTERN, OPERATIONS, REQUESTS

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"path": {"type": "string"}, "message": {"type": "string"}},
                    },
                },
            },
        },
        "current_version": {"type": "integer", "description": "412 only"},
    },
}

_ERRORS = {
    "400": "Invalid request: every problem listed with its path",
    "401": "Missing, invalid, revoked or expired token",
    "403": "The token's role or scope does not allow this",
    "404": "Not found",
    "409": "Conflict (exists already, or state does not allow it)",
    "412": "If-Match is not the current version (body has current_version)",
    "413": "Body over 256 KB",
    "415": "Body is not application/json",
    "428": "If-Match is required",
}


def _operation(spec: RouteSpec) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True,
         "schema": {"type": "string"}
         if name in ("cr_id", "key_id", "token_id", "version", "changeset_id")
         else {"type": "string", "pattern": KEY_PATTERN}}
        for name in re.findall(r"{(\w+)}", spec.path)
    ]
    params += [{"name": q, "in": "query", "required": False, "schema": {"type": "string"}}
               for q in spec.query]
    if spec.if_match:
        params.append({"name": "If-Match", "in": "header", "required": True,
                       "schema": {"type": "string"}, "description": 'current ETag, e.g. "3"'})
    if spec.perm not in (Perm.PUBLIC, Perm.SDK_KEY) and spec.method != "GET":
        params.append({"name": "X-Vexil-Reason", "in": "header", "required": False,
                       "schema": {"type": "string"}, "description": "reason recorded in audit"})
    ok = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
    responses: dict[str, Any] = {str(spec.status): ok}
    if spec.protected:
        responses["202"] = {"description": "Protected environment: a change request was filed",
                            "content": {"application/json": {"schema": {"type": "object"}}}}
    err = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    codes = ["400", "404"] if spec.perm is Perm.PUBLIC else ["400", "401", "403", "404"]
    if spec.request:
        codes += ["409", "413", "415"]
    if spec.if_match:
        codes += ["412", "428"]
    if spec.item_versions:
        codes += ["412"]
    for code in codes:
        responses[code] = {"description": _ERRORS[code], **err}
    if spec.item_versions:
        responses["412"]["description"] = (
            "Some items are not at their base_version: `conflicts` lists every one "
            "(index, kind, key, base_version, current_version); nothing was written")
    if spec.max_body:
        responses["413"]["description"] = f"Body over {spec.max_body // (1024 * 1024)} MB"
    op: dict[str, Any] = {
        "operationId": spec.operation_id,
        "summary": spec.summary,
        "tags": [spec.tag],
        "parameters": params,
        "responses": responses,
        "x-vexil-permission": str(spec.perm),
    }
    if spec.perm is Perm.PUBLIC:
        op["security"] = []
    elif spec.perm is Perm.SDK_KEY:
        op["security"] = [{"sdkKey": []}]
    if spec.request:
        op["requestBody"] = {
            "required": spec.request != "Reason",
            "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{spec.request}"}}},
        }
    return op


def document() -> dict[str, Any]:
    """The OpenAPI document for every route of the app."""
    paths: dict[str, dict[str, Any]] = {}
    for spec in ROUTES:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec)
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA, **REQUESTS}
    schemas.update({f"Operation_{k.replace('.', '_')}": v for k, v in OPERATIONS.items()})
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Vexil control plane",
            "version": "1",
            "description": "Feature flags and configuration. Writes need If-Match with the "
            "resource's ETag; a write to a protected environment answers 202 with a change "
            "request. Errors: {\"error\": {code, message, details[{path, message}]}}.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "vxl_tok_… API token"},
                                "sdkKey": {"type": "http", "scheme": "bearer",
                                           "description": "vxl_srv_…/vxl_cli_… SDK key of "
                                           "the environment the body names (insights)"}},
            "schemas": schemas,
        },
        "paths": paths,
    }


def main() -> None:
    """Print the document (``python -m chalicelib.openapi > docs/openapi.json``)."""
    sys.stdout.write(json.dumps(document(), indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()

