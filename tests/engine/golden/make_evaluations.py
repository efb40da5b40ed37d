"""Write tests/engine/golden/evaluations.json from the hand-written cases below.

    .venv/bin/python tests/engine/golden/make_evaluations.py

Every expectation here is written by hand from docs/flag-format.md (rollout cases use
buckets from bucketing.json: salt "checkout" puts user-0 in bucket 71431 and user-1 in
81466). The engine is not consulted, so the file is an oracle for every code path that
evaluates: the engine tests, the client, the OpenFeature provider and the OFREP server.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

B = {"on": True, "off": False}
CLOCK = 1_795_478_400.0  # 2026-11-24T00:00:00Z, in seconds: the clock to compile with

ENVIRONMENT: dict[str, Any] = {
    "format": 1, "project": "shop", "environment": "production", "revision": 7,
    "flags": {
        "static-on": {"kind": "boolean", "variations": B, "default": {"variation": "on"},
                      "metadata": {"owner": "team-x"}},
        "killed": {"kind": "boolean", "variations": B, "enabled": False, "off_variation": "off",
                   "default": {"variation": "on"}},
        "killed-no-off": {"kind": "string", "variations": {"a": "A"}, "enabled": False,
                          "default": {"variation": "a"}},
        "banner": {
            "kind": "string", "variations": {"red": "#f00", "blue": "#00f", "green": "#0f0"},
            "targets": [{"values": ["vip-1"], "variation": "green"}],
            "rules": [
                {"id": "eu", "clauses": [{"attribute": "country", "op": "in",
                                          "values": ["DE", "FR", "NL"]}],
                 "serve": {"variation": "blue"}},
                {"id": "staff", "clauses": [{"op": "segment_match", "values": ["staff"]}],
                 "serve": {"variation": "green"}},
            ],
            "default": {"variation": "red"},
        },
        "pro-modern": {
            "kind": "boolean", "variations": B, "off_variation": "off",
            "rules": [{"id": "w4", "clauses": [
                {"attribute": "country", "op": "in", "values": ["DE", "FR", "NL"]},
                {"attribute": "plan", "op": "equals", "values": ["pro"]},
                {"attribute": "app_version", "op": "semver_gte", "values": ["2.3.0"]}],
                "serve": {"variation": "on"}}],
            "default": {"variation": "off"},
        },
        "checkout": {
            "kind": "boolean", "variations": B, "off_variation": "off",
            "default": {"rollout": {"variations": [{"variation": "on", "weight": 75000},
                                                   {"variation": "off", "weight": 25000}]}},
        },
        "needs-checkout": {
            "kind": "number", "variations": {"low": 1, "high": 2.5}, "off_variation": "low",
            "prerequisites": [{"flag": "checkout", "variation": "on"}],
            "default": {"variation": "high"},
        },
        "org-limits": {
            "kind": "json", "variations": {"small": {"seats": 5}, "large": {"seats": 500}},
            "schema": {"type": "object", "required": ["seats"]},
            "rules": [{"id": "enterprise", "clauses": [
                {"context_kind": "organization", "attribute": "tier", "op": "in",
                 "values": ["enterprise"]}], "serve": {"variation": "large"}}],
            "default": {"variation": "small"},
        },
        "launch": {
            "kind": "boolean", "variations": B, "off_variation": "off",
            "rules": [{"id": "after-launch", "clauses": [
                {"attribute": "signup", "op": "after", "values": ["2026-01-01T00:00:00Z"]}],
                "serve": {"variation": "on"}}],
            "default": {"variation": "off"},
        },
        "ramp": {
            "kind": "boolean", "variations": B, "off_variation": "off",
            "default": {"rollout": {
                "variations": [{"variation": "on", "weight": 0},
                               {"variation": "off", "weight": 100000}],
                "salt": "checkout",
                "schedule": [{"at": "2026-11-01T00:00:00Z", "weights": [75000, 25000]},
                             {"at": "2027-01-01T00:00:00Z", "weights": [100000, 0]}]}},
        },
        # Issue 17: groups, clause options, `now`, no default, any-of/off prerequisites.
        "migrated": {
            "kind": "boolean", "variations": B, "off_variation": "off",
            "rules": [{"id": "or-not", "clauses": [
                {"any": [{"attribute": "email", "op": "ends_with", "values": ["@SHOP.example"],
                          "case_insensitive": True},
                         {"not": {"attribute": "country", "op": "in", "values": ["DE"]}}]},
                {"attribute": "plan", "op": "not_in", "values": ["free"], "when_absent": True},
                {"now": True, "op": "after", "values": ["2026-11-01T00:00:00Z"]}],
                "serve": {"variation": "on"}}],
        },
        "after-checkout": {
            "kind": "string", "variations": {"yes": "y", "no": "n"}, "off_variation": "no",
            "prerequisites": [{"flag": "checkout", "variations": ["on", "off"]},
                              {"flag": "killed", "off": True}],
            "default": {"variation": "yes"},
        },
    },
    "segments": {
        "staff": {"included": ["emp-1"], "excluded": ["emp-9"],
                  "rules": [{"id": "mail", "clauses": [
                      {"attribute": "email", "op": "ends_with", "values": ["@shop.example"]}]}]},
    },
}


def case(name: str, flag: str, context: Any, default: Any, value: Any, variant: str | None,
         reason: str, error_code: str | None = None, rule_index: int | None = None,
         rule_id: str | None = None, getter: str = "evaluate") -> dict[str, Any]:
    """One expected evaluation."""
    return {"name": name, "flag": flag, "context": context, "default": default,
            "getter": getter,
            "expected": {"value": value, "variant": variant, "reason": reason,
                         "error_code": error_code, "rule_index": rule_index, "rule_id": rule_id}}


CASES = [
    case("static", "static-on", {"targetingKey": "u"}, False, True, "on", "STATIC"),
    case("disabled", "killed", {"targetingKey": "u"}, True, False, "off", "DISABLED"),
    case("disabled without off variation", "killed-no-off", {"targetingKey": "u"}, "dflt",
         "dflt", None, "DISABLED"),
    case("target", "banner", {"targetingKey": "vip-1", "country": "DE"}, "x", "#0f0", "green",
         "TARGETING_MATCH"),
    case("rule 0", "banner", {"targetingKey": "u", "country": "FR"}, "x", "#00f", "blue",
         "TARGETING_MATCH", rule_index=0, rule_id="eu"),
    case("segment included", "banner", {"targetingKey": "emp-1"}, "x", "#0f0", "green",
         "TARGETING_MATCH", rule_index=1, rule_id="staff"),
    case("segment rule", "banner", {"targetingKey": "u", "email": "a@shop.example"}, "x",
         "#0f0", "green", "TARGETING_MATCH", rule_index=1, rule_id="staff"),
    case("segment excluded", "banner", {"targetingKey": "emp-9", "email": "b@shop.example"}, "x",
         "#f00", "red", "DEFAULT"),
    case("default", "banner", {"targetingKey": "u", "country": "US"}, "x", "#f00", "red",
         "DEFAULT"),
    case("array attribute", "banner", {"targetingKey": "u", "country": ["US", "NL"]}, "x",
         "#00f", "blue", "TARGETING_MATCH", rule_index=0, rule_id="eu"),
    case("no coercion", "banner", {"targetingKey": "u", "country": 49}, "x", "#f00", "red",
         "DEFAULT"),
    case("three clauses", "pro-modern",
         {"targetingKey": "u", "country": "NL", "plan": "pro", "app_version": "2.3"}, False,
         True, "on", "TARGETING_MATCH", rule_index=0, rule_id="w4"),
    case("pre-release is older", "pro-modern",
         {"targetingKey": "u", "country": "NL", "plan": "pro", "app_version": "2.3.0-rc.1"},
         False, False, "off", "DEFAULT"),
    case("invalid version", "pro-modern",
         {"targetingKey": "u", "country": "NL", "plan": "pro", "app_version": "v2.4"},
         False, False, "off", "DEFAULT"),
    case("split in", "checkout", {"targetingKey": "user-0"}, False, True, "on", "SPLIT"),
    case("split out", "checkout", {"targetingKey": "user-1"}, False, False, "off", "SPLIT"),
    case("split without key", "checkout", {"country": "DE"}, "dflt", "dflt", None, "ERROR",
         "TARGETING_KEY_MISSING"),
    case("prerequisite met", "needs-checkout", {"targetingKey": "user-0"}, 0, 2.5, "high",
         "DEFAULT"),
    case("prerequisite failed", "needs-checkout", {"targetingKey": "user-1"}, 0, 1, "low",
         "DISABLED"),
    case("multi-kind", "org-limits",
         {"kind": "multi", "user": {"key": "u"},
          "organization": {"key": "o", "tier": "enterprise"}}, {}, {"seats": 500}, "large",
         "TARGETING_MATCH", rule_index=0, rule_id="enterprise"),
    case("kind absent", "org-limits", {"targetingKey": "u", "tier": "enterprise"}, {},
         {"seats": 5}, "small", "DEFAULT"),
    case("date string", "launch", {"targetingKey": "u", "signup": "2026-03-01T10:00:00+02:00"},
         False, True, "on", "TARGETING_MATCH", rule_index=0, rule_id="after-launch"),
    case("date epoch ms", "launch", {"targetingKey": "u", "signup": 1_700_000_000_000}, False,
         False, "off", "DEFAULT"),
    case("ramp step in force", "ramp", {"targetingKey": "user-0"}, False, True, "on", "SPLIT"),
    case("ramp step not yet full", "ramp", {"targetingKey": "user-1"}, False, False, "off",
         "SPLIT"),
    case("not found", "nope", {"targetingKey": "u"}, "dflt", "dflt", None, "ERROR",
         "FLAG_NOT_FOUND"),
    case("invalid context", "static-on", {"targetingKey": 12}, False, False, None, "ERROR",
         "INVALID_CONTEXT"),
    case("type mismatch", "banner", {"targetingKey": "u"}, False, False, None, "ERROR",
         "TYPE_MISMATCH", getter="boolean"),
    case("float getter accepts int", "needs-checkout", {"targetingKey": "user-1"}, 0.0, 1.0,
         "low", "DISABLED", getter="float"),
    case("integer getter rejects 2.5", "needs-checkout", {"targetingKey": "user-0"}, 0, 0,
         None, "ERROR", "TYPE_MISMATCH", getter="integer"),
    # `not` matches an absent country; plan absent counts as not in [free]; now is after.
    case("group: not of absent", "migrated", {"targetingKey": "u"}, False, True, "on",
         "TARGETING_MATCH", rule_index=0, rule_id="or-not"),
    case("group: case-insensitive any", "migrated",
         {"targetingKey": "u", "country": "DE", "email": "a@shop.EXAMPLE", "plan": "pro"},
         False, True, "on", "TARGETING_MATCH", rule_index=0, rule_id="or-not"),
    case("group: no branch of any", "migrated", {"targetingKey": "u", "country": "DE"}, True,
         True, None, "DEFAULT"),
    case("when_absent does not hide a present value", "migrated",
         {"targetingKey": "u", "plan": "free"}, "dflt", "dflt", None, "DEFAULT"),
    case("any-of and off prerequisites hold", "after-checkout", {"targetingKey": "user-1"},
         "d", "y", "yes", "DEFAULT"),
]

if __name__ == "__main__":
    target = pathlib.Path(__file__).with_name("evaluations.json")
    out = {
        "description": "Environment + contexts + expected details (OpenFeature vocabulary). "
                       "Compile `environment` with a clock returning `clock` (seconds). "
                       "`getter` is evaluate | boolean | string | integer | float | object "
                       "(the *_details typed getter).",
        "generator": "tests/engine/golden/make_evaluations.py",
        "clock": CLOCK,
        "environment": ENVIRONMENT,
        "cases": CASES,
    }
    target.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(CASES)} cases to {target}")
