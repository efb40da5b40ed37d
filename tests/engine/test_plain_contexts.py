"""The plain-dict fast path (``plain_kinds``) answers exactly as the full normalisation.

Applications pass a fresh dict per call; the engine's getters take it without building a
Context (engine/context.py). These tests pin that the shortcut changes no answer: the same
kinds for every context it accepts, the same INVALID_CONTEXT for every one it does not, and
the caller's dict left untouched.
"""

from __future__ import annotations

import copy
from types import MappingProxyType
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from edge_reader.engine import Context
from edge_reader.engine.context import kinds_of, plain_kinds

from .builders import clause, compile_one, flag, rule

NAMES = st.sampled_from(["targetingKey", "key", "kind", "country", "plan", "Country", "multi",
                         "user", "", "a/b"]) | st.text(max_size=6)
VALUES = (st.none() | st.booleans() | st.integers() | st.text(max_size=6)
          | st.sampled_from(["user", "multi", "device", "bad kind", "u-1"])
          | st.lists(st.text(max_size=3), max_size=2)
          | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
CONTEXTS = st.dictionaries(NAMES | st.integers() | st.none(), VALUES, max_size=6)


def _full(data: object) -> Context:
    """The full normalisation, bypassing the fast path (it takes exact dicts only)."""
    return Context.from_mapping(MappingProxyType(data) if type(data) is dict else data)


@settings(max_examples=600, deadline=None)
@given(CONTEXTS)
def test_the_fast_path_gives_the_full_paths_answer(data: dict[Any, Any]) -> None:
    before = copy.deepcopy(data)
    full = _full(data)
    for _ in range(2):  # the second time, names the first call learned take the fast path
        fast = plain_kinds(data)
        if fast is not None:
            assert full.error is None
            assert fast == full.kinds
        ctx = Context.from_mapping(data)
        assert (ctx.kinds, ctx.error) == (full.kinds, full.error)
        assert kinds_of(data) == (full.kinds if full.error is None else None)
    assert data == before


def test_the_fast_path_copies_and_learns_only_valid_names() -> None:
    data = {"targetingKey": "u-1", "fast-path-name": "x"}
    assert plain_kinds(data) is None  # not learned yet: the full path decides
    kinds = Context.from_mapping(data).kinds
    got = plain_kinds(data)
    assert got == kinds == {"user": {"key": "u-1", "fast-path-name": "x", "kind": "user"}}
    assert got is not None
    assert got["user"] is not data
    bad = {"targetingKey": "u-1", 7: "x"}
    assert Context.from_mapping(bad).error == "context attribute names must be strings, got 7"
    assert plain_kinds(bad) is None


def test_invalid_plain_dicts_still_answer_invalid_context() -> None:
    env = compile_one(flag(rule(clause("country", "in", "DE")), default="off"))
    Context.from_mapping({"targetingKey": "u", "country": "DE"})  # learn the names
    bads: list[Any] = [{"targetingKey": 3, "country": "DE"}, {"key": "a", "targetingKey": "b"},
                       {"kind": "", "country": "DE"}, {"kind": "multi"}, {1: "x", "country": "DE"},
                       {"targetingKey": "u", "country": "DE", 2.5: 1}, [], "ctx", 42]
    for bad in bads:
        assert env.get_boolean("f", bad, True) is True, bad
        assert env.get_string("f", bad, "d") == "d", bad
        assert env.get_integer("f", bad, 7) == 7, bad
        assert env.get_float("f", bad, 0.5) == 0.5, bad
        d = env.get_boolean_details("f", bad, True)
        assert d.error_code == "INVALID_CONTEXT", bad
        assert d == env.get_boolean_details("f", _full(bad), True)
    good = {"targetingKey": "u", "country": "DE"}
    assert env.get_boolean("f", good, False) is True
    assert env.get_boolean("f", {"country": "FR"}, True) is False
