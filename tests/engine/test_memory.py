"""What a compiled environment keeps: nothing of the parsed document, shared immutable parts.

Why it matters (engine/_fresh.py): one object of the document kept by the compiled
environment pins a whole pymalloc arena of it, so dropping the document would free nothing.
"""

from __future__ import annotations

import json
import math
import pathlib
import subprocess
import sys
from typing import Any

import pytest

from edge_reader.bundle import decode_bundle_document, encode_bundle_document
from edge_reader.engine import Context, EvaluationDetail, Reason, compile_environment
from edge_reader.engine.operators import OPERATORS

from .builders import clause, doc, flag, rule
from .graph import kept_from

GOLDEN = json.loads(pathlib.Path(__file__).with_name("golden").joinpath(
    "evaluations.json").read_text(encoding="utf-8"))
CLOCK = 1_795_478_400.0

# A document using every operator and every part of the format the compiler keeps.
EVERYTHING: dict[str, Any] = {
    "format": 1, "project": "shop", "environment": "production", "revision": 123456,
    "generated_at": "2026-11-24T06:00:00.000Z", "engine": "1", "audit_head": "abc123",
    "scope": "server",
    "segments": {
        "staff": {"context_kind": "user", "included": ["u-staff-1", "u-staff-2"],
                  "excluded": ["u-former"], "version": 9000,
                  "rules": [{"id": "mail", "clauses": [
                      clause("email", "ends_with", "@example.com")]}]},
        "listed": {"included": ["u-listed-1"]},
    },
    "flags": {
        "every-op": flag(
            rule(clause("country", "in", "DE", "FR", 12345, 1.5, True, {"a": [1, "x"]}),
                 clause("country", "not_in", "US"), rule_id="r-in"),
            rule(clause("plan", "equals", "pro"), clause("name", "starts_with", "ab"),
                 clause("name", "contains", "bc"), clause("email", "matches", "^[a-z]+@x$"),
                 rule_id="r-strings"),
            rule(clause("age", "lt", 99999), clause("age", "lte", 100000.5),
                 clause("age", "gt", 1000), clause("age", "gte", 777), rule_id="r-numbers"),
            rule(clause("app", "semver_eq", "12.3.4"), clause("app", "semver_lt", "13.0.0"),
                 clause("app", "semver_lte", "13.0.0-rc.1"), clause("app", "semver_gt", "1.2.3"),
                 clause("app", "semver_gte", "1.2.3+build"), rule_id="r-semver"),
            rule(clause("signup", "before", "2030-01-01T00:00:00Z"),
                 clause("signup", "after", 1_600_000_000_000), rule_id="r-dates"),
            rule(clause("/address/city", "exists"), clause("ip", "ip_in_cidr", "10.0.0.0/8"),
                 clause("kind", "in", "device", kind="device"), rule_id="r-misc"),
            rule({"op": "segment_match", "values": ["staff"]}, rule_id="r-segment"),
            rule({"attribute": "id", "op": "in_bucket", "salt": "__ns", "values": [[0, 500]],
                  "bucketing": {"hash": "growthbook-v1", "buckets": 1000}}, rule_id="r-bucket"),
            rule({"op": "segment_match", "values": ["listed", "staff"]}, rule_id="r-segments",
                 serve="off"),
            rule(clause("tier", "in", "gold"), rule_id="r-rollout", rollout={
                "variations": [{"variation": "on", "weight": 25000},
                               {"variation": "off", "weight": 75000}],
                "bucket_by": "/org/id", "context_kind": "user", "salt": "salty-salt",
                "schedule": [{"at": "2026-12-01T00:00:00Z", "weights": [50000, 50000]}]}),
            description="every operator", tags=["checkout", "team-x"], version=424242,
            client_visible=True, metadata={"owner": "team-x", "ticket": 12345, "hot": True},
            targets=[{"context_kind": "user", "values": ["u-target-1", "u-target-2"],
                      "variation": "on"},
                     {"context_kind": "organization", "values": ["o-1"], "variation": "off"}],
            prerequisites=[{"flag": "colour", "variation": "red"}],
            off_variation="off"),
        "colour": {"kind": "string", "variations": {"red": "#ff0000", "blue": "#0000ff"},
                   "default": {"rollout": {"variations": [
                       {"variation": "red", "weight": 60000},
                       {"variation": "blue", "weight": 40000}]}}},
        "limit": {"kind": "number", "variations": {"low": 1000000, "high": 2.5e10,
                                                   "neg-zero": -0.0},
                  "default": {"variation": "neg-zero"}},
        "config": {"kind": "json",
                   "schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
                   "variations": {"v1": {"n": 100000, "list": ["deep", {"x": "y"}]}},
                   "default": {"variation": "v1"}},
        "broken": {"kind": "boolean", "variations": {"on": True},
                   "default": {"variation": "missing-variation"}},
    },
}


def _parsed(document: dict[str, Any]) -> dict[str, Any]:
    """The document as a reader gets it: canonical bytes, decoded."""
    return decode_bundle_document(encode_bundle_document(document))


@pytest.mark.parametrize("document", [EVERYTHING, GOLDEN["environment"]],
                         ids=["every-operator", "golden"])
def test_compiled_environment_keeps_no_object_of_the_document(document: dict[str, Any]) -> None:
    parsed = _parsed(document)
    env = compile_environment(parsed, strict=False, clock=lambda: CLOCK)
    assert len(env.flag_keys) == len(document["flags"])
    assert kept_from(parsed, env) == []


