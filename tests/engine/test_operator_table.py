"""The clause operators are named in two places a new operator must reach: the engine's
table (``operators.py``) and the JSON Schema of the format (``flag.schema.json``). This
keeps them equal, so "add an operator" cannot stop halfway (docs/architecture.md,
"Where do I change X")."""

from __future__ import annotations

from edge_reader.engine import operators
from edge_reader.engine.schema import flag_schema


def _schema_operators() -> set[str]:
    enum = flag_schema()["$defs"]["clause"]["properties"]["op"]["enum"]
    assert isinstance(enum, list)
    return set(enum)


def test_the_schema_names_every_operator_and_alias_the_engine_knows() -> None:
    assert _schema_operators() == set(operators.OPERATORS) | set(operators.ALIASES)


def test_every_alias_resolves_to_a_known_operator() -> None:
    assert {operators.canonical_operator(a) for a in operators.ALIASES} <= operators.OPERATORS
