"""Canonical encoding of bundle documents (the plaintext inside an envelope).

Canonical means: orjson with sorted keys and no whitespace, so identical state gives
byte-identical output (and therefore the same sha256 and object key).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import orjson

from edge_reader.bundle.errors import BundleFormatError
from edge_reader.engine._gc import paused_gc

_ENCODE_OPTIONS = orjson.OPT_SORT_KEYS


def encode_bundle_document(doc: Mapping[str, Any]) -> bytes:
    """Return the canonical JSON bytes of ``doc`` (sorted keys, compact).

    Raises :class:`BundleFormatError` when ``doc`` holds something JSON cannot carry
    (non-string keys, ``Decimal``, NaN...), so a bad document never reaches S3.
    """
    if not isinstance(doc, Mapping):
        raise BundleFormatError(f"document: expected a mapping, got {type(doc).__name__}")
    try:
        return orjson.dumps(dict(doc), option=_ENCODE_OPTIONS)
    except (orjson.JSONEncodeError, TypeError) as exc:
        raise BundleFormatError(f"document: not encodable as JSON ({exc})") from None


def decode_bundle_document(data: bytes) -> dict[str, Any]:
    """Parse bundle plaintext into a dict; raise :class:`BundleFormatError` otherwise.

    Accepts exactly what orjson accepts (strict UTF-8, no BOM, no NaN/Infinity, no number
    out of float range, no lone surrogate), but parses with the standard library: orjson
    keeps the last 2048 object keys it parsed in a process-wide cache, and those few
    strings, spread through the whole document, would keep every pymalloc arena of it
    resident after the document is dropped (measured on 10,000 flags: 17 MB held for good,
    against 1.4 MB with ``json``; ``json`` takes 20 ms instead of 13 ms for those 3 MB).
    """
    try:
        text = data if isinstance(data, str) else str(data, "utf-8")  # strict UTF-8
        with paused_gc():  # a large document is many long-lived objects and no cycles
            value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
        if _SURROGATE_ESCAPE.search(text) is not None:
            # json.loads lets an escaped lone surrogate through; orjson refuses to encode one
            # (and needs no key cache to encode), so this rare check costs a re-encode only.
            orjson.dumps(value)
    except (ValueError, RecursionError, orjson.JSONEncodeError) as exc:
        # ValueError covers JSONDecodeError, UnicodeDecodeError and the two hooks below.
        raise BundleFormatError(f"document: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise BundleFormatError(
            f"document: expected a JSON object, got {type(value).__name__}"
        )
    return value


# `\uD800`-`\uDFFF` escapes: only these can make json.loads return a lone surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text} is out of range")
    return value
