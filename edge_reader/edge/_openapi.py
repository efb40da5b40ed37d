"""The edge's OpenAPI 3.1 document, served at ``GET /ofrep/v1/openapi.json``.

It restates the OFREP core contract (open-feature/protocol ``service/openapi.yaml``) for
what this edge actually answers, and declares what OFREP leaves open:

* ``reason`` is an OpenFeature reason string; the edge sends ``STATIC``, ``DEFAULT``,
  ``TARGETING_MATCH``, ``SPLIT`` or ``DISABLED`` (docs/sdk-guide.md, "OFREP mapping");
* ``variant`` and ``value`` are omitted when the flag served "the caller's default" (a
  disabled flag with no off variation; a ``json`` flag whose value is ``null``): OFREP's
  optional value for code defaults — never ``"variant": null``;
* a ``json`` flag's value is a JSON object, or an array (an extension: OpenFeature's object
  type is any JSON structure; OFREP's ``objectFlag`` names only objects);
* ``503`` with ``Retry-After`` (seconds) while an environment has no bundle loaded yet;
* ``405`` (JSON, with ``Allow``) for any method a path does not take;
* ``401``/``403`` carry a JSON body.

Tests validate every response shape against the schemas here (``RESPONSE_SCHEMAS``).
"""

from __future__ import annotations

from typing import Any

REASONS = ("STATIC", "DEFAULT", "TARGETING_MATCH", "SPLIT", "DISABLED")
"""Every reason a success response can carry (the engine's exits for a found flag)."""

_REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _json_body(schema: str, description: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": _ref(schema)}},
        **extra,
    }


_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before asking again.",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}
_ETAG = {"ETag": {"description": "Entity tag of this bulk answer.", "schema": {"type": "string"}}}
_AUTH_ERRORS = {
    "401": _json_body("generalError", "No credentials, or a malformed client SDK key."),
    "403": _json_body("generalError", "An SDK key this edge does not serve."),
}
_COMMON_ERRORS = {
    "405": _json_body("generalError", "Method not allowed here (see the Allow header)."),
    "500": _json_body("generalError", "Internal error (or a misconfigured edge)."),
    "503": _json_body(
        "notReady", "No bundle loaded yet for this environment.", headers=_RETRY_AFTER
    ),
}

SCHEMAS: dict[str, Any] = {
    "context": {"type": "object", "description": "Evaluation context (targetingKey + attributes)."},
    "evaluationRequest": {
        "type": "object",
        "properties": {"context": _ref("context")},
    },
    "metadata": {
        "type": "object",
        "additionalProperties": {"type": ["boolean", "string", "number"]},
    },
    "evaluationSuccess": {
        "type": "object",
        "required": ["key", "reason"],
        "properties": {
            "key": {"type": "string"},
            "reason": {"type": "string", "enum": list(REASONS)},
            "variant": {"type": "string"},
            # OFREP's value types (boolean, string, integer, float, object) plus arrays.
            "value": {"type": ["boolean", "string", "number", "object", "array"]},
            "metadata": _ref("metadata"),
        },
        # A value always comes with its variant; "the caller's default" omits both.
        "dependentRequired": {"value": ["variant"]},
        "additionalProperties": False,
    },
    "evaluationFailure": {
        "type": "object",
        "required": ["key", "errorCode"],
        "properties": {
            "key": {"type": "string"},
            "errorCode": {
                "type": "string",
                "enum": ["PARSE_ERROR", "TARGETING_KEY_MISSING", "INVALID_CONTEXT",
                         "TYPE_MISMATCH", "GENERAL"],
            },
            "errorDetails": {"type": "string"},
            "metadata": _ref("metadata"),
        },
        "additionalProperties": False,
    },
    "flagNotFound": {
        "type": "object",
        "required": ["key", "errorCode"],
        "properties": {
            "key": {"type": "string"},
            "errorCode": {"const": "FLAG_NOT_FOUND"},
            "errorDetails": {"type": "string"},
        },
        "additionalProperties": False,
    },
    "bulkEvaluationSuccess": {
        "type": "object",
        "required": ["flags"],
        "properties": {
            "flags": {
                "type": "array",
                "items": {"oneOf": [_ref("evaluationSuccess"), _ref("evaluationFailure")]},
            },
            "metadata": {
                "type": "object",
                "properties": {"revision": {"type": "integer", "minimum": 0}},
            },
        },
    },
    "bulkEvaluationFailure": {
        "type": "object",
        "required": ["errorCode"],
        "properties": {
            "errorCode": {"type": "string", "enum": ["PARSE_ERROR", "INVALID_CONTEXT"]},
            "errorDetails": {"type": "string"},
        },
        "additionalProperties": False,
    },
    "generalError": {
        "type": "object",
        "required": ["errorDetails"],
        "properties": {
            "errorCode": {"type": "string"},
            "errorDetails": {"type": "string"},
        },
        "additionalProperties": False,
    },
    "notReady": {
        "type": "object",
        "required": ["errorCode", "errorDetails"],
        "properties": {
            "key": {"type": "string"},
            "errorCode": {"enum": ["PROVIDER_NOT_READY", "GENERAL"]},
            "errorDetails": {"type": "string"},
        },
        "additionalProperties": False,
    },
    "configuration": {
        "type": "object",
        "required": ["name", "capabilities"],
        "properties": {
            "name": {"type": "string"},
            "capabilities": {
                "type": "object",
                "properties": {
                    "cacheInvalidation": {
                        "type": "object",
                        "properties": {
                            "polling": {
                                "type": "object",
                                "properties": {
                                    "enabled": {"type": "boolean"},
                                    "minPollingIntervalMs": {"type": "number"},
                                },
                            }
                        },
                    },
                    "flagEvaluation": {
                        "type": "object",
                        "properties": {
                            "supportedTypes": {
                                "type": "array",
                                "items": {"enum": ["int", "float", "string", "boolean",
                                                   "object"]},
                            }
                        },
                    },
                },
            },
        },
    },
}