def test_the_everything_document_uses_every_operator() -> None:
    owners = [*EVERYTHING["flags"].values(), *EVERYTHING["segments"].values()]
    used = {c.get("op") for o in owners for r in o.get("rules", []) for c in r["clauses"]}
    assert used >= OPERATORS


def test_the_walk_would_see_a_kept_document_string() -> None:
    # The check above is only worth something if keeping a document string is detected.
    parsed = _parsed(EVERYTHING)
    holder = [parsed["flags"]["every-op"]["description"]]
    assert kept_from(parsed, holder) == [holder[0]]


def test_a_python_document_is_left_unchanged() -> None:
    before = json.dumps(EVERYTHING, sort_keys=True)
    compile_environment(EVERYTHING, strict=False, clock=lambda: CLOCK)
    assert json.dumps(EVERYTHING, sort_keys=True) == before


def _many(n: int, **extra: Any) -> dict[str, Any]:
    return doc({f"f{i}": flag(**extra) for i in range(n)})


def test_equal_details_of_different_flags_are_one_object() -> None:
    env = compile_environment(_parsed(_many(3)))
    details = [env.evaluate(f"f{i}", {"targetingKey": "u"}) for i in range(3)]
    assert details[0] is details[1] is details[2]
    assert (details[0].value, details[0].variant, details[0].reason) == (False, "off",
                                                                          Reason.STATIC)


def test_shared_details_keep_each_flags_rule_and_metadata() -> None:
    eu = rule(clause("country", "in", "DE"), rule_id="eu")
    env = compile_environment(_parsed(doc({
        "a": flag(eu, metadata={"owner": "x"}), "b": flag(eu, metadata={"owner": "x"}),
        "b2": flag(eu, metadata={"owner": "x"}), "c": flag(eu, metadata={"owner": "y"}),
        "d": flag(rule(clause("country", "in", "DE"), rule_id="other"))})))
    ctx = Context.from_mapping({"targetingKey": "u", "country": "DE"})
    a, b, b2, c, d = (env.evaluate(k, ctx) for k in ("a", "b", "b2", "c", "d"))
    # Sharing starts with the second flag of a metadata (the first could be the only one).
    assert a == b
    assert b is b2
    assert a.flag_metadata == {"owner": "x"}
    assert c.flag_metadata == {"owner": "y"}
    assert (a.variant, a.reason, a.rule_index, a.rule_id) == ("on", Reason.TARGETING_MATCH, 0,
                                                              "eu")
    assert d.rule_id == "other"
    assert dict(d.flag_metadata) == {}
    assert a.flag_metadata is b.flag_metadata


def test_flags_without_metadata_share_one_empty_read_only_mapping() -> None:
    env = compile_environment(_parsed(doc({"a": flag(), "b": flag(default="on")})))
    a, b = (env.evaluate(k, {"targetingKey": "u"}) for k in "ab")
    assert a.flag_metadata is b.flag_metadata
    assert dict(a.flag_metadata) == {}
    with pytest.raises(TypeError):
        a.flag_metadata["x"] = 1  # type: ignore[index]


def test_equal_but_different_values_are_never_merged() -> None:
    # True == 1 == 1.0 and 0.0 == -0.0 in Python: sharing must not serve one for the other.
    env = compile_environment(_parsed(doc({
        "b": flag(variations={"on": True, "off": False}, default="on"),
        "n": flag(kind="number", variations={"on": 1, "off": 0}, default="on"),
        "f": flag(kind="number", variations={"on": 1.0, "off": 0.0}, default="on"),
        "z": flag(kind="number", variations={"on": -0.0, "off": 0.0}, default="on"),
        "m1": flag(metadata={"x": True}), "m2": flag(metadata={"x": 1})})), strict=False)
    ctx = {"targetingKey": "u"}
    assert type(env.evaluate("b", ctx).value) is bool
    assert type(env.evaluate("n", ctx).value) is int
    assert type(env.evaluate("f", ctx).value) is float
    assert math.copysign(1.0, env.evaluate("z", ctx).value) == -1.0
    assert type(env.evaluate("m1", ctx).flag_metadata["x"]) is bool
    assert type(env.evaluate("m2", ctx).flag_metadata["x"]) is int


def test_disabled_flags_without_off_variation_serve_each_callers_default() -> None:
    env = compile_environment(_parsed(_many(2, enabled=False)))
    first = env.evaluate("f0", {"targetingKey": "u"}, "mine")
    second = env.evaluate("f1", {"targetingKey": "u"}, 42)
    assert (first.value, first.reason, second.value, second.reason) == (
        "mine", Reason.DISABLED, 42, Reason.DISABLED)


def test_details_are_still_immutable() -> None:
    detail = compile_environment(_parsed(_many(1))).evaluate("f0", {"targetingKey": "u"})
    assert isinstance(detail, EvaluationDetail)
    with pytest.raises(AttributeError):
        detail.value = True  # type: ignore[misc]
    assert detail.with_value("x").value == "x"
    assert detail.value is False


def _imports_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_re2_and_jsonschema_load_only_for_bundles_that_need_them() -> None:
    plain = ("from edge_reader.engine import compile_environment\n"
             "compile_environment({'flags': {'f': {'kind': 'boolean', 'variations': "
             "{'on': True}, 'rules': [{'clauses': [{'attribute': 'a', 'op': 'in', "
             "'values': ['x']}], 'serve': {'variation': 'on'}}], "
             "'default': {'variation': 'on'}}}})")
    modules = _imports_after(plain)
    assert "edge_reader.engine" in modules
    assert "re2" not in modules
    assert "jsonschema" not in modules
    regex = plain.replace("'op': 'in'", "'op': 'matches'")
    assert "re2" in _imports_after(regex)
