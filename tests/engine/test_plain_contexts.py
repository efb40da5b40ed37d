"""The plain-dict fast path (``plain_kinds``) answers exactly as the full normalisation.

Applications pass a fresh dict per call; the engine's getters take it without building a
Context (engine/context.py). These tests pin that the shortcut changes no answer: the same
kinds for every context it accepts, the same INVALID_CONTEXT for every one it does not, and
the caller's dict left untouched.
"""

from __future__ import annotations

import copy
import functools
from types import MappingProxyType
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from edge_reader.engine import CompiledEnvironment, Context, compile_environment
from edge_reader.engine.bucketing import HASHES
from edge_reader.engine.context import kinds_of, plain_kinds, plain_view

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
        # The getters' view takes exactly the dicts the copying shortcut takes (a "kind" or
        # "key" name, learned from a multi-kind context or not, always goes the full way).
        assert (plain_view(data) is None) == (fast is None)
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


# --- plain views: the caller's dict evaluated as it is (no copy) ------------------------

_ON_OFF = {"on": True, "off": False}


def _key_flags() -> dict[str, Any]:
    """Every construct that reads the targeting key or the ``kind`` attribute."""
    def one(*clauses: dict[str, Any]) -> dict[str, Any]:
        return {"kind": "boolean", "variations": _ON_OFF, "off_variation": "off",
                "rules": [{"id": "r", "clauses": list(clauses), "serve": {"variation": "on"}}],
                "default": {"variation": "off"}}

    def split(**extra: Any) -> dict[str, Any]:
        return {"kind": "boolean", "variations": _ON_OFF, "default": {"rollout": {
            "variations": [{"variation": "on", "weight": 50_000},
                           {"variation": "off", "weight": 50_000}], **extra}}}

    c = {"attribute": "key", "op": "in", "values": ["u-1", "", "seg-in"]}
    flags = {
        "targets": {"kind": "boolean", "variations": _ON_OFF, "targets": [
            {"values": ["u-1", ""], "variation": "on"}], "default": {"variation": "off"}},
        "key-in": one(c), "key-not-in": one({**c, "op": "not_in"}),
        "key-negated": one({**c, "negate": True}),
        "targeting-key-in": one({**c, "attribute": "targetingKey"}),
        "key-exists": one({"attribute": "key", "op": "exists"}),
        "key-absent": one({"attribute": "key", "op": "exists", "negate": True}),
        "key-starts": one({"attribute": "key", "op": "starts_with", "values": ["u-"]}),
        "key-when-absent": one({**c, "when_absent": True}),
        "key-folded": one({**c, "values": ["U-1"], "case_insensitive": True}),
        "kind-clause": one({"attribute": "kind", "op": "in", "values": ["user"]}),
        "kind-pointer": one({"attribute": "/kind", "op": "in", "values": ["user"]}),
        "kind-exists": one({"attribute": "kind", "op": "exists"}),
        "nested-key": one({"attribute": "/key/x", "op": "exists"}),
        "nested-tk": one({"attribute": "/targetingKey/x", "op": "exists"}),
        "pointer-tk": one({"attribute": "/targetingKey", "op": "in", "values": ["u-1"]}),
        "segment-list": one({"op": "segment_match", "values": ["listed"]}),
        "segment-rules": one({"op": "segment_match", "values": ["ruled"]}),
        "split": split(), "split-by-tk": split(bucket_by="targetingKey"),
        "split-by-kind": split(bucket_by="kind"), "split-skip": split(missing="skip"),
        "split-by-country": split(bucket_by="country"),
        **{f"split-{h}": split(bucketing={"hash": h}) for h in HASHES},
        **{f"bucket-{h}-{a}": one({"attribute": a, "op": "in_bucket", "bucketing": {"hash": h},
                                   "salt": "s", "values": [[0, 50_000]]})
           for h in HASHES for a in ("key", "kind")},
    }
    return {"flags": flags, "segments": {
        "listed": {"included": ["u-1", "seg-in", ""]},
        "ruled": {"included": ["seg-in"], "excluded": ["u-1"], "rules": [{"id": "r", "clauses": [
            {"attribute": "country", "op": "in", "values": ["DE"]}]}]}}}


@functools.cache
def _key_env() -> CompiledEnvironment:
    env = compile_environment(_key_flags())  # strict: every flag above is valid
    assert not env.warnings, env.warnings
    return env


PLAIN = st.fixed_dictionaries({}, optional={
    "targetingKey": st.sampled_from([None, "", "u-1", "u-2", "seg-in", "U-1"]),
    "country": st.sampled_from(["DE", "FR", None, ""]),
    "plan": st.sampled_from(["pro", 3, None]),
})


@settings(max_examples=300, deadline=None)
@given(PLAIN)
def test_a_plain_view_evaluates_as_the_normalised_context(data: dict[str, Any]) -> None:
    """Targets, key clauses of every shape, segments, rollouts by key/kind/other
    attributes and every peer hash: the caller's dict (plain_view, the getters' path) gives
    the very detail the normalised Context gives — and the dict is left as it was."""
    env = _key_env()
    _full(data)  # learn the names (the view takes known names only, like plain_kinds)
    before = copy.deepcopy(data)
    view = plain_view(data)
    assert view is not None
    assert view["user"] is data
    ctx = _full(data)
    for key in sorted(env.flag_keys):
        want = env.evaluate(key, ctx, "d")
        assert env.evaluate(key, data, "d") == want, (key, data)
        assert env.get_boolean(key, data, None) == env.get_boolean(key, ctx, None)  # type: ignore[arg-type]
        assert env.detail_of(key, data) is env.detail_of(key, ctx), (key, data)
    assert data == before



@settings(max_examples=60, deadline=None)
@given(PLAIN)
def test_a_plain_view_is_looked_up_in_list_segments_as_the_normalised_context(
        data: dict[str, Any]) -> None:
    from .test_lists import _doc, _membership, _ref

    env = compile_environment(_doc({"type": "list", "list": _ref()}))
    env.lists["beta"].members = _membership(["u-1", "seg-in", ""])
    ctx = _full(data)
    assert plain_view(data) is not None
    for key in ("beta-ui", "plain"):
        assert env.evaluate(key, data, "d") == env.evaluate(key, ctx, "d"), (key, data)
