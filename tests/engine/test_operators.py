"""Each operator's semantics (LaunchDarkly's where they exist), through compiled flags."""

from __future__ import annotations

import pytest

from edge_reader.engine import CompileError

from .builders import clause, compile_one, flag, matches, rule, user

# --- common clause semantics -------------------------------------------------------------


def test_missing_attribute_never_matches_even_negated() -> None:
    assert not matches(clause("country", "in", "DE"), user())
    assert not matches(clause("country", "in", "DE", negate=True), user())
    assert not matches(clause("country", "in", "DE", negate=True), user(country=None))


def test_negate_inverts_a_present_attribute() -> None:
    assert matches(clause("country", "in", "DE", negate=True), user(country="US"))
    assert not matches(clause("country", "in", "DE", negate=True), user(country="DE"))


def test_array_attribute_matches_when_any_element_matches() -> None:
    assert matches(clause("groups", "in", "beta"), user(groups=["alpha", "beta"]))
    assert not matches(clause("groups", "in", "beta"), user(groups=["alpha"]))
    assert not matches(clause("groups", "in", "beta", negate=True), user(groups=["beta", "x"]))
    assert matches(clause("groups", "in", "beta", negate=True), user(groups=["x"]))
    assert matches(clause("scores", "gt", 10), user(scores=[1, 20]))


def test_absent_context_kind_never_matches_even_negated() -> None:
    c = clause("plan", "in", "pro", kind="organization", negate=True)
    assert not matches(c, user(plan="free"))
    assert matches(c, {"kind": "organization", "key": "o", "plan": "free"})


def test_multi_kind_context_picks_the_clause_kind() -> None:
    ctx = {"kind": "multi", "user": {"key": "u", "plan": "free"},
           "organization": {"key": "o", "plan": "pro"}}
    assert matches(clause("plan", "in", "pro", kind="organization"), ctx)
    assert not matches(clause("plan", "in", "pro"), ctx)


def test_kind_attribute_tests_the_context_kinds() -> None:
    multi = {"kind": "multi", "user": {"key": "u"}, "device": {"key": "d"}}
    assert matches(clause("kind", "in", "device"), multi)
    assert matches(clause("kind", "in", "user"), user())
    assert not matches(clause("kind", "in", "device"), user())


def test_key_and_targeting_key_attributes() -> None:
    assert matches(clause("key", "in", "u-1"), user("u-1"))
    assert matches(clause("targetingKey", "starts_with", "u-"), user("u-1"))


def test_json_pointer_attributes() -> None:
    ctx = user(address={"city": "Berlin", "a/b": {"~x": 1}}, list=[{"a": 1}])
    assert matches(clause("/address/city", "in", "Berlin"), ctx)
    assert matches(clause("/address/a~1b/~0x", "in", 1), ctx)
    assert not matches(clause("/address/zip", "in", "1"), ctx)
    assert not matches(clause("/list/0/a", "in", 1), ctx)  # objects only, as LaunchDarkly
    assert matches(clause("address/city", "exists"), user(**{"address/city": "x"}))


# --- in / equals / not_in ------------------------------------------------------------------


def test_in_is_json_equality_without_coercion() -> None:
    assert matches(clause("n", "in", 1), user(n=1.0))
    assert matches(clause("n", "in", 1.5, 2), user(n=2))
    assert not matches(clause("n", "in", 1), user(n=True))
    assert not matches(clause("n", "in", True), user(n=1))
    assert matches(clause("n", "in", True), user(n=True))
    assert not matches(clause("n", "in", "1"), user(n=1))
    assert not matches(clause("n", "in", 1), user(n="1"))
    assert matches(clause("o", "in", {"a": [1, 2]}), user(o={"a": [1, 2]}))
    assert not matches(clause("o", "in", {"a": [1, 2]}), user(o={"a": [2, 1]}))


def test_equals_and_not_in() -> None:
    assert matches(clause("plan", "equals", "pro"), user(plan="pro"))
    assert matches(clause("plan", "not_in", "pro", "team"), user(plan="free"))
    assert not matches(clause("plan", "not_in", "pro", "team"), user(plan="pro"))
    assert not matches(clause("plan", "not_in", "pro"), user())  # absent: no match
    assert matches(clause("plan", "not_in", "pro", negate=True), user(plan="pro"))


