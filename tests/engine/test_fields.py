"""edge_reader.engine.fields: the one list of flag/segment fields and the merge/split rule.

The compiler, flag.schema.json and the lists must name the same fields; merging then
splitting a flag gives back its parts.
"""

from __future__ import annotations

from typing import Any

import pytest

from edge_reader.engine import CompileError, compile_environment
from edge_reader.engine.fields import (
    CONFIG_FIELDS,
    DEFINITION_FIELDS,
    FLAG_DOCUMENT_FIELDS,
    LIST_FIELD,
    SEGMENT_DOCUMENT_FIELDS,
    SEGMENT_FIELDS,
    VERSION_FIELD,
    merge_flag,
    segment_document,
    split_flag,
)
from edge_reader.engine.schema import flag_schema

# A json flag: the only kind that may carry every definition field (``schema``).
DEFINITION = {"kind": "json", "variations": {"on": {"n": 1}, "off": {"n": 0}},
              "schema": {"type": "object"}, "description": "d", "tags": ["t"],
              "client_visible": True, "deprecated": False, "metadata": {"owner": "x"}}
CONFIG = {"enabled": True, "off_variation": "off", "prerequisites": [], "targets": [],
          "rules": [], "default": {"variation": "on"}}


def _unknown_fields(doc: dict[str, Any]) -> set[str]:
    try:
        compile_environment(doc, strict=True, clock=lambda: 0.0)
    except CompileError as exc:
        return {p.path for p in exc.errors if p.code == "unknown_field"}
    return set()


def test_definition_and_configuration_are_disjoint_and_exclude_version() -> None:
    assert not set(DEFINITION_FIELDS) & set(CONFIG_FIELDS)
    assert VERSION_FIELD not in (*DEFINITION_FIELDS, *CONFIG_FIELDS, *SEGMENT_FIELDS)
    assert set(DEFINITION) == set(DEFINITION_FIELDS)
    assert set(CONFIG) == set(CONFIG_FIELDS)


def test_the_json_schema_names_exactly_these_fields() -> None:
    defs = flag_schema()["$defs"]
    assert set(defs["flag"]["properties"]) == FLAG_DOCUMENT_FIELDS
    assert set(defs["segment"]["properties"]) == SEGMENT_DOCUMENT_FIELDS


def test_the_compiler_accepts_every_listed_field_and_no_other() -> None:
    flag = merge_flag(DEFINITION, CONFIG, 3)
    assert set(flag) == FLAG_DOCUMENT_FIELDS
    segment = segment_document({"context_kind": "user", "included": ["u"], "excluded": [],
                                "rules": [], "description": "", "tags": [], "type": "rules"}, 2)
    # `list` is the publisher's, on list segments only (tests/engine/test_lists.py)
    assert set(segment) | {LIST_FIELD} == SEGMENT_DOCUMENT_FIELDS
    doc = {"flags": {"f": flag}, "segments": {"s": segment}}
    assert _unknown_fields(doc) == set()
    doc = {"flags": {"f": {**flag, "colour": 1}}, "segments": {"s": {**segment, "colour": 1}}}
    assert _unknown_fields(doc) == {"flags.f.colour", "segments.s.colour"}


def test_merge_then_split_gives_back_the_parts() -> None:
    flag = merge_flag(DEFINITION, CONFIG, 7)
    assert flag[VERSION_FIELD] == 7
    assert split_flag(flag) == (DEFINITION, CONFIG)


@pytest.mark.parametrize("version", [None, 4])
def test_merge_lets_nothing_stored_override_the_version(version: int | None) -> None:
    flag = merge_flag({**DEFINITION, "version": 99}, {**CONFIG, "version": 98}, version)
    assert flag["version"] == (98 if version is None else version)
    assert segment_document({"version": 99}, 5) == {"version": 5}


def test_merge_prefers_the_configuration_and_copies() -> None:
    definition = {"kind": "boolean", "enabled": False}
    flag = merge_flag(definition, {"enabled": True})
    assert flag == {"kind": "boolean", "enabled": True}
    flag["kind"] = "string"
    assert definition == {"kind": "boolean", "enabled": False}
