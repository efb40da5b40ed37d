"""Each evaluation step and the reason it reports: off, prerequisites, targets, rules, default."""

from __future__ import annotations

from typing import Any

from edge_reader.engine import Context, ErrorCode, Reason, compile_environment

from .builders import BOOL, clause, compile_one, doc, flag, rule, user


def test_static_flag() -> None:
    env = compile_one(flag(default="on", metadata={"owner": "team-x"}))
    d = env.evaluate("f", user(), False)
    assert (d.value, d.variant, d.reason, d.error_code) == (True, "on", Reason.STATIC, None)
    assert dict(d.flag_metadata) == {"owner": "team-x"}


def test_disabled_serves_off_variation() -> None:
    env = compile_one(flag(rule(clause("a", "exists")), enabled=False, off_variation="off",
                           default="on"))
    d = env.evaluate("f", user(a=1), True)
    assert (d.value, d.variant, d.reason) == (False, "off", Reason.DISABLED)


def test_disabled_without_off_variation_serves_callers_default() -> None:
    env = compile_one(flag(enabled=False, default="on"))
    d = env.evaluate("f", user(), "caller")
    assert (d.value, d.variant, d.reason, d.error_code) == ("caller", None, Reason.DISABLED, None)
    assert env.get_boolean("f", user(), True) is True
    assert env.get_boolean_details("f", user(), True).reason is Reason.DISABLED


def test_targets_before_rules_and_per_kind() -> None:
    f = flag(rule(serve="off"), default="off", targets=[
        {"values": ["u-1"], "variation": "on"},
        {"context_kind": "device", "values": ["d-1"], "variation": "on"}])
    env = compile_one(f)
    d = env.evaluate("f", user("u-1"), None)
    assert (d.variant, d.reason, d.rule_index) == ("on", Reason.TARGETING_MATCH, None)
    assert env.evaluate("f", {"kind": "device", "key": "d-1"}, None).variant == "on"
    assert env.evaluate("f", {"kind": "device", "key": "u-1"}, None).variant == "off"
    assert env.evaluate("f", user("u-2"), None).variant == "off"


def test_target_without_key_is_skipped() -> None:
    env = compile_one(flag(targets=[{"values": ["u-1"], "variation": "on"}]))
    d = env.evaluate("f", {"country": "DE"}, None)
    assert (d.variant, d.reason) == ("off", Reason.DEFAULT)


def test_rules_in_order_with_index_and_id() -> None:
    f = flag(rule(clause("plan", "in", "pro"), rule_id="pro", serve="on"),
             rule(clause("country", "in", "DE"), rule_id="de", serve="off"),
             rule(clause("country", "in", "FR"), serve="on"), default="off")
    env = compile_one(f)
    d = env.evaluate("f", user(plan="pro", country="DE"), None)
    assert (d.variant, d.reason, d.rule_index, d.rule_id) == (
        "on", Reason.TARGETING_MATCH, 0, "pro")
    d = env.evaluate("f", user(country="DE"), None)
    assert (d.variant, d.rule_index, d.rule_id) == ("off", 1, "de")
    d = env.evaluate("f", user(country="FR"), None)
    assert (d.variant, d.rule_index, d.rule_id) == ("on", 2, None)
    d = env.evaluate("f", user(country="US"), None)
    assert (d.variant, d.reason, d.rule_index) == ("off", Reason.DEFAULT, None)


def test_clauses_are_anded() -> None:
    env = compile_one(flag(rule(clause("a", "in", 1), clause("b", "in", 2), clause("c", "in", 3),
                                clause("d", "in", 4))))
    assert env.get_boolean("f", user(a=1, b=2, c=3, d=4), False)
    for missing in "abcd":
        attrs: dict[str, Any] = {k: v for k, v in {"a": 1, "b": 2, "c": 3, "d": 4}.items()
                                 if k != missing}
        assert not env.get_boolean("f", {"targetingKey": "u", **attrs}, False)


def test_rule_with_rollout_reports_split() -> None:
    rollout = {"variations": [{"variation": "on", "weight": 100_000},
                              {"variation": "off", "weight": 0}]}
    env = compile_one(flag(rule(clause("a", "exists"), rule_id="r", rollout=rollout)))
    d = env.evaluate("f", user(a=1), None)
    assert (d.variant, d.reason, d.rule_index, d.rule_id) == ("on", Reason.SPLIT, 0, "r")


def _rollout_flag(**rollout: Any) -> dict[str, Any]:
    r = {"variations": [{"variation": "on", "weight": 50_000},
                        {"variation": "off", "weight": 50_000}], **rollout}
    return {"kind": "boolean", "variations": dict(BOOL), "default": {"rollout": r}}


