"""The LaunchDarkly importer: a realistic SDK payload, evaluated by Vexil's engine, must serve
what LaunchDarkly's evaluation rules serve (variation index, reason mapped as documented in
docs/migrating.md), and everything else must be in the report."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from edge_reader.engine import compile_environment
from vexil.importers import launchdarkly as ld

CHECKOUT_SALT = "9b1f3c0a"

PAYLOAD: dict[str, Any] = {
    "flags": {
        "new-checkout": {
            "key": "new-checkout", "version": 12, "on": True, "salt": CHECKOUT_SALT,
            "variations": [False, True], "offVariation": 0, "clientSide": True,
            "prerequisites": [{"key": "payments-v2", "variation": 0}],
            "targets": [{"values": ["u-vip"], "variation": 1}],
            "contextTargets": [
                {"contextKind": "organization", "values": ["org-blocked"], "variation": 0},
                {"contextKind": "user", "values": [], "variation": 1},
            ],
            "rules": [
                {"id": "r-staff", "clauses": [
                    {"contextKind": "user", "attribute": "email", "op": "endsWith",
                     "values": ["@shop.example"]},
                    {"contextKind": "user", "attribute": "appVersion", "op": "semVerGreaterThan",
                     "values": ["2.1.0", "not-a-version"]}],
                 "variation": 1},
                {"id": "r-beta", "clauses": [
                    {"attribute": "segmentMatch", "op": "segmentMatch",
                     "values": ["beta-testers", "deleted-segment"]}],
                 "rollout": {"variations": [{"variation": 0, "weight": 40000},
                                            {"variation": 1, "weight": 60000}],
                             "contextKind": "user", "bucketBy": "/address/city"}},
                {"id": "r-known", "clauses": [
                    {"contextKind": "user", "attribute": "anonymous", "op": "in",
                     "values": [False]}],
                 "rollout": {"kind": "experiment", "seed": 61,
                             "variations": [{"variation": 0, "weight": 10000},
                                            {"variation": 1, "weight": 90000,
                                             "untracked": True}]}},
            ],
            "fallthrough": {"variation": 0},
        },
        "payments-v2": {
            "key": "payments-v2", "on": True, "variations": ["stripe", "adyen"],
            "offVariation": 1, "fallthrough": {"variation": 0},
        },
        "Legacy Banner": {
            "key": "Legacy Banner", "on": False, "variations": [{"text": "old"}, {"text": "new"}],
            "offVariation": 1, "fallthrough": {"variation": 0},
        },
        "needs-missing": {
            "key": "needs-missing", "on": True, "variations": ["a", "b"], "offVariation": 1,
            "prerequisites": [{"key": "no-such-flag", "variation": 0}],
            "fallthrough": {"variation": 0},
        },
        "percent-segment-user": {
            "key": "percent-segment-user", "on": True, "variations": [1, 2],
            "rules": [{"id": "x", "clauses": [{"attribute": "", "op": "segmentMatch",
                                               "values": ["ten-percent"]}], "variation": 1}],
            "fallthrough": {"variation": 0},
        },
        "gone": {"key": "gone", "deleted": True, "version": 3},
    },
    "segments": {
        "beta-testers": {
            "key": "beta-testers", "included": ["u-beta"], "excluded": ["u-banned"],
            "includedContexts": [{"contextKind": "organization", "values": ["org-beta"]}],
            "rules": [{"id": "staff", "clauses": [
                {"contextKind": "user", "attribute": "email", "op": "endsWith",
                 "values": ["@beta.example"]}]}],
        },
        "ten-percent": {
            "key": "ten-percent",
            "rules": [{"id": "p", "clauses": [], "weight": 10000, "bucketBy": "key"}],
        },
        "whales": {"key": "whales", "unbounded": True, "generation": 4},
    },
}


def ld_bucket(prefix: str, value: str) -> float:
    """LaunchDarkly's published bucketing, written from its spec for this test."""
    digest = hashlib.sha1(f"{prefix}.{value}".encode()).hexdigest()
    return int(digest[:15], 16) / 0xFFFFFFFFFFFFFFF


