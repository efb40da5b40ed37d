"""Rollouts with a peer's bucketing, gaps, ``missing: "skip"`` and ``buckets``, through the engine.

Peer expectations are the peers' published cases (cited); the rest states the rules of
docs/flag-format.md ("Rollouts") and docs/bucketing.md.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_reader.bundle import decode_bundle_document, encode_bundle_document
from edge_reader.engine import CompileError, Context, ErrorCode, Reason, compile_environment
from edge_reader.engine.bucketing import HASHES, bucket_cut, bucket_function
from edge_reader.engine.schema import flag_schema

from .builders import BOOL, clause, doc
from .graph import kept_from
from .test_ramps import FakeClock, _sec

SUITS = {"clubs": "clubs", "diamonds": "diamonds", "hearts": "hearts", "spades": "spades",
         "wild": "wild"}


def _compile(flags: dict[str, Any], **kwargs: Any) -> Any:
    return compile_environment(doc(flags), **kwargs)


def _eval(env: Any, ctx: dict[str, Any], key: str = "f", default: Any = "caller") -> Any:
    return env.evaluate(key, Context.from_mapping(ctx), default)


def _errors(flags: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(CompileError) as info:
        _compile(flags)
    return [(p.path, p.code) for p in info.value.errors]


def _warnings(flags: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p.path, p.code) for p in _compile(flags).warnings]


# --- flagd: the testbed's flags, translated by hand ---------------------------------------

def _flagd_suits(salt: str) -> dict[str, Any]:
    """flagd-testbed testkit-flags.json "fractional-flag" / "...-A-shared-seed": a fractional
    over {"cat": [<salt>, {"var": "user.name"}]}, 25 each, default variant "wild"."""
    return {"kind": "string", "variations": dict(SUITS), "default": {"variation": "wild"},
            "rules": [{"clauses": [], "serve": {"rollout": {
                "bucketing": {"hash": "flagd", "buckets": 100}, "salt": salt,
                "bucket_by": "/user/name", "missing": "skip",
                "variations": [{"variation": s, "weight": 25}
                               for s in ("clubs", "diamonds", "hearts", "spades")]}}}]}


@pytest.mark.parametrize(("salt", "name", "suit"), [
    ("fractional-flag", "jack", "hearts"), ("fractional-flag", "queen", "spades"),
    ("fractional-flag", "ten", "clubs"), ("fractional-flag", "nine", "diamonds"),
    ("shared-seed", "seven", "hearts"), ("shared-seed", "two", "spades"),
])
def test_flagd_fractional_through_the_engine(salt: str, name: str, suit: str) -> None:
    """flagd-testbed evaluator/gherkin/fractional.feature, @fractional-v2."""
    env = _compile({"f": _flagd_suits(salt)})
    d = _eval(env, {"targetingKey": "any", "user": {"name": name}})
    assert (d.value, d.variant, d.reason) == (suit, suit, Reason.SPLIT)
    # no bucketing value: the rollout is skipped, the flag's default serves
    d = _eval(env, {"targetingKey": "any"})
    assert (d.value, d.reason) == ("wild", Reason.DEFAULT)


# --- Unleash: a 30 % strategy is a rollout with a gap ---------------------------------------

def _unleash_flag(percentage: int) -> dict[str, Any]:
    """A flexibleRollout (groupId "gr1", stickiness userId) then nothing: off."""
    return {"kind": "boolean", "variations": dict(BOOL), "default": {"variation": "off"},
            "rules": [{"id": "flexible", "clauses": [], "serve": {"rollout": {
                "bucketing": {"hash": "unleash", "buckets": 100}, "salt": "gr1",
                "missing": "skip",
                "variations": [{"variation": "on", "weight": percentage},
                               {"weight": 100 - percentage}]}}}]}


@pytest.mark.parametrize(("percentage", "on"), [(72, False), (73, True), (100, True), (0, False)])
def test_unleash_boundary_is_inclusive_of_the_normalized_value(percentage: int, on: bool) -> None:
    """Unleash's vector: user "123" in group "gr1" has normalized value 73 (unleash-client-
    java StrategyUtilsTest); the strategy is on when 73 <= percentage."""
    env = _compile({"f": _unleash_flag(percentage)})
    d = _eval(env, {"targetingKey": "123"})
    assert d.value is on
    assert d.reason == (Reason.SPLIT if on else Reason.DEFAULT)


def test_unleash_variants_use_the_variant_seed_and_total_weight() -> None:
    """Variants: normalizedHash(userId, featureName, totalWeight, 86028157) — "123"/"gr1" is 96
    of 100 (StrategyUtilsTest), so with weights 95 + 5 the second variant is chosen."""
    def variant(a: int, b: int) -> Any:
        f = {"kind": "string", "variations": {"a": "a", "b": "b"}, "default": {"rollout": {
            "bucketing": {"hash": "unleash", "seed": 86028157, "buckets": 100}, "salt": "gr1",
            "variations": [{"variation": "a", "weight": a}, {"variation": "b", "weight": b}]}}}
        return _eval(_compile({"f": f}), {"targetingKey": "123"}).variant
    assert variant(95, 5) == "b"
    assert variant(96, 4) == "a"


# --- GrowthBook: ranges with holes are gaps -------------------------------------------------

@pytest.mark.parametrize(("user", "variation"), [
    ("1", None), ("2", "v0"), ("3", "v0"), ("4", None), ("5", "v1"), ("6", None),
])
def test_growthbook_partial_coverage_falls_through(user: str, variation: str | None) -> None:
    """cases.json "run", "coverage - N": coverage 0.4 → ranges [0, 0.2) and [0.5, 0.7);
    ids 1, 4, 6 are not in the experiment (the next rule, here a fixed "fallback", serves)."""
    cuts = [bucket_cut(x, 1000) for x in (0.0, 0.2, 0.5, 0.7, 1.0)]
    entries = [{"variation": "v0", "weight": cuts[1] - cuts[0]}, {"weight": cuts[2] - cuts[1]},
               {"variation": "v1", "weight": cuts[3] - cuts[2]}, {"weight": cuts[4] - cuts[3]}]
    f = {"kind": "string", "variations": {"v0": "0", "v1": "1", "fb": "fb"},
         "default": {"variation": "fb"},
         "rules": [{"id": "exp", "clauses": [], "serve": {"rollout": {
             "bucketing": {"hash": "growthbook-v1", "buckets": 1000}, "salt": "my-test",
             "bucket_by": "id", "missing": "skip", "variations": entries}}},
                   {"id": "after", "clauses": [], "serve": {"variation": "fb"}}]}
    d = _eval(_compile({"f": f}), {"targetingKey": "k", "id": user})
    if variation is None:
        assert (d.variant, d.reason, d.rule_id) == ("fb", Reason.TARGETING_MATCH, "after")
    else:
        assert (d.variant, d.reason, d.rule_id) == (variation, Reason.SPLIT, "exp")


def test_growthbook_integer_hash_attribute() -> None:
    """cases.json "feature", "force rule - coverage with integer hash attribute": id 3 and "3"
    are the same hash value; coverage 0.5 includes it (n <= coverage)."""
    cut = bucket_cut(0.5, 1000, inclusive=True)
    f = {"kind": "number", "variations": {"one": 1, "two": 2}, "default": {"variation": "two"},
         "rules": [{"clauses": [], "serve": {"rollout": {
             "bucketing": {"hash": "growthbook-v1", "buckets": 1000}, "salt": "feature",
             "bucket_by": "id", "missing": "skip",
             "variations": [{"variation": "one", "weight": cut}, {"weight": 1000 - cut}]}}}]}
    env = _compile({"f": f})
    for ident, value in ((3, 1), ("3", 1), ("1", 2), (0, 2)):  # "1" is excluded; 0 is falsy
        assert _eval(env, {"targetingKey": "k", "id": ident}).value == value, ident


# --- LaunchDarkly -------------------------------------------------------------------------

def _ld_flag(weights: list[int], **rollout: Any) -> dict[str, Any]:
    return {"kind": "string", "variations": {"a": "a", "b": "b", "c": "c"},
            "default": {"rollout": {"bucketing": {"hash": "launchdarkly"}, "salt": "hashKey.saltyA",
                                    "variations": [{"variation": v, "weight": w} for v, w in
                                                   zip("abc", weights, strict=True)],
                                    **rollout}}}


def test_launchdarkly_boundaries_through_the_engine() -> None:
    """userKeyA buckets at 0.42157587 (python-server-sdk test_bucket_by_user_key): bucket 42157,
    so a first range of 42157 misses it and 42158 holds it (the SDK's own
    test_variation_index_is_returned_for_bucket construction)."""
    ctx = {"targetingKey": "userKeyA"}
    assert _eval(_compile({"f": _ld_flag([42157, 1, 100000 - 42158])}), ctx).variant == "b"
    assert _eval(_compile({"f": _ld_flag([42158, 0, 100000 - 42158])}), ctx).variant == "a"
    # test_last_bucket_is_used_if_bucket_value_equals_total_weight
    assert _eval(_compile({"f": _ld_flag([42157, 0, 0])}), ctx).variant == "c"


def test_launchdarkly_context_kind_not_found_is_bucket_zero() -> None:
    """LaunchDarkly's Java/.NET EvaluatorBucketing: "if we can't get a context at all (the
    specified context kind did not exist) ... treated the same as zero" — the first range with
    weight; not TARGETING_KEY_MISSING as Vexil's own hash says."""
    env = _compile({"f": _ld_flag([0, 50000, 50000], context_kind="org")})
    d = _eval(env, {"kind": "user", "key": "u"})
    assert (d.variant, d.reason, d.error_code) == ("b", Reason.SPLIT, None)
    # and an attribute it cannot bucket (a float) is bucket 0 too
    env = _compile({"f": _ld_flag([0, 50000, 50000], bucket_by="score")})
    assert _eval(env, {"targetingKey": "u", "score": 1.5}).variant == "b"
    # missing: "skip" overrides both
    env = _compile({"f": _ld_flag([0, 50000, 50000], context_kind="org", missing="skip")})
    assert _eval(env, {"kind": "user", "key": "u"}).reason == Reason.DEFAULT


