"""flag.schema.json and the compiler agree on issue 17's additions: both accept a document
using every one of them, and both refuse the same broken variants."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from .test_schema import VALIDATOR, _compiles

DE = {"attribute": "country", "op": "in", "values": ["DE"]}

EXAMPLE: dict[str, Any] = {
    "format": 1, "features": ["clause_groups"],
    "flags": {
        "parent": {"kind": "string", "variations": {"red": "r", "green": "g"},
                   "default": {"variation": "red"}},
        "f": {
            "kind": "boolean", "variations": {"on": True, "off": False},
            "off_variation": "off",
            "prerequisites": [
                {"flag": "parent", "variations": ["red", "green"]},
                {"flag": "parent", "off": True, "negate": True},
                {"flag": "parent", "variation": "red", "negate": False}],
            "rules": [{"clauses": [
                {"any": [DE, {"all": [{"not": DE}, {"attribute": "e", "op": "ends_with",
                                                     "values": ["@X.IO"],
                                                     "case_insensitive": True}]}]},
                {"attribute": "plan", "op": "not_in", "values": ["free"], "when_absent": True},
                {"now": True, "op": "after", "values": ["2026-01-01T00:00:00Z"]},
                {"now": True, "op": "lessThan", "values": [1.9e12], "negate": True}],
                "serve": {"variation": "on"}}],
        },
    },
    "segments": {"s": {"rules": [{"clauses": [{"not": {"any": []}}]}]}},
}


def test_both_accept_every_addition() -> None:
    assert list(VALIDATOR.iter_errors(EXAMPLE)) == []
    assert _compiles(EXAMPLE)


def _mutations() -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []

    def mutate(name: str, fn: Any) -> None:
        d = copy.deepcopy(EXAMPLE)
        fn(d)
        out.append((name, d))

    f = lambda d: d["flags"]["f"]  # noqa: E731
    clauses = lambda d: f(d)["rules"][0]["clauses"]  # noqa: E731
    mutate("unknown feature", lambda d: d.update(features=["teleport"]))
    mutate("group with two keys", lambda d: clauses(d)[0].update(all=[DE]))
    mutate("group body not an array", lambda d: clauses(d)[0].update(any=DE))
    mutate("unknown group key", lambda d: clauses(d).append({"xor": [DE]}))
    mutate("group inside a group broken", lambda d: clauses(d)[0]["any"][1]["all"][0].update(
        **{"not": {"op": "in"}}))
    mutate("case_insensitive on lt", lambda d: clauses(d).append(
        {"attribute": "n", "op": "lt", "values": [1], "case_insensitive": True}))
    mutate("case_insensitive not bool", lambda d: clauses(d)[1].update(case_insensitive=1))
    mutate("when_absent on exists", lambda d: clauses(d).append(
        {"attribute": "n", "op": "exists", "when_absent": True}))
    mutate("now with attribute", lambda d: clauses(d)[2].update(attribute="t"))
    mutate("now with context_kind", lambda d: clauses(d)[2].update(context_kind="user"))
    mutate("now with in", lambda d: clauses(d)[2].update(op="in"))
    mutate("no attribute without now", lambda d: clauses(d)[2].update(now=False))
    mutate("prerequisite two forms", lambda d: f(d)["prerequisites"][0].update(variation="red"))
    mutate("prerequisite no form", lambda d: f(d)["prerequisites"][0].pop("variations"))
    mutate("prerequisite off false", lambda d: f(d)["prerequisites"][1].update(off=False))
    mutate("prerequisite empty variations", lambda d: f(d)["prerequisites"][0].update(
        variations=[]))
    mutate("prerequisite negate not bool", lambda d: f(d)["prerequisites"][1].update(negate=1))
    return out


@pytest.mark.parametrize(("name", "d"), _mutations(), ids=[n for n, _ in _mutations()])
def test_both_refuse(name: str, d: Any) -> None:
    assert list(VALIDATOR.iter_errors(d)), f"schema accepted: {name}"
    assert not _compiles(d), f"compiler accepted: {name}"
