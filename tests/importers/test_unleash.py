"""vexil.importers.unleash: an Unleash client features export, translated and evaluated by
Vexil's engine, answers as Unleash does (values, variants, missing fields, hashes), and
reports what it cannot translate. The exports below are written from Unleash's published
client API format; expected buckets come from MurmurHash3 directly (mmh3), not the engine."""

from __future__ import annotations

import time
from typing import Any

import mmh3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_reader.engine import Context, compile_environment
from edge_reader.engine.detail import Reason
from vexil.importers import unleash
from vexil.importers._conversion import Conversion

VARIANT_SEED = 86028157


def _unleash_bucket(group: str, value: str, modulus: int, seed: int = 0) -> int:
    """Unleash's normalizedHash: 1..modulus."""
    return mmh3.hash(f"{group}:{value}", seed, signed=False) % modulus + 1


def _env(document: dict[str, Any]) -> tuple[Any, Conversion]:
    conv = unleash.convert(document)
    return compile_environment(conv.document, strict=True, clock=time.time), conv


def _enabled(env: Any, conv: Any, name: str, peer_ctx: dict[str, Any]) -> bool:
    detail = env.evaluate(conv.keys[name], Context.from_mapping(unleash.context(peer_ctx)), None)
    value = detail.value
    return bool(value["feature_enabled"]) if isinstance(value, dict) else bool(value)


def _variant(env: Any, conv: Any, name: str, peer_ctx: dict[str, Any]) -> dict[str, Any]:
    detail = env.evaluate(conv.keys[name], Context.from_mapping(unleash.context(peer_ctx)), None)
    assert isinstance(detail.value, dict), detail
    return dict(detail.value)


def _feature(name: str, *strategies: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "enabled": True, "strategies": list(strategies), **extra}


def _default(**extra: Any) -> dict[str, Any]:
    return {"name": "default", "parameters": {}, **extra}


def test_booleans_answer_is_enabled_with_unleash_reasons() -> None:
    doc = {"version": 2, "features": [
        _feature("checkout.on", _default()),
        {**_feature("checkout.off", _default()), "enabled": False},
        _feature("no-strategies"),
        _feature("ids", {"name": "userWithId", "parameters": {"userIds": "u1, u2,u3"}}),
    ]}
    env, conv = _env(doc)
    assert env.evaluate("checkout.on", Context.from_mapping({}), None).value is True
    off = env.evaluate("checkout.off", Context.from_mapping({}), None)
    assert (off.value, off.reason) == (False, Reason.DISABLED)
    static = env.evaluate("no-strategies", Context.from_mapping({}), None)
    assert (static.value, static.reason) == (True, Reason.STATIC)
    assert _enabled(env, conv, "ids", {"userId": "u2"}) is True
    assert _enabled(env, conv, "ids", {"userId": "u4"}) is False
    assert _enabled(env, conv, "ids", {}) is False
    assert conv.report == [] or all(item["faithful"] for item in conv.report)


def test_constraints_follow_unleash_missing_field_and_inversion_rules() -> None:
    c = [{"contextName": "environment", "operator": "IN", "values": ["prod"]},
         {"contextName": "tier", "operator": "NOT_IN", "values": ["free"]},
         {"contextName": "email", "operator": "STR_ENDS_WITH", "values": ["@SHOP.example"],
          "caseInsensitive": True},
         {"contextName": "country", "operator": "IN", "values": ["DE"], "inverted": True}]
    env, conv = _env({"features": [_feature("f", _default(constraints=c))]})
    base: dict[str, Any] = {"environment": "prod", "properties": {"email": "a@shop.EXAMPLE"}}
    assert _enabled(env, conv, "f", base) is True  # tier missing passes NOT_IN; country too
    assert _enabled(env, conv, "f", {**base, "properties": {**base["properties"],
                                                            "tier": "free"}}) is False
    assert _enabled(env, conv, "f", {**base, "properties": {**base["properties"],
                                                            "country": "DE"}}) is False
    assert _enabled(env, conv, "f", {**base, "environment": "dev"}) is False
    assert _enabled(env, conv, "f", {"environment": "prod"}) is False  # email missing


