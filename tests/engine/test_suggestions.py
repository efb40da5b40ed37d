"""The compiler's messages suggest the name that was most likely meant ("did you mean"),
and warn loudly about rollout weights written as percentages and misspelled attributes.

The suggestions live in the engine's messages (one owner): the API's 400 answers and
`vexil plan` both print them (tests/cli/test_plan_findings.py, test_flags_as_code.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from edge_reader.engine import CompileError, Context, compile_environment
from edge_reader.engine._validate import did_you_mean

from .builders import BOOL, clause, doc, flag, rule


def _errors(d: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(CompileError) as exc:
        compile_environment(d, strict=True)
    return {p.path: p.message for p in exc.value.errors}


def _warnings(d: dict[str, Any]) -> dict[str, tuple[str, str]]:
    env = compile_environment(d, strict=True)
    return {p.path: (p.code, p.message) for p in env.warnings}


def test_unknown_operator_suggests_the_operator() -> None:
    got = _errors(doc({"f": flag(rule(clause("plan", "inn", "pro")))}))
    assert got["flags.f.rules[0].clauses[0].op"] == "unknown operator 'inn' (did you mean 'in'?)"
    got = _errors(doc({"f": flag(rule(clause("v", "semver_lt_", "1.0.0")))}))
    assert "(did you mean 'semver_lt'?)" in got["flags.f.rules[0].clauses[0].op"]


def test_unknown_variation_segment_flag_and_field_suggest_close_names() -> None:
    flags = {
        "checkout": flag(rule(clause("plan", "in", "pro"), serve="onn")),
        "search": flag(rule({"op": "segment_match", "values": ["beta-tester"]}),
                       prerequisites=[{"flag": "chekout", "variation": "on"}],
                       off_variatoin="off"),
        "cart": flag(prerequisites=[{"flag": "checkout", "variation": "of"}]),
    }
    got = _errors(doc(flags, {"beta-testers": {"included": ["u-1"]}}))
    assert got == {
        "flags.checkout.rules[0].serve.variation": "unknown variation 'onn' (did you mean 'on'?)",
        "flags.search.rules[0].clauses[0].values[0]":
            "unknown segment 'beta-tester' (did you mean 'beta-testers'?)",
        "flags.search.prerequisites[0].flag": "unknown flag 'chekout' (did you mean 'checkout'?)",
        "flags.search.off_variatoin":
            "unknown field 'off_variatoin' (did you mean 'off_variation'?)",
        "flags.cart.prerequisites[0].variation":
            "flag 'checkout' has no variation 'of' (did you mean 'off'?)",
    }


def test_rollout_variation_suggests_too() -> None:
    r = {"variations": [{"variation": "onn", "weight": 100_000}]}
    got = _errors(doc({"f": flag(default="on") | {"default": {"rollout": r}}}))
    assert got["flags.f.default.rollout.variations[0].variation"] == (
        "unknown variation 'onn' (did you mean 'on'?)")


def test_no_suggestion_when_nothing_is_close() -> None:
    got = _errors(doc({"f": flag(rule(clause("plan", "frobnicate", "x")))}))
    assert got["flags.f.rules[0].clauses[0].op"] == "unknown operator 'frobnicate'"
    assert did_you_mean("Kind", ["id", "clauses", "serve"]) == ""
    assert did_you_mean("SERVE", ["id", "serve"]) == " (did you mean 'serve'?)"
    assert did_you_mean(3, ["in"]) == ""


@pytest.mark.parametrize(("weights", "meant"), [((25, 75), "25000, 75000"),
                                                ((10, 90), "10000, 90000"),
                                                ((50, 25, 25), "50000, 25000, 25000")])
def test_weights_that_look_like_percent_warn_with_the_likely_intent(
    weights: tuple[int, ...], meant: str,
) -> None:
    names = ["on", "off", "x"][:len(weights)]
    r = {"variations": [{"variation": n, "weight": w} for n, w in zip(names, weights,
                                                                       strict=True)]}
    f = {"kind": "string", "variations": {"on": "a", "off": "b", "x": "c"},
         "default": {"rollout": r}, "off_variation": "x"}
    code, message = _warnings(doc({"f": f}))["flags.f.default.rollout.variations"]
    assert code == "weights_percent"
    assert message.startswith("weights sum to 100, not 100000: read as ")
    assert f"write weights {meant}" in message
    # It is only a warning: the flag compiles and serves what the weights say (the last
    # variation gets the remainder: nearly everyone).
    env = compile_environment(doc({"f": f}), strict=True)
    served = {env.evaluate("f", Context.from_mapping({"targetingKey": f"u-{i}"}), None).variant
              for i in range(200)}
    assert served == {names[-1]}


def test_other_wrong_sums_keep_their_plain_warning() -> None:
    r = {"variations": [{"variation": "on", "weight": 2500}, {"variation": "off",
                                                                "weight": 7500}]}
    f = {"kind": "boolean", "variations": dict(BOOL), "default": {"rollout": r}}
    code, message = _warnings(doc({"f": f}))["flags.f.default.rollout.variations"]
    assert code == "weights_sum"
    assert message == ("weights sum to 10000, not 100000 "
                       "(the rest falls to the last variation)")


def test_a_misspelled_attribute_is_a_warning_naming_the_common_one() -> None:
    flags = {
        "a": flag(rule(clause("country", "in", "DE"))),
        "b": flag(rule(clause("country", "in", "AT"))),
        "c": flag(rule(clause("countyr", "in", "FR"))),
        "d": flag(rule(clause("Plan", "in", "pro")), rule(clause("plan", "in", "team"))),
        "e": flag(rule(clause("plan", "in", "free"))),
    }
    got = {p: m for p, (c, m) in _warnings(doc(flags)).items() if c == "attribute_typo"}
    assert got == {
        "flags.c.rules[0].clauses[0].attribute":
            "attribute 'countyr' looks like a misspelling (did you mean 'country'?): "
            "attributes are case-sensitive and matched exactly",
        "flags.d.rules[0].clauses[0].attribute":
            "attribute 'Plan' looks like a misspelling (did you mean 'plan'?): "
            "attributes are case-sensitive and matched exactly",
    }
    # Two attributes each tested by several clauses are both meant: no warning.
    flags["c"] = flag(rule(clause("county", "in", "Kent")), rule(clause("county", "in", "Ely")))
    typos = {p for p, (c, _) in _warnings(doc(flags)).items() if c == "attribute_typo"}
    assert typos == {"flags.d.rules[0].clauses[0].attribute"}
