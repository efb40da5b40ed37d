"""Strict mode lists every error with its exact path; lenient mode isolates broken flags."""

from __future__ import annotations

from typing import Any

import pytest

from edge_reader.engine import CompileError, ErrorCode, Reason, compile_environment

from .builders import BOOL, clause, doc, flag, rule, user


def _errors(d: Any) -> list[tuple[str, str]]:
    with pytest.raises(CompileError) as err:
        compile_environment(d, strict=True)
    return [(p.path, p.code) for p in err.value.errors]


def test_document_level_errors_raise_in_both_modes() -> None:
    bads: list[object] = [None, [], "x", {"segments": {}}, {"flags": []}]
    for bad in bads:
        for strict in (True, False):
            with pytest.raises(CompileError):
                compile_environment(bad, strict=strict)


def test_unknown_top_level_keys_and_bad_metadata() -> None:
    bad = {"flags": {}, "extra": 1, "format": 2, "revision": -1, "project": "Bad Key"}
    assert _errors(bad) == [
        ("extra", "unknown_field"), ("format", "format"), ("project", "pattern"),
        ("revision", "range")]


def test_every_error_is_listed_not_just_the_first() -> None:
    f = flag(rule(clause("v", "semver_eq", "1.x"), clause("t", "before", "soon"), serve="nope"),
             rule({"attribute": "a", "op": "in", "values": "DE"}),
             kind="boolean", variations={"on": True, "off": "no"}, default="on", bogus=1)
    assert _errors(doc({"checkout": f, "Bad Key!": flag()})) == [
        ("flags.checkout.bogus", "unknown_field"),
        ("flags.checkout.variations.off", "variation_type"),
        ("flags.checkout.rules[0].clauses[0].values[0]", "invalid_semver"),
        ("flags.checkout.rules[0].clauses[1].values[0]", "invalid_date"),
        ("flags.checkout.rules[0].serve.variation", "unknown_variation"),
        ("flags.checkout.rules[1].clauses[0].values", "type"),
        ("flags.Bad Key!", "invalid_key"),
    ]