def test_numeric_date_and_semver_constraints() -> None:
    strategies = {
        "num": [{"contextName": "seats", "operator": "NUM_GTE", "value": "10"}],
        "date": [{"contextName": "currentTime", "operator": "DATE_AFTER",
                  "value": "2026-01-01T00:00:00.000Z"}],
        "ver": [{"contextName": "version", "operator": "SEMVER_LT", "value": "2.0.0"}],
        "vee": [{"contextName": "version", "operator": "SEMVER_EQ", "value": "v1.0.0"}],
    }
    env, conv = _env({"features": [_feature(k, _default(constraints=c))
                                   for k, c in strategies.items()]})
    assert _enabled(env, conv, "num", {"properties": {"seats": "10.0"}}) is True
    assert _enabled(env, conv, "num", {"properties": {"seats": "9"}}) is False
    assert _enabled(env, conv, "num", {"properties": {"seats": "ten"}}) is False
    assert _enabled(env, conv, "date", {"currentTime": "2026-01-02T00:00:00Z"}) is True
    assert _enabled(env, conv, "date", {"currentTime": "2025-12-31T23:59:59Z"}) is False
    # Without currentTime Unleash uses the evaluation instant (the compiler's clock).
    assert _enabled(env, conv, "date", {}) is (time.time() > 1767225600)
    assert _enabled(env, conv, "ver", {"properties": {"version": "1.9.9"}}) is True
    # Unleash reads only strict versions: "1.2" is not one (Vexil alone would pad it).
    assert _enabled(env, conv, "ver", {"properties": {"version": "1.2"}}) is False
    assert _enabled(env, conv, "vee", {"properties": {"version": "v1.0.0"}}) is False
    assert not conv.unfaithful_paths


def test_flexible_rollout_buckets_exactly_like_unleash() -> None:
    s = {"name": "flexibleRollout",
         "parameters": {"rollout": "30", "stickiness": "userId", "groupId": "cart"}}
    env, conv = _env({"features": [_feature("cart", s)]})
    served = 0
    for n in range(400):
        uid = f"user-{n}"
        want = _unleash_bucket("cart", uid, 100) <= 30
        assert _enabled(env, conv, "cart", {"userId": uid}) is want, uid
        served += want
    assert 80 < served < 160  # the hash really splits
    assert _enabled(env, conv, "cart", {"sessionId": "s"}) is False  # no userId: not in


def test_default_stickiness_uses_session_then_random() -> None:
    s = {"name": "flexibleRollout",
         "parameters": {"rollout": "50", "stickiness": "default", "groupId": "g"}}
    env, conv = _env({"features": [_feature("f", s)]})
    for n in range(50):
        sid = f"s{n}"
        assert _enabled(env, conv, "f", {"sessionId": sid}) is (
            _unleash_bucket("g", sid, 100) <= 50)
    seen = set()
    for _ in range(60):  # neither id: Unleash draws at random, so does context()
        ctx = unleash.context({})
        want = _unleash_bucket("g", ctx[unleash.RANDOM_ATTRIBUTE], 100) <= 50
        got = env.evaluate("f", Context.from_mapping(ctx), None).value
        assert got is want
        seen.add(got)
    assert seen == {True, False}


def test_multiple_strategies_are_ored() -> None:
    doc = {"features": [_feature(
        "f", {"name": "userWithId", "parameters": {"userIds": "alice"}},
        {"name": "remoteAddress", "parameters": {"IPs": "10.0.0.0/8, bogus, 192.168.1.7"}})]}
    env, conv = _env(doc)
    assert _enabled(env, conv, "f", {"userId": "alice"}) is True
    assert _enabled(env, conv, "f", {"remoteAddress": "10.2.3.4"}) is True
    assert _enabled(env, conv, "f", {"remoteAddress": "192.168.1.7"}) is True
    assert _enabled(env, conv, "f", {"userId": "bob", "remoteAddress": "11.0.0.1"}) is False


def _payload(v: str) -> dict[str, str]:
    return {"type": "string", "value": v}


def test_feature_variants_overrides_and_the_disabled_variant() -> None:
    variants = [
        {"name": "blue", "weight": 300, "payload": _payload("b"), "stickiness": "default",
         "overrides": [{"contextName": "userId", "values": ["vip"]}]},
        {"name": "red", "weight": 700, "payload": _payload("r"), "stickiness": "default"},
    ]
    doc = {"features": [
        _feature("colour", _default(constraints=[
            {"contextName": "environment", "operator": "IN", "values": ["prod"]}]),
            variants=variants),
        {**_feature("colour-off", _default(), variants=variants), "enabled": False}]}
    env, conv = _env(doc)
    for n in range(100):
        uid = f"u{n}"
        target = _unleash_bucket("colour", uid, 1000, VARIANT_SEED)
        want = "blue" if target <= 300 else "red"
        got = _variant(env, conv, "colour", {"userId": uid, "environment": "prod"})
        assert got == {"name": want, "payload": _payload(want[0]), "enabled": True,
                       "feature_enabled": True}
    assert _variant(env, conv, "colour", {"userId": "vip", "environment": "prod"})["name"] \
        == "blue"
    not_matched = {"name": "disabled", "payload": None, "enabled": False,
                   "feature_enabled": False}
    assert _variant(env, conv, "colour", {"userId": "u1", "environment": "dev"}) == not_matched
    assert _variant(env, conv, "colour-off", {"userId": "u1"}) == not_matched


