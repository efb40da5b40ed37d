"""Hypothesis: compiling anything raises only CompileError; evaluating anything never raises."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_reader.engine import CompileError, Context, EvaluationDetail, compile_environment

from .builders import BOOL, clause, doc, flag, rule

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=20,
)
OPS = ["in", "not_in", "equals", "starts_with", "ends_with", "contains", "matches", "lt", "lte",
       "gt", "gte", "semver_eq", "semver_lt", "semver_lte", "semver_gt", "semver_gte", "before",
       "after", "exists", "segment_match", "ip_in_cidr", "bogus"]
FIELDS = ["kind", "variations", "default", "rules", "targets", "prerequisites", "enabled",
          "off_variation", "schema", "clauses", "serve", "rollout", "weight", "variation",
          "attribute", "op", "values", "negate", "context_kind", "schedule", "at", "weights",
          # issue 17: groups, clause options, prerequisite forms
          "any", "all", "not", "case_insensitive", "when_absent", "now", "off", "flag"]

# Documents that look like flag documents, with arbitrary JSON in every slot.
shaped = st.recursive(
    json_values,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(FIELDS) | st.text(max_size=6), inner | st.sampled_from(OPS), max_size=6),
    max_leaves=40,
)


def _compile_only_compile_error(d: object, strict: bool) -> None:
    try:
        env = compile_environment(d, strict=strict, clock=lambda: 1.8e9)
    except CompileError as exc:
        # The compiler's safety net turns a crash into an `internal` error: none may occur.
        assert "internal" not in {p.code for p in exc.errors}, exc
        return
    assert "internal" not in {p.code for p in env.errors}, env.errors
    for key in env.flag_keys:
        detail = env.evaluate(key, {"targetingKey": "u"}, None)
        assert isinstance(detail, EvaluationDetail)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(json_values, st.booleans())
def test_compiling_arbitrary_json_raises_only_compile_error(d: Any, strict: bool) -> None:
    _compile_only_compile_error(d, strict)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["f", "g", "h"]), shaped, max_size=3),
       st.dictionaries(st.sampled_from(["s", "t"]), shaped, max_size=2), st.booleans())
def test_compiling_flag_shaped_documents(flags: Any, segments: Any, strict: bool) -> None:
    _compile_only_compile_error({"flags": flags, "segments": segments}, strict)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(OPS[:-1]), st.lists(json_values, max_size=3), json_values, st.booleans())
def test_clauses_with_arbitrary_values(op: str, values: list[Any], ctx_value: Any,
                                       negate: bool) -> None:
    f = flag(rule(clause("a", op, *values, negate=negate)))
    try:
        env = compile_environment(doc({"f": f}, {"s": {"included": ["u"]}}), strict=False)
    except CompileError:
        return
    d = env.evaluate("f", {"targetingKey": "u", "a": ctx_value}, None)
    assert isinstance(d, EvaluationDetail)


ENV = compile_environment(doc({
    "rules": flag(rule(clause("country", "in", "DE")), rule(clause("/a/b", "gt", 3)),
                  rule(clause("v", "semver_gte", "2.0.0"), clause("t", "after", 0)),
                  rule(clause("ip", "ip_in_cidr", "10.0.0.0/8")),
                  rule(clause("s", "matches", "^x"), clause("s", "contains", "y")),
                  rule({"op": "segment_match", "values": ["s"]}),
                  rule(clause("kind", "in", "device"))),
    "split": {"kind": "boolean", "variations": dict(BOOL), "default": {"rollout": {
        "bucket_by": "/org/id", "variations": [{"variation": "on", "weight": 50_000},
                                               {"variation": "off", "weight": 50_000}]}}},
    "targets": flag(targets=[{"values": ["u"], "variation": "on"}]),
}, {"s": {"included": ["u"], "rules": [{"clauses": [clause("x", "exists")]}]}}))


@settings(max_examples=500)
@given(st.one_of(json_values, st.dictionaries(
    st.sampled_from(["targetingKey", "key", "kind", "country", "a", "v", "t", "ip", "s", "org",
                     "user", "device", "x"]), json_values, max_size=6)))
def test_evaluating_arbitrary_contexts_never_raises(ctx: Any) -> None:
    context = Context.from_mapping(ctx)
    for key in ENV.flag_keys:
        d = ENV.evaluate(key, ctx, "dflt")
        assert isinstance(d, EvaluationDetail)
        assert ENV.evaluate(key, context, "dflt") == d
        assert isinstance(ENV.get_boolean(key, ctx, False), bool)
        ENV.get_string(key, ctx, "")
        ENV.get_integer(key, ctx, 0)
        ENV.get_float(key, ctx, 0.0)
        ENV.get_object(key, ctx, None)
    assert set(ENV.evaluate_all(ctx)) == ENV.flag_keys