def test_launchdarkly_seed() -> None:
    """seed 61: userKeyA at 0.09801207 (test_bucket_by_user_key_with_seed)."""
    f = _ld_flag([9801, 1, 90198])
    f["default"]["rollout"]["bucketing"]["seed"] = 61
    assert _eval(_compile({"f": f}), {"targetingKey": "userKeyA"}).variant == "b"


# --- gaps and missing: skip, in rules and the default ---------------------------------------

def _gap_flag(where: str, entries: list[dict[str, Any]], **rollout: Any) -> dict[str, Any]:
    r = {"variations": entries, **rollout}
    f: dict[str, Any] = {"kind": "boolean", "variations": dict(BOOL), "off_variation": "off"}
    if where == "rule":
        f["rules"] = [{"id": "r", "clauses": [], "serve": {"rollout": r}},
                      {"id": "next", "clauses": [], "serve": {"variation": "off"}}]
        f["default"] = {"variation": "on"}
    else:
        f["default"] = {"rollout": r}
    return f


@pytest.mark.parametrize("where", ["rule", "default"])
def test_a_gap_serves_nothing(where: str) -> None:
    env = _compile({"f": _gap_flag(where, [{"weight": 100000}])})
    d = _eval(env, {"targetingKey": "u"})
    if where == "rule":
        assert (d.variant, d.rule_id, d.reason) == ("off", "next", Reason.TARGETING_MATCH)
    else:
        assert (d.value, d.variant, d.reason, d.error_code) == ("caller", None, Reason.DEFAULT,
                                                                None)


