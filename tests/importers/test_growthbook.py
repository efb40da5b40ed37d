"""vexil.importers.growthbook: a GrowthBook SDK payload, translated and evaluated by Vexil's
engine, serves what GrowthBook's JavaScript SDK serves (values, JavaScript coercions,
hashes, prerequisites) and reports what it cannot translate. Payloads are written from
GrowthBook's documented SDK format; expected buckets come from an FNV-1a written here."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_reader.engine import Context, compile_environment
from edge_reader.engine.detail import Reason
from vexil.importers import growthbook as gb


def _fnv1a32(text: str) -> int:
    h = 0x811C9DC5
    for unit in memoryview(text.encode("utf-16-le")).cast("H"):
        h = ((h ^ unit) * 0x01000193) & 0xFFFFFFFF
    return h


def _gb_hash(seed: str, value: str, version: int) -> float:
    if version == 2:
        return (_fnv1a32(str(_fnv1a32(seed + value))) % 10000) / 10000
    return (_fnv1a32(value + seed) % 1000) / 1000


def _evaluate(payload: dict[str, Any], key: str, attributes: dict[str, Any]) -> Any:
    conv = gb.convert(payload)
    env = compile_environment(conv.document, strict=True, clock=time.time)
    return env.evaluate(conv.keys[key], Context.from_mapping(gb.context(attributes)), None)


def _passes(condition: dict[str, Any], attributes: dict[str, Any],
            saved_groups: dict[str, Any] | None = None) -> bool:
    payload: dict[str, Any] = {"features": {"f": {"defaultValue": False, "rules": [
        {"condition": condition, "force": True}]}}}
    if saved_groups is not None:
        payload["savedGroups"] = saved_groups
    conv = gb.convert(payload)
    assert not conv.unfaithful_paths, conv.report
    return bool(_evaluate(payload, "f", attributes).value)


def test_force_rules_in_order_with_ids_and_the_default() -> None:
    payload = {"features": {
        "banner": {"defaultValue": "none", "rules": [
            {"id": "fr-ca", "condition": {"country": "CA", "lang": "fr"}, "force": "bonjour"},
            {"id": "na", "condition": {"country": {"$in": ["US", "CA"]}}, "force": "hello"}]},
        "plain": {"defaultValue": 3},
        "empty": {}}}
    detail = _evaluate(payload, "banner", {"country": "CA", "lang": "fr"})
    assert (detail.value, detail.rule_id, detail.reason) == ("bonjour", "fr-ca",
                                                            Reason.TARGETING_MATCH)
    assert _evaluate(payload, "banner", {"country": "US"}).rule_id == "na"
    fallback = _evaluate(payload, "banner", {"country": "DE"})
    assert (fallback.value, fallback.reason) == ("none", Reason.DEFAULT)
    static = _evaluate(payload, "plain", {})
    assert (static.value, static.reason) == (3, Reason.STATIC)
    # No defaultValue: GrowthBook's null, i.e. the caller's default.
    assert _evaluate(payload, "empty", {}).value is None
    conv = gb.convert(payload)
    assert conv.document["flags"]["banner"]["kind"] == "string"
    assert conv.document["flags"]["plain"]["kind"] == "number"


@pytest.mark.parametrize(("condition", "attributes", "expected"), [
    ({"n": 5}, {"n": "5"}, True),                       # value * 1 === 5
    ({"n": "5"}, {"n": 5}, True),                       # String(5) === "5"
    ({"n": "null"}, {}, True),                          # a missing value is null
    ({"x": {"$lt": 5}}, {}, True),                      # null < 5 (null is 0)
    ({"x": {"$gt": 5}}, {}, False),
    ({"n": {"$gt": 5, "$lt": 10}}, {"n": "8"}, True),   # "8" compared as a number
    ({"w": {"$gt": "alphabet", "$lt": "zebra"}}, {"w": "always"}, True),
    ({"w": {"$gt": "alphabet", "$lt": "zebra"}}, {"w": "AZL"}, False),  # code units
    ({"w": {"$lte": "b"}}, {"w": "b"}, True),
    ({"w": {"$gte": "b\u00e9"}}, {"w": "b\u00e9a"}, True),
    ({"c": {"$ne": "de"}}, {}, True),
    ({"c": {"$nin": ["de"]}}, {}, True),
    ({"c": {"$in": ["de"]}}, {}, False),
    ({"tags": {"$in": ["a", "b"]}}, {"tags": ["x", "b"]}, True),
    ({"tags": "a"}, {"tags": ["a", "b"]}, False),       # String(["a","b"]) is "a,b"
    ({"tags": "a,b"}, {"tags": ["a", "b"]}, True),
    ({"ua": {"$regex": "^nu"}}, {}, True),              # test("null")
    ({"ua": {"$regexi": "MOBILE"}}, {"ua": "mobile safari"}, True),
    ({"o": {"a": 1, "b": 2}}, {"o": {"b": 2, "a": 1}}, False),  # JSON.stringify order
    ({"o": {"a": 1, "b": 2}}, {"o": {"a": 1, "b": 2}}, True),
    ({"a.b": {"$exists": True}}, {"a": {"b": 0}}, True),
    ({"a.b": {"$exists": True}}, {"a": 1}, False),
    ({"t": {"$type": "array"}}, {"t": []}, True),
    ({"t": {"$size": {"$gte": 2}}}, {"t": [1, 2]}, True),
    ({"t": {"$all": ["1", "x"]}}, {"t": [1, "x"]}, True),
    ({"flag": True}, {"flag": "yes"}, True),             # !!"yes" === true
    ({"flag": False}, {}, False),                        # null is not false
    ({"$or": []}, {}, True),
    ({"$nor": [{"a": 1}]}, {"a": 2}, True),
    ({"$not": {"a": 1}}, {"a": 1}, False),
])
def test_conditions_keep_javascript_semantics(condition: dict[str, Any],
                                              attributes: dict[str, Any],
                                              expected: bool) -> None:
    assert _passes(condition, attributes) is expected


@pytest.mark.parametrize(("op", "bound", "version", "expected"), [
    ("$vgt", "1.2.3", "v2.0.0", True),
    ("$vlt", "1.0.0", "1.0.0-rc.1", True),
    ("$vgt", "1.2.3-a.5", "1.2.3-a.10", True),
    ("$veq", "1.2.3", "1.2.3+build.7", True),
    ("$vgte", "10.0.0", "9.99.99", False),
    ("$vlt", "1.0.0", None, True),                       # missing is "0"
])
def test_version_operators(op: str, bound: str, version: str | None, expected: bool) -> None:
    attributes = {} if version is None else {"v": version}
    assert _passes({"v": {op: bound}}, attributes) is expected


def test_saved_groups() -> None:
    groups = {"beta": [1, "2"], "v2": {"type": "list", "values": ["x"]}}
    assert _passes({"id": {"$inGroup": "beta"}}, {"id": 1}, groups) is True
    assert _passes({"id": {"$inGroup": "beta"}}, {"id": "1"}, groups) is False
    assert _passes({"id": {"$inGroup": "v2"}}, {"id": "x"}, groups) is True
    assert _passes({"id": {"$notInGroup": "unknown"}}, {"id": 1}, groups) is True
    assert _passes({"id": {"$inGroup": "unknown"}}, {"id": 1}, groups) is False


def test_coverage_ranges_and_experiments_use_growthbook_hashes() -> None:
    payload = {"features": {"f": {"defaultValue": "control", "rules": [
        {"force": "covered", "coverage": 0.3, "hashVersion": 2, "seed": "s1"},
        {"key": "exp", "variations": ["a", "b", "c"], "weights": [0.2, 0.3, 0.5],
         "coverage": 0.8, "meta": [{"key": "va"}, {"key": "vb"}, {"key": "vc"}]},
    ]}}}
    conv = gb.convert(payload)
    env = compile_environment(conv.document, strict=True)
    assert set(conv.document["flags"]["f"]["variations"]) >= {"va", "vb", "vc"}
    seen = set()
    for n in range(300):
        uid = f"user-{n}"
        if _gb_hash("s1", uid, 2) <= 0.3:
            want = "covered"
        else:
            bucket = _gb_hash("exp", uid, 1)
            starts, cumulative, want = [], 0.0, "control"
            for w in (0.2, 0.3, 0.5):
                starts.append((cumulative, cumulative + 0.8 * w))
                cumulative += w
            for value, (lo, hi) in zip("abc", starts, strict=True):
                if lo <= bucket < hi:
                    want = value
        detail = env.evaluate("f", Context.from_mapping(gb.context({"id": uid})), None)
        assert detail.value == want, uid
        seen.add(want)
    assert seen == {"covered", "a", "b", "c", "control"}  # partial coverage falls through
    assert env.evaluate("f", Context.from_mapping(gb.context({})), None).value == "control"


def test_gates_become_prerequisites_and_cycles_serve_null() -> None:
    payload = {"features": {
        "parent": {"defaultValue": "silver", "rules": [
            {"condition": {"country": "US"}, "force": "green"}]},
        "child": {"defaultValue": "off", "rules": [
            {"parentConditions": [{"id": "parent", "condition": {"value": "green"},
                                   "gate": True}]},
            {"force": "on"}]},
        "orphan": {"defaultValue": 1, "rules": [
            {"parentConditions": [{"id": "missing", "condition": {"value": True},
                                   "gate": True}]}]},
        "a": {"defaultValue": True, "rules": [
            {"parentConditions": [{"id": "b", "condition": {"value": True}, "gate": True}]}]},
        "b": {"defaultValue": True, "rules": [
            {"parentConditions": [{"id": "a", "condition": {"value": True}, "gate": True}]}]},
    }}
    assert _evaluate(payload, "child", {"country": "US"}).value == "on"
    blocked = _evaluate(payload, "child", {"country": "CA"})
    assert (blocked.value, blocked.reason) == (None, Reason.DISABLED)
    assert _evaluate(payload, "orphan", {}).value is None
    assert _evaluate(payload, "a", {}).value is None
    assert not gb.convert(payload).unfaithful_paths


def test_rule_level_prerequisites_are_inlined() -> None:
    payload = {"features": {
        "probe": {"defaultValue": "off", "rules": [{"condition": {"beta": True},
                                                    "force": "ON"}]},
        "child": {"defaultValue": "none", "rules": [
            {"parentConditions": [{"id": "probe", "condition": {"value": "ON"}}],
             "force": "yes"},
            {"force": "no"}]}}}
    assert _evaluate(payload, "child", {"beta": True}).value == "yes"
    assert _evaluate(payload, "child", {}).value == "no"
    assert not gb.convert(payload).unfaithful_paths


def test_what_cannot_be_reproduced_is_reported() -> None:
    rules = {
        "filter": [{"force": 1, "filters": [{"seed": {"s": 1}, "ranges": [[0, 0.2]]}]}],
        "sticky": [{"variations": [0, 1], "fallbackAttribute": "deviceId"}],
        "op": [{"force": 1, "condition": {"x": {"$near": 1}}}],
        "elem": [{"force": 1, "condition": {"h": {"$elemMatch": {"n": {"$gt": 1}}}}}],
        "look": [{"force": 1, "condition": {"x": {"$regex": "a(?=b)"}}}],
        "url": [{"variations": [0, 1], "urlPatterns": [{"pattern": "/x"}]}],
    }
    payload = {"features": {k: {"defaultValue": 0, "rules": r} for k, r in rules.items()}
               | {"fine": {"defaultValue": 0, "rules": [{"force": 1,
                                                         "condition": {"x": 1}}]}},
               "forcedVariations": {"fine": 1}}
    conv = gb.convert(payload)
    assert conv.unfaithful_paths == {f"features.{k}" for k in rules}
    compile_environment(conv.document, strict=True)


USERS = [f"u{i}" for i in range(80)]


def test_namespaces_and_filters_hash_as_growthbook_does() -> None:
    payload = {"features": {
        "ns": {"defaultValue": "out", "rules": [
            {"key": "exp", "variations": ["a", "b"], "namespace": ["pricing", 0.2, 0.55]}]},
        "filtered": {"defaultValue": "out", "rules": [
            {"force": "in", "filters": [
                {"seed": "s1", "ranges": [[0, 0.3], [0.6, 0.7]]},
                {"attribute": "company", "seed": "s2", "hashVersion": 1,
                 "ranges": [[0.25, 1]]}]}]},
        "exp-filters": {"defaultValue": "out", "rules": [
            {"key": "e2", "variations": ["a", "b"], "namespace": ["ignored", 0, 0.01],
             "filters": [{"seed": "s3", "ranges": [[0.5, 1]]}]}]}}}
    conv = gb.convert(payload)
    assert not conv.unfaithful_paths, conv.report
    seen = set()
    for user in USERS:
        in_ns = 0.2 <= _gb_hash("__pricing", user, 1) < 0.55
        served = _evaluate(payload, "ns", {"id": user}).value
        assert (served != "out") is in_ns, user
        company = f"c-{user}"
        n1, n2 = _gb_hash("s1", user, 2), _gb_hash("s2", company, 1)
        want = (n1 < 0.3 or 0.6 <= n1 < 0.7) and n2 >= 0.25
        assert (_evaluate(payload, "filtered", {"id": user, "company": company}).value
                == "in") is want, user
        # an experiment with filters ignores its namespace (GrowthBook's else-if)
        got = _evaluate(payload, "exp-filters", {"id": user}).value
        assert (got != "out") is (_gb_hash("s3", user, 2) >= 0.5), user
        seen.add((in_ns, want))
    assert len(seen) == 4  # the sample covers every combination
    # no hash value (absent or falsy): filtered out, not in the namespace
    assert _evaluate(payload, "filtered", {"company": "c-u1"}).value == "out"
    assert _evaluate(payload, "filtered", {"id": "", "company": "c-u1"}).value == "out"
    assert _evaluate(payload, "ns", {}).value == "out"


def test_context_keeps_attributes_and_adds_javascript_views() -> None:
    ctx = gb.context({"id": "u1", "key": "k", "n": "8", "tags": ["a", "b"],
                      "address": {"city": "Oslo"}})
    assert ctx["targetingKey"] == "u1"
    assert ctx["attr:key"] == "k"
    assert ctx["tags"] == ["a", "b"]
    views = ctx[gb.DERIVED]
    assert views["number"]["n"] == 8
    assert views["string"]["tags"] == "a,b"
    assert views["type"]["address.city"] == "string"
    assert gb.context({"id": 7})[gb.DERIVED]["string"]["id"] == "7"
    assert "targetingKey" not in gb.context({"id": 7})
    with pytest.raises(gb.GrowthBookFormatError):
        gb.context(["not", "attributes"])  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [None, [], {"feature": {}}, {"features": []},
                                 {"features": {"f": 3}}, {"encryptedFeatures": "abc"},
                                 {"features": {}, "savedGroups": []}])
def test_bad_input_raises_a_value_error(bad: Any) -> None:
    with pytest.raises(ValueError, match=r"GrowthBook|feature|savedGroups|encrypted"):
        gb.convert(bad)


def test_a_gate_on_an_unfaithful_parent_is_reported() -> None:
    payload = {"features": {
        "parent": {"defaultValue": 1, "rules": [{"variations": [1, 2],
                                                 "fallbackAttribute": "deviceId"}]},
        "child": {"defaultValue": "x", "rules": [
            {"parentConditions": [{"id": "parent", "condition": {"value": 1}, "gate": True}]}]}}}
    conv = gb.convert(payload)
    assert conv.unfaithful_paths == {"features.parent", "features.child"}


NAMES = ["defaultValue", "rules", "force", "condition", "coverage", "range", "ranges",
         "variations", "weights", "hashAttribute", "hashVersion", "seed", "key", "meta",
         "passthrough", "filters", "namespace", "parentConditions", "id", "gate", "value",
         "x", "$in", "$gt", "$regex", "$or", "$not", "$elemMatch", "$vgt", "$size", "$type"]
SCALARS = st.sampled_from([None, True, False, 0, 1, 2, -1, 0.5, 1.5, "", "x", "id", "^a",
                           "(", "1.2.3", "string", "f", "g"])
JSONISH = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.sampled_from(NAMES), inner, max_size=4), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(NAMES), JSONISH, max_size=4), JSONISH, JSONISH)
def test_any_input_is_refused_or_compiles(feature: dict[str, Any], other: Any,
                                          attributes: Any) -> None:
    try:
        conv = gb.convert({"features": {"f": feature, "g": {"rules": [other]}}})
    except ValueError:
        return
    env = compile_environment(conv.document, strict=True)
    with contextlib.suppress(ValueError):
        env.evaluate("f", Context.from_mapping(gb.context(attributes)), None)


def test_a_context_built_by_hand_gets_the_plain_typed_cases() -> None:
    payload = {"features": {"f": {"defaultValue": 0, "rules": [
        {"condition": {"ua": {"$regex": "Mobile"}}, "force": 1},
        {"condition": {"country": "US", "age": {"$gte": 18}}, "force": 2}]}}}
    conv = gb.convert(payload)
    env = compile_environment(conv.document, strict=True)
    assert env.evaluate("f", Context.from_mapping({"ua": "Android Mobile"}), None).value == 1
    assert env.evaluate("f", Context.from_mapping({"country": "US", "age": 30}), None).value == 2
    assert env.evaluate("f", Context.from_mapping({"country": "US", "age": 3}), None).value == 0
