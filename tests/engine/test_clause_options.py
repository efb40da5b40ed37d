"""Clause options: ``case_insensitive``, ``when_absent`` and ``now``."""

from __future__ import annotations

from typing import Any

import pytest

from edge_reader.engine import CompileError, Context, compile_environment

from .builders import clause, compile_one, doc, flag, matches, rule, user


def _ci(attribute: str, op: str, *values: Any, **extra: Any) -> dict[str, Any]:
    return {**clause(attribute, op, *values), "case_insensitive": True, **extra}


def _errors(f: dict[str, Any], **kwargs: Any) -> list[tuple[str, str]]:
    with pytest.raises(CompileError) as err:
        compile_one(f, strict=True, **kwargs)
    return [(p.path, p.code) for p in err.value.errors]


# --- case_insensitive -------------------------------------------------------------------


@pytest.mark.parametrize(("c", "value", "want"), [
    (_ci("e", "in", "Alice@Example.COM"), "alice@example.com", True),
    (_ci("e", "equals", "ALICE"), "Alice", True),
    (_ci("e", "in", "alice", 3), 3, True),  # non-strings compare as before
    (_ci("e", "in", "alice"), "bob", False),
    (_ci("e", "not_in", "ALICE"), "alice", False),
    (_ci("e", "not_in", "ALICE"), "bob", True),
    (_ci("e", "starts_with", "AL"), "alice", True),
    (_ci("e", "ends_with", "@EXAMPLE.com"), "a@example.COM", True),
    (_ci("e", "contains", "LIC"), "alice", True),
    (_ci("e", "matches", "^ALI[a-z]+$"), "alice", True),
    (_ci("e", "matches", "^ali"), "BOB", False),
    (_ci("e", "startsWith", "AL"), "alice", True),  # aliases too
])
def test_case_insensitive_string_operators(c: dict[str, Any], value: Any, want: bool) -> None:
    assert matches(c, user(e=value)) is want


def test_case_sensitive_stays_the_default() -> None:
    assert matches(clause("e", "in", "ALICE"), user(e="alice")) is False
    assert matches(clause("e", "matches", "^ALI"), user(e="alice")) is False


def test_case_insensitive_on_arrays_and_negate() -> None:
    assert matches(_ci("tags", "in", "BETA"), user(tags=["alpha", "Beta"])) is True
    assert matches(_ci("tags", "in", "BETA", negate=True), user(tags=["beta"])) is False


def test_case_insensitive_needs_a_string_operator() -> None:
    f = flag(rule(_ci("n", "lt", 3)))
    assert _errors(f) == [("flags.f.rules[0].clauses[0].case_insensitive", "invalid_option")]


def test_a_folding_clause_never_shares_the_closure_of_a_plain_one() -> None:
    # Same attribute, op and values: only the option differs (the compiler shares closures
    # of identical plain clauses; an option must keep them apart).
    f = flag(rule(clause("e", "in", "ab")), rule(_ci("e", "in", "ab"), serve="off"),
             kind="string", variations={"on": "plain", "off": "folded", "d": "none"},
             default="d")
    env = compile_one(f, strict=True)
    assert env.evaluate("f", user(e="AB"), None).value == "folded"
    assert env.evaluate("f", user(e="ab"), None).value == "plain"


# --- when_absent ------------------------------------------------------------------------


@pytest.mark.parametrize(("ctx", "want"), [
    (user(), True),  # attribute absent
    (user(country=None), True),  # null is absent
    ({"kind": "device", "key": "d"}, True),  # no such kind
    (user(country="DE"), False),
    (user(country="FR"), True),
])
def test_not_in_with_when_absent_is_unleash_not_in(ctx: dict[str, Any], want: bool) -> None:
    c = {**clause("country", "not_in", "DE"), "when_absent": True}
    assert matches(c, ctx) is want


