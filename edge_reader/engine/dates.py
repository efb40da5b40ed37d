"""Instants for ``before``/``after`` and for scheduled ramps, as epoch milliseconds.

Accepted (as LaunchDarkly does): a JSON number = milliseconds since the Unix epoch, or an
RFC 3339 date-time string with a mandatory offset (``Z`` or ``±hh:mm``) and optional
fractional seconds. Anything else is not an instant.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

# Anchored by fullmatch, not "$": "$" also matches before a final newline.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})",
    re.ASCII,
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_LENGTH = 64


def parse_rfc3339_ms(text: str) -> float | None:
    """Milliseconds since the epoch for an RFC 3339 date-time string, else None."""
    if len(text) > MAX_LENGTH:
        return None
    m = _RFC3339.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, frac, offset = m.groups()
    try:
        tz = UTC
        if offset not in ("Z", "z"):
            sign = 1 if offset[0] == "+" else -1
            hh, mm = int(offset[1:3]), int(offset[4:6])
            if hh > 23 or mm > 59:
                return None
            tz = timezone(sign * timedelta(hours=hh, minutes=mm))
        sec = int(second)
        leap = sec == 60  # RFC 3339 allows a leap second; count it as :59 + 1 s
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), 59 if leap else sec,
            tzinfo=tz,
        )
    except ValueError:
        return None
    ms = (moment - _EPOCH) / timedelta(milliseconds=1)
    if leap:
        ms += 1000.0
    if frac:
        ms += float("0" + frac) * 1000.0
    return ms


def to_epoch_ms(value: object) -> float | None:
    """Epoch milliseconds for a number or an RFC 3339 string; None for anything else."""
    if value.__class__ is int or value.__class__ is float:
        return float(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return parse_rfc3339_ms(value)
    return None


_CACHE: dict[str, float | None] = {}
_CACHE_MAX = 4096


def to_epoch_ms_cached(value: object) -> float | None:
    """:func:`to_epoch_ms` with a small bounded cache for strings."""
    if value.__class__ is not str:
        return to_epoch_ms(value)
    try:
        return _CACHE[value]
    except KeyError:
        pass
    ms = parse_rfc3339_ms(value)
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    _CACHE[value] = ms
    return ms