def test_default_rollout_needs_a_targeting_key() -> None:
    env = compile_one(_rollout_flag())
    d = env.evaluate("f", {"country": "DE"}, "dflt")
    assert (d.value, d.reason, d.error_code) == ("dflt", Reason.ERROR,
                                                 ErrorCode.TARGETING_KEY_MISSING)
    assert env.evaluate("f", user("k"), None).reason is Reason.SPLIT


def test_rollout_by_attribute_and_kind() -> None:
    env = compile_one(_rollout_flag(bucket_by="/org/id", context_kind="user", salt="s"))
    a = env.evaluate("f", user("u-1", org={"id": "acme"}), None)
    b = env.evaluate("f", user("u-2", org={"id": "acme"}), None)
    assert a.variant == b.variant  # same bucketing value, same bucket, whatever the key
    # An unbucketable or missing attribute lands in bucket 0 (the first variation), as LD.
    assert env.evaluate("f", user("u-3"), None).variant == "on"
    assert env.evaluate("f", user("u-3", org={"id": True}), None).variant == "on"
    env = compile_one(_rollout_flag(context_kind="organization"))
    d = env.evaluate("f", user("u-1"), None)
    assert d.error_code is ErrorCode.TARGETING_KEY_MISSING


def test_weights_short_of_100_percent_fall_to_the_last_variation() -> None:
    r = {"variations": [{"variation": "on", "weight": 0}, {"variation": "off", "weight": 10}]}
    env = compile_one({"kind": "boolean", "variations": dict(BOOL), "default": {"rollout": r}})
    served = {env.evaluate("f", user(f"u-{i}"), None).variant for i in range(200)}
    assert served == {"off"}
    assert any(w.code == "weights_sum" for w in env.warnings)


def test_prerequisites() -> None:
    flags = {
        "base": flag(rule(clause("beta", "in", True)), default="off"),
        "off-base": flag(default="on", enabled=False, off_variation="on"),
        "f": flag(default="on", off_variation="off",
                  prerequisites=[{"flag": "base", "variation": "on"}]),
        "g": flag(default="on", prerequisites=[{"flag": "off-base", "variation": "on"}]),
    }
    env = compile_environment(doc(flags))
    assert env.evaluate("f", user(beta=True), None).variant == "on"
    d = env.evaluate("f", user(beta=False), None)
    assert (d.value, d.variant, d.reason) == (False, "off", Reason.DISABLED)
    # A disabled prerequisite fails even though its off variation is the one required.
    d = env.evaluate("g", user(), "dflt")
    assert (d.value, d.reason) == ("dflt", Reason.DISABLED)
    assert any(w.code == "prerequisite_disabled" for w in env.warnings)


def test_prerequisite_chain() -> None:
    flags = {f"p{i}": flag(default="on", off_variation="off",
                           prerequisites=[{"flag": f"p{i + 1}", "variation": "on"}])
             for i in range(10)}
    flags["p10"] = flag(rule(clause("ok", "in", True)), default="off")
    env = compile_environment(doc(flags))
    assert env.get_boolean("p0", user(ok=True), False)
    assert not env.get_boolean("p0", user(ok=False), True)


def test_flag_not_found_and_invalid_context() -> None:
    env = compile_one(flag(default="on"))
    d = env.evaluate("nope", user(), 7)
    assert (d.value, d.reason, d.error_code) == (7, Reason.ERROR, ErrorCode.FLAG_NOT_FOUND)
    for bad in (None, 5, "u-1", [1], {"kind": 3}, {"kind": "multi"}, {"targetingKey": 5},
                {"kind": "multi", "user": "x"}, {"targetingKey": "a", "key": "b"}):
        d = env.evaluate("f", bad, "dflt")  # type: ignore[arg-type]
        assert (d.value, d.error_code) == ("dflt", ErrorCode.INVALID_CONTEXT), bad
        assert env.get_boolean("f", bad, False) is False  # type: ignore[arg-type]


def test_context_built_once_or_passed_as_mapping_agree() -> None:
    env = compile_one(flag(rule(clause("country", "in", "DE"))))
    ctx = user(country="DE")
    assert env.evaluate("f", ctx, None) == env.evaluate("f", Context.from_mapping(ctx), None)


def test_evaluate_all_is_one_snapshot() -> None:
    env = compile_environment(doc({"a": flag(default="on"), "b": flag(default="off"),
                                   "c": _rollout_flag()}))
    out = env.evaluate_all(user())
    assert {k: d.variant for k, d in out.items()} == {
        "a": "on", "b": "off", "c": env.evaluate("c", user(), None).variant}


def test_surprises_become_general_errors() -> None:
    env = compile_one(flag(rule(clause("a", "in", "x"))))

    class Weird(dict):  # type: ignore[type-arg]
        def get(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("boom")

    ctx = Context({"user": Weird(key="u")})
    d = env.evaluate("f", ctx, "dflt")
    assert (d.value, d.error_code) == ("dflt", ErrorCode.GENERAL)
    assert env.get_boolean("f", ctx, True) is True