def test_gap_and_variation_split_the_keys() -> None:
    env = _compile({"f": _gap_flag("default", [{"variation": "on", "weight": 50000},
                                               {"weight": 50000}])})
    details = [_eval(env, {"targetingKey": f"u{i}"}) for i in range(2000)]
    served = sum(d.variant == "on" for d in details)
    assert 900 < served < 1100
    assert {(d.variant, d.reason) for d in details} == {("on", Reason.SPLIT),
                                                        (None, Reason.DEFAULT)}


@pytest.mark.parametrize("where", ["rule", "default"])
@pytest.mark.parametrize(("bucket_by", "ctx"), [
    (None, {"kind": "device", "key": "d"}),           # no user kind
    (None, {"kind": "user", "name": "no key"}),       # no targeting key
    ("team", {"targetingKey": "u"}),                  # attribute absent
    ("team", {"targetingKey": "u", "team": 1.5}),     # attribute not bucketable
])
def test_missing_skip(where: str, bucket_by: str | None, ctx: dict[str, Any]) -> None:
    extra = {"bucket_by": bucket_by} if bucket_by else {}
    entries = [{"variation": "on", "weight": 100000}]
    env = _compile({"f": _gap_flag(where, entries, missing="skip", **extra)})
    d = _eval(env, ctx)
    if where == "rule":
        assert (d.variant, d.rule_id) == ("off", "next")
    else:
        assert (d.variant, d.reason, d.error_code) == (None, Reason.DEFAULT, None)
    # missing: "default" (today's rule): no key → TARGETING_KEY_MISSING, else bucket 0
    env = _compile({"f": _gap_flag(where, entries, **extra)})
    d = _eval(env, ctx)
    if bucket_by is None:
        assert d.error_code == ErrorCode.TARGETING_KEY_MISSING
    else:
        assert (d.variant, d.reason) == ("on", Reason.SPLIT)