def test_strategy_variants_come_from_the_first_matching_strategy_with_variants() -> None:
    plain = {"name": "userWithId", "parameters": {"userIds": "u1"}}
    with_variants = {"name": "flexibleRollout",
                     "parameters": {"rollout": "100", "stickiness": "default", "groupId": "g"},
                     "variants": [{"name": "s", "weight": 1, "payload": _payload("s")}]}
    prod_only = {**with_variants, "constraints": [
        {"contextName": "environment", "operator": "IN", "values": ["prod"]}]}
    doc = {"features": [
        _feature("f", plain, with_variants, variants=[{"name": "feat", "weight": 1}]),
        _feature("mixed", plain, prod_only)]}
    env, conv = _env(doc)
    assert _variant(env, conv, "f", {"userId": "u1"})["name"] == "s"
    assert _variant(env, conv, "mixed", {"userId": "u2", "environment": "prod"})["name"] == "s"
    # Enabled by a strategy without variants and no feature variants: Unleash's
    # disabled variant with feature_enabled true.
    assert _variant(env, conv, "mixed", {"userId": "u1"}) == {
        "name": "disabled", "payload": None, "enabled": False, "feature_enabled": True}


def test_dependencies_become_prerequisites() -> None:
    doc = {"features": [
        _feature("parent", _default()),
        {**_feature("parent-off", _default()), "enabled": False},
        _feature("child", _default(), dependencies=[{"feature": "parent"}]),
        _feature("needs-off", _default(),
                 dependencies=[{"feature": "parent-off", "enabled": False}]),
        _feature("needs-missing", _default(), dependencies=[{"feature": "nope"}]),
        _feature("grandchild", _default(), dependencies=[{"feature": "child"}]),
        _feature("vparent", _default(), variants=[{"name": "a", "weight": 1}]),
        _feature("vchild", _default(), dependencies=[{"feature": "vparent",
                                                      "variants": ["a"]}]),
        _feature("vchild-no", _default(), dependencies=[{"feature": "vparent",
                                                         "variants": ["b"]}]),
    ]}
    env, conv = _env(doc)
    answers = {name: _enabled(env, conv, name, {}) for name in conv.keys}
    assert answers["child"] is True
    assert answers["needs-off"] is True
    assert answers["needs-missing"] is False
    assert answers["grandchild"] is False  # Unleash supports one level only
    assert answers["vchild"] is True
    assert answers["vchild-no"] is False
    assert not conv.unfaithful_paths


def test_segments_are_shared_and_a_missing_segment_fails_the_strategy() -> None:
    doc = {"features": [_feature("f", _default(segments=[7])),
                        _feature("g", _default(segments=[404]))],
           "segments": [{"id": 7, "name": "beta", "constraints": [
               {"contextName": "plan", "operator": "IN", "values": ["beta"]}]}]}
    env, conv = _env(doc)
    assert conv.document["segments"]["segment-7"]["description"] == "beta"
    assert _enabled(env, conv, "f", {"properties": {"plan": "beta"}}) is True
    assert _enabled(env, conv, "f", {"properties": {"plan": "ga"}}) is False
    assert _enabled(env, conv, "g", {"properties": {"plan": "beta"}}) is False


def test_what_cannot_be_reproduced_is_reported_with_its_path() -> None:
    doc = {"features": [
        _feature("custom", {"name": "myCompanyStrategy", "parameters": {}}),
        _feature("host", {"name": "applicationHostname", "parameters": {"hostNames": "a"}}),
        _feature("op", _default(constraints=[
            {"contextName": "x", "operator": "STR_FUZZY", "values": ["a"]}])),
        _feature("word", _default(constraints=[
            {"contextName": "x", "operator": "REGEX", "value": r"\bcat\b"}])),
        _feature("fine", _default(constraints=[
            {"contextName": "x", "operator": "REGEX", "value": r"^user\d+$"}])),
        _feature("seg", _default(segments=[1])),
    ], "segments": [{"id": 1, "constraints": [
        {"contextName": "x", "operator": "NOPE", "values": []}]}]}
    conv = unleash.convert(doc)
    assert conv.unfaithful_paths == {
        "features.custom", "features.host", "features.op", "features.word",
        "features.seg", "segments.1"}
    reasons = {item["path"]: item["reason"] for item in conv.report if not item["faithful"]}
    assert "myCompanyStrategy" in reasons["features.custom"]
    assert "STR_FUZZY" in reasons["features.op"]
    # What is reported is still a document the strict compiler accepts.
    compile_environment(conv.document, strict=True)


