"""Lint warnings: reported with paths, never blocking."""

from __future__ import annotations

from typing import Any

from edge_reader.engine import compile_environment

from .builders import BOOL, clause, doc, flag, rule


def _warnings(f: dict[str, Any]) -> list[tuple[str, str]]:
    env = compile_environment(doc({"f": f}), strict=True)  # warnings never raise
    return [(w.path, w.code) for w in env.warnings]


def test_rule_after_an_unconditional_rule_is_unreachable() -> None:
    f = flag(rule(clause("a", "in", 1)), rule(serve="off"), rule(clause("b", "in", 1)),
             rule(clause("c", "in", 1), serve="off"))
    assert _warnings(f) == [("flags.f.rules[2]", "unreachable_rule"),
                            ("flags.f.rules[3]", "unreachable_rule"),
                            ("flags.f.default", "unreachable_default")]


def test_variation_no_path_serves() -> None:
    f = flag(kind="string", variations={"a": "A", "b": "B", "c": "C"}, default="a",
             off_variation="b")
    assert _warnings(f) == [("flags.f.variations.c", "unused_variation")]


def test_zero_weight_variation_is_unused_but_a_scheduled_one_is_not() -> None:
    r = {"variations": [{"variation": "on", "weight": 100_000}, {"variation": "off", "weight": 0}]}
    assert _warnings({"kind": "boolean", "variations": dict(BOOL), "default": {"rollout": r}}) == [
        ("flags.f.variations.off", "unused_variation")]
    r["schedule"] = [{"at": "2026-12-01T00:00:00Z", "weights": [50_000, 50_000]}]
    assert _warnings({"kind": "boolean", "variations": dict(BOOL), "default": {"rollout": r},
                      "off_variation": "off"}) == [
        ("flags.f.default.rollout.schedule", "no_clock")]


def test_weights_not_summing_to_100_percent() -> None:
    r = {"variations": [{"variation": "on", "weight": 60_000},
                        {"variation": "off", "weight": 60_000}]}
    assert ("flags.f.default.rollout.variations", "weights_sum") in _warnings(
        {"kind": "boolean", "variations": dict(BOOL), "default": {"rollout": r}})


def test_numeric_operator_against_strings() -> None:
    assert _warnings(flag(rule(clause("n", "gte", "10")))) == [
        ("flags.f.rules[0].clauses[0].values[0]", "non_numeric_value"),
        ("flags.f.rules[0].clauses[0].op", "numeric_op")]


def test_clause_with_no_values_and_duplicate_targets() -> None:
    f = flag(rule(clause("a", "in")),
             targets=[{"values": ["u"], "variation": "on"}, {"values": ["u"], "variation": "off"}])
    assert _warnings(f) == [("flags.f.targets[1].values[0]", "duplicate_target"),
                            ("flags.f.rules[0].clauses[0].values", "empty_values")]


def test_identical_clauses_in_many_flags_each_get_their_warnings() -> None:
    """Clean identical clauses are shared between flags; warned ones are reported per path."""
    bad = rule(clause("n", "gte", "10"))
    good = rule(clause("country", "in", "DE"))
    env = compile_environment(doc({"a": flag(bad, good), "b": flag(bad, good)}))
    assert [(w.path, w.code) for w in env.warnings if w.code == "non_numeric_value"] == [
        ("flags.a.rules[0].clauses[0].values[0]", "non_numeric_value"),
        ("flags.b.rules[0].clauses[0].values[0]", "non_numeric_value")]
    assert env.get_boolean("a", {"targetingKey": "u", "country": "DE"}, False)
    assert env.get_boolean("b", {"targetingKey": "u", "country": "DE"}, False)
    assert not env.get_boolean("b", {"targetingKey": "u", "country": "FR"}, False)


def test_shared_clauses_keep_true_and_one_apart() -> None:
    env = compile_environment(doc({"a": flag(rule(clause("x", "in", True))),
                                   "b": flag(rule(clause("x", "in", 1)))}))
    assert env.get_boolean("a", {"targetingKey": "u", "x": True}, False)
    assert not env.get_boolean("b", {"targetingKey": "u", "x": True}, False)
    assert env.get_boolean("b", {"targetingKey": "u", "x": 1}, False)
