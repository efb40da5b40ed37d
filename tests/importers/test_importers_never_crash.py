"""Whatever an export holds, an importer either refuses it with a ValueError (exit 2 in the
CLI) or returns a document the strict compiler accepts — never another exception."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from edge_reader.engine import compile_environment
from vexil.importers import flagd
from vexil.importers import launchdarkly as ld

NAMES = ["key", "on", "variations", "rules", "clauses", "op", "values", "attribute", "variation",
         "rollout", "weight", "contextKind", "kind", "bucketBy", "seed", "targets",
         "contextTargets", "fallthrough", "offVariation", "prerequisites", "negate", "included",
         "includedContexts", "if", "var", "==", "in", "!", "and", "fractional", "starts_with",
         "state", "variants", "defaultVariant", "targeting", "metadata", "$ref", "cat", "<"]
SCALARS = st.sampled_from([None, True, False, 0, -1, 1, 2, 1.5, "", "x", "/a", "in", "user",
                           "segmentMatch", "a", "b", "s", "e", "ENABLED"])
JSONISH = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.sampled_from(NAMES), inner, max_size=4), max_leaves=12)

LD_FLAG = {"on": True, "variations": [True, False], "fallthrough": {"variation": 0},
           "rules": [{"id": "r", "variation": 1,
                      "clauses": [{"attribute": "a", "op": "in", "values": [1]}]}]}
FLAGD_FLAG = {"state": "ENABLED", "variants": {"a": 1, "b": 2}, "defaultVariant": "a",
              "targeting": {"if": [{"==": [{"var": "x"}, "y"]}, "b"]}}


def check(module: Any, document: object) -> None:
    try:
        conv = module.convert(document)
    except ValueError:
        return
    compile_environment(conv.document, strict=True)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(NAMES), JSONISH, max_size=4), JSONISH)
def test_launchdarkly(overrides: dict[str, Any], segment: Any) -> None:
    check(ld, {"flags": {"f": {**LD_FLAG, **overrides}, "g": LD_FLAG}, "segments": {"s": segment}})


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(NAMES), JSONISH, max_size=4), JSONISH, JSONISH)
def test_flagd(overrides: dict[str, Any], targeting: Any, evaluator: Any) -> None:
    flag = {**FLAGD_FLAG, **overrides}
    check(flagd, {"flags": {"f": flag, "g": {**FLAGD_FLAG, "targeting": targeting}},
                  "$evaluators": {"e": evaluator}})


@settings(max_examples=200, deadline=None)
@given(JSONISH)
def test_contexts(peer_context: Any) -> None:
    for module in (ld, flagd):
        with contextlib.suppress(ValueError):
            assert isinstance(module.context(peer_context), dict)
