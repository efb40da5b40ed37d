"""Canonical encoding of bundle documents (the plaintext inside an envelope).

Canonical means: orjson with sorted keys and no whitespace, so identical state gives
byte-identical output (and therefore the same sha256 and object key).
"""

from __future__ import annotations

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
    """Parse bundle plaintext into a dict; raise :class:`BundleFormatError` otherwise."""
    try:
        with paused_gc():  # a large document is many long-lived objects and no cycles
            value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BundleFormatError(f"document: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise BundleFormatError(
            f"document: expected a JSON object, got {type(value).__name__}"
        )
    return value
