"""One definition per rule and per stored shape (issue 22): a second copy fails a test here.

Owners:
- flag/segment field lists and the flag merge/split rule: ``edge_reader/engine/fields.py``;
- the ``srv``/``cli`` ↔ ``server``/``client`` mapping: ``edge_reader/bundle/sdk_key.py``;
- DynamoDB value conversion (Decimal, Binary, typed items): ``chalicelib/repository.py``;
- the SDK-key item and its KMS encryption context: ``chalicelib/sdk_key_record.py``.

The source scans read the product code (and load tests, which build stored items too) as
text; the other tests check that the users really call the owner.
"""

from __future__ import annotations

import ast
import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from edge_reader.engine import fields

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCANNED = ("edge_reader", "control_plane/chalicelib", "control_plane/app.py", "vexil",
           "loadtests")
SHORT_KINDS = frozenset({"srv", "cli"})
LONG_KINDS = frozenset({"server", "client"})


def _sources() -> Iterator[tuple[str, ast.Module]]:
    for top in SCANNED:
        base = ROOT / top
        for path in sorted([base] if base.is_file() else base.rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            yield rel, ast.parse(path.read_text(encoding="utf-8"), filename=rel)


def _strings(node: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(node)
            if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def _offenders(owner: str, hit: Any) -> list[str]:
    """``file:line`` of every node (outside ``owner``) for which ``hit(node)`` is true."""
    out = []
    for rel, tree in _sources():
        if rel == owner:
            continue
        out.extend(f"{rel}:{getattr(n, 'lineno', 0)}" for n in ast.walk(tree) if hit(n))
    return out


def test_the_scan_reads_the_owners() -> None:
    # Guards the scans below against reading nothing (a moved directory would pass them).
    read = {rel for rel, _ in _sources()}
    assert {"edge_reader/engine/fields.py", "edge_reader/bundle/sdk_key.py",
            "control_plane/chalicelib/repository.py",
            "control_plane/chalicelib/sdk_key_record.py", "vexil/flagsfile.py"} <= read


@pytest.mark.parametrize("names", [fields.DEFINITION_FIELDS, fields.CONFIG_FIELDS,
                                   fields.SEGMENT_FIELDS], ids=["definition", "config", "segment"])
def test_field_lists_are_written_once(names: tuple[str, ...]) -> None:
    def hit(node: ast.AST) -> bool:
        if not isinstance(node, ast.Tuple | ast.List | ast.Set):
            return False
        elements = {e.value for e in node.elts
                    if isinstance(e, ast.Constant) and isinstance(e.value, str)}
        return len(elements & set(names)) >= 3

    assert _offenders("edge_reader/engine/fields.py", hit) == []


def test_the_sdk_key_kind_mapping_is_written_once() -> None:
    def short(value: str) -> bool:
        return value in SHORT_KINDS or value.startswith(("vxl_srv_", "vxl_cli_"))

    def hit(node: ast.AST) -> bool:
        # One expression that spells both a short kind and a long one is a mapping.
        if not isinstance(node, ast.expr) or isinstance(node, ast.JoinedStr):
            return False
        values = _strings(node)
        return any(map(short, values)) and bool(values & LONG_KINDS)

    found = _offenders("edge_reader/bundle/sdk_key.py", hit)
    # An enclosing expression repeats its child's hit: report each line once.
    assert sorted(set(found)) == []


def test_dynamodb_values_are_converted_in_one_place() -> None:
    names = {"Decimal", "TypeDeserializer", "TypeSerializer", "to_integral_value"}

    def hit(node: ast.AST) -> bool:
        if isinstance(node, ast.Name | ast.alias):
            return (node.id if isinstance(node, ast.Name) else node.name) in names
        return isinstance(node, ast.Attribute) and node.attr in names

    assert _offenders("control_plane/chalicelib/repository.py", hit) == []


def test_the_sdk_key_item_and_its_context_are_written_once() -> None:
    def hit(node: ast.AST) -> bool:
        if isinstance(node, ast.Constant):
            return node.value in ("vexil:purpose", "sdk-key")
        # A dict literal with the record's secret field builds the item by hand.
        return isinstance(node, ast.Dict) and any(
            isinstance(k, ast.Constant) and k.value == "wrapped_secret" for k in node.keys)

    assert _offenders("control_plane/chalicelib/sdk_key_record.py", hit) == []


def test_the_api_policy_names_the_same_purpose() -> None:
    from chalicelib.list_record import LIST_SECRET_PURPOSE
    from chalicelib.sdk_key_record import SDK_KEY_PURPOSE

    policy = json.loads((ROOT / "control_plane/.chalice/policy-api.json").read_text())
    purposes = [value for st in policy["Statement"]
                for cond in st.get("Condition", {}).values()
                for name, value in cond.items() if name.endswith(":vexil:purpose")]
    assert purposes == [SDK_KEY_PURPOSE, LIST_SECRET_PURPOSE]


def test_request_schemas_refuse_a_field_the_engine_does_not_list() -> None:
    from chalicelib.schemas import CONFIG_FIELDS, DEFINITION_FIELDS, SEGMENT_FIELDS, per_field

    assert tuple(DEFINITION_FIELDS) == fields.DEFINITION_FIELDS
    assert tuple(CONFIG_FIELDS) == fields.CONFIG_FIELDS
    assert tuple(SEGMENT_FIELDS) == fields.SEGMENT_FIELDS
    with pytest.raises(ValueError, match=r"\['colour'\]"):
        per_field(("kind",), {"kind": {}, "colour": {}})
    with pytest.raises(ValueError, match=r"\['colour'\]"):
        per_field(("kind", "colour"), {"kind": {}})


def test_the_api_checks_writes_with_the_engine_merge_rule(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    from chalicelib.envdoc import EnvState, Versioned

    calls: list[tuple[str, Any]] = []
    merge, segment = fields.merge_flag, fields.segment_document
    monkeypatch.setattr(fields, "merge_flag",
                        lambda d, c, v=None: calls.append(("flag", v)) or merge(d, c, v))
    monkeypatch.setattr(fields, "segment_document",
                        lambda b, v: calls.append(("segment", v)) or segment(b, v))
    state = EnvState("p", "e", {"f": Versioned({"kind": "boolean"}, 1)},
                     {"f": Versioned({"enabled": True}, 4)}, {"s": Versioned({}, 2)})
    doc = state.document()
    assert calls == [("flag", 4), ("segment", 2)]
    assert doc["flags"]["f"] == {"kind": "boolean", "enabled": True, "version": 4}
