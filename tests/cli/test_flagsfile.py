"""Flags files: parsing, validation with field paths, normalization, round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edge_reader.engine.fields import split_flag
from vexil.errors import UsageError
from vexil.flagsfile import compile_check, dump, load, normalize_flag, parse

GOOD = """\
project: shop
environment: staging
flags:
  dark-mode:
    kind: boolean
    variations: {on: true, off: false}
    enabled: true
    off_variation: off
    default: {variation: on}
    tags: []
segments:
  beta: {included: [u-1]}
"""


def _write(tmp_path: Path, text: str) -> str:
    p = tmp_path / "flags.yaml"
    p.write_text(text, encoding="utf-8")
    return str(p)


def test_yaml_on_off_stay_strings_and_defaults_are_dropped(tmp_path: Path) -> None:
    f = load(_write(tmp_path, GOOD))
    flag = f.flags["dark-mode"]
    # YAML 1.1 would make these booleans; variation names must stay names.
    assert flag["variations"] == {"on": True, "off": False}
    assert flag["off_variation"] == "off"
    assert flag["default"] == {"variation": "on"}
    assert "tags" not in flag  # default-valued optional field
    assert f.segments == {"beta": {"included": ["u-1"]}}


def test_dump_then_load_round_trips(tmp_path: Path) -> None:
    f = load(_write(tmp_path, GOOD))
    text = dump(f)
    assert '"on"' in text  # quoted so any YAML reader keeps it a string
    again = load(_write(tmp_path, text))
    assert again == f
    assert yaml.safe_load(text)["flags"]["dark-mode"]["variations"] == {"on": True, "off": False}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a list\n", "must be a mapping"),
        ("project: shop\nenvironment: s\nflags: {}\nextra: 1\n", "unknown top-level field 'extra'"),
        ("project: Shop!\nenvironment: s\n", "invalid project key 'Shop!'"),
        ("project: shop\nenvironment: s\nflags: {x: {variations: {}}}\n", "flags.x.kind: required"),
        ("project: shop\nenvironment: s\nflags: {x: {kind: boolean, version: 3}}\n",
         "flags.x.version: unknown field (server-managed; remove it)"),
        ("project: shop\nenvironment: s\nsegments: {s: {nope: 1}}\n", "segments.s.nope: unknown"),
        ("project: shop\nenvironment: s\nformat: 2\n", "format: unsupported value 2"),
        ("project: [unclosed\n", "not valid YAML/JSON"),
    ],
)
def test_bad_files_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UsageError) as exc:
        load(_write(tmp_path, text))
    assert message in exc.value.message
    assert "\n" not in exc.value.message


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        load(str(tmp_path / "absent.yaml"))


def test_split_and_normalize() -> None:
    flag = normalize_flag({"kind": "boolean", "variations": {"on": True}, "version": 9,
                           "rules": [], "default": {"variation": "on"}})
    assert flag == {"kind": "boolean", "variations": {"on": True},
                    "default": {"variation": "on"}, "enabled": False}
    definition, config = split_flag(flag)
    assert definition == {"kind": "boolean", "variations": {"on": True}}
    assert config == {"default": {"variation": "on"}, "enabled": False}


def test_compile_check_reports_engine_paths() -> None:
    f = parse({"project": "shop", "environment": "s", "flags": {
        "x": {"kind": "boolean", "variations": {"on": True, "off": False}, "enabled": True,
              "default": {"variation": "missing"}}}}, source="t")
    problems = compile_check(f)
    assert problems
    assert problems[0].startswith("flags.x")
    ok = parse({"project": "shop", "environment": "s", "flags": {
        "x": {"kind": "boolean", "variations": {"on": True, "off": False}, "enabled": True,
              "default": {"variation": "on"}}}}, source="t")
    assert compile_check(ok) == []
