"""The flagd importer: a realistic flag definition file, evaluated by Vexil's engine, must serve
what flagd serves (value, variant, reason as mapped in docs/migrating.md); what cannot be
translated exactly must be in the report."""

from __future__ import annotations

import time
from typing import Any

import mmh3
import pytest

from edge_reader.engine import compile_environment
from vexil.importers import flagd

SUITS = ["clubs", "diamonds", "hearts", "spades"]

DEFINITIONS: dict[str, Any] = {
    "$schema": "https://flagd.dev/schema/v0/flags.json",
    "metadata": {"flagSetId": "shop", "team": "web"},
    "flags": {
        "welcome-banner": {
            "state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": "off",
            "metadata": {"owner": "growth"},
            "targeting": {"if": [{"$ref": "is_staff"}, "on", None]},
        },
        "card-suit": {
            "state": "ENABLED", "defaultVariant": "wild",
            "variants": {**{s: s for s in SUITS}, "wild": "wild"},
            "targeting": {"fractional": [
                {"cat": [{"var": "$flagd.flagKey"}, {"var": "user.name"}]},
                *[[s, 25] for s in SUITS]]},
        },
        "coin": {
            "state": "ENABLED", "variants": {"heads": "heads", "tails": "tails", "draw": "draw"},
            "defaultVariant": "draw", "targeting": {"fractional": [["heads"], ["tails", 3]]},
        },
        "id-shape": {
            "state": "ENABLED", "defaultVariant": "fallback",
            "variants": {"prefix": "prefix", "postfix": "postfix", "none": "none",
                         "fallback": "fallback"},
            "targeting": {"if": [{"starts_with": [{"var": "id"}, "abc"]}, "prefix",
                                 {"if": [{"ends_with": [{"var": "id"}, "xyz"]}, "postfix",
                                         "none"]}]},
        },
        "sale-window": {
            "state": "ENABLED", "variants": {"live": 1, "waiting": -1}, "defaultVariant": "waiting",
            "targeting": {"if": [{">=": [{"var": "$flagd.timestamp"}, 1700000000]}, "live",
                                 "waiting"]},
        },
        "tiers": {
            "state": "ENABLED", "variants": {"gold": "gold", "std": "std"},
            "targeting": {"if": [{"and": [{"in": [{"var": "tier"}, ["gold", "platinum"]]},
                                          {"!": {"===": [{"var": "region"}, "test"]}},
                                          {">": [{"var": "age"}, 17]}]}, "gold",
                                 {"==": [{"var": "tier"}, "silver"]}, "std"]},
        },
        "off-switch": {"state": "DISABLED", "variants": {"a": 1, "b": 2}, "defaultVariant": "a"},
        "versioned": {
            "state": "ENABLED", "variants": {"new": True, "old": False}, "defaultVariant": "old",
            "targeting": {"if": [{"sem_ver": [{"var": "version"}, ">=", "2.0.0"]}, "new", "old"]},
        },
        "loose": {
            "state": "ENABLED", "variants": {"y": True, "n": False}, "defaultVariant": "n",
            "targeting": {"if": [{"==": [{"var": "count"}, 5]}, "y", "n"]},
        },
        "errors-inside-or": {
            "state": "ENABLED", "variants": {"y": True, "n": False}, "defaultVariant": "n",
            "targeting": {"if": [{"$ref": "is_test"}, "y", "n"]},
        },
        "broken-ref": {
            "state": "ENABLED", "variants": {"y": True, "n": False}, "defaultVariant": "n",
            "targeting": {"if": [{"$ref": "nope"}, "y", "n"]},
        },
    },
    "$evaluators": {
        "is_staff": {"or": [{"in": ["@shop.example", {"var": "email"}]},
                            {"in": [{"var": "role"}, ["admin", "support"]]}]},
        "is_test": {"or": [{"ends_with": [{"var": "email"}, "@test.example"]},
                           {"==": [{"var": "env"}, "test"]}]},
    },
}


def flagd_v2_bucket(text: str, total: int) -> int:
    """flagd's fractional (integer) bucketing, from its published description."""
    return (mmh3.hash(text, 0, signed=False) * total) >> 32


@pytest.fixture(scope="module")
def conv() -> Any:
    return flagd.convert(DEFINITIONS)


@pytest.fixture(scope="module")
def env(conv: Any) -> Any:
    return compile_environment(conv.document, strict=True, clock=time.time)