def test_context_mapping() -> None:
    ctx = unleash.context({"userId": "u1", "sessionId": "s1", "appName": "web",
                           "properties": {"plan": "pro", "appName": "ignored", "seats": "12",
                                          "key": "k", "missing": None, "on": True}})
    assert ctx["targetingKey"] == "u1"
    assert (ctx["sessionId"], ctx["appName"], ctx["plan"]) == ("s1", "web", "pro")
    assert ctx["seats"] == "12"
    assert ctx["seats#number"] == 12.0
    assert ctx["property:key"] == "k"
    assert ctx["on"] == "true"
    assert "missing" not in ctx
    assert isinstance(ctx[unleash.RANDOM_ATTRIBUTE], str)
    # A property stands in for a built-in field the context lacks (Unleash's fallback).
    assert unleash.context({"properties": {"userId": "p"}})["targetingKey"] == "p"
    with pytest.raises(unleash.UnleashFormatError):
        unleash.context({"properties": ["not", "an", "object"]})


@pytest.mark.parametrize("bad", [None, [], {"toggles": []}, {"features": [{"enabled": True}]},
                                 {"features": [], "segments": [{"name": "no id"}]}])
def test_bad_input_raises_a_value_error(bad: Any) -> None:
    with pytest.raises(ValueError, match=r"Unleash|features|segment"):
        unleash.convert(bad)


def test_keys_vexil_refuses_are_mapped_and_listed() -> None:
    conv = unleash.convert({"features": [_feature("New Checkout!", _default())]})
    assert conv.keys == {"New Checkout!": "new-checkout"}
    assert conv.report[0]["faithful"] is True
    assert "new-checkout" in conv.report[0]["reason"]


def test_delta_api_events_are_replayed() -> None:
    doc = {"events": [
        {"type": "hydration", "features": [_feature("a", _default()), _feature("b")],
         "segments": []},
        {"type": "feature-removed", "featureName": "b"},
        {"type": "feature-updated", "feature": {**_feature("a", _default()),
                                                "enabled": False}}]}
    conv = unleash.convert(doc)
    assert set(conv.keys) == {"a"}
    assert conv.document["flags"]["a"]["enabled"] is False
    with pytest.raises(unleash.UnleashFormatError):
        unleash.convert({"events": [{"type": "something-new"}]})


def test_a_feature_depending_on_an_unfaithful_parent_is_reported() -> None:
    doc = {"features": [_feature("parent", {"name": "customThing"}),
                        _feature("child", _default(), dependencies=[{"feature": "parent"}])]}
    conv = unleash.convert(doc)
    assert conv.unfaithful_paths == {"features.parent", "features.child"}


NAMES = ["name", "enabled", "strategies", "parameters", "constraints", "contextName", "operator",
         "values", "value", "inverted", "caseInsensitive", "segments", "variants", "weight",
         "stickiness", "overrides", "payload", "dependencies", "feature", "rollout", "groupId",
         "userIds", "IPs", "id"]
SCALARS = st.sampled_from([None, True, False, 0, 1, 50, 101, 300, -1, 1.5, "", "x", "default",
                           "flexibleRollout", "userWithId", "IN", "NOT_IN", "REGEX", "SEMVER_EQ",
                           "NUM_LT", "DATE_AFTER", "1.2.3", "50", "userId", "(a", "10.0.0.0/8"])
JSONISH = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.sampled_from(NAMES), inner, max_size=4), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(NAMES), JSONISH, max_size=5), max_size=3),
       JSONISH)
def test_any_input_is_refused_or_compiles(features: list[dict[str, Any]], segments: Any) -> None:
    named = [{"name": f"f{i}", **f} for i, f in enumerate(features)]
    try:
        conv = unleash.convert({"features": named, "segments": segments})
    except ValueError:
        return
    compile_environment(conv.document, strict=True)


def test_a_percentage_strategy_beside_a_variant_split_uses_both_hashes() -> None:
    variants = [{"name": "a", "weight": 1, "stickiness": "default"},
                {"name": "b", "weight": 1, "stickiness": "default"}]
    doc = {"features": [_feature("split", {"name": "flexibleRollout", "parameters": {
        "rollout": "50", "groupId": "g", "stickiness": "default"}}, variants=variants)]}
    env, conv = _env(doc)
    assert not conv.unfaithful_paths, conv.report
    seen = set()
    for i in range(80):
        user = f"u{i}"
        enabled = _unleash_bucket("g", user, 100) <= 50
        got = _variant(env, conv, "split", {"userId": user})
        if enabled:
            want = "ab"[_unleash_bucket("split", user, 2, 86028157) - 1]
            assert (got["name"], got["feature_enabled"]) == (want, True), user
        else:
            assert (got["name"], got["feature_enabled"]) == ("disabled", False), user
        seen.add(got["name"])
    assert seen == {"a", "b", "disabled"}