def ld_pick(bucket: float, weights: list[int]) -> int:
    total = 0.0
    for index, weight in enumerate(weights):
        total += weight / 100000
        if bucket < total:
            return index
    return len(weights) - 1


@pytest.fixture(scope="module")
def conv() -> Any:
    return ld.convert(PAYLOAD)


@pytest.fixture(scope="module")
def env(conv: Any) -> Any:
    return compile_environment(conv.document, strict=True)


def evaluate(env: Any, conv: Any, flag: str, peer_context: dict[str, Any]) -> tuple[Any, ...]:
    detail = env.evaluate(conv.keys[flag], ld.context(peer_context), "caller-default")
    return detail.value, detail.variant, detail.reason


def test_the_document_compiles_strictly_and_keys_are_mapped(conv: Any) -> None:
    compile_environment(conv.document, strict=True)
    assert conv.keys["Legacy Banner"] == "legacy-banner"
    assert "gone" not in conv.keys
    assert conv.document["flags"]["new-checkout"]["variations"] == {"0": False, "1": True}
    assert conv.document["flags"]["new-checkout"]["client_visible"] is True
    assert [r["id"] for r in conv.document["flags"]["new-checkout"]["rules"]] == [
        "r-staff", "r-beta", "r-known"]


def test_targets_follow_context_targets_order_and_kinds(env: Any, conv: Any) -> None:
    assert evaluate(env, conv, "new-checkout", {"kind": "user", "key": "u-vip"}) == (
        True, "1", "TARGETING_MATCH")
    multi = {"kind": "multi", "organization": {"key": "org-blocked"}, "user": {"key": "u-vip"}}
    # contextTargets list the organization first: LaunchDarkly serves its variation.
    assert evaluate(env, conv, "new-checkout", multi) == (False, "0", "TARGETING_MATCH")


def test_rules_clauses_and_unparseable_values(env: Any, conv: Any) -> None:
    staff = {"kind": "user", "key": "u-1", "email": "a@shop.example", "appVersion": "2.2"}
    assert evaluate(env, conv, "new-checkout", staff) == (True, "1", "TARGETING_MATCH")
    old = {**staff, "appVersion": "2.1.0", "anonymous": True}
    assert evaluate(env, conv, "new-checkout", old) == (False, "0", "DEFAULT")


def test_segment_rollout_buckets_by_attribute_with_launchdarklys_hash(env: Any, conv: Any) -> None:
    seen = set()
    for i in range(40):
        city = f"city-{i}"
        ctx = {"kind": "user", "key": "u-beta", "address": {"city": city}, "anonymous": True}
        want = ld_pick(ld_bucket(f"new-checkout.{CHECKOUT_SALT}", city), [40000, 60000])
        assert evaluate(env, conv, "new-checkout", ctx) == ([False, True][want], str(want), "SPLIT")
        seen.add(want)
    assert seen == {0, 1}


def test_multi_kind_segment_lists_and_exclusion(env: Any, conv: Any) -> None:
    org = {"kind": "multi", "organization": {"key": "org-beta"},
           "user": {"key": "u-x", "anonymous": True}}
    _, _, reason = evaluate(env, conv, "new-checkout", org)
    assert reason == "SPLIT"  # in the segment through its organization
    banned = {"kind": "user", "key": "u-banned", "email": "x@beta.example", "anonymous": True}
    assert evaluate(env, conv, "new-checkout", banned) == (False, "0", "DEFAULT")


def test_anonymous_is_false_when_absent_and_experiments_bucket_by_seed(env: Any, conv: Any) -> None:
    for key in ("u-10", "u-11", "u-12", "u-13"):
        want = ld_pick(ld_bucket("61", key), [10000, 90000])
        assert evaluate(env, conv, "new-checkout", {"kind": "user", "key": key}) == (
            [False, True][want], str(want), "SPLIT")
    # anonymous: true → the clause does not match → fallthrough
    assert evaluate(env, conv, "new-checkout", {"key": "u-10", "kind": "user",
                                                 "anonymous": True}) == (False, "0", "DEFAULT")


def test_prerequisites(env: Any, conv: Any) -> None:
    assert evaluate(env, conv, "needs-missing", {"kind": "user", "key": "u"}) == (
        "b", "1", "DISABLED")
    assert evaluate(env, conv, "Legacy Banner", {"kind": "user", "key": "u"}) == (
        {"text": "new"}, "1", "DISABLED")


