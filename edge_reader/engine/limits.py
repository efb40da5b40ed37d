"""How deep JSON may nest: one limit for variations, JSON schemas and request bodies.

A flag's JSON values (variations, a json flag's ``schema``) nest at most
:data:`MAX_JSON_DEPTH` levels below the value itself. The control plane allows a request
body :data:`BODY_DEPTH_MARGIN` more, for the envelope around such a value
(``operations[i].flag.variations.<name>``...). Both stay far below orjson's own limits
(254 levels when writing, 1024 when reading), so canonicalising an accepted value cannot
fail.
"""

from __future__ import annotations

from collections.abc import Mapping

MAX_JSON_DEPTH = 64
"""Levels of arrays/objects a variation or JSON schema may nest (the value is level 0)."""
BODY_DEPTH_MARGIN = 16
"""Extra levels a request body may nest around such a value."""


def too_deep(value: object, limit: int) -> list[str | int] | None:
    """The path to the first value nested more than ``limit`` levels below ``value``
    (``value`` itself is level 0), or None if there is none. Iterative: any depth is safe.

    The same rule as the compiler's check of variations, so both count levels alike."""
    stack: list[tuple[object, list[str | int]]] = [(value, [])]
    while stack:
        node, path = stack.pop()
        if len(path) > limit:
            return path
        if isinstance(node, Mapping):
            children: list[tuple[str | int, object]] = [(str(k), v) for k, v in node.items()]
        elif isinstance(node, list):
            children = list(enumerate(node))
        else:
            continue
        stack.extend((child, [*path, name]) for name, child in reversed(children))
    return None
