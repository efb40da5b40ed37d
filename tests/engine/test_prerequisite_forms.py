"""Prerequisites: ``variation``, ``variations`` (any of), ``off``, each optionally ``negate``d;
and what a flag serves when its prerequisite flag is broken."""

from __future__ import annotations

from typing import Any

import pytest

from edge_reader.engine import CompileError, ErrorCode, Reason, compile_environment

from .builders import clause, doc, flag, rule, user

COLOUR = {"red": "r", "green": "g", "blue": "b"}


def _parent(**extra: Any) -> dict[str, Any]:
    """A string flag serving red to DE, green to FR, blue otherwise."""
    return flag(rule(clause("country", "in", "DE"), serve="red"),
                rule(clause("country", "in", "FR"), serve="green"),
                kind="string", variations=COLOUR, default="blue", **extra)


def _child(*prereqs: dict[str, Any]) -> dict[str, Any]:
    return flag(default="on", off_variation="off", prerequisites=list(prereqs))


def _serves(prereq: dict[str, Any], parent: dict[str, Any], ctx: dict[str, Any]) -> str | None:
    env = compile_environment(doc({"parent": parent, "child": _child(prereq)}), strict=True)
    return env.evaluate("child", ctx, None).variant


@pytest.mark.parametrize(("country", "want"), [("DE", "on"), ("FR", "on"), ("NL", "off")])
def test_variations_is_any_of(country: str, want: str) -> None:
    p = {"flag": "parent", "variations": ["red", "green"]}
    assert _serves(p, _parent(), user(country=country)) == want


@pytest.mark.parametrize(("country", "want"), [("DE", "off"), ("FR", "off"), ("NL", "on")])
def test_negated_variations_is_none_of(country: str, want: str) -> None:
    p = {"flag": "parent", "variations": ["red", "green"], "negate": True}
    assert _serves(p, _parent(), user(country=country)) == want


def test_negated_single_variation_is_unleashs_disabled_dependency() -> None:
    parent = flag(rule(clause("beta", "in", True)), default="off")
    p = {"flag": "parent", "variation": "on", "negate": True}
    assert _serves(p, parent, user(beta=True)) == "off"
    assert _serves(p, parent, user()) == "on"


def test_off_holds_when_the_parent_is_off_for_this_context() -> None:
    p = {"flag": "parent", "off": True}
    assert _serves(p, _parent(enabled=False), user()) == "on"  # kill switch off
    assert _serves(p, _parent(), user()) == "off"  # on: the prerequisite fails
    # The parent's own prerequisite fails for this context: it is off (DISABLED) here.
    flags = {"gate": flag(rule(clause("country", "in", "DE")), default="off"),
             "parent": _parent(off_variation="blue",
                               prerequisites=[{"flag": "gate", "variation": "on"}]),
             "child": _child(p)}
    env = compile_environment(doc(flags), strict=True)
    assert env.evaluate("parent", user(country="FR"), None).reason is Reason.DISABLED
    assert env.evaluate("child", user(country="FR"), None).variant == "on"
    assert env.evaluate("child", user(country="DE"), None).variant == "off"


def test_negated_off_holds_when_the_parent_is_on() -> None:
    p = {"flag": "parent", "off": True, "negate": True}
    assert _serves(p, _parent(), user()) == "on"
    assert _serves(p, _parent(enabled=False), user()) == "off"


def test_a_disabled_parent_decides_at_compile_time_and_warns() -> None:
    flags = {"parent": _parent(enabled=False),
             "a": _child({"flag": "parent", "variation": "blue"}),
             "b": _child({"flag": "parent", "variation": "blue", "negate": True}),
             "c": _child({"flag": "parent", "off": True})}
    env = compile_environment(doc(flags), strict=True)
    assert [(w.path, w.message.rsplit(" ", 1)[-1]) for w in env.warnings
            if w.code == "prerequisite_disabled"] == [
        ("flags.a.prerequisites[0]", "fails"), ("flags.b.prerequisites[0]", "holds"),
        ("flags.c.prerequisites[0]", "holds")]
    assert [env.evaluate(k, user(), None).variant for k in "abc"] == ["off", "on", "on"]