def evaluate(env: Any, conv: Any, flag: str, ctx: dict[str, Any]) -> tuple[Any, ...]:
    detail = env.evaluate(conv.keys[flag], flagd.context(ctx), "caller-default")
    return detail.value, detail.variant, detail.reason


def test_if_chains_with_shared_evaluators(env: Any, conv: Any) -> None:
    assert evaluate(env, conv, "welcome-banner", {"email": "a@shop.example"}) == (
        True, "on", "TARGETING_MATCH")
    assert evaluate(env, conv, "welcome-banner", {"role": "support"}) == (
        True, "on", "TARGETING_MATCH")
    assert evaluate(env, conv, "welcome-banner", {"email": "a@else.example"}) == (
        False, "off", "DEFAULT")
    assert conv.document["flags"]["welcome-banner"]["metadata"] == {
        "flagSetId": "shop", "team": "web", "owner": "growth"}


def test_fractional_reproduces_flagds_buckets(env: Any, conv: Any) -> None:
    for name in ("jack", "queen", "ten", "nine", "3", "seven", "eight"):
        want = SUITS[flagd_v2_bucket(f"card-suit{name}", 100) // 25]
        assert evaluate(env, conv, "card-suit", {"targetingKey": "t", "user": {"name": name}}) \
            == (want, want, "SPLIT")
    # no bucketing value: flagd serves the default variant
    assert evaluate(env, conv, "card-suit", {"targetingKey": "t"}) == ("wild", "wild", "DEFAULT")


def test_fractional_shorthand_uses_flag_key_and_targeting_key(env: Any, conv: Any) -> None:
    for key in ("jon@company.com", "jane@company.com", "u-1", "u-2"):
        want = "heads" if flagd_v2_bucket(f"coin{key}", 4) < 1 else "tails"
        assert evaluate(env, conv, "coin", {"targetingKey": key})[0] == want
    # without a targeting key flagd hashes the flag key alone (no error, no default)
    want = "heads" if flagd_v2_bucket("coin", 4) < 1 else "tails"
    assert evaluate(env, conv, "coin", {}) == (want, want, "TARGETING_MATCH")


def test_operator_errors_serve_the_default_variant(env: Any, conv: Any) -> None:
    assert evaluate(env, conv, "id-shape", {"id": "abcdef"})[0] == "prefix"
    assert evaluate(env, conv, "id-shape", {"id": "uvwxyz"})[0] == "postfix"
    assert evaluate(env, conv, "id-shape", {"id": "3"}) == ("none", "none", "TARGETING_MATCH")
    # flagd: starts_with of a number (or of nothing) is an error → defaultVariant, DEFAULT
    assert evaluate(env, conv, "id-shape", {"id": 3}) == ("fallback", "fallback", "DEFAULT")
    assert evaluate(env, conv, "id-shape", {}) == ("fallback", "fallback", "DEFAULT")


def test_flagd_timestamp_is_a_now_clause(env: Any, conv: Any) -> None:
    assert evaluate(env, conv, "sale-window", {}) == (1, "live", "TARGETING_MATCH")
    clause = conv.document["flags"]["sale-window"]["rules"][0]["clauses"][0]
    assert clause == {"now": True, "op": "gte", "values": [1700000000000]}


def test_and_not_in_and_comparisons(env: Any, conv: Any) -> None:
    assert evaluate(env, conv, "tiers", {"tier": "gold", "age": 30})[1] == "gold"
    assert evaluate(env, conv, "tiers", {"tier": "gold", "age": 30, "region": "test"}) == (
        "caller-default", None, "DEFAULT")  # no defaultVariant: the caller's default
    assert evaluate(env, conv, "tiers", {"tier": "gold", "age": 17})[0] == "caller-default"
    assert evaluate(env, conv, "tiers", {"tier": "silver"}) == ("std", "std", "TARGETING_MATCH")


def test_disabled_flags_serve_the_callers_default(env: Any, conv: Any) -> None:
    assert evaluate(env, conv, "off-switch", {}) == ("caller-default", None, "DISABLED")


def test_the_report_names_what_does_not_translate(conv: Any) -> None:
    bad = conv.unfaithful_paths
    assert bad == {"flags.loose", "flags.broken-ref", "flags.errors-inside-or"}
    reasons = " ".join(i["reason"] for i in conv.report if not i["faithful"])
    for word in ("loose equality", "nope"):
        assert word in reasons


def test_contexts() -> None:
    assert flagd.context({"targetingKey": "u", "kind": "x", "plan": {"tier": 1}}) == {
        "targetingKey": "u", "plan": {"tier": 1}}


@pytest.mark.parametrize("bad", [{"flags": []}, {"flags": {"f": {"state": "ENABLED"}}}, [1]])
def test_not_flagd_data_is_a_value_error(bad: object) -> None:
    with pytest.raises(ValueError, match=r"flagd|variants"):
        flagd.convert(bad)


def test_conditions_that_cannot_depend_on_the_context_are_folded() -> None:
    doc = {"flags": {
        "bad-semver": {"state": "ENABLED", "variants": {"t": "t", "f": "f", "d": "d"},
                       "defaultVariant": "d",
                       "targeting": {"if": [{"sem_ver": [{"var": "v"}, "==="]}, "t", "f"]}},
        "always": {"state": "ENABLED", "variants": {"big": 100, "small": 1, "none": 0},
                   "defaultVariant": "none",
                   "targeting": {"if": [{"fractional": [[False, 0], [True, 100]]}, "big",
                                        "small"]}},
        "no-weight": {"state": "ENABLED", "variants": {"t": "t", "f": "f", "d": "d"},
                      "defaultVariant": "d",
                      "targeting": {"if": [{"fractional": [["a", 0], ["b", 0]]}, "t", "f"]}},
    }}
    conv = flagd.convert(doc)
    assert not conv.unfaithful_paths
    env = compile_environment(conv.document, strict=True)
    ctx = flagd.context({"targetingKey": "u", "v": "1.0.0"})
    detail = env.evaluate("bad-semver", ctx, "x")
    assert (detail.value, detail.reason) == ("d", "DEFAULT")  # an operator error: the default
    assert env.evaluate("always", ctx, -1).value == 100
    assert env.evaluate("no-weight", ctx, "x").value == "d"


def test_fractional_buckets_with_if_variants_and_weights() -> None:
    premium = {"==": [{"var": "tier"}, "premium"]}
    doc = {"flags": {"split": {
        "state": "ENABLED", "defaultVariant": "fallback",
        "variants": {"premium": "premium", "standard": "standard", "red": "red",
                     "fallback": "fallback"},
        "targeting": {"fractional": [
            {"var": "targetingKey"},
            [{"if": [premium, "premium", "standard"]}, 50],
            ["red", {"if": [premium, 100, 0]}],
            ["standard", 50]]},
    }}}
    conv = flagd.convert(doc)
    assert not conv.unfaithful_paths
    env = compile_environment(conv.document, strict=True)
    for key in ("jon@company.com", "user1", "u-2", "u-3", "u-4"):
        for tier in ("premium", "basic"):
            if tier == "premium":
                cuts = [(50, "premium"), (150, "red"), (200, "standard")]
            else:
                cuts = [(50, "standard"), (100, "standard")]
            bucket = flagd_v2_bucket(f"{key}", cuts[-1][0])
            want = next(name for end, name in cuts if bucket < end)
            assert env.evaluate("split", flagd.context({"targetingKey": key, "tier": tier}),
                                "x").value == want


SEMVER_FLAGS: dict[str, Any] = {"flags": {
    "cmp": {"state": "ENABLED", "defaultVariant": "fallback",
            "variants": {v: v for v in ("equal", "greater", "lesser", "none", "fallback")},
            "targeting": {"if": [{"sem_ver": [{"var": "version"}, "=", "v2.0.0"]}, "equal",
                                 {"sem_ver": [{"var": "version"}, ">", "2.0.0"]}, "greater",
                                 {"sem_ver": ["2.0.0", ">", {"var": "version"}]}, "lesser",
                                 "none"]}},
    "ranges": {"state": "ENABLED", "defaultVariant": "fallback",
               "variants": {v: v for v in ("minor", "major", "none", "fallback")},
               "targeting": {"if": [{"sem_ver": [{"var": "version"}, "~", "3.0.0"]}, "minor",
                                    {"sem_ver": [{"var": "version"}, "^", "3"]}, "major",
                                    "none"]}},
    "not-equal": {"state": "ENABLED", "defaultVariant": "fallback",
                  "variants": {"other": "other", "same": "same", "fallback": "fallback"},
                  "targeting": {"if": [{"sem_ver": [{"var": "version"}, "!=", "1.0"]}, "other",
                                       "same"]}},
    "inside-or": {"state": "ENABLED", "defaultVariant": "n", "variants": {"y": 1, "n": 0},
                  "targeting": {"if": [{"or": [{"sem_ver": [{"var": "v"}, ">", "1.0.0"]},
                                               {"==": [{"var": "x"}, "y"]}]}, "y", "n"]}},
    "bad-target": {"state": "ENABLED", "defaultVariant": "d", "variants": {"t": 1, "d": 0},
                   "targeting": {"if": [{"sem_ver": [{"var": "v"}, ">", "1.x"]}, "t", "d"]}},
}}


@pytest.mark.parametrize(("flag", "version", "want"), [
    ("cmp", "2.0.0", "equal"), ("cmp", "v2.0.0", "equal"), ("cmp", "V2.0.0", "equal"),
    ("cmp", "2.1.0", "greater"), ("cmp", "1.9.0", "lesser"), ("cmp", "2.0.0-alpha", "lesser"),
    ("cmp", "2.0.0+build", "equal"), ("cmp", 2, "equal"), ("cmp", "2", "equal"),
    # not a version (flagd: an operator error) → the default variant, reason DEFAULT
    ("cmp", "2.0.0.0", "fallback"), ("cmp", "not-a-version", "fallback"),
    ("cmp", None, "fallback"), ("cmp", True, "fallback"), ("cmp", "2.0-beta", "fallback"),
    ("ranges", "3.0.1", "minor"), ("ranges", "3.0.0-rc.1", "minor"), ("ranges", "3.1.0", "major"),
    ("ranges", "3.99.9", "major"), ("ranges", "4.0.0-alpha", "none"), ("ranges", "2.9.9", "none"),
    ("not-equal", "1.0.1", "other"), ("not-equal", "1", "same"), ("not-equal", "x", "fallback"),
])
def test_sem_ver_is_flagds(flag: str, version: Any, want: str) -> None:
    conv = flagd.convert(SEMVER_FLAGS)
    assert f"flags.{flag}" not in conv.unfaithful_paths
    env = compile_environment(conv.document, strict=True)
    ctx = flagd.context({} if version is None else {"version": version})
    detail = env.evaluate(conv.keys[flag], ctx, "caller-default")
    assert detail.value == want
    if want == "fallback":
        assert detail.reason == "DEFAULT"
    assert "semver_dialect" in env.metadata["features"]


def test_sem_ver_that_flagd_may_surface_differently_is_reported() -> None:
    conv = flagd.convert(SEMVER_FLAGS)
    assert "flags.inside-or" in conv.unfaithful_paths
    # a target that is not a version errors for every context: folded, faithful
    env = compile_environment(conv.document, strict=True)
    detail = env.evaluate("bad-target", flagd.context({"v": "2.0.0"}), -1)
    assert (detail.value, detail.reason) == (0, "DEFAULT")


def test_fractional_condition_with_a_bucketing_var() -> None:
    doc = {"flags": {
        "bucketed": {"state": "ENABLED", "defaultVariant": "fallback",
                     "variants": {"true": "t", "false": "f", "fallback": "d"},
                     "targeting": {"if": [{"fractional": [{"var": "org"}, ["one", 50],
                                                          ["two", 50], ["", 0]]},
                                          "true", "false"]}},
        "decides": {"state": "ENABLED", "defaultVariant": "fallback",
                    "variants": {"true": "t", "false": "f", "fallback": "d"},
                    "targeting": {"if": [{"fractional": [{"var": "org"}, ["one", 50],
                                                         ["", 50]]}, "true", "false"]}},
    }}
    conv = flagd.convert(doc)
    assert conv.unfaithful_paths == {"flags.decides"}  # the bucket decides: not translated
    env = compile_environment(conv.document, strict=True)
    for ctx, want in (({"org": "acme"}, ("t", "TARGETING_MATCH")),
                      ({"org": "x"}, ("t", "TARGETING_MATCH")),
                      ({}, ("d", "DEFAULT")),  # flagd: no bucketing value is an error
                      ({"org": 7}, ("d", "DEFAULT"))):
        detail = env.evaluate("bucketed", flagd.context(ctx), "caller")
        assert (detail.value, detail.reason) == want, ctx