def _single() -> dict[str, Any]:
    return {
        "post": {
            "summary": "Evaluate one client-visible flag",
            "parameters": [
                {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "requestBody": {
                "content": {"application/json": {"schema": _ref("evaluationRequest")}}
            },
            "responses": {
                "200": _json_body("evaluationSuccess", "The flag's value, variant and reason."),
                "400": _json_body("evaluationFailure", "Bad request body or context."),
                "404": _json_body("flagNotFound", "No such client-visible flag."),
                "413": _json_body("generalError", "Request body over 64 KiB."),
                **_AUTH_ERRORS,
                **_COMMON_ERRORS,
            },
        }
    }


def _bulk() -> dict[str, Any]:
    return {
        "post": {
            "summary": "Evaluate every client-visible flag",
            "parameters": [
                {"name": "If-None-Match", "in": "header", "required": False,
                 "schema": {"type": "string"}}
            ],
            "requestBody": {
                "content": {"application/json": {"schema": _ref("evaluationRequest")}}
            },
            "responses": {
                "200": _json_body("bulkEvaluationSuccess", "Every flag.", headers=_ETAG),
                "304": {"description": "Unchanged since the ETag sent.", "headers": _ETAG},
                "400": _json_body("bulkEvaluationFailure", "Bad request body or context."),
                "413": _json_body("generalError", "Request body over 64 KiB."),
                **_AUTH_ERRORS,
                **_COMMON_ERRORS,
            },
        }
    }


def openapi_document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document (a fresh dict each call: callers may not share it)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Vexil OFREP edge",
            "version": "1",
            "description": __doc__,
        },
        "security": [{"BearerAuth": []}, {"ApiKeyAuth": []}],
        "paths": {
            "/ofrep/v1/evaluate/flags/{key}": _single(),
            "/ofrep/v1/evaluate/flags": _bulk(),
            "/ofrep/v1/configuration": {
                "get": {
                    "summary": "Provider configuration (polling hints, supported types)",
                    "responses": {
                        "200": _json_body("configuration", "The edge's capabilities."),
                        **_AUTH_ERRORS,
                        **_COMMON_ERRORS,
                    },
                }
            },
            "/ofrep/v1/openapi.json": {
                "get": {
                    "summary": "This document (no credentials needed)",
                    "security": [],
                    "responses": {"200": {"description": "OpenAPI 3.1 JSON."}},
                }
            },
        },
        "components": {
            "securitySchemes": {
                "BearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "A client SDK key (vxl_cli_…)."},
                "ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
            "schemas": SCHEMAS,
        },
    }
