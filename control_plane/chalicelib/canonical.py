"""Canonical JSON and time formatting shared by storage, audit and approvals."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

Clock = Callable[[], float]
"""Seconds since the epoch; injected so tests control time (token expiry, timestamps)."""


def canonical(value: Any) -> str:
    """Deterministic JSON text: sorted keys, no whitespace, UTF-8 (orjson)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode("utf-8")


def sha256_hex(text: str) -> str:
    """Hex SHA-256 of a UTF-8 string."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def iso(ts: float) -> str:
    """RFC 3339 UTC with milliseconds and ``Z`` (sorts lexically like the instant)."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_iso(text: str) -> float:
    """Inverse of :func:`iso` (accepts any RFC 3339 form ``fromisoformat`` reads)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
