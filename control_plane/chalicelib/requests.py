"""Turning HTTP request parts into validated Python values (or a 4xx naming the field)."""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Mapping
from typing import Any

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from chalicelib.errors import (
    BadRequest,
    Detail,
    PayloadTooLarge,
    PreconditionRequired,
    UnsupportedMediaType,
)
from chalicelib.schemas import OPERATIONS, REQUESTS, Schema
from edge_reader.engine.keys import KEY_RULE, is_key
from edge_reader.engine.limits import BODY_DEPTH_MARGIN, MAX_JSON_DEPTH, too_deep

MAX_BODY_BYTES = 256 * 1024
MAX_BODY_DEPTH = MAX_JSON_DEPTH + BODY_DEPTH_MARGIN
MAX_LIMIT = 200
DEFAULT_LIMIT = 50
_ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,15})"?\s*$')
_LIMIT = re.compile(r"[0-9]{1,4}", re.ASCII)
# Bounded too: int() refuses more than 4300 digits with a ValueError (a 500 if unchecked).
_LIMIT_DIGITS = re.compile(r"[0-9]{1,15}", re.ASCII)
# A cursor holds "c1:" + a sort key (keys are at most a few hundred characters).
_CURSOR = re.compile(r"[A-Za-z0-9_-]{1,2048}", re.ASCII)


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.$-]+")


def json_path(parts: Any) -> str:
    """``["rules", 2, "clauses"]`` → ``rules[2].clauses`` (the form every error uses)."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _PLAIN_KEY.fullmatch(str(part)):
            # An empty or odd key ("", "a b", "x[0]") is quoted so the path still names it.
            out += f"[{orjson.dumps(str(part)).decode()}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _child(path: str, key: str) -> str:
    """``path`` extended by one object key, quoted the way :func:`json_path` quotes it."""
    tail = json_path([key])
    if not path:
        return tail
    return path + tail if tail.startswith("[") else f"{path}.{tail}"


@functools.cache
def _validator(name: str) -> Draft202012Validator:
    schema: Schema = REQUESTS[name] if name in REQUESTS else OPERATIONS[name]
    return Draft202012Validator(schema)


def _details(errors: list[ValidationError], prefix: str = "") -> list[Detail]:
    out: list[Detail] = []
    for err in sorted(errors, key=lambda e: list(map(str, e.absolute_path))):
        path = json_path([*([prefix] if prefix else []), *err.absolute_path])
        if err.validator == "additionalProperties":
            schema = err.schema if isinstance(err.schema, dict) else {}
            allowed = set(schema.get("properties", {}))
            instance = err.instance if isinstance(err.instance, dict) else {}
            for extra in sorted(set(instance) - allowed):
                out.append(Detail(_child(path, extra), "unknown field"))
            continue
        if err.validator == "required":
            missing = err.message.split("'")[1] if "'" in err.message else err.message
            out.append(Detail(_child(path, missing), "is required"))
            continue
        out.append(Detail(path or "$", err.message))
    return out


def validate(name: str, value: Any, prefix: str = "") -> None:
    """Raise :class:`BadRequest` listing every violation of request schema ``name``."""
    found = problems(name, value, prefix)
    if found:
        raise BadRequest("request body is invalid", found)


def problems(name: str, value: Any, prefix: str = "") -> list[Detail]:
    """Every violation of request schema ``name``, paths under ``prefix`` (none: valid)."""
    validator = _validator(name)
    if validator.is_valid(value):  # the fast path: no error objects built
        return []
    return _details(list(validator.iter_errors(value)), prefix)


def validate_operation(op: Any, prefix: str = "operation") -> dict[str, Any]:
    """Validate a change-request operation against the schema of its ``type``."""
    validate("ChangeRequestCreate", {"operation": op})
    assert isinstance(op, dict)
    validate(str(op["type"]), op, prefix)
    return op


def parse_body(raw: bytes | None, content_type: str | None, schema: str,
               max_bytes: int | None = None) -> dict[str, Any]:
    """Decode and validate a JSON object body.

    413 over ``max_bytes`` (default 256 KB), 415 unless ``application/json``, 400 for
    malformed JSON, a non-object, unknown fields or wrong types (every problem listed with its
    path).
    """
    raw = raw or b""
    limit = max_bytes or MAX_BODY_BYTES
    if len(raw) > limit:
        raise PayloadTooLarge(f"request body is {len(raw)} bytes; the limit is {limit}")
    media = (content_type or "").split(";")[0].strip().lower()
    if raw.strip() == b"" and schema in ("Reason",):
        return {}
    if media != "application/json":
        raise UnsupportedMediaType("request body must be application/json")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest("request body is not valid JSON", [Detail("$", str(exc))]) from exc
    if not isinstance(value, dict):
        raise BadRequest("request body must be a JSON object", [Detail("$", "not an object")])
    deep = too_deep(value, MAX_BODY_DEPTH)
    if deep is not None:
        # Before the schema and the service: orjson refuses to write past 254 levels, so an
        # unchecked deep value would fail later, in canonicalisation, as a 500.
        raise BadRequest("request body nests too deeply",
                         [Detail(json_path(deep), f"nested deeper than {MAX_BODY_DEPTH} levels")])
    validate(schema, value)
    return value


def if_match(headers: Mapping[str, str]) -> int:
    """The version named by ``If-Match`` (``"7"``, ``W/"7"`` or ``7``); 428 when absent."""
    value = headers.get("if-match")
    if value is None:
        raise PreconditionRequired("this write needs an If-Match header with the current ETag")
    m = _ETAG.match(value)
    if not m:
        raise BadRequest("invalid If-Match", [Detail("If-Match", 'expected an ETag like "7"')])
    return int(m.group(1))


def etag(version: int) -> str:
    """The ETag header value for a version."""
    return f'"{version}"'


def reason(headers: Mapping[str, str], body: Mapping[str, Any] | None = None) -> str | None:
    """Audit reason: the body's ``reason`` field, else the ``X-Vexil-Reason`` header."""
    if body and isinstance(body.get("reason"), str):
        return str(body["reason"])
    value = headers.get("x-vexil-reason")
    return value[:1000] if value else None