# --- strings -------------------------------------------------------------------------------


@pytest.mark.parametrize(("op", "value", "ctx_value", "expected"), [
    ("starts_with", "ab", "abc", True), ("starts_with", "bc", "abc", False),
    ("ends_with", "bc", "abc", True), ("ends_with", "ab", "abc", False),
    ("contains", "b", "abc", True), ("contains", "x", "abc", False),
    ("startsWith", "ab", "abc", True), ("endsWith", "c", "abc", True),
    ("starts_with", "1", 12, False), ("contains", "", "abc", True),
])
def test_string_operators(op: str, value: str, ctx_value: object, expected: bool) -> None:
    assert matches(clause("s", op, value), user(s=ctx_value)) is expected


def test_string_operator_ignores_non_string_values_with_a_warning() -> None:
    env = compile_one(flag(rule(clause("s", "starts_with", 1, "a"))))
    assert [w.path for w in env.warnings if w.code == "non_string_value"] == [
        "flags.f.rules[0].clauses[0].values[0]"]
    assert env.get_boolean("f", user(s="abc"), False)


# --- matches (RE2) -------------------------------------------------------------------------


def test_matches_is_a_search() -> None:
    assert matches(clause("email", "matches", r"@example\.com$"), user(email="a@example.com"))
    assert not matches(clause("email", "matches", r"^example"), user(email="a@example.com"))
    assert not matches(clause("email", "matches", "x"), user(email=5))


def test_matches_rejects_non_re2_patterns_with_a_path() -> None:
    with pytest.raises(CompileError) as err:
        compile_one(flag(rule(clause("s", "matches", "ok", r"(a)\1", "(?=x)"))))
    assert [(p.path, p.code) for p in err.value.errors] == [
        ("flags.f.rules[0].clauses[0].values[1]", "invalid_regex"),
        ("flags.f.rules[0].clauses[0].values[2]", "invalid_regex"),
    ]


def test_matches_bounds_pattern_and_input_length() -> None:
    from edge_reader.engine.operators import MAX_MATCH_INPUT, MAX_PATTERN_LENGTH

    with pytest.raises(CompileError) as err:
        compile_one(flag(rule(clause("s", "matches", "a" * (MAX_PATTERN_LENGTH + 1)))))
    assert err.value.errors[0].code == "pattern_too_long"
    assert matches(clause("s", "matches", "a"), user(s="a" * MAX_MATCH_INPUT))
    assert not matches(clause("s", "matches", "a"), user(s="a" * (MAX_MATCH_INPUT + 1)))


def test_hostile_pattern_is_linear_under_re2() -> None:
    # (a+)+$ is catastrophic for backtracking engines; RE2 answers at once.
    assert not matches(clause("s", "matches", "(a+)+$"), user(s="a" * 5000 + "!" + "b"))
    assert matches(clause("s", "matches", "(a+)+$"), user(s="b" + "a" * 5000))


# --- numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize(("op", "value", "ctx_value", "expected"), [
    ("lt", 10, 9, True), ("lt", 10, 10, False), ("lte", 10, 10, True), ("lte", 10, 10.5, False),
    ("gt", 10, 11, True), ("gt", 10, 10, False), ("gte", 10, 10.0, True), ("gte", 10, 9.99, False),
    ("lessThan", 1.5, 1, True), ("greaterThanOrEqual", 0, -1, False),
    ("lt", 10, "9", False), ("lt", 10, True, False), ("gt", 0, True, False),
])
def test_numeric_operators(op: str, value: float, ctx_value: object, expected: bool) -> None:
    assert matches(clause("n", op, value), user(n=ctx_value)) is expected


def test_numeric_operator_with_several_values_matches_any() -> None:
    assert matches(clause("n", "lt", 1, 100), user(n=50))
    assert matches(clause("n", "gt", 100, 1), user(n=50))
    assert not matches(clause("n", "gt", 100, 60), user(n=50))


