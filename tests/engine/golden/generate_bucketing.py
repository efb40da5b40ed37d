"""Regenerate tests/engine/golden/bucketing.json (run once; the file is checked in).

    .venv/bin/python tests/engine/golden/generate_bucketing.py

Each vector is computed by a from-scratch pure-Python MurmurHash3 x86 32-bit (below),
cross-checked against the ``mmh3`` C library, then put through the spec formula
``bucket = (hash * 100000) >> 32``. The engine itself is not used, so the vectors are an
independent oracle for it.
"""

from __future__ import annotations

import json
import pathlib

import mmh3


def murmur3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86_32 of ``data`` (unsigned), per Austin Appleby's reference code."""
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF
    h = seed & mask
    full = len(data) - len(data) % 4
    for i in range(0, full, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
        h = ((h << 13) | (h >> 19)) & mask
        h = (h * 5 + 0xE6546B64) & mask
    tail = data[full:]
    k = 0
    if len(tail) >= 3:
        k ^= tail[2] << 16
    if len(tail) >= 2:
        k ^= tail[1] << 8
    if tail:
        k ^= tail[0]
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    h ^= h >> 16
    return h


def vectors() -> list[dict[str, object]]:
    """The (salt, value) pairs: plain keys, edge cases, unicode, integers, long inputs."""
    pairs: list[tuple[str, str]] = []
    pairs += [("checkout", f"user-{i}") for i in range(20)]
    pairs += [("new-cart", f"u-{i * 7919}") for i in range(10)]
    pairs += [("", ""), ("", "x"), ("x", ""), ("salt", ":"), ("a:b", "c")]
    pairs += [("flag", "ünïcödé"), ("flag", "日本語のキー"), ("emoji", "🚀-rocket"),
              ("flag", "e\u0301")]
    pairs += [("nums", str(n)) for n in (0, 1, -1, 42, 2**31, 2**53, 10**20)]
    pairs += [("long", "k" * 1000), ("long", "abc" * 333), ("tail1", "a"), ("tail2", "ab"),
              ("tail3", "abc"), ("tail4", "abcd")]
    out = []
    for salt, value in pairs:
        data = f"{salt}:{value}".encode()
        h = murmur3_32(data)
        assert h == mmh3.hash(data, 0, signed=False), (salt, value)
        out.append({"salt": salt, "value": value, "hash": h, "bucket": (h * 100_000) >> 32})
    return out


if __name__ == "__main__":
    target = pathlib.Path(__file__).with_name("bucketing.json")
    doc = {
        "spec": "bucket = (murmur3_32(utf8(salt + ':' + value), seed=0) unsigned * 100000) >> 32",
        "generator": "tests/engine/golden/generate_bucketing.py",
        "vectors": vectors(),
    }
    target.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(doc['vectors'])} vectors to {target}")
