"""How deep JSON may nest: one limit for variations, JSON schemas and request bodies.

A flag's JSON values (variations, a json flag's ``schema``) nest at most
:data:`MAX_JSON_DEPTH` levels below the value itself. The control plane allows a request
body :data:`BODY_DEPTH_MARGIN` more, for the envelope around such a value
(``operations[i].flag.variations.<name>``...). Both stay far below orjson's own limits
(254 levels when writing, 1024 when reading), so canonicalising an accepted value cannot
fail.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypeGuard

MAX_JSON_DEPTH = 64
"""Levels of arrays/objects a variation or JSON schema may nest (the value is level 0)."""
BODY_DEPTH_MARGIN = 16
"""Extra levels a request body may nest around such a value."""


def too_deep(value: object, limit: int) -> list[str | int] | None:
    """The path to the first value nested more than ``limit`` levels below ``value``
    (``value`` itself is level 0), or None if there is none.

    The same rule as the compiler's check of variations, so both count levels alike.
    Iterative (any depth is safe) and cheap: scalars cost one type check, and the path is
    kept only for the containers currently open."""
    if limit < 0:
        return []
    if not _is_container(value):
        return None
    first = _first(value)
    if first is not None and limit < 1:
        return [first]
    path: list[str | int] = []
    stack = [_children(value)]
    while stack:
        for name, child in stack[-1]:
            if child.__class__ in _SCALARS or not _is_container(child):
                continue
            first = _first(child)
            if first is None:
                continue  # an empty container: nothing below it
            # ``child`` sits len(stack) levels down, so its values one level further.
            if len(stack) + 1 > limit:
                return [*path, name, first]
            path.append(name)
            stack.append(_children(child))
            break
        else:
            stack.pop()
            if path:
                path.pop()
    return None


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _is_container(value: object) -> TypeGuard[list[Any] | Mapping[Any, Any]]:
    return isinstance(value, list | Mapping)


def _first(value: list[Any] | Mapping[Any, Any]) -> str | int | None:
    """The name of the first child (key or index 0), None when empty."""
    if isinstance(value, list):
        return 0 if value else None
    for key in value:
        return str(key)
    return None


def _children(value: list[Any] | Mapping[Any, Any]) -> Iterator[tuple[str | int, object]]:
    if isinstance(value, list):
        return iter(enumerate(value))
    return ((str(k), v) for k, v in value.items())
