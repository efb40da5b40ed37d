"""The one key rule, the parsers' anchoring and the depth limit, as units; plus a test that
fails if a second copy of a name pattern appears anywhere in the shipped tree."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from edge_reader.bundle import BundleFormatError, pointer_object_key
from edge_reader.engine import Context
from edge_reader.engine.dates import parse_rfc3339_ms
from edge_reader.engine.keys import (
    KEY_JSON_PATTERN,
    KEY_RE,
    KIND_RE,
    VARIANT_RE,
    is_key,
    json_pattern,
)
from edge_reader.engine.limits import MAX_JSON_DEPTH, too_deep
from edge_reader.engine.schema import flag_schema
from edge_reader.engine.semver import parse_semver

ROOT = Path(__file__).resolve().parents[2]
GOOD = ["a", "0", "shop", "new-checkout_v2.1", "a" * 128]
BAD = ["", "x\n", "x\n\n", "\nx", "x\r", "x\x00", "X", "-a", ".a", "a b", "é", "a" * 129,
       "a/b", "x\u2028"]


@pytest.mark.parametrize("key", GOOD)
def test_good_keys_pass_every_form_of_the_rule(key: str) -> None:
    assert is_key(key)
    assert KEY_RE.match(key)
    assert Draft202012Validator({"type": "string", "pattern": KEY_JSON_PATTERN}).is_valid(key)


@pytest.mark.parametrize("key", BAD)
def test_bad_keys_fail_every_form_of_the_rule(key: str) -> None:
    assert not is_key(key)
    # match, search and fullmatch agree: the compiled rule is anchored with \A and \Z.
    assert KEY_RE.match(key) is None
    assert KEY_RE.search(key) is None
    # Python's jsonschema uses re.search, where "$" alone would accept "x\n".
    assert not Draft202012Validator({"type": "string", "pattern": KEY_JSON_PATTERN}).is_valid(key)


def test_not_a_string_is_not_a_key() -> None:
    assert not is_key(None)
    assert not is_key(7)
    assert not is_key(b"abc")


@pytest.mark.parametrize("rule", [VARIANT_RE, KIND_RE])
def test_variant_and_kind_rules_refuse_a_trailing_newline(rule: re.Pattern[str]) -> None:
    assert rule.match("on")
    assert rule.match("on\n") is None
    schema = {"type": "string", "pattern": json_pattern(rule)}
    assert Draft202012Validator(schema).is_valid("on")
    assert not Draft202012Validator(schema).is_valid("on\n")


def test_context_kind_with_a_newline_is_an_invalid_context() -> None:
    assert Context.from_mapping({"kind": "device", "key": "d"}).error is None
    assert Context.from_mapping({"kind": "device\n", "key": "d"}).error is not None


def test_pointer_object_names_refuse_a_newline() -> None:
    assert pointer_object_key("shop", "prod", "server").endswith("current.json")
    for project, env in (("shop\n", "prod"), ("shop", "prod\n")):
        with pytest.raises(BundleFormatError):
            pointer_object_key(project, env, "server")
    with pytest.raises(BundleFormatError):
        pointer_object_key("shop", "prod", "server\n")


@pytest.mark.parametrize("text", ["1.0.0\n", "1.0.0\n\n", "1\n", "1.0.0-beta\n", "1.0.0+b\n"])
def test_semver_with_a_trailing_newline_is_not_a_version(text: str) -> None:
    assert parse_semver(text.rstrip("\n")) is not None
    assert parse_semver(text) is None


@pytest.mark.parametrize("text", ["2030-01-01T00:00:00Z\n", "2030-01-01T00:00:00+01:00\n"])
def test_date_with_a_trailing_newline_is_not_an_instant(text: str) -> None:
    assert parse_rfc3339_ms(text.rstrip("\n")) is not None
    assert parse_rfc3339_ms(text) is None


def test_flag_schema_patterns_are_the_engines_rules() -> None:
    defs = flag_schema()["$defs"]
    assert defs["key"]["pattern"] == KEY_JSON_PATTERN
    assert defs["variant"]["pattern"] == json_pattern(VARIANT_RE)
    assert defs["contextKind"]["pattern"] == json_pattern(KIND_RE)


def _shipped_files() -> list[Path]:
    out: list[Path] = []
    for top in ("edge_reader", "control_plane", "vexil", "loadtests", "infra", "scripts"):
        for path in (ROOT / top).rglob("*"):
            if path.suffix in (".py", ".json", ".yaml", ".yml", ".tf", ".sh", ".js") and \
                    "vendor" not in path.parts and ".chalice" not in path.parts:
                out.append(path)
    return out


# The three rules as a regex spells them: any file holding one is a copy.
_FRAGMENTS = ("[a-z0-9][a-z0-9._-]", "[A-Za-z0-9_][A-Za-z0-9._-]", "[A-Za-z0-9._-]{1,64}")


def test_no_second_copy_of_a_name_pattern_in_the_tree() -> None:
    owner = ROOT / "edge_reader" / "engine" / "keys.py"
    # flag.schema.json carries the patterns as JSON (checked equal above).
    allowed = {owner, ROOT / "edge_reader" / "engine" / "flag.schema.json"}
    copies = [
        str(path.relative_to(ROOT)) for path in _shipped_files()
        if path not in allowed
        and any(f in path.read_text(encoding="utf-8", errors="replace") for f in _FRAGMENTS)
    ]
    assert copies == [], f"import the rule from edge_reader.engine.keys instead: {copies}"
    assert any(f in owner.read_text(encoding="utf-8") for f in _FRAGMENTS)  # the scan sees it


def test_too_deep_counts_levels_like_the_compiler() -> None:
    def nest(depth: int) -> object:
        value: object = 1
        for _ in range(depth):
            value = [value]
        return value

    assert too_deep(nest(MAX_JSON_DEPTH), MAX_JSON_DEPTH) is None
    assert too_deep(nest(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH) == [0] * (MAX_JSON_DEPTH + 1)
    doc = {"a": {"b": [1, {"c": 2}]}}  # "c" sits 4 levels below the top
    assert too_deep(doc, 4) is None
    assert too_deep(doc, 3) == ["a", "b", 1, "c"]
    assert too_deep(doc, 2) == ["a", "b", 0]
    # Iterative: far past Python's recursion limit and orjson's 254/1024 levels.
    assert too_deep(nest(100_000), MAX_JSON_DEPTH) is not None
    assert json.loads(json.dumps(nest(10)))  # the helper builds plain JSON