def test_missing_skip_with_a_peer_hash_and_a_schedule() -> None:
    clock = FakeClock(_sec("2026-12-01T00:00:00Z"))
    f = _gap_flag("default", [{"variation": "on", "weight": 0}, {"weight": 100}],
                  bucketing={"hash": "unleash", "buckets": 100}, missing="skip",
                  schedule=[{"at": "2026-12-02T00:00:00Z", "weights": [100, 0]}])
    env = _compile({"f": f}, clock=clock)
    assert _eval(env, {"targetingKey": "123"}).variant is None
    clock.now = _sec("2026-12-02T00:00:00Z")
    assert _eval(env, {"targetingKey": "123"}).variant == "on"
    assert _eval(env, {"kind": "user", "name": "x"}).variant is None  # skipped: no key


def test_a_gap_is_not_an_unused_variation_and_not_a_prerequisite_match() -> None:
    flags = {"p": _gap_flag("default", [{"weight": 100000}]),
             "f": {"kind": "boolean", "variations": dict(BOOL), "off_variation": "off",
                   "prerequisites": [{"flag": "p", "variation": "on"}],
                   "default": {"variation": "on"}}}
    env = _compile(flags)
    assert _eval(env, {"targetingKey": "u"}).reason == Reason.DISABLED  # p served no variant


# --- buckets and the lints ------------------------------------------------------------------

def test_buckets_set_the_weight_unit_and_the_lints() -> None:
    f = _gap_flag("default", [{"variation": "on", "weight": 30}, {"variation": "off",
                                                                   "weight": 70}],
                  bucketing={"buckets": 100})
    assert _warnings({"f": f}) == []  # 100 of 100: no weights_sum, no weights_percent
    f["default"]["rollout"]["variations"][1]["weight"] = 60
    assert ("flags.f.default.rollout.variations", "weights_sum") in _warnings({"f": f})
    f["default"]["rollout"]["variations"][1]["weight"] = 101
    assert ("flags.f.default.rollout.variations[1].weight", "range") in _errors({"f": f})
    # 100000 buckets and a sum of 100: the percent lint speaks in units of this rollout
    g = _gap_flag("default", [{"variation": "on", "weight": 30}, {"variation": "off",
                                                                   "weight": 70}])
    assert ("flags.f.default.rollout.variations", "weights_percent") in _warnings({"f": g})


def test_buckets_with_vexil_hash_keep_the_multiply_shift() -> None:
    """buckets B: b = (murmur3(salt:key) * B) >> 32 — a 1-of-2 split agrees with 50000/50000."""
    def variant(buckets: int, weights: tuple[int, int], key: str) -> Any:
        f = _gap_flag("default", [{"variation": "on", "weight": weights[0]},
                                  {"variation": "off", "weight": weights[1]}],
                      bucketing={"buckets": buckets}, salt="s")
        return _eval(_compile({"f": f}), {"targetingKey": key}).variant
    for i in range(200):
        assert variant(2, (1, 1), f"k{i}") == variant(100000, (50000, 50000), f"k{i}")
    assert bucket_function("vexil", "s", None, 2)("k0") in (0, 1)


def test_schedule_weights_use_the_rollout_buckets() -> None:
    f = _gap_flag("default", [{"variation": "on", "weight": 0}, {"variation": "off",
                                                                 "weight": 10}],
                  bucketing={"buckets": 10},
                  schedule=[{"at": "2026-12-02T00:00:00Z", "weights": [11, 0]}])
    assert ("flags.f.default.rollout.schedule[0].weights[0]", "range") in _errors({"f": f})


# --- bad bucketing: strict errors, lenient readers ----------------------------------------

def test_unknown_hash_is_a_strict_error_with_a_suggestion() -> None:
    f = _gap_flag("default", [{"variation": "on", "weight": 100000}],
                  bucketing={"hash": "launchdarkley"})
    with pytest.raises(CompileError) as info:
        _compile({"f": f})
    (problem,) = info.value.errors
    assert (problem.path, problem.code) == ("flags.f.default.rollout.bucketing.hash",
                                            "unknown_hash")
    assert "did you mean 'launchdarkly'?" in problem.message