@pytest.mark.parametrize(("f", "expected"), [
    ({"variations": dict(BOOL), "default": {"variation": "on"}}, [("flags.f.kind", "required")]),
    ({"kind": "toggle", "variations": dict(BOOL), "default": {"variation": "on"}},
     [("flags.f.kind", "invalid_kind")]),
    ({"kind": "boolean", "variations": {}, "default": {"variation": "on"}},
     [("flags.f.variations", "empty"), ("flags.f.default.variation", "unknown_variation")]),
    ({"kind": "number", "variations": {"a": "1"}, "default": {"variation": "a"}},
     [("flags.f.variations.a", "variation_type")]),
    ({"kind": "boolean", "variations": dict(BOOL), "default": {"variation": "on", "rollout": {}}},
     [("flags.f.default", "serve")]),
    ({"kind": "boolean", "variations": {"bad name": True}, "default": {"variation": "bad name"}},
     [("flags.f.variations.bad name", "invalid_variation_name")]),
    (flag(targets=[{"values": ["a", 1], "variation": "x"}]),
     [("flags.f.targets[0].variation", "unknown_variation"),
      ("flags.f.targets[0].values[1]", "type")]),
    (flag(rule(clause("a", "in", 1), rule_id="r"), rule(clause("a", "in", 2), rule_id="r")),
     [("flags.f.rules[1].id", "duplicate_id")]),
    (flag(rule({"op": "in", "values": [1]})),
     [("flags.f.rules[0].clauses[0].attribute", "required")]),
    (flag(rule(clause("/a//b", "in", 1))),
     [("flags.f.rules[0].clauses[0].attribute", "invalid_attribute")]),
    (flag(rule(clause("/a~2", "in", 1))),
     [("flags.f.rules[0].clauses[0].attribute", "invalid_attribute")]),
    (flag(metadata={"owner": {"x": 1}}), [("flags.f.metadata.owner", "type")]),
    (flag(enabled="yes"), [("flags.f.enabled", "type")]),
    (flag(off_variation="nope"), [("flags.f.off_variation", "unknown_variation")]),
])
def test_flag_errors(f: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert _errors(doc({"f": f})) == expected


def test_rollout_errors() -> None:
    r = {"variations": [{"variation": "on", "weight": 100001}, {"variation": "x", "weight": -1},
                        {"variation": "off"}],
         "bucket_by": "", "schedule": [
             {"at": "2026-12-02T00:00:00Z", "weights": [1, 2]},
             {"at": "2026-12-01T00:00:00Z", "weights": [1, 2, True]},
             {"at": "later", "weights": [0, 0, 0]}]}
    assert _errors(doc({"f": {"kind": "boolean", "variations": dict(BOOL),
                              "default": {"rollout": r}}})) == [
        ("flags.f.default.rollout.variations[0].weight", "range"),
        ("flags.f.default.rollout.variations[1].variation", "unknown_variation"),
        ("flags.f.default.rollout.variations[1].weight", "range"),
        ("flags.f.default.rollout.variations[2].weight", "required"),
        ("flags.f.default.rollout.bucket_by", "invalid_attribute"),
        ("flags.f.default.rollout.schedule[0].weights", "weights_length"),
        ("flags.f.default.rollout.schedule[1].weights[2]", "range"),
        ("flags.f.default.rollout.schedule[1].at", "schedule_order"),
        ("flags.f.default.rollout.schedule[2].at", "invalid_date"),
    ]


def test_prerequisite_errors_and_cycles() -> None:
    flags = {
        "a": flag(prerequisites=[{"flag": "b", "variation": "on"}]),
        "b": flag(prerequisites=[{"flag": "c", "variation": "on"}]),
        "c": flag(prerequisites=[{"flag": "a", "variation": "on"}]),
        "d": flag(prerequisites=[{"flag": "zzz", "variation": "on"},
                                 {"flag": "a", "variation": "maybe"},
                                 {"flag": "d", "variation": "on"}]),
    }
    with pytest.raises(CompileError) as err:
        compile_environment(doc(flags))
    got = [(p.path, p.code, p.message) for p in err.value.errors]
    assert got == [
        ("flags.d.prerequisites[0].flag", "unknown_flag", "unknown flag 'zzz'"),
        ("flags.d.prerequisites[1].variation", "unknown_variation",
         "flag 'a' has no variation 'maybe'"),
        ("flags.c.prerequisites[0]", "prerequisite_cycle", "prerequisite cycle: a -> b -> c -> a"),
        ("flags.d.prerequisites[2]", "prerequisite_cycle", "prerequisite cycle: d -> d"),
    ]


def test_overdeep_prerequisite_chain_is_an_error() -> None:
    flags = {f"p{i}": flag(default="on", prerequisites=[{"flag": f"p{i + 1}", "variation": "on"}])
             for i in range(2000)}
    flags["p2000"] = flag(default="on")
    with pytest.raises(CompileError) as err:
        compile_environment(doc(flags))
    assert {p.code for p in err.value.errors} == {"prerequisite_depth"}
    env = compile_environment(doc(flags), strict=False)
    assert env.evaluate("p0", user(), "d").error_code is ErrorCode.PARSE_ERROR
    assert env.get_boolean("p1990", user(), False) is True


def test_segment_errors_and_cycles() -> None:
    segments = {
        "a": {"rules": [{"clauses": [{"op": "segment_match", "values": ["b"]}]}]},
        "b": {"rules": [{"clauses": [{"op": "segment_match", "values": ["a"]}]}]},
        "c": {"included": ["x", 3], "context_kind": "bad kind!", "weight": 5},
    }
    f = flag(rule({"op": "segment_match", "values": ["a", "missing", 7]}))
    with pytest.raises(CompileError) as err:
        compile_environment(doc({"f": f}, segments))
    assert [(p.path, p.code) for p in err.value.errors] == [
        ("segments.b.rules[0].clauses[0].values[0]", "segment_cycle"),
        ("segments.c.weight", "unknown_field"),
        ("segments.c.context_kind", "pattern"),
        ("segments.c.included[1]", "type"),
        ("flags.f.rules[0].clauses[0].values[0]", "invalid_segment"),
        ("flags.f.rules[0].clauses[0].values[1]", "unknown_segment"),
        ("flags.f.rules[0].clauses[0].values[2]", "type"),
    ]


def test_json_flag_schema() -> None:
    schema = {"type": "object", "properties": {"limit": {"type": "integer", "minimum": 1}},
              "required": ["limit"]}
    ok = {"kind": "json", "schema": schema, "variations": {"a": {"limit": 5}},
          "default": {"variation": "a"}}
    assert compile_environment(doc({"f": ok})).get_object("f", user(), None) == {"limit": 5}
    bad = {**ok, "variations": {"a": {"limit": 0}, "b": {}, "c": {"limit": 2}}}
    got = _errors(doc({"f": bad}))
    assert got[:2] == [("flags.f.variations.a", "schema"), ("flags.f.variations.b", "schema")]
    assert _errors(doc({"f": {**ok, "schema": {"type": "nonsense"}}})) == [
        ("flags.f.schema", "invalid_schema")]
    assert _errors(doc({"f": {**flag(), "schema": {}}})) == [("flags.f.schema", "schema_kind")]


def test_error_message_names_the_value() -> None:
    with pytest.raises(CompileError) as err:
        compile_environment(doc({"checkout": flag(rule(clause("v", "semver_lt", "2.x")))}))
    assert "flags.checkout.rules[0].clauses[0].values[0]: '2.x' is not a semantic version" in str(
        err.value)


def test_lenient_mode_isolates_a_broken_flag() -> None:
    flags = {"good": flag(default="on"),
             # (an unknown variation: broken, not newer — a newer literal degrades only
             # its clause, see test_forward_compat.py)
             "bad": flag(rule(clause("v", "in", "x"), serve="x.y"), default="on"),
             "needs-bad": flag(default="on", off_variation="off",
                               prerequisites=[{"flag": "bad", "variation": "on"}])}
    env = compile_environment(doc(flags), strict=False)
    assert [p.path for p in env.errors] == ["flags.bad.rules[0].serve.variation"]
    assert env.get_boolean("good", user(), False) is True
    d = env.evaluate("bad", user(), "dflt")
    assert (d.value, d.variant, d.reason, d.error_code) == ("dflt", None, Reason.ERROR,
                                                            ErrorCode.PARSE_ERROR)
    assert "x.y" in (d.error_message or "")
    assert env.evaluate("needs-bad", user(), None).variant == "off"  # prerequisite fails
    assert env.flag_keys == frozenset(flags)


def test_lenient_mode_broken_segment_only_breaks_its_users() -> None:
    segments = {"s": {"rules": [{"clauses": [{**clause("v", "in", "x"), "negate": "yes"}]}]}}
    flags = {"uses": flag(rule({"op": "segment_match", "values": ["s"]})), "other": flag()}
    env = compile_environment(doc(flags, segments), strict=False)
    assert env.evaluate("uses", user(), None).error_code is ErrorCode.PARSE_ERROR
    assert env.evaluate("other", user(), None).error_code is None


def test_strict_error_carries_warnings_too() -> None:
    with pytest.raises(CompileError) as err:
        compile_environment(doc({"f": flag(rule(clause("n", "lt", "x")), enabled=3)}))
    assert [p.code for p in err.value.errors] == ["type"]
    assert "non_numeric_value" in {w.code for w in err.value.warnings}