def page_params(query: Mapping[str, str] | None) -> tuple[int, str | None]:
    """(limit, cursor) from query parameters; 400 naming the parameter when invalid."""
    query = query or {}
    raw_limit = query.get("limit")
    limit = DEFAULT_LIMIT
    if raw_limit is not None:
        # ASCII digits only: str.isdigit() is also true for "²" or "٣", which int() refuses
        # or reads as a number the caller did not write.
        if not _LIMIT.fullmatch(raw_limit) or not 1 <= int(raw_limit) <= MAX_LIMIT:
            raise BadRequest("invalid query", [Detail("limit", f"an integer 1..{MAX_LIMIT}")])
        limit = int(raw_limit)
    cursor = query.get("cursor")
    return limit, decode_cursor(cursor) if cursor else None


def encode_cursor(sk: str | None) -> str | None:
    """Opaque cursor for the next page (base64url of the last sort key)."""
    if sk is None:
        return None
    return base64.urlsafe_b64encode(("c1:" + sk).encode("utf-8")).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> str:
    """Inverse of :func:`encode_cursor`; 400 naming ``cursor`` when garbled."""
    if not _CURSOR.fullmatch(cursor):
        # Only what encode_cursor writes (base64url, bounded): nothing else reaches a decoder.
        raise BadRequest("invalid query", [Detail("cursor", "not a cursor from this API")])
    try:
        pad = "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(cursor + pad).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        text = ""
    if not text.startswith("c1:") or len(text) < 4:
        raise BadRequest("invalid query", [Detail("cursor", "not a cursor from this API")])
    return text[3:]


def key_param(name: str, value: str | None) -> str:
    """A key from the URL or query, checked against the key pattern."""
    if value is None or not is_key(value):
        raise BadRequest("invalid key", [Detail(name, f"must match {KEY_RULE}")])
    return value


def version_param(name: str, value: str) -> int:
    """A positive version number from the URL (ASCII digits only); 400 naming ``name``."""
    if not _LIMIT_DIGITS.fullmatch(value) or int(value) < 1:
        raise BadRequest("invalid version", [Detail(name, "a positive integer")])
    return int(value)