def test_a_broken_prerequisite_fails_and_its_negation_holds() -> None:
    """compile_environment's docstring and flag-format.md: the dependent flag still
    compiles; the broken prerequisite serves no variation, so it fails (DISABLED)."""
    broken = _parent(rules=[{"clauses": [], "serve": {"variation": "nope"}}])
    flags = {"parent": broken,
             "plain": _child({"flag": "parent", "variation": "red"}),
             "negated": _child({"flag": "parent", "variation": "red", "negate": True}),
             "off": _child({"flag": "parent", "off": True})}
    env = compile_environment(doc(flags), strict=False)
    assert env.evaluate("parent", user(), None).error_code is ErrorCode.PARSE_ERROR
    d = env.evaluate("plain", user(), None)
    assert (d.variant, d.reason, d.error_code) == ("off", Reason.DISABLED, None)
    assert env.evaluate("negated", user(), None).variant == "on"
    assert env.evaluate("off", user(), None).variant == "off"  # ERROR is not DISABLED


def _errors(prereq: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(CompileError) as err:
        compile_environment(doc({"parent": _parent(), "child": _child(prereq)}), strict=True)
    return [(p.path, p.code) for p in err.value.errors]


@pytest.mark.parametrize(("prereq", "want"), [
    ({"flag": "parent"}, [("flags.child.prerequisites[0].variation", "required")]),
    ({"flag": "parent", "variation": "red", "variations": ["red"]},
     [("flags.child.prerequisites[0]", "prerequisite")]),
    ({"flag": "parent", "variation": "red", "off": True},
     [("flags.child.prerequisites[0]", "prerequisite")]),
    ({"flag": "parent", "off": False}, [("flags.child.prerequisites[0]", "prerequisite")]),
    ({"flag": "parent", "variations": []}, [("flags.child.prerequisites[0].variations", "empty")]),
    ({"flag": "parent", "variations": ["red", "gren"]},
     [("flags.child.prerequisites[0].variations[1]", "unknown_variation")]),
    ({"flag": "parent", "variations": ["red", 1]},
     [("flags.child.prerequisites[0].variations[1]", "type")]),
    ({"flag": "parent", "off": True, "negate": "no"},
     [("flags.child.prerequisites[0].negate", "type")]),
    ({"flag": "nope", "off": True}, [("flags.child.prerequisites[0].flag", "unknown_flag")]),
])
def test_prerequisite_errors(prereq: dict[str, Any], want: list[tuple[str, str]]) -> None:
    assert _errors(prereq) == want


def test_unknown_variation_in_variations_suggests() -> None:
    with pytest.raises(CompileError) as err:
        compile_environment(doc({"parent": _parent(), "child": _child(
            {"flag": "parent", "variations": ["gren"]})}))
    assert "did you mean 'green'?" in err.value.errors[0].message


def test_cycles_are_still_found_through_new_forms() -> None:
    flags = {"a": _child({"flag": "b", "off": True}), "b": _child({"flag": "a", "variations":
                                                                   ["on"], "negate": True})}
    with pytest.raises(CompileError) as err:
        compile_environment(doc(flags))
    assert {p.code for p in err.value.errors} == {"prerequisite_cycle"}


def test_features_name_the_prerequisite_forms() -> None:
    flags = {"parent": _parent(), "a": _child({"flag": "parent", "variations": ["red"]}),
             "b": _child({"flag": "parent", "off": True, "negate": False})}
    env = compile_environment(doc(flags))
    assert env.metadata["features"] == (
        "prerequisite_any_of", "prerequisite_negate", "prerequisite_off")
