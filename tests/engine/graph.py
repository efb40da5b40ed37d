"""Which objects of a parsed document does a compiled structure still reference?

Shared by the engine's and the reader's memory tests (tests/engine/test_memory.py,
tests/client/test_snapshot_memory.py).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from types import BuiltinFunctionType, CodeType, ModuleType
from typing import Any


def document_objects(value: Any) -> dict[int, Any]:
    """Every container and leaf of a parsed document that could pin its memory."""
    out: dict[int, Any] = {}
    todo = [value]
    while todo:
        v = todo.pop()
        if v is None or v is True or v is False:
            continue
        if v.__class__ is int and -5 <= v <= 256:  # CPython's shared small ints
            continue
        if v.__class__ is str and len(v) <= 1:  # CPython's shared one-character strings
            continue
        out[id(v)] = v
        if isinstance(v, dict):
            todo.extend(v.keys())
            todo.extend(v.values())
        elif isinstance(v, list):
            todo.extend(v)
    return out


def reachable(root: object) -> Iterator[object]:
    """Every object reachable from ``root``, not descending into modules, classes, code."""
    seen: set[int] = set()
    todo = [root]
    while todo:
        o = todo.pop()
        if id(o) in seen or isinstance(o, type | ModuleType | CodeType | BuiltinFunctionType):
            continue
        seen.add(id(o))
        if isinstance(o, dict) and "__builtins__" in o:  # a module's globals
            continue
        yield o
        todo.extend(gc.get_referents(o))


def kept_from(document: Any, root: object) -> list[Any]:
    """The objects of ``document`` reachable from ``root`` (keep ``document`` alive)."""
    objects = document_objects(document)
    missing = object()
    return [o for o in reachable(root) if objects.get(id(o), missing) is o]
