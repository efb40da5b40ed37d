"""The stored shapes of a flag and a segment: which field belongs where, and how they join.

A FLAG of the environment document (docs/flag-format.md) is stored in two parts:
its *definition* (shared by every environment of a project) and its *configuration* (one
per environment), plus ``version``, which the server sets from the stored configuration.
A SEGMENT is one body plus its ``version``. The compiler, the control plane's request
schemas and use cases, the publisher and the flags file all take these lists and the
merge/split rule from here, so a new field is added in one place (and in
``flag.schema.json``, which a test keeps equal to these lists).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

DEFINITION_FIELDS: tuple[str, ...] = (
    "kind", "variations", "schema", "description", "tags", "client_visible", "deprecated",
    "metadata",
)
CONFIG_FIELDS: tuple[str, ...] = (
    "enabled", "off_variation", "prerequisites", "targets", "rules", "default",
)
SEGMENT_FIELDS: tuple[str, ...] = (
    "context_kind", "included", "excluded", "rules", "description", "tags", "type",
)
RULES_ONLY_SEGMENT_FIELDS: tuple[str, ...] = ("included", "excluded", "rules")
"""What a ``type: list`` segment may not have: its members are its list (engine/lists.py)."""
LIST_FIELD = "list"
"""Publisher-managed: a list segment's published list (engine/lists.py), in server documents."""
ENABLED_DEFAULT = True
"""What an absent ``enabled`` means — the one rule for the format, the engine, flags files
and ``vexil plan`` (docs/flag-format.md, "enabled"): the flag is on and serves what it says.
Stored configurations always spell it out (the API requires it), so it only decides
hand-written files and documents."""
VERSION_FIELD = "version"
"""Server-managed: the stored item's version, added when a document is assembled."""

# What the compiler accepts in a document: the writable fields plus the version.
FLAG_DOCUMENT_FIELDS: frozenset[str] = frozenset((*DEFINITION_FIELDS, *CONFIG_FIELDS,
                                                  VERSION_FIELD))
SEGMENT_DOCUMENT_FIELDS: frozenset[str] = frozenset((*SEGMENT_FIELDS, VERSION_FIELD, LIST_FIELD))


GROUP_KEYS: tuple[str, ...] = ("any", "all", "not")
"""The keys of a clause group (``{"any": [...]}``, ``{"all": [...]}``, ``{"not": CLAUSE}``):
wherever a clause may stand, a group may stand instead (docs/flag-format.md)."""
SEGMENT_MATCH_OPS = frozenset({"segment_match", "segmentMatch"})


def plain_clauses(clauses: Iterable[Any]) -> Iterator[Mapping[str, Any]]:
    """Every clause object of ``clauses`` that is not a group, looking inside groups at any
    depth (iteratively: a hostile document cannot exhaust the stack). Non-objects and
    malformed groups are skipped, never raised on: callers walk unchecked documents."""
    todo: list[Any] = list(clauses)[::-1]
    while todo:
        item = todo.pop()
        if not isinstance(item, Mapping):
            continue
        group = next((k for k in GROUP_KEYS if k in item), None)
        if group is None:
            yield item
            continue
        body = item[group]
        todo.extend(reversed(body) if isinstance(body, list) else [body])


def segment_keys(clauses: Iterable[Any]) -> list[str]:
    """The segment keys named by the ``segment_match`` clauses of ``clauses`` (groups
    included), in order: what a flag or segment rule needs in its bundle."""
    keys: list[str] = []
    for clause in plain_clauses(clauses):
        values = clause.get("values")
        if clause.get("op") in SEGMENT_MATCH_OPS and isinstance(values, list):
            keys.extend(v for v in values if isinstance(v, str))
    return keys


def merge_flag(
    definition: Mapping[str, Any], config: Mapping[str, Any], version: int | None = None,
) -> dict[str, Any]:
    """The document FLAG of a definition and a configuration (a new dict; inputs untouched).

    The configuration's fields win over the definition's on a clash (stored parts never
    clash, the schemas keep them apart); ``version``, when given, is set last so a stored
    body can never override it.
    """
    flag = {**definition, **config}
    if version is not None:
        flag[VERSION_FIELD] = version
    return flag


def split_flag(flag: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(definition part, configuration part) of a FLAG; other fields (``version``) are dropped."""
    return (
        {k: v for k, v in flag.items() if k in DEFINITION_FIELDS},
        {k: v for k, v in flag.items() if k in CONFIG_FIELDS},
    )


def segment_document(body: Mapping[str, Any], version: int) -> dict[str, Any]:
    """The document SEGMENT of a stored segment body and its version (a new dict)."""
    return {**body, VERSION_FIELD: version}
