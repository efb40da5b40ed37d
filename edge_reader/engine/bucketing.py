"""The bucketing spec (docs/bucketing.md), in one function.

``bucket(salt, value) = (murmur3_32(salt + ":" + value, seed=0) unsigned * 100000) >> 32``

The multiply-shift maps the 32-bit hash onto ``[0, 100000)`` without modulo bias: every
bucket receives either 42949 or 42950 of the 2**32 hash values. A rollout's variations
occupy consecutive bucket ranges in list order, so raising the first variation's weight
only ever adds contexts to it.
"""

from __future__ import annotations

import mmh3

BUCKETS = 100_000  # 0.001 % granularity


def bucket_hash(salt: str, value: str) -> int:
    """The unsigned 32-bit murmur3 (seed 0) of the UTF-8 bytes of ``salt + ":" + value``."""
    return int(mmh3.hash(f"{salt}:{value}", 0, False))


def bucket(salt: str, value: str) -> int:
    """The bucket in ``[0, 100000)`` of ``value`` under ``salt``."""
    return (bucket_hash(salt, value) * BUCKETS) >> 32


def bucketable(value: object) -> str | None:
    """The string a context value is bucketed by: strings as-is, integers in decimal.

    Anything else (booleans, floats, objects, arrays, missing) cannot be bucketed — the
    rule LaunchDarkly uses for its ``bucketBy`` attributes.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None