def test_unknown_hash_in_a_reader_fails_that_flag_only() -> None:
    """A newer bundle's hash: the reader cannot place anyone, so the flag is PARSE_ERROR."""
    flags = {"f": _gap_flag("rule", [{"variation": "on", "weight": 100000}],
                            bucketing={"hash": "statsig"}),
             "g": _gap_flag("default", [{"variation": "on", "weight": 100000}])}
    env = _compile(flags, strict=False)
    d = _eval(env, {"targetingKey": "u"})
    assert (d.value, d.reason, d.error_code) == ("caller", Reason.ERROR, ErrorCode.PARSE_ERROR)
    assert _eval(env, {"targetingKey": "u"}, "g").variant == "on"


@pytest.mark.parametrize(("bucketing", "path", "code"), [
    ({"hash": "vexil", "seed": 1}, "bucketing.seed", "seed_unused"),
    ({"hash": "flagd", "seed": 1}, "bucketing.seed", "seed_unused"),
    ({"hash": "unleash", "seed": -1}, "bucketing.seed", "range"),
    ({"hash": "unleash", "seed": 2**32}, "bucketing.seed", "range"),
    ({"buckets": 0}, "bucketing.buckets", "range"),
    ({"buckets": 2**31}, "bucketing.buckets", "range"),
    ({"hash": 1}, "bucketing.hash", "type"),
    ({"salt": "x"}, "bucketing.salt", "unknown_field"),
])
def test_bad_bucketing(bucketing: dict[str, Any], path: str, code: str) -> None:
    f = _gap_flag("default", [{"variation": "on", "weight": 1}], bucketing=bucketing)
    assert (f"flags.f.default.rollout.{path}", code) in _errors({"f": f})


def test_bad_missing() -> None:
    f = _gap_flag("default", [{"variation": "on", "weight": 100000}], missing="skpi")
    assert ("flags.f.default.rollout.missing", "invalid_missing") in _errors({"f": f})


def test_schema_knows_the_same_hashes() -> None:
    rollout = flag_schema()["$defs"]["rollout"]["properties"]
    assert tuple(rollout["bucketing"]["properties"]["hash"]["enum"]) == HASHES
    assert rollout["missing"]["enum"] == ["default", "skip"]


def test_rule_with_clauses_and_a_gap_tries_the_next_rule() -> None:
    f = {"kind": "string", "variations": {"x": "x", "y": "y", "z": "z"},
         "default": {"variation": "z"},
         "rules": [{"clauses": [clause("country", "in", "DE")], "serve": {"rollout": {
             "variations": [{"weight": 100000}]}}},
                   {"clauses": [clause("country", "in", "DE")], "serve": {"variation": "y"}}]}
    env = _compile({"f": f})
    assert _eval(env, {"targetingKey": "u", "country": "DE"}).variant == "y"
    assert _eval(env, {"targetingKey": "u", "country": "FR"}).variant == "z"


def test_a_clause_less_rule_with_gaps_leaves_what_follows_reachable() -> None:
    """unreachable_rule / unreachable_default only when the rollout serves everyone."""
    def codes(rollout: dict[str, Any]) -> set[str]:
        # one clause-less rollout rule, then a rule with a clause, then the default
        f = {"kind": "boolean", "variations": dict(BOOL), "default": {"variation": "off"},
             "rules": [{"clauses": [], "serve": {"rollout": rollout}},
                       {"clauses": [clause("country", "in", "DE")],
                        "serve": {"variation": "off"}}]}
        return {code for _, code in _warnings({"f": f})}
    full = [{"variation": "on", "weight": 100000}]
    assert {"unreachable_rule", "unreachable_default"} <= codes({"variations": full})
    for rollout in ({"variations": full, "missing": "skip"},
                    {"variations": [{"variation": "on", "weight": 50000}, {"weight": 50000}]},
                    {"variations": [{"variation": "on", "weight": 100000}, {"weight": 0}]},
                    {"variations": [{"variation": "on", "weight": 100000}, {"weight": 0}],
                     "schedule": [{"at": "2026-12-02T00:00:00Z", "weights": [0, 100000]}]}):
        assert codes(rollout) & {"unreachable_rule", "unreachable_default"} == set(), rollout


# --- properties -----------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                 max_size=3),
    max_leaves=10)