def test_when_absent_is_not_negated_and_false_is_launchdarkly() -> None:
    negated = {**clause("country", "in", "DE", negate=True), "when_absent": True}
    assert matches(negated, user()) is True  # the given result, no negate on top
    absent_false = {**clause("country", "not_in", "DE"), "when_absent": False}
    assert matches(absent_false, user()) is False
    assert matches(clause("country", "not_in", "DE"), user()) is False  # LaunchDarkly's rule
    nested = {**clause("/org/tier", "in", "pro"), "when_absent": True}
    assert matches(nested, user(org={"name": "x"})) is True
    assert matches(nested, user(org={"tier": "free"})) is False


def test_when_absent_expresses_launchdarklys_anonymous() -> None:
    # LaunchDarkly's built-in `anonymous` is false when absent.
    not_anonymous = {**clause("anonymous", "in", True, negate=True), "when_absent": True}
    assert matches(not_anonymous, user()) is True
    assert matches(not_anonymous, user(anonymous=True)) is False
    assert matches(not_anonymous, user(anonymous=False)) is True


def test_when_absent_cannot_change_exists_or_segment_match() -> None:
    f = flag(rule({**clause("a", "exists"), "when_absent": True}))
    assert _errors(f) == [("flags.f.rules[0].clauses[0].when_absent", "invalid_option")]


# --- now --------------------------------------------------------------------------------

T = 1_795_478_400.0  # 2026-11-24T00:00:00Z, seconds


def _now(op: str, *values: Any, **extra: Any) -> dict[str, Any]:
    return {"now": True, "op": op, "values": list(values), **extra}


@pytest.mark.parametrize(("c", "want"), [
    (_now("after", "2026-11-23T00:00:00Z"), True),
    (_now("before", "2026-11-23T00:00:00Z"), False),
    (_now("before", "2026-11-25T00:00:00+01:00"), True),
    (_now("gte", T * 1000), True),
    (_now("gt", T * 1000), False),
    (_now("lessThan", T * 1000 + 1), True),
    (_now("after", "2026-11-23T00:00:00Z", negate=True), False),
])
def test_now_compares_the_clock_in_epoch_ms(c: dict[str, Any], want: bool) -> None:
    env = compile_one(flag(rule(c)), strict=True, clock=lambda: T)
    assert env.evaluate("f", user(), None).variant == ("on" if want else "off")
    assert env.metadata["features"] == ("now_clause",)


def test_now_follows_the_clock_at_evaluation_time() -> None:
    t = [T]
    env = compile_one(flag(rule(_now("after", "2026-12-01T00:00:00Z"))), strict=True,
                      clock=lambda: t[0])
    assert env.evaluate("f", user(), None).variant == "off"
    t[0] = T + 8 * 86400
    assert env.evaluate("f", user(), None).variant == "on"


def test_now_without_a_clock_never_matches_and_warns() -> None:
    env = compile_one(flag(rule(_now("after", 0))), strict=True)
    assert env.evaluate("f", user(), None).variant == "off"
    assert [(p.path, p.code) for p in env.warnings] == [
        ("flags.f.rules[0].clauses[0].now", "no_clock")]


def test_now_errors() -> None:
    assert _errors(flag(rule(_now("after", 0, attribute="signup")))) == [
        ("flags.f.rules[0].clauses[0].attribute", "invalid_option")]
    assert _errors(flag(rule(_now("in", 0)))) == [
        ("flags.f.rules[0].clauses[0].op", "invalid_option")]
    assert _errors(flag(rule(_now("after", "soon")))) == [
        ("flags.f.rules[0].clauses[0].values[0]", "invalid_date")]


def test_option_types_are_checked() -> None:
    c = {**clause("a", "in", "x"), "case_insensitive": "yes", "when_absent": 1}
    assert _errors(flag(rule(c))) == [
        ("flags.f.rules[0].clauses[0].case_insensitive", "type"),
        ("flags.f.rules[0].clauses[0].when_absent", "type")]


def test_features_name_every_option_used() -> None:
    f = flag(rule(_ci("a", "in", "x")), rule({**clause("b", "in", 1), "when_absent": False}),
             rule(_now("after", 0)))
    env = compile_environment(doc({"f": f}), clock=lambda: T)
    assert env.metadata["features"] == ("case_insensitive", "now_clause", "when_absent")
    assert env.evaluate("f", Context.from_mapping(user(a="X")), None).rule_index == 0
