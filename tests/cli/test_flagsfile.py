"""Flags files: parsing, validation with field paths, normalization, round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edge_reader.engine.fields import split_flag
from vexil.errors import UsageError
from vexil.flagsfile import dump, load, normalize_flag

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
        ("environment: s\nflags: {}\n",
         "project: required — the project key this file is for"),
        ("project: shop\nflags: {}\n", "environment: required"),
        ("project: shop\nenvironment: s\nflags:\n  x: 3\n",
         "flags.yaml:4: flags.x: must be a mapping"),
        ("project: shop\nenvironment: s\nflgs: {}\n",
         "flags.yaml:3: flgs: unknown top-level field 'flgs' (did you mean 'flags'?)"),
        ("project: shop\nenvironment: s\nformat: 2\n", "flags.yaml:3: format: unsupported value 2"),
        ("project: shop\nenvironment: [unclosed\n", "flags.yaml:3: not valid YAML/JSON"),
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


def test_flag_and_segment_field_problems_are_all_collected_with_suggestions(
    tmp_path: Path,
) -> None:
    f = load(_write(tmp_path, """\
project: shop
environment: s
flags:
  x:
    varations: {on: true}
    version: 3
  y:
    kind: boolean
segments:
  s: {inclded: [u-1]}
"""))
    got = {(p.path, p.message) for p in f.problems}
    assert got == {
        ("flags.x.varations", "unknown field 'varations' (did you mean 'variations'?)"),
        ("flags.x.version", "unknown field 'version' (server-managed; remove it)"),
        ("flags.x.kind", "is required"),
        ("segments.s.inclded", "unknown field 'inclded' (did you mean 'included'?)"),
    }
    assert f.line_of("flags.x.varations") == 5
    assert f.line_of("segments.s.inclded") == 10
    assert f.line_of("flags.x.kind") == 4  # missing: where its flag starts


def test_locator_maps_engine_paths_to_lines_through_dotted_keys_and_lists(
    tmp_path: Path,
) -> None:
    f = load(_write(tmp_path, """\
project: shop
environment: s
flags:
  web.checkout:
    kind: boolean
    variations: {on: true, off: false}
    rules:
      - clauses:
          - {attribute: country, op: in, values: [AT]}
          - attribute: plan
            op: inn
            values: [pro]
        serve: {variation: on}
    default: {variation: off}
"""))
    assert f.line_of("flags.web.checkout") == 4
    assert f.line_of("flags.web.checkout.rules[0].clauses[0].op") == 9
    assert f.line_of("flags.web.checkout.rules[0].clauses[1].op") == 11
    assert f.line_of("flags.web.checkout.rules[0].clauses[1].values[0]") == 12
    assert f.line_of("flags.web.checkout.default.variation") == 14
    assert f.line_of("flags.web.checkout.rules[7]") == 7  # out of range: the list
    assert f.line_of("flags.nope.kind") == 3


def test_json_files_are_located_too(tmp_path: Path) -> None:
    p = tmp_path / "f.json"
    p.write_text('{\n  "project": "shop",\n  "environment": "s",\n  "flags": {\n'
                 '    "a": {"kind": "boolean"}\n  }\n}\n', encoding="utf-8")
    assert load(str(p)).line_of("flags.a.kind") == 5


def test_split_and_normalize() -> None:
    flag = normalize_flag({"kind": "boolean", "variations": {"on": True}, "version": 9,
                           "rules": [], "default": {"variation": "on"}})
    # An absent `enabled` means on (docs/flag-format.md), spelled out after normalizing.
    assert flag == {"kind": "boolean", "variations": {"on": True},
                    "default": {"variation": "on"}, "enabled": True}
    definition, config = split_flag(flag)
    assert definition == {"kind": "boolean", "variations": {"on": True}}
    assert config == {"default": {"variation": "on"}, "enabled": True}