def test_numeric_operator_with_string_values_warns_and_never_matches() -> None:
    env = compile_one(flag(rule(clause("n", "lt", "10"))))
    codes = {w.code for w in env.warnings}
    assert {"non_numeric_value", "numeric_op"} <= codes
    assert not env.get_boolean("f", user(n=5), False)


# --- semver --------------------------------------------------------------------------------


@pytest.mark.parametrize(("op", "value", "ctx_value", "expected"), [
    ("semver_eq", "2.0.0", "2.0.0", True),
    ("semver_eq", "2.0.0", "2", True),          # partial versions are padded
    ("semver_eq", "2.3", "2.3.0", True),
    ("semver_eq", "2.0.0", "2.0.0+build.5", True),   # build metadata ignored
    ("semver_eq", "2.0.0", "2.0.1", False),
    ("semver_lt", "2.0.0", "2.0.0-rc.1", True),      # pre-release sorts before release
    ("semver_lt", "1.0.0-alpha.1", "1.0.0-alpha", True),
    ("semver_lt", "1.0.0-alpha.beta", "1.0.0-alpha.1", True),  # numeric < alphanumeric
    ("semver_lt", "1.0.0-beta.11", "1.0.0-beta.2", True),     # numeric ids compare as numbers
    ("semver_gt", "1.0.0-rc.1", "1.0.0", True),
    ("semver_gte", "2.3.0", "2.3.0", True), ("semver_lte", "2.3.0", "2.3.1", False),
    ("semVerEqual", "1.2.3", "1.2.3", True), ("semVerLessThan", "1.2.3", "1.2.2", True),
    ("semVerGreaterThan", "1.2.3", "1.10.0", True),
    ("semver_eq", "1.0.0", "v1.0.0", False), ("semver_eq", "1.0.0", "01.0.0", False),
    ("semver_eq", "1.0.0", "1.0.0.0", False), ("semver_eq", "1.0.0", 1, False),
    ("semver_lt", "2.0.0", "not a version", False),
    ("semver_eq", "2.0.0-beta", "2-beta", True),
])
def test_semver_operators(op: str, value: str, ctx_value: object, expected: bool) -> None:
    assert matches(clause("v", op, value), user(v=ctx_value)) is expected


def test_invalid_semver_value_is_a_compile_error_with_path() -> None:
    with pytest.raises(CompileError) as err:
        compile_one(flag(rule(clause("v", "semver_gte", "1.0.0", "2.x"))))
    (problem,) = err.value.errors
    assert str(problem) == "flags.f.rules[0].clauses[0].values[1]: '2.x' is not a semantic version"


# --- dates ---------------------------------------------------------------------------------

NOV = 1_795_478_400_000  # 2026-11-24T00:00:00Z in epoch ms


@pytest.mark.parametrize(("op", "value", "ctx_value", "expected"), [
    ("before", "2026-11-24T00:00:00Z", "2026-11-23T23:59:59Z", True),
    ("before", "2026-11-24T00:00:00Z", "2026-11-24T00:00:00Z", False),
    ("after", "2026-11-24T00:00:00Z", "2026-11-24T00:00:00.001Z", True),
    ("before", "2026-11-24T00:00:00Z", "2026-11-24T00:30:00+01:00", True),  # offsets honoured
    ("before", NOV, "2026-11-23T00:00:00Z", True),     # numbers are epoch milliseconds
    ("after", "2026-11-24T00:00:00Z", NOV + 1, True),
    ("after", NOV, NOV, False),
    ("before", NOV, "2026-11-23", False),             # a date without time is not RFC 3339
    ("before", NOV, "2026-11-23T00:00:00", False),    # an offset is required
    ("before", NOV, True, False),
    ("after", "2026-11-24t00:00:00z", NOV + 5, True),
])
def test_date_operators(op: str, value: object, ctx_value: object, expected: bool) -> None:
    assert matches(clause("t", op, value), user(t=ctx_value)) is expected


