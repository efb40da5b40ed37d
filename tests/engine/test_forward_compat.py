"""Forward compatibility: a reader (strict=False) meeting something newer than it knows
degrades that one clause (it never matches), evaluates the rest, and says so once; a
writer (strict=True) refuses all of it, naming the path."""

from __future__ import annotations

from typing import Any

import pytest

from edge_reader.engine import CompileError, ErrorCode, Problem, Reason, compile_environment
from edge_reader.engine.features import KNOWN_FEATURES, rollout_features

from .builders import clause, doc, flag, rule, user

NEWER_OP = {"attribute": "email", "op": "matches_glob", "values": ["*@x.io"]}
NEWER_FIELD = {**clause("country", "in", "DE"), "locale_fold": "de"}
NEWER_GROUP = {"xor": [clause("a", "in", 1), clause("b", "in", 1)]}
NEWER_LITERAL = clause("version", "semver_gt", "v2.0.0-r1")  # a literal this engine cannot parse


def _newer(warnings: list[Problem]) -> list[Problem]:
    """The warnings saying "this reader is older than the document"."""
    return [w for w in warnings if w.code in ("unsupported_clause", "unknown_feature")]


def _doc(newer: dict[str, Any]) -> dict[str, Any]:
    f = flag(rule(newer, rule_id="newer"),
             rule(clause("country", "in", "DE"), rule_id="de", serve="on"),
             default="off", off_variation="off")
    return doc({"f": f, "other": flag(default="on")})


@pytest.mark.parametrize("newer", [NEWER_OP, NEWER_FIELD, NEWER_GROUP, NEWER_LITERAL],
                         ids=["operator", "field", "group", "literal"])
def test_a_reader_degrades_only_the_clause(newer: dict[str, Any]) -> None:
    env = compile_environment(_doc(newer), strict=False)
    assert env.errors == []
    [warning] = _newer(env.warnings)
    assert (warning.path, warning.code) == ("flags.f.rules[0].clauses[0]", "unsupported_clause")
    # The newer clause does not match; the next rule and the default still serve.
    d = env.evaluate("f", user(country="DE", email="a@x.io", a=1, version="3.0.0"), None)
    assert (d.variant, d.reason, d.rule_id, d.error_code) == (
        "on", Reason.TARGETING_MATCH, "de", None)
    assert d.error_message is not None
    assert "flags.f.rules[0].clauses[0]" in d.error_message
    assert "treated as not matching" in d.error_message
    d = env.evaluate("f", user(country="FR"), None)
    assert (d.variant, d.reason) == ("off", Reason.DEFAULT)
    assert d.error_message is not None
    # A flag without such clauses is untouched.
    assert env.evaluate("other", user(), None).error_message is None


@pytest.mark.parametrize(("newer", "path", "code"), [
    (NEWER_OP, "flags.f.rules[0].clauses[0].op", "unknown_operator"),
    (NEWER_FIELD, "flags.f.rules[0].clauses[0].locale_fold", "unknown_field"),
    (NEWER_GROUP, "flags.f.rules[0].clauses[0].xor", "unknown_field"),
    (NEWER_LITERAL, "flags.f.rules[0].clauses[0].values[0]", "invalid_semver"),
], ids=["operator", "field", "group", "literal"])
def test_a_writer_refuses_it_with_the_path(newer: dict[str, Any], path: str, code: str) -> None:
    with pytest.raises(CompileError) as err:
        compile_environment(_doc(newer), strict=True)
    assert (err.value.errors[0].path, err.value.errors[0].code) == (path, code)


def test_not_around_an_unsupported_clause_matches() -> None:
    """The inner clause counts as "does not match", so its negation matches."""
    f = flag(rule({"not": NEWER_OP}))
    env = compile_environment(doc({"f": f}), strict=False)
    assert env.evaluate("f", user(), None).variant == "on"
    assert [w.path for w in _newer(env.warnings)] == ["flags.f.rules[0].clauses[0].not"]


def test_an_unsupported_clause_inside_a_group_degrades_only_itself() -> None:
    f = flag(rule({"any": [NEWER_OP, clause("country", "in", "DE")]}))
    env = compile_environment(doc({"f": f}), strict=False)
    assert env.evaluate("f", user(country="DE"), None).variant == "on"
    assert env.evaluate("f", user(country="FR"), None).variant == "off"


def test_a_segment_with_an_unsupported_clause_notes_the_flags_using_it() -> None:
    segments = {"s": {"included": ["vip"], "rules": [{"clauses": [NEWER_OP]}]}}
    flags = {"f": flag(rule({"op": "segment_match", "values": ["s"]})), "g": flag()}
    env = compile_environment(doc(flags, segments), strict=False)
    assert [w.path for w in _newer(env.warnings)] == ["segments.s.rules[0].clauses[0]"]
    d = env.evaluate("f", user("vip"), None)
    assert d.variant == "on"  # the segment still works by its lists
    assert "segments.s.rules[0].clauses[0]" in (d.error_message or "")
    assert env.evaluate("f", user("u-2"), None).variant == "off"
    assert env.evaluate("g", user(), None).error_message is None


def test_a_broken_clause_still_breaks_its_flag() -> None:
    """Only what a newer engine may write degrades: a wrong type is broken, not newer."""
    bad = {**clause("country", "in", "DE"), "negate": "yes"}
    env = compile_environment(doc({"f": flag(rule(bad))}), strict=False)
    assert env.evaluate("f", user(), None).error_code is ErrorCode.PARSE_ERROR
    mixed = {**NEWER_OP, "negate": "yes"}
    env = compile_environment(doc({"f": flag(rule(mixed))}), strict=False)
    assert env.evaluate("f", user(), None).error_code is ErrorCode.PARSE_ERROR


def test_unknown_features_are_reported_once_by_readers_and_refused_by_writers() -> None:
    d = {**doc({"f": flag(default="on")}), "features": ["clause_groups", "quantum_rollouts"]}
    env = compile_environment(d, strict=False)
    assert [(w.path, w.code) for w in _newer(env.warnings)] == [
        ("features[1]", "unknown_feature")]
    assert "quantum_rollouts" in _newer(env.warnings)[0].message
    assert env.evaluate("f", user(), None).variant == "on"
    with pytest.raises(CompileError) as err:
        compile_environment(d, strict=True)
    assert [(p.path, p.code) for p in err.value.errors] == [("features[1]", "unknown_feature")]


def test_the_features_list_is_computed_not_copied() -> None:
    d = {**doc({"f": flag(rule({"any": [clause("a", "in", 1)]}))}),
         "features": ["case_insensitive"]}
    assert compile_environment(d).metadata["features"] == ("clause_groups",)
    assert "features" not in compile_environment(doc({"f": flag()})).metadata


def test_rollout_features_are_detected_by_presence() -> None:
    assert rollout_features({"variations": [{"variation": "on", "weight": 1}]}) == set()
    assert rollout_features({
        "bucketing": {"hash": "unleash", "buckets": 100}, "missing": "skip",
        "variations": [{"variation": "on", "weight": 50}, {"weight": 50}]}) == {
        "peer_hash", "rollout_buckets", "rollout_missing_skip", "rollout_gaps"}
    assert rollout_features("junk") == set()
    assert rollout_features({"bucketing": {"hash": "vexil"}}) <= KNOWN_FEATURES


def test_every_known_feature_is_in_the_schema() -> None:
    from edge_reader.engine.schema import flag_schema
    enum = flag_schema()["properties"]["features"]["items"]["enum"]
    assert set(enum) == KNOWN_FEATURES
