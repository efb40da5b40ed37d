"""Differential test: today's compiler against the results recorded from an earlier one.

tests/engine/golden/compiler_corpus.jsonl.gz holds generated environment documents (see
corpus.py: valid and broken rules, clauses of every operator, rollouts, schedules,
prerequisites, segments, bad references) and, for each, what compiling it produced: every
error and warning (path, message, code), the strict mode's exception text, each flag's info
and run shape, and its evaluation detail for a fixed set of contexts, with and without a
clock. A refactoring of the compiler must reproduce every line exactly.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from .corpus import read, record

LINES = read()


def _first_difference(got: Any, want: Any, path: str = "") -> str:
    """Where two JSON values first differ, for a readable failure."""
    if isinstance(got, dict) and isinstance(want, dict):
        for k in [*want, *(k for k in got if k not in want)]:
            if got.get(k, "<absent>") != want.get(k, "<absent>"):
                return _first_difference(got.get(k, "<absent>"), want.get(k, "<absent>"),
                                         f"{path}.{k}")
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            if g != w:
                return _first_difference(g, w, f"{path}[{i}]")
    return f"{path}: got {got!r}, recorded {want!r}"


@pytest.mark.parametrize("index", range(len(LINES)))
def test_compiling_the_corpus_reproduces_the_recording(index: int) -> None:
    line = LINES[index]
    # Round-tripped through JSON like the recording, so 1.0 and 1, true and 1 stay apart.
    got = json.loads(json.dumps(record(line["doc"])))
    assert got == line["result"], _first_difference(got, line["result"])


def test_the_corpus_walks_the_compiler_paths() -> None:
    """The net is only as good as what it covers: most problem codes, every run shape."""
    errors: Counter[str] = Counter()
    warnings: Counter[str] = Counter()
    shapes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for line in LINES:
        for result in line["result"].values():
            errors.update(code for _, _, code in result["errors"])
            warnings.update(code for _, _, code in result["warnings"])
            for f in result.get("flags", {}).values():
                shapes[f["shape"]] += 1
                reasons.update(d[2] for d in f["details"])
    assert {"unknown_variation", "unknown_flag", "unknown_segment", "unknown_operator",
            "unknown_field", "required", "type", "duplicate_id", "invalid_attribute",
            "invalid_date", "schedule_order", "weights_length", "range", "variation_type",
            "invalid_variation_name", "serve", "prerequisite_cycle", "invalid_key",
            "invalid_kind", "schema", "invalid_schema", "schema_kind", "pattern",
            "too_long", "empty"} <= set(errors)
    assert {"weights_sum", "no_clock", "unreachable_rule", "unreachable_default",
            "unused_variation", "duplicate_target", "prerequisite_disabled",
            "empty_values"} <= set(warnings)
    assert {"Constant", "OneRule", "FixedRules", "Flag", "_ByKey", "_Rollout"} <= set(shapes)
    assert set(reasons) == {"STATIC", "DEFAULT", "TARGETING_MATCH", "SPLIT", "DISABLED",
                            "ERROR"}