def test_invalid_date_value_is_a_compile_error() -> None:
    with pytest.raises(CompileError) as err:
        compile_one(flag(rule(clause("t", "before", "tomorrow", "2026-13-01T00:00:00Z"))))
    assert [p.path for p in err.value.errors] == [
        "flags.f.rules[0].clauses[0].values[0]", "flags.f.rules[0].clauses[0].values[1]"]


def test_epoch_ms_literal_value_matches_rfc3339() -> None:
    from edge_reader.engine.dates import to_epoch_ms

    assert to_epoch_ms("2026-11-24T00:00:00Z") == NOV
    assert to_epoch_ms("1970-01-01T00:00:00.5Z") == 500.0
    assert to_epoch_ms("2026-11-24T01:00:00+01:00") == NOV


# --- exists ----------------------------------------------------------------------------------


def test_exists_and_negated_exists() -> None:
    assert matches(clause("beta", "exists"), user(beta=False))
    assert not matches(clause("beta", "exists"), user())
    assert not matches(clause("beta", "exists"), user(beta=None))
    assert matches(clause("beta", "exists", negate=True), user())
    assert matches(clause("plan", "exists", negate=True, kind="org"), user())


# --- ip_in_cidr ------------------------------------------------------------------------------


@pytest.mark.parametrize(("ctx_value", "expected"), [
    ("10.1.2.3", True), ("10.255.255.255", True), ("11.0.0.1", False),
    ("2001:db8::1", True), ("2001:db9::1", False), ("not-an-ip", False), (167837955, False),
])
def test_ip_in_cidr(ctx_value: object, expected: bool) -> None:
    c = clause("ip", "ip_in_cidr", "10.0.0.0/8", "2001:db8::/32")
    assert matches(c, user(ip=ctx_value)) is expected


def test_invalid_cidr_is_a_compile_error() -> None:
    with pytest.raises(CompileError) as err:
        compile_one(flag(rule(clause("ip", "ip_in_cidr", "10.0.0.0/33"))))
    assert err.value.errors[0].code == "invalid_cidr"


# --- segment_match ---------------------------------------------------------------------------

SEGMENTS = {
    "staff": {"included": ["u-1"], "excluded": ["u-2"],
              "rules": [{"id": "mail", "clauses": [clause("email", "ends_with", "@corp.com")]}]},
    "orgs": {"context_kind": "organization", "included": ["o-1"]},
}


def test_segment_match() -> None:
    seg = {"op": "segment_match", "values": ["staff"]}
    assert matches(seg, user("u-1"), SEGMENTS)
    assert not matches(seg, user("u-2", email="x@corp.com"), SEGMENTS)  # excluded wins over rules
    assert matches(seg, user("u-3", email="x@corp.com"), SEGMENTS)
    assert not matches(seg, user("u-3"), SEGMENTS)
    assert matches({"op": "segmentMatch", "values": ["orgs", "staff"]},
                   {"kind": "organization", "key": "o-1"}, SEGMENTS)
    assert matches({"op": "segment_match", "values": ["staff"], "negate": True}, user("u-9"),
                   SEGMENTS)


def test_unknown_operator_is_a_compile_error() -> None:
    with pytest.raises(CompileError) as err:
        compile_one(flag(rule(clause("a", "almost", 1))))
    assert [(p.path, p.code) for p in err.value.errors] == [
        ("flags.f.rules[0].clauses[0].op", "unknown_operator")]


def test_segment_without_rules_is_its_included_list() -> None:
    segments = {"beta": {"included": ["u-1", "u-2"], "excluded": ["u-2", "u-3"]},
                "orgs": {"context_kind": "organization", "included": ["o-1"]}}
    seg = {"op": "segment_match", "values": ["beta"]}
    assert matches(seg, user("u-1"), segments)
    assert matches(seg, user("u-2"), segments)  # included wins over excluded
    assert not matches(seg, user("u-3"), segments)
    assert not matches(seg, user(None), segments)
    assert not matches({"op": "segment_match", "values": ["orgs"]}, user("o-1"), segments)
    negated = {"op": "segment_match", "values": ["beta"], "negate": True}
    assert matches(negated, user("u-3"), segments)
    assert not matches(negated, user("u-1"), segments)
