"""Clause groups: ``any`` (OR), ``all`` (AND), ``not`` (NOT), nested, in rules and segments."""

from __future__ import annotations

from typing import Any

import pytest

from edge_reader.engine import CompileError, Context, compile_environment

from .builders import clause, compile_one, doc, flag, matches, rule, user

DE = clause("country", "in", "DE")
PRO = clause("plan", "in", "pro")
BETA = clause("beta", "in", True)


def _errors(f: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(CompileError) as err:
        compile_one(f, strict=True)
    return [(p.path, p.code) for p in err.value.errors]


def _warnings(f: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p.path, p.code) for p in compile_one(f, strict=True).warnings]


@pytest.mark.parametrize(("ctx", "want"), [
    (user(country="DE"), True), (user(plan="pro"), True), (user(country="FR"), False),
    (user(), False),
])
def test_any_is_or(ctx: dict[str, Any], want: bool) -> None:
    assert matches({"any": [DE, PRO]}, ctx) is want


@pytest.mark.parametrize(("ctx", "want"), [
    (user(country="DE", plan="pro"), True), (user(country="DE"), False), (user(plan="pro"), False),
])
def test_all_is_and(ctx: dict[str, Any], want: bool) -> None:
    assert matches({"all": [DE, PRO]}, ctx) is want


def test_not_is_the_exact_negation_including_an_absent_attribute() -> None:
    # `negate` follows LaunchDarkly (an absent attribute matches neither way); `not` is
    # the plain logical negation of the inner result, so absence matches it.
    assert matches({"not": DE}, user()) is True
    assert matches(clause("country", "in", "DE", negate=True), user()) is False
    assert matches({"not": DE}, user(country="DE")) is False
    assert matches({"not": DE}, user(country="FR")) is True
    assert matches({"not": {"not": DE}}, user(country="DE")) is True


def test_groups_nest_and_mix_with_plain_clauses() -> None:
    # (DE or (pro and not beta)) and plan exists — one rule, where 3 rules were needed.
    cond = {"any": [DE, {"all": [PRO, {"not": BETA}]}]}
    env = compile_one(flag(rule(cond, clause("plan", "exists"))), strict=True)
    get = lambda **a: env.evaluate("f", user(**a), None).variant  # noqa: E731
    assert get(country="DE", plan="free") == "on"
    assert get(country="DE") == "off"  # no plan: the second clause fails
    assert get(plan="pro") == "on"
    assert get(plan="pro", beta=True) == "off"
    assert get(plan="free", beta=False) == "off"


def test_groups_work_in_segment_rules() -> None:
    segments = {"s": {"rules": [{"clauses": [{"any": [DE, {"not": clause("age", "lt", 18)}]}]}]}}
    f = flag(rule({"op": "segment_match", "values": ["s"]}))
    env = compile_one(f, segments, strict=True)
    assert env.evaluate("f", user(country="DE", age=10), None).variant == "on"
    assert env.evaluate("f", user(country="FR", age=30), None).variant == "on"
    assert env.evaluate("f", user(country="FR", age=10), None).variant == "off"
    assert env.metadata["features"] == ("clause_groups",)


def test_empty_groups_warn_and_mean_never_and_always() -> None:
    f = flag(rule({"any": []}), rule({"all": []}, serve="off"), default="on")
    assert _warnings(f) == [("flags.f.rules[0].clauses[0].any", "empty_group"),
                            ("flags.f.rules[1].clauses[0].all", "empty_group")]
    env = compile_one(f, strict=True)
    d = env.evaluate("f", user(), None)
    assert (d.variant, d.rule_index) == ("off", 1)


def test_nesting_is_bounded() -> None:
    def nested(n: int) -> dict[str, Any]:
        c: dict[str, Any] = DE
        for _ in range(n):
            c = {"not": c}
        return c

    ok = compile_one(flag(rule(nested(16))), strict=True)  # an even count: DE itself
    assert ok.evaluate("f", user(country="DE"), None).variant == "on"
    errors = _errors(flag(rule(nested(17))))
    assert errors == [("flags.f.rules[0].clauses[0]" + ".not" * 16, "too_deep")]


def test_errors_inside_groups_carry_their_path() -> None:
    bad = {"any": [DE, {"all": [clause("v", "semver_gt", "1.x"), {"attribute": "a"}]}]}
    assert _errors(flag(rule(bad))) == [
        ("flags.f.rules[0].clauses[0].any[1].all[0].values[0]", "invalid_semver"),
        ("flags.f.rules[0].clauses[0].any[1].all[1].op", "required"),
    ]


def test_a_group_has_exactly_one_key_and_the_right_shapes() -> None:
    assert _errors(flag(rule({"any": [DE], "all": [PRO]}))) == [
        ("flags.f.rules[0].clauses[0].all", "unknown_field")]
    assert _errors(flag(rule({"any": DE}))) == [("flags.f.rules[0].clauses[0].any", "type")]
    assert _errors(flag(rule({"not": [DE]}))) == [("flags.f.rules[0].clauses[0].not", "type")]


def test_plain_clauses_compile_as_before_and_groups_share_nothing_wrongly() -> None:
    """Plain clauses keep their fast closures: a group is compiled only where written."""
    env = compile_one(flag(rule(DE)), strict=True)
    cond = env._runs["f"].__self__.cond  # type: ignore[attr-defined]
    assert cond.__name__ == "in_strings"
    assert "features" not in env.metadata
    # The same plain clause inside and outside a group: both compile and agree.
    f = flag(rule(DE), rule({"not": DE}, serve="off"), default="on")
    env = compile_one(f, strict=True)
    assert env.evaluate("f", user(country="DE"), None).rule_index == 0
    assert env.evaluate("f", user(country="FR"), None).rule_index == 1


def test_attribute_lint_sees_inside_groups() -> None:
    f = flag(rule(clause("country", "in", "DE")), rule(clause("country", "in", "FR")),
             rule({"any": [clause("countyr", "in", "NL")]}))
    warnings = [(p.path, p.code) for p in compile_environment(doc({"f": f})).warnings]
    assert ("flags.f.rules[2].clauses[0].any[0].attribute", "attribute_typo") in warnings


def test_groups_read_multi_kind_contexts() -> None:
    org_pro = clause("tier", "in", "pro", kind="organization")
    ctx = Context.from_mapping({"kind": "multi", "user": {"key": "u", "country": "FR"},
                                "organization": {"key": "o", "tier": "pro"}})
    env = compile_one(flag(rule({"any": [DE, org_pro]})), strict=True)
    assert env.evaluate("f", ctx, None).variant == "on"


def test_plain_clauses_and_segment_keys_look_inside_groups() -> None:
    """The one walker the publisher (bundle scopes) and the reader (dependents) use."""
    from edge_reader.engine.fields import plain_clauses, segment_keys

    seg = {"op": "segment_match", "values": ["a"]}
    clauses = [DE, {"any": [PRO, {"not": {"all": [seg, {"op": "segmentMatch",
                                                         "values": ["b", 3]}]}}]},
               {"not": "junk"}, {"any": "junk"}, 7]
    assert [c.get("op") for c in plain_clauses(clauses)] == [
        "in", "in", "segment_match", "segmentMatch"]
    assert segment_keys(clauses) == ["a", "b"]
    deep: dict[str, Any] = seg
    for _ in range(10_000):  # far deeper than the compiler allows: no recursion
        deep = {"not": deep}
    assert segment_keys([deep]) == ["a"]
