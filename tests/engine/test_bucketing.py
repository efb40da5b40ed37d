"""The bucketing spec: golden vectors, uniformity, monotonic rollouts."""

from __future__ import annotations

import json
import pathlib

import mmh3
from hypothesis import given
from hypothesis import strategies as st

from edge_reader.engine import Context, compile_environment
from edge_reader.engine.bucketing import BUCKETS, bucket, bucket_hash, bucketable

from .builders import doc
from .golden.generate_bucketing import murmur3_32

GOLDEN = json.loads(pathlib.Path(__file__).with_name("golden").joinpath(
    "bucketing.json").read_text(encoding="utf-8"))


def test_golden_vectors() -> None:
    vectors = GOLDEN["vectors"]
    assert len(vectors) >= 50
    for v in vectors:
        assert bucket_hash(v["salt"], v["value"]) == v["hash"], v
        assert bucket(v["salt"], v["value"]) == v["bucket"], v


def test_golden_vectors_are_served_by_rollouts() -> None:
    """The evaluator buckets exactly as the spec: a variation boundary at the vector's bucket."""
    for v in GOLDEN["vectors"][:30]:
        if not v["value"]:
            continue  # an empty key is "no key" for contexts
        b = v["bucket"]
        rollout = {"salt": v["salt"], "variations": [
            {"variation": "on", "weight": b + 1}, {"variation": "off", "weight": BUCKETS - b - 1}]}
        tight = {"salt": v["salt"], "variations": [
            {"variation": "on", "weight": b}, {"variation": "off", "weight": BUCKETS - b}]}
        for r, expected in ((rollout, "on"), (tight, "off")):
            env = compile_environment(doc({"f": {"kind": "boolean",
                                                 "variations": {"on": True, "off": False},
                                                 "default": {"rollout": r}}}))
            d = env.evaluate("f", Context.from_mapping({"targetingKey": v["value"]}), None)
            assert d.variant == expected, (v, d)


def test_pure_python_reference_agrees_with_mmh3() -> None:
    for data in (b"", b"a", b"ab", b"abc", b"abcd", b"hello world", "ü".encode()):
        assert murmur3_32(data) == mmh3.hash(data, 0, signed=False)


def test_bucket_range_ends() -> None:
    assert (0 * BUCKETS) >> 32 == 0
    assert ((2**32 - 1) * BUCKETS) >> 32 == BUCKETS - 1


def test_bucketable_values() -> None:
    assert bucketable("x") == "x"
    assert bucketable(42) == "42"
    assert bucketable(True) is None
    assert bucketable(1.5) is None
    assert bucketable(None) is None


def test_one_million_keys_at_30_percent() -> None:
    """1,000,000 keys at 30 % land within ±0.3 % of 30 % (vectorised: hash + shift only)."""
    h = mmh3.hash
    threshold = 30_000
    inside = sum(1 for i in range(1_000_000)
                 if ((h(f"pct:user-{i}") & 0xFFFFFFFF) * BUCKETS) >> 32 < threshold)
    share = inside / 1_000_000
    assert abs(share - 0.30) <= 0.003, share


def test_engine_rollout_matches_the_fast_count_on_a_sample() -> None:
    env = compile_environment(doc({"pct": {
        "kind": "boolean", "variations": {"on": True, "off": False},
        "default": {"rollout": {"variations": [{"variation": "on", "weight": 30_000},
                                               {"variation": "off", "weight": 70_000}]}}}}))
    for i in range(2000):
        expected = bucket("pct", f"user-{i}") < 30_000
        assert env.get_boolean("pct", Context.from_mapping({"targetingKey": f"user-{i}"}),
                               False) is expected


@given(st.text(max_size=40), st.integers(0, BUCKETS), st.integers(0, BUCKETS))
def test_raising_a_percentage_never_removes_anyone(key: str, a: int, b: int) -> None:
    low, high = sorted((a, b))
    served = []
    for pct in (low, high):
        weights = [{"variation": "on", "weight": pct},
                   {"variation": "off", "weight": BUCKETS - pct}]
        env = compile_environment(doc({"f": {
            "kind": "boolean", "variations": {"on": True, "off": False},
            "default": {"rollout": {"variations": weights}}}}))
        served.append(env.get_boolean("f", {"targetingKey": key or "k"}, False))
    assert not (served[0] and not served[1])


def test_buckets_are_uniform_across_deciles() -> None:
    """200,000 keys over ten 10 % ranges: each within ±0.5 % (absolute) of 10 %."""
    counts = [0] * 10
    for i in range(200_000):
        counts[bucket("uniform", f"k{i}") // 10_000] += 1
    for c in counts:
        assert abs(c / 200_000 - 0.10) <= 0.005, counts


def test_salts_select_independent_populations() -> None:
    """Two flags at 30 % with different salts overlap at about 9 % (independent), not 30 %."""
    both = sum(1 for i in range(100_000)
               if bucket("flag-a", f"u{i}") < 30_000 and bucket("flag-b", f"u{i}") < 30_000)
    assert abs(both / 100_000 - 0.09) <= 0.01
