"""``in_bucket`` clauses: the context's bucket under a peer's hash lies in given ranges
(issue 17: GrowthBook namespaces and filters, Unleash percentages beside variant splits,
LaunchDarkly percentage segment rules)."""

from __future__ import annotations

from typing import Any

import pytest

from edge_reader.engine import CompileError, compile_environment
from edge_reader.engine.bucketing import bucket_function, value_function

from .builders import compile_one, doc, flag, matches, rule, user
from .test_schema import VALIDATOR

GB = {"hash": "growthbook-v1", "buckets": 1000}


def _in_bucket(*ranges: list[int], bucketing: dict[str, Any] | None = None, salt: str = "__ns",
               attribute: str = "id", **extra: Any) -> dict[str, Any]:
    return {"attribute": attribute, "op": "in_bucket", "bucketing": bucketing or GB,
            "salt": salt, "values": [list(r) for r in ranges], **extra}


IDS = [f"user-{i}" for i in range(60)]


@pytest.mark.parametrize("bucketing", [
    {"hash": "growthbook-v1", "buckets": 1000}, {"hash": "growthbook-v2", "buckets": 10000},
    {"hash": "unleash", "buckets": 100}, {"hash": "launchdarkly", "buckets": 100000},
    {"hash": "flagd", "buckets": 100}, {"hash": "vexil"},
    {"hash": "unleash", "seed": 86028157, "buckets": 1000},
])
def test_matches_exactly_the_contexts_whose_bucket_is_in_range(bucketing: dict[str, Any]) -> None:
    buckets = bucketing.get("buckets", 100000)
    bucket = bucket_function(bucketing["hash"], "__ns", bucketing.get("seed"), buckets)
    ranges = [[0, buckets // 4], [buckets // 2, buckets // 2 + buckets // 10]]
    env = compile_one(flag(rule(_in_bucket(*ranges, bucketing=bucketing))), strict=True)
    hits = 0
    for i in IDS:
        b = bucket(i)
        want = any(lo <= b < hi for lo, hi in ranges)
        hits += want
        assert (env.evaluate("f", user(id=i), None).variant == "on") is want, (i, b)
    assert 0 < hits < len(IDS)  # the sample has contexts on both sides


def test_no_bucketing_value_gives_when_absent() -> None:
    c = _in_bucket([0, 1000])
    assert matches(c, user(id="x")) is True
    assert matches(c, user()) is False  # absent
    assert matches(c, user(id="")) is False  # GrowthBook: a falsy value is no hash value
    assert matches(c, user(id=["x"])) is False  # an array is not bucketed
    assert matches({**c, "when_absent": True}, user()) is True
    assert matches({**c, "when_absent": True, "negate": True}, user()) is True  # no negate
    assert matches({**c, "negate": True}, user(id="x")) is False
    assert matches({**c, "negate": True}, user()) is False


def test_the_salt_and_kind_count() -> None:
    bucket = bucket_function("growthbook-v1", "other", None, 1000)
    i = next(i for i in IDS if bucket(i) < 500)
    j = next(j for j in IDS if bucket(j) >= 500)
    c = _in_bucket([0, 500], salt="other")
    assert (matches(c, user(id=i)), matches(c, user(id=j))) == (True, False)
    org = {**c, "context_kind": "org"}
    assert matches(org, {"kind": "org", "key": "o", "id": i}) is True
    assert matches(org, user(id=i)) is False


def test_a_feature_compiled_only_where_written() -> None:
    env = compile_one(flag(rule(_in_bucket([0, 10]))), strict=True)
    assert env.metadata["features"] == ("bucket_clause",)


@pytest.mark.parametrize(("c", "path", "code"), [
    (_in_bucket([0, 1001]), "flags.f.rules[0].clauses[0].values[0]", "invalid_value"),
    (_in_bucket([5, 4]), "flags.f.rules[0].clauses[0].values[0]", "invalid_value"),
    (_in_bucket([0]), "flags.f.rules[0].clauses[0].values[0]", "invalid_value"),
    (_in_bucket([0, True]), "flags.f.rules[0].clauses[0].values[0]", "invalid_value"),
    ({k: v for k, v in _in_bucket([0, 1]).items() if k != "salt"},
     "flags.f.rules[0].clauses[0].salt", "required"),
    (_in_bucket([0, 1], bucketing={"hash": "growthbok-v1"}),
     "flags.f.rules[0].clauses[0].bucketing.hash", "unknown_hash"),
    (_in_bucket([0, 1], bucketing={"hash": "flagd", "seed": 3}),
     "flags.f.rules[0].clauses[0].bucketing.seed", "seed_unused"),
    ({"attribute": "id", "op": "in", "values": ["a"], "salt": "s"},
     "flags.f.rules[0].clauses[0].salt", "invalid_option"),
])
def test_strict_errors_name_the_path(c: dict[str, Any], path: str, code: str) -> None:
    with pytest.raises(CompileError) as err:
        compile_one(flag(rule(c)), strict=True)
    assert (path, code) in [(p.path, p.code) for p in err.value.errors]


def test_a_misspelt_hash_gets_a_suggestion() -> None:
    with pytest.raises(CompileError) as err:
        compile_one(flag(rule(_in_bucket([0, 1], bucketing={"hash": "growthbok-v1"}))),
                    strict=True)
    assert "did you mean 'growthbook-v1'" in err.value.errors[0].message


@pytest.mark.parametrize("newer", [
    _in_bucket([0, 1], bucketing={"hash": "fnv-next"}),  # a hash a newer engine added
    {**_in_bucket([0, 1]), "op": "in_bucket_v2"},
])
def test_a_reader_degrades_what_it_cannot_read(newer: dict[str, Any]) -> None:
    f = flag(rule(newer, rule_id="newer"),
             rule({"attribute": "country", "op": "in", "values": ["DE"]}, rule_id="de"))
    env = compile_environment(doc({"f": f}), strict=False)
    assert env.errors == []
    assert "unsupported_clause" in [w.code for w in env.warnings]
    d = env.evaluate("f", user(id="x", country="DE"), None)
    assert (d.variant, d.rule_id) == ("on", "de")


def test_the_schema_agrees() -> None:
    good = doc({"f": flag(rule(_in_bucket([0, 500], [600, 700])))})
    assert list(VALIDATOR.iter_errors(good)) == []
    for bad in ({k: v for k, v in _in_bucket([0, 1]).items() if k != "salt"},
                {**_in_bucket([0, 1]), "values": [[0, 1, 2]]},
                {"attribute": "id", "op": "in", "values": ["a"], "salt": "s"}):
        assert list(VALIDATOR.iter_errors(doc({"f": flag(rule(bad))}))) != []


@pytest.mark.parametrize(("value", "text"), [
    ("u", "u"), (3, "3"), (3.0, "3"), (-7.0, "-7"), (2.5, None), (True, None), (None, None),
    (2.0**53, None), (float("nan"), None), (["a"], None),
])
def test_launchdarkly_buckets_an_integral_float_as_its_integer(value: Any, text: Any) -> None:
    assert value_function("launchdarkly")(value) == text
    if isinstance(value, float):
        assert value_function("vexil")(value) is None  # Vexil's own hash is unchanged
