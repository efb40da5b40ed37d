"""flag.schema.json: valid for the examples, and in agreement with the compiler on structure."""

from __future__ import annotations

import copy
import json
import pathlib
from typing import Any

import jsonschema
import pytest

from edge_reader.engine import CompileError, compile_environment
from edge_reader.engine.schema import flag_schema

GOLDEN = json.loads(pathlib.Path(__file__).with_name("golden").joinpath(
    "evaluations.json").read_text(encoding="utf-8"))["environment"]
VALIDATOR = jsonschema.Draft202012Validator(flag_schema())

# The example of docs/architecture.md, as JSON.
ARCHITECTURE_EXAMPLE: dict[str, Any] = {
    "format": 1, "project": "shop", "environment": "production", "revision": 42,
    "generated_at": "2026-11-24T06:00:00.000Z", "engine": "1", "audit_head": "ab",
    "scope": "server",
    "flags": {
        "new-cart": {"kind": "boolean", "variations": {"on": True, "off": False},
                     "default": {"variation": "on"}},
        "checkout": {
            "kind": "boolean", "variations": {"on": True, "off": False},
            "description": "...", "tags": ["checkout"], "client_visible": False, "version": 7,
            "deprecated": False, "metadata": {"owner": "team-x"},
            "enabled": True, "off_variation": "off",
            "prerequisites": [{"flag": "new-cart", "variation": "on"}],
            "targets": [{"context_kind": "user", "values": ["u-1", "u-2"], "variation": "on"}],
            "rules": [{"id": "eu", "description": "EU users", "clauses": [
                {"context_kind": "user", "attribute": "country", "op": "in",
                 "values": ["DE", "FR"], "negate": False}], "serve": {"variation": "on"}}],
            "default": {"rollout": {
                "variations": [{"variation": "on", "weight": 10000},
                               {"variation": "off", "weight": 90000}],
                "bucket_by": "key", "context_kind": "user", "salt": "checkout",
                "schedule": [{"at": "2026-12-01T00:00:00Z", "weights": [25000, 75000]},
                             {"at": "2026-12-08T00:00:00Z", "weights": [100000, 0]}]}},
        },
    },
    "segments": {"staff": {"context_kind": "user", "included": ["u-1"], "excluded": ["u-9"],
                           "rules": [{"id": "staff", "clauses": [
                               {"attribute": "email", "op": "ends_with",
                                "values": ["@x.example"]}]}],
                           "description": "...", "tags": [], "version": 3}},
}


def _compiles(d: Any) -> bool:
    try:
        compile_environment(d, strict=True, clock=lambda: 0.0)
    except CompileError:
        return False
    return True


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(flag_schema())


@pytest.mark.parametrize("example", [GOLDEN, ARCHITECTURE_EXAMPLE])
def test_examples_are_valid_for_both(example: dict[str, Any]) -> None:
    assert list(VALIDATOR.iter_errors(example)) == []
    assert _compiles(example)


def _mutations() -> list[tuple[str, Any]]:
    """Structurally broken variants of the architecture example."""
    out: list[tuple[str, Any]] = []

    def mutate(name: str, fn: Any) -> None:
        d = copy.deepcopy(ARCHITECTURE_EXAMPLE)
        fn(d)
        out.append((name, d))

    c = "checkout"
    mutate("unknown top-level key", lambda d: d.update(extra=1))
    mutate("format 2", lambda d: d.update(format=2))
    mutate("flags missing", lambda d: d.pop("flags"))
    mutate("bad flag key", lambda d: d["flags"].update({"Bad Key": d["flags"][c]}))
    mutate("unknown flag field", lambda d: d["flags"][c].update(colour="red"))
    mutate("kind missing", lambda d: d["flags"][c].pop("kind"))
    mutate("bad kind", lambda d: d["flags"][c].update(kind="toggle"))
    mutate("variation type", lambda d: d["flags"][c]["variations"].update(on="yes"))
    mutate("no variations", lambda d: d["flags"][c].update(variations={}))
    mutate("default not an object", lambda d: d["flags"][c].update(default="on"))
    mutate("serve both", lambda d: d["flags"][c]["rules"][0]["serve"].update(rollout={}))
    mutate("serve neither", lambda d: d["flags"][c]["rules"][0].update(serve={}))
    mutate("enabled not bool", lambda d: d["flags"][c].update(enabled="yes"))
    mutate("weight too big", lambda d: d["flags"][c]["default"]["rollout"]["variations"][0]
           .update(weight=100001))
    mutate("weight missing", lambda d: d["flags"][c]["default"]["rollout"]["variations"][0]
           .pop("weight"))
    mutate("bad op", lambda d: d["flags"][c]["rules"][0]["clauses"][0].update(op="like"))
    mutate("attribute missing", lambda d: d["flags"][c]["rules"][0]["clauses"][0]
           .pop("attribute"))
    mutate("negate not bool", lambda d: d["flags"][c]["rules"][0]["clauses"][0]
           .update(negate=1))
    mutate("values not array", lambda d: d["flags"][c]["rules"][0]["clauses"][0]
           .update(values="DE"))
    mutate("bad context kind", lambda d: d["flags"][c]["targets"][0].update(context_kind="a b"))
    mutate("target value not string", lambda d: d["flags"][c]["targets"][0].update(values=[1]))
    mutate("bad schedule instant", lambda d: d["flags"][c]["default"]["rollout"]["schedule"][0]
           .update(at="tomorrow"))
    mutate("schema on boolean flag", lambda d: d["flags"][c].update(schema={}))
    mutate("metadata object value", lambda d: d["flags"][c].update(metadata={"a": {}}))
    mutate("segment unknown field", lambda d: d["segments"]["staff"].update(weight=1))
    mutate("segment included not strings", lambda d: d["segments"]["staff"]
           .update(included=[1]))
    mutate("version negative", lambda d: d["flags"][c].update(version=-1))
    return out


@pytest.mark.parametrize(("name", "d"), _mutations(), ids=[n for n, _ in _mutations()])
def test_schema_and_compiler_both_reject(name: str, d: Any) -> None:
    assert list(VALIDATOR.iter_errors(d)), f"schema accepted: {name}"
    assert not _compiles(d), f"compiler accepted: {name}"