def test_the_report_names_every_untranslatable_object(conv: Any) -> None:
    bad = conv.unfaithful_paths
    assert "segments.ten-percent" not in bad  # a percentage segment rule: in_bucket
    assert "segments.whales" in bad  # a big segment
    assert "flags.percent-segment-user" not in bad
    assert "flags.new-checkout" not in bad
    assert "flags.payments-v2" not in bad
    renamed = [i for i in conv.report if i["path"] == "flags.Legacy Banner"]
    assert [i["faithful"] for i in renamed] == [True]


@pytest.mark.parametrize("op", ["matches"])
def test_regexes_with_dialect_differences_are_reported(op: str) -> None:
    flag = {"key": "f", "on": True, "variations": [0, 1], "fallthrough": {"variation": 0},
            "rules": [{"id": "r", "variation": 1, "clauses": [
                {"attribute": "name", "op": op, "values": ["(?i)^bob"]}]}]}
    conv = ld.convert({"flags": {"f": flag}, "segments": {}})
    assert "flags.f" in conv.unfaithful_paths
    safe = {**flag, "rules": [{"id": "r", "variation": 1, "clauses": [
        {"attribute": "name", "op": op, "values": ["^bo+b[0-9]*$"]}]}]}
    conv = ld.convert({"f": safe})  # a flags-only mapping is accepted too
    assert not conv.unfaithful_paths
    env = compile_environment(conv.document, strict=True)
    assert env.evaluate("f", {"key": "k", "name": "booob7"}, 0).variant == "1"


def test_unknown_operators_never_match_and_negated_ones_are_reported() -> None:
    flag = {"key": "f", "on": True, "variations": [0, 1, 2], "fallthrough": {"variation": 0},
            "rules": [{"variation": 1, "clauses": [
                {"attribute": "key", "op": "someFutureOp", "values": ["k"]}]},
                      {"variation": 2, "clauses": [
                {"attribute": "x", "op": "in", "values": [True]}]}]}
    conv = ld.convert({"flags": {"f": flag}})
    assert not conv.unfaithful_paths
    env = compile_environment(conv.document, strict=True)
    assert env.evaluate("f", {"key": "k", "x": True}, -1).value == 2  # the next rule decides
    flag["rules"][0]["clauses"][0]["negate"] = True
    assert "flags.f" in ld.convert({"flags": {"f": flag}}).unfaithful_paths


def test_contexts_single_multi_and_legacy_users() -> None:
    assert ld.context({"kind": "org", "key": "o", "_meta": {"privateAttributes": ["a"]}}) == {
        "kind": "org", "key": "o"}
    assert ld.context({"kind": "multi", "user": {"key": "u", "_meta": {}}, "org": {"key": "o"}}) \
        == {"kind": "multi", "user": {"key": "u"}, "org": {"key": "o"}}
    assert ld.context({"key": "u", "email": "e", "custom": {"plan": "pro"},
                       "privateAttributeNames": ["email"]}) == {
        "kind": "user", "key": "u", "email": "e", "plan": "pro"}


@pytest.mark.parametrize("bad", [[], "flags", {"flags": {"f": 1}}, {"flags": {"f": {"on": True}}}])
def test_not_launchdarkly_data_is_a_value_error(bad: object) -> None:
    with pytest.raises(ValueError, match=r"LaunchDarkly|variations|object"):
        ld.convert(bad)


def test_an_off_flag_is_faithful_whatever_its_rules_say() -> None:
    flag = {"key": "f", "on": False, "variations": ["a", "b"], "offVariation": 1,
            "rules": [{"id": "r", "variation": 7, "clauses": []}]}  # no fallthrough either
    conv = ld.convert({"flags": {"f": flag}})
    assert not conv.unfaithful_paths
    assert any("while the flag is off" in i["reason"] for i in conv.report)
    env = compile_environment(conv.document, strict=True)
    assert env.evaluate("f", {"key": "k"}, "x").value == "b"
    assert ld.convert({"flags": {"f": {**flag, "on": True}}}).unfaithful_paths == {"flags.f"}


