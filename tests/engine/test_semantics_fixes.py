"""Issue 17's smaller fixes: optional default, multi-kind targets in list order, deep numeric
equality, and the unused-variation lint for rollouts that leave buckets to the last one."""

from __future__ import annotations

from typing import Any

import pytest

from edge_reader.engine import Context, Reason, compile_environment

from .builders import clause, compile_one, doc, flag, matches, rule, user

# --- optional default -------------------------------------------------------------------


def _no_default(*rules: dict[str, Any], **extra: Any) -> dict[str, Any]:
    f = flag(*rules, **extra)
    del f["default"]
    return f


def test_a_flag_without_default_serves_the_callers_default_with_reason_default() -> None:
    env = compile_one(_no_default(rule(clause("country", "in", "DE"))), strict=True)
    d = env.evaluate("f", user(country="FR"), "fallback")
    assert (d.value, d.variant, d.reason, d.error_code) == ("fallback", None, Reason.DEFAULT,
                                                           None)
    assert env.get_boolean("f", user(country="FR"), True) is True
    assert env.get_boolean("f", user(country="FR"), False) is False
    assert env.get_boolean_details("f", user(country="FR"), True).reason is Reason.DEFAULT
    assert env.evaluate("f", user(country="DE"), None).variant == "on"
    assert env.metadata["features"] == ("optional_default",)


def test_a_flag_without_default_or_targeting_is_default_not_static() -> None:
    env = compile_one(_no_default(), strict=True)
    d = env.evaluate("f", user(), 7)
    assert (d.value, d.variant, d.reason) == (7, None, Reason.DEFAULT)
    # Nothing serves `on`/`off` now: the lint says so (it is not an error).
    assert {w.code for w in env.warnings} == {"unused_variation"}


def test_no_unreachable_default_warning_without_a_default() -> None:
    env = compile_one(_no_default(rule()), strict=True)
    assert "unreachable_default" not in {w.code for w in env.warnings}


# --- multi-kind targets in list order ---------------------------------------------------

MULTI = Context.from_mapping({"kind": "multi", "user": {"key": "u-1"},
                              "organization": {"key": "o-1"}})


@pytest.mark.parametrize(("targets", "want"), [
    ([{"context_kind": "organization", "values": ["o-1"], "variation": "a"},
      {"context_kind": "user", "values": ["u-1"], "variation": "b"}], "a"),
    ([{"context_kind": "user", "values": ["u-9"], "variation": "c"},
      {"context_kind": "organization", "values": ["o-1"], "variation": "a"},
      {"context_kind": "user", "values": ["u-1"], "variation": "b"}], "a"),
    ([{"context_kind": "user", "values": ["u-1"], "variation": "b"},
      {"context_kind": "organization", "values": ["o-1"], "variation": "a"}], "b"),
])
def test_targets_are_tried_in_list_order(targets: list[dict[str, Any]], want: str) -> None:
    """LaunchDarkly's rule (and the doc's): the first listed target the context matches."""
    f = flag(kind="string", variations={"a": "A", "b": "B", "c": "C", "d": "D"}, default="d",
             targets=targets)
    d = compile_one(f, strict=True).evaluate("f", MULTI, None)
    assert (d.variant, d.reason) == (want, Reason.TARGETING_MATCH)


def test_within_a_kind_the_first_target_of_a_key_still_wins() -> None:
    f = flag(targets=[{"values": ["u-1"], "variation": "on"},
                      {"context_kind": "organization", "values": ["o-1"], "variation": "off"},
                      {"values": ["u-1"], "variation": "off"}], default="off")
    env = compile_one(f, strict=True)
    assert env.evaluate("f", user("u-1"), None).variant == "on"
    assert [w.path for w in env.warnings if w.code == "duplicate_target"] == [
        "flags.f.targets[2].values[0]"]


# --- deep numeric equality --------------------------------------------------------------


@pytest.mark.parametrize(("value", "attr", "want"), [
    ({"a": 1}, {"a": 1.0}, True),
    ({"a": 1.0}, {"a": 1}, True),
    ({"a": [1, [2.0]]}, {"a": [1.0, [2]]}, True),
    ({"a": [1, 2]}, [{"a": [1.0, 2.0]}], True),  # an array attribute: any element matches
    ({"a": {"b": 3}}, {"a": {"b": 3.0}}, True),
    ({"a": 1}, {"a": 1.5}, False),
    ({"a": 1}, {"a": True}, False),  # booleans never equal numbers, at any depth
    ({"a": True}, {"a": 1}, False),
    ({"a": "1"}, {"a": 1}, False),
])
def test_objects_and_arrays_compare_numbers_as_numbers(value: Any, attr: Any,
                                                       want: bool) -> None:
    assert matches(clause("x", "in", value), user(x=attr)) is want


# --- unused_variation with weights below the total ---------------------------------------


def _rollout(*weights: int) -> dict[str, Any]:
    names = ["a", "b", "c"][:len(weights)]
    return {"variations": [{"variation": n, "weight": w} for n, w in zip(names, weights,
                                                                         strict=True)]}


def _unused(rollout: dict[str, Any]) -> list[str]:
    f = {"kind": "string", "variations": {"a": "A", "b": "B", "c": "C"},
         "default": {"rollout": rollout}}
    env = compile_environment(doc({"f": f}), strict=True)
    return [w.path for w in env.warnings if w.code == "unused_variation"]


def test_the_last_variation_of_a_short_rollout_is_served_so_not_unused() -> None:
    assert _unused(_rollout(60000, 0, 0)) == ["flags.f.variations.b"]  # c gets 40 %
    assert _unused(_rollout(100000, 0, 0)) == ["flags.f.variations.b", "flags.f.variations.c"]
    ramp = {**_rollout(100000, 0, 0), "schedule": [
        {"at": "2026-12-01T00:00:00Z", "weights": [50000, 0, 0]}]}
    assert _unused(ramp) == ["flags.f.variations.b"]  # c is served once the ramp starts
