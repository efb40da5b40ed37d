"""moto's DynamoDB condition expressions parsed once, not three times per item.

Why (measured with cProfile on a 1,000-flag changeset, docs/performance.md): moto parses an
item's ``ConditionExpression`` from its text in the request validation, again in
``transact_write_items`` and a third time inside ``put_item``/``delete_item`` — 16,000
parses, about a quarter of the emulator's time for that changeset. Our writes use a handful
of expression texts (``attribute_not_exists(pk)``, ``version = :v``, ``cs_lock = :k``), so
the same parse is repeated thousands of times.

The parse is a pure function of (expression, names, values): the tree moto builds from it
is only read when evaluated (every node's state is set in its constructor). So a parse is
kept, keyed by the three, and handed out again; the tree is built from private copies of
names and values so it shares nothing with any request. Invalid expressions are not
cached — each one raises exactly as moto does. DynamoDB's semantics are untouched: the same
tree decides the same condition against the item as stored at that moment.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

_INSTALLED = "_vexil_parse_cache"
MAX_ENTRIES = 4096
"""Distinct (expression, names, values) kept: enough for a 1,000-item chunk's version
conditions, small (a few MB at most) because entries are tiny trees."""

_cache: OrderedDict[tuple[str, str, str], tuple[Any, list[str], list[str]]] = OrderedDict()


def cache_size() -> int:
    """How many parsed expressions are kept now (for the emulator's census and tests)."""
    return len(_cache)


def install() -> None:
    """Patch moto's ``ConditionExpressionParser.parse`` in this process (idempotent).

    Promise: ``parse()`` returns a tree that evaluates exactly as a fresh parse would, and
    fills ``expr_attr_names_found``/``expr_attr_values_found`` as a fresh parse does.
    """
    from moto.dynamodb import comparisons  # noqa: PLC0415 - moto is heavy; only servers load it

    parser_type = comparisons.ConditionExpressionParser
    if getattr(parser_type.parse, _INSTALLED, False):
        return
    moto_parse = parser_type.parse

    def parse(self: Any) -> Any:
        if not self.condition_expression:
            return moto_parse(self)
        try:
            key = (str(self.condition_expression),
                   json.dumps(self.expression_attribute_names, sort_keys=True),
                   json.dumps(self.expression_attribute_values, sort_keys=True))
        except (TypeError, ValueError):
            return moto_parse(self)  # not JSON-shaped: leave it to moto, uncached
        hit = _cache.get(key)
        if hit is None:
            # Parsed from private copies: the kept tree must not alias a request's dicts.
            private = parser_type(key[0], json.loads(key[1]), json.loads(key[2]))
            tree = moto_parse(private)  # raises for an invalid expression: nothing cached
            hit = (tree, list(private.expr_attr_names_found),
                   list(private.expr_attr_values_found))
            _cache[key] = hit
            if len(_cache) > MAX_ENTRIES:
                _cache.popitem(last=False)
        else:
            _cache.move_to_end(key)
        self.expr_attr_names_found.extend(hit[1])
        self.expr_attr_values_found.extend(hit[2])
        return hit[0]

    setattr(parse, _INSTALLED, True)
    setattr(parser_type, "parse", parse)  # noqa: B010 - replaces moto's method