def test_percentage_segment_rules_bucket_as_launchdarkly(env: Any, conv: Any) -> None:
    seen = set()
    for i in range(60):
        key = f"u-{i}"
        inside = ld_bucket("ten-percent.", key) < 10000 / 100000
        got = evaluate(env, conv, "percent-segment-user", {"kind": "user", "key": key})
        assert got == ((2, "1", "TARGETING_MATCH") if inside else (1, "0", "DEFAULT")), key
        seen.add(inside)
    assert seen == {True, False}


def test_percentage_segment_rules_with_bucket_by_kind_and_salt() -> None:
    payload = {"flags": {"f": {
        "key": "f", "on": True, "variations": [False, True], "fallthrough": {"variation": 0},
        "rules": [{"id": "r", "clauses": [{"attribute": "", "op": "segmentMatch",
                                           "values": ["orgs"]}], "variation": 1}]}},
        "segments": {"orgs": {"key": "orgs", "salt": "abc", "rules": [{
            "clauses": [{"contextKind": "org", "attribute": "plan", "op": "in",
                         "values": ["pro"]}],
            "weight": 35000, "bucketBy": "/billing/id", "rolloutContextKind": "org"}]},
                     "users": {"key": "users", "salt": "x", "rules": [{
            "clauses": [{"contextKind": "user", "attribute": "plan", "op": "in",
                         "values": ["pro"]}],
            "weight": 100, "bucketBy": "nope", "rolloutContextKind": "org"}]}}}
    payload["flags"]["g"] = {**payload["flags"]["f"], "key": "g", "rules": [
        {"id": "r", "clauses": [{"attribute": "", "op": "segmentMatch", "values": ["users"]}],
         "variation": 1}]}
    conv = ld.convert(payload)
    assert not conv.unfaithful_paths, conv.report
    env = compile_environment(conv.document, strict=True)
    seen = set()
    for i in range(60):
        ctx = {"kind": "org", "key": "o", "plan": "pro", "billing": {"id": f"b-{i}"}}
        inside = ld_bucket("orgs.abc", f"b-{i}") < 0.35
        assert evaluate(env, conv, "f", ctx)[1] == ("1" if inside else "0")
        seen.add(inside)
    assert seen == {True, False}
    # without a bucketable value LaunchDarkly uses bucket 0: inside any positive weight
    assert evaluate(env, conv, "f", {"kind": "org", "key": "o", "plan": "pro"})[1] == "1"
    assert evaluate(env, conv, "f", {"kind": "org", "key": "o", "plan": "pro",
                                     "billing": {"id": True}})[1] == "1"
    # ... but a context without the rollout's kind is not in the rule (LaunchDarkly's
    # explicit non-match), even when its clauses hold through another kind
    assert evaluate(env, conv, "g", {"kind": "user", "key": "u", "plan": "pro"})[1] == "0"
    multi = {"kind": "multi", "user": {"key": "u", "plan": "pro"}, "org": {"key": "o"}}
    assert evaluate(env, conv, "g", multi)[1] == "1"  # no "nope" attribute: bucket 0
    assert evaluate(env, conv, "f", {"kind": "org", "key": "o", "plan": "free"})[1] == "0"


def test_an_integral_float_is_bucketed_as_its_integer() -> None:
    payload = {"flags": {"f": {
        "key": "f", "on": True, "salt": "s", "variations": ["a", "b"],
        "fallthrough": {"rollout": {"bucketBy": "n", "variations": [
            {"variation": 0, "weight": 50000}, {"variation": 1, "weight": 50000}]}}}}}
    conv = ld.convert(payload)
    env = compile_environment(conv.document, strict=True)
    for n in range(20):
        want = str(ld_pick(ld_bucket("f.s", str(n)), [50000, 50000]))
        assert evaluate(env, conv, "f", {"kind": "user", "key": "k", "n": float(n)})[1] == want
        assert evaluate(env, conv, "f", {"kind": "user", "key": "k", "n": n})[1] == want
    # a float that is not an integer cannot be bucketed: bucket 0, the first variation
    assert evaluate(env, conv, "f", {"kind": "user", "key": "k", "n": 2.5})[1] == "0"
