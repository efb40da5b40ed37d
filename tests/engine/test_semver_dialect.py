"""The clause option ``semver: flagd``: flagd's ``sem_ver`` version syntax (issue 17)."""

from __future__ import annotations

from typing import Any

import pytest

from edge_reader.engine import CompileError, compile_environment
from edge_reader.engine.features import KNOWN_FEATURES

from .builders import clause, compile_one, doc, flag, matches, rule, user
from .test_schema import VALIDATOR


def _flagd(op: str, *values: Any, **extra: Any) -> dict[str, Any]:
    return {**clause("version", op, *values), "semver": "flagd", **extra}


@pytest.mark.parametrize(("c", "value", "want"), [
    (_flagd("semver_eq", "1.0.0"), "1.0.0", True),
    (_flagd("semver_eq", "v1.0.0"), "1.0.0", True),  # a literal with a leading v
    (_flagd("semver_eq", "1.0.0"), "v1.0.0", True),
    (_flagd("semver_eq", "1.0.0"), "V1.0.0", True),
    (_flagd("semver_eq", "1.0.0"), "vv1.0.0", False),  # one v only
    (_flagd("semver_eq", "1.0.0"), "1", True),  # partial versions are padded
    (_flagd("semver_eq", "1.0.0"), "1.0", True),
    (_flagd("semver_eq", "1.0.0"), 1, True),  # a number is its decimal text
    (_flagd("semver_eq", "1.0.0"), 1.0, True),
    (_flagd("semver_eq", "1.5.0"), 1.5, True),
    (_flagd("semver_eq", "1.0.0"), True, False),
    (_flagd("semver_eq", "1.0.0+build"), "1.0.0+other", True),  # build metadata ignored
    (_flagd("semver_lt", "2.0.0"), "2.0.0-alpha", True),
    (_flagd("semver_gt", "2.0.0"), "2.0.0.0", False),  # not a version
    (_flagd("semver_gte", "1.0.0-0"), "1.2-beta", False),  # flagd: no pre-release on a shorthand
    (_flagd("semver_gte", "1.0.0-0"), "01.2.3", False),  # leading zeros
    (_flagd("semver_gte", 1), "1.0.1", True),  # a number literal too
])
def test_flagd_version_syntax(c: dict[str, Any], value: Any, want: bool) -> None:
    assert matches(c, user(version=value)) is want


def test_default_syntax_is_unchanged() -> None:
    assert matches(clause("version", "semver_eq", "1.0.0"), user(version="v1.0.0")) is False
    assert matches(clause("version", "semver_eq", "1.0.0"), user(version=1)) is False
    assert matches(clause("version", "semver_eq", "1.2.0-beta"), user(version="1.2-beta")) is True


def test_flagd_syntax_with_negate_and_absence() -> None:
    assert matches(_flagd("semver_eq", "1.0.0", negate=True), user(version="v2")) is True
    assert matches(_flagd("semver_eq", "1.0.0", negate=True), user()) is False
    # a value flagd refuses is not a version: as with the default syntax, the operator says
    # "no" and negate applies (LaunchDarkly's rule)
    assert matches(_flagd("semver_eq", "1.0.0", negate=True), user(version="x")) is True
    assert matches(clause("version", "semver_eq", "1.0.0", negate=True), user(version="x")) \
        is True


def test_the_option_is_a_feature() -> None:
    assert "semver_dialect" in KNOWN_FEATURES
    env = compile_one(flag(rule(_flagd("semver_gte", "1.0.0"))), strict=True)
    assert env.metadata["features"] == ("semver_dialect",)
    plain = compile_one(flag(rule(clause("version", "semver_gte", "1.0.0"))), strict=True)
    assert "features" not in plain.metadata


@pytest.mark.parametrize(("c", "path", "code"), [
    (_flagd("in", "1.0.0"), "flags.f.rules[0].clauses[0].semver", "invalid_option"),
    ({**clause("version", "semver_eq", "1.0.0"), "semver": "flagdd"},
     "flags.f.rules[0].clauses[0].semver", "invalid_value"),
    ({**clause("version", "semver_eq", "1.0.0"), "semver": 1},
     "flags.f.rules[0].clauses[0].semver", "type"),
    (_flagd("semver_eq", "1.2-beta"), "flags.f.rules[0].clauses[0].values[0]", "invalid_semver"),
])
def test_strict_errors_name_the_path(c: dict[str, Any], path: str, code: str) -> None:
    with pytest.raises(CompileError) as err:
        compile_one(flag(rule(c)), strict=True)
    assert [(p.path, p.code) for p in err.value.errors] == [(path, code)]


def test_a_misspelt_syntax_gets_a_suggestion() -> None:
    with pytest.raises(CompileError) as err:
        compile_one(flag(rule({**clause("v", "semver_eq", "1.0.0"), "semver": "flagdd"})),
                    strict=True)
    assert "did you mean 'flagd'" in err.value.errors[0].message


def test_a_reader_degrades_a_newer_syntax_to_no_match() -> None:
    newer = {**clause("version", "semver_eq", "1.0.0"), "semver": "calver"}
    f = flag(rule(newer, rule_id="newer"), rule(clause("country", "in", "DE"), rule_id="de"))
    env = compile_environment(doc({"f": f}), strict=False)
    assert env.errors == []
    assert [w.code for w in env.warnings if w.code == "unsupported_clause"] == [
        "unsupported_clause"]
    d = env.evaluate("f", user(version="1.0.0", country="DE"), None)
    assert (d.variant, d.rule_id) == ("on", "de")
    d = env.evaluate("f", user(version="1.0.0"), None)
    assert d.variant == "off"


def test_the_schema_agrees() -> None:
    good = doc({"f": flag(rule(_flagd("semver_gte", "v1.0")))})
    assert list(VALIDATOR.iter_errors(good)) == []
    for bad in (_flagd("in", "1.0.0"), {**clause("v", "semver_eq", "1.0.0"), "semver": "x"}):
        assert list(VALIDATOR.iter_errors(doc({"f": flag(rule(bad))}))) != []
