"""The shared evaluation golden file: hand-written expectations the engine must meet."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

from edge_reader.engine import CompiledEnvironment, Context, compile_environment

GOLDEN = json.loads(pathlib.Path(__file__).with_name("golden").joinpath(
    "evaluations.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def env() -> CompiledEnvironment:
    clock = float(GOLDEN["clock"])
    return compile_environment(GOLDEN["environment"], strict=True, clock=lambda: clock)


def _detail(env: CompiledEnvironment, case: dict[str, Any]) -> dict[str, Any]:
    getter = case["getter"]
    ctx = Context.from_mapping(case["context"])
    if getter == "evaluate":
        d = env.evaluate(case["flag"], ctx, case["default"])
    else:
        d = getattr(env, f"get_{getter}_details")(case["flag"], ctx, case["default"])
    return {"value": d.value, "variant": d.variant, "reason": d.reason,
            "error_code": d.error_code, "rule_index": d.rule_index, "rule_id": d.rule_id}


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=[c["name"] for c in GOLDEN["cases"]])
def test_golden_case(env: CompiledEnvironment, case: dict[str, Any]) -> None:
    got = _detail(env, case)
    assert got == case["expected"]
    assert type(got["value"]) is type(case["expected"]["value"])


def test_golden_file_is_large_enough() -> None:
    assert len(GOLDEN["cases"]) >= 25
    reasons = {c["expected"]["reason"] for c in GOLDEN["cases"]}
    assert reasons == {"STATIC", "DISABLED", "TARGETING_MATCH", "DEFAULT", "SPLIT", "ERROR"}