@settings(max_examples=300)
@given(st.sampled_from(HASHES), st.text(max_size=20), st.integers(1, 2**31 - 1))
def test_every_hash_buckets_into_range(hash_name: str, value: str, buckets: int) -> None:
    seed = 7 if hash_name in ("launchdarkly", "unleash") else None
    b = bucket_function(hash_name, "salt", seed, buckets)(value)
    # launchdarkly alone may return `buckets` (the hash LaunchDarkly places at 1.0)
    assert 0 <= b < buckets or (hash_name == "launchdarkly" and b == buckets)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(HASHES), st.sampled_from(["default", "skip"]),
       st.sampled_from(["key", "/team/id", "team"]), st.dictionaries(
           st.sampled_from(["targetingKey", "kind", "team", "user", "org"]), _json, max_size=4))
def test_evaluating_peer_rollouts_never_fails(hash_name: str, missing: str, bucket_by: str,
                                              ctx: dict[str, Any]) -> None:
    f = _gap_flag("rule", [{"variation": "on", "weight": 3}, {"weight": 4},
                           {"variation": "off", "weight": 3}],
                  bucketing={"hash": hash_name, "buckets": 10}, missing=missing,
                  bucket_by=bucket_by)
    d = _eval(_compile({"f": f}), ctx)
    assert d.error_code in (None, ErrorCode.INVALID_CONTEXT, ErrorCode.TARGETING_KEY_MISSING), d


@pytest.mark.parametrize("hash_name", HASHES)
def test_raising_the_first_weight_only_adds_contexts(hash_name: str) -> None:
    def on(weight: int) -> set[str]:
        f = _gap_flag("default", [{"variation": "on", "weight": weight},
                                  {"variation": "off", "weight": 1000 - weight}],
                      bucketing={"hash": hash_name, "buckets": 1000})
        env = _compile({"f": f})
        return {k for k in KEYS if _eval(env, {"targetingKey": k}).variant == "on"}
    before, after = on(200), on(500)
    assert before < after
    assert 0.15 < len(before) / len(KEYS) < 0.25  # and roughly uniform
    assert 0.45 < len(after) / len(KEYS) < 0.55


KEYS = [f"user-{i}" for i in range(4000)]


def test_peer_rollouts_keep_no_object_of_the_document() -> None:
    """A compiled peer rollout keeps copies (salt, seed, buckets...), never the parser's
    objects: one would pin a whole arena of the dropped document (engine/_fresh.py)."""
    flags = {}
    for i, hash_name in enumerate(HASHES):
        seed = {"launchdarkly": 123456789, "unleash": 86028157}.get(hash_name)
        bucketing = {"hash": hash_name, "buckets": 100003,
                     **({"seed": seed} if seed is not None else {})}
        flags[f"f{i}"] = _gap_flag("rule", [{"variation": "on", "weight": 50001},
                                            {"weight": 50002}],
                                   bucketing=bucketing, salt=f"salt-{hash_name}-long",
                                   missing="skip", bucket_by="/team/id",
                                   schedule=[{"at": "2026-12-02T00:00:00Z",
                                              "weights": [70001, 30002]}])
    parsed = decode_bundle_document(encode_bundle_document(doc(flags)))
    env = compile_environment(parsed, clock=lambda: 1_795_478_400.0)
    assert kept_from(parsed, env) == []


@pytest.mark.parametrize(("rollout", "valid"), [
    ({"variations": [{"variation": "on", "weight": 100001}]}, False),
    ({"variations": [{"variation": "on", "weight": 100001}], "bucketing": {"hash": "flagd"}},
     False),
    ({"variations": [{"variation": "on", "weight": 100001}], "bucketing": {"buckets": 200000}},
     True),
    ({"variations": [{"weight": 30}, {"variation": "on", "weight": 70}], "missing": "skip",
      "bucketing": {"hash": "unleash", "buckets": 100, "seed": 0}}, True),
    ({"variations": [{"variation": "on", "weight": 1}], "bucketing": {"hash": "sha"}}, False),
    ({"variations": [{"variation": "on", "weight": 1}], "missing": "nope"}, False),
    ({"variations": [{"variation": "on", "weight": 1}], "bucketing": {"buckets": 0}}, False),
])
def test_schema_and_compiler_agree_on_bucketing(rollout: dict[str, Any], valid: bool) -> None:
    import jsonschema

    d = doc({"f": {"kind": "boolean", "variations": dict(BOOL), "default": {"rollout": rollout}}})
    schema_ok = not list(jsonschema.Draft202012Validator(flag_schema()).iter_errors(d))
    try:
        compile_environment(d)
        compiler_ok = True
    except CompileError:
        compiler_ok = False
    assert schema_ok == compiler_ok == valid
