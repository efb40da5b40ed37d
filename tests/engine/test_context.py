"""Context normalisation: shapes, synonyms, errors (never raised)."""

from __future__ import annotations

from edge_reader.engine import Context
from edge_reader.engine.context import make_getter, parse_attribute


def test_single_kind_defaults_to_user() -> None:
    ctx = Context.from_mapping({"targetingKey": "u-1", "country": "DE"})
    assert ctx.error is None
    assert ctx.kinds == {"user": {"key": "u-1", "country": "DE", "kind": "user"}}
    assert ctx.targeting_key == "u-1"


def test_key_and_targeting_key_are_synonyms() -> None:
    a = Context.from_mapping({"key": "u-1"})
    b = Context.from_mapping({"targetingKey": "u-1", "key": "u-1"})
    assert a.kinds == b.kinds


def test_explicit_kind_and_multi_kind() -> None:
    ctx = Context.from_mapping({"kind": "device", "key": "d-1", "os": "ios"})
    assert ctx.kinds == {"device": {"key": "d-1", "os": "ios", "kind": "device"}}
    multi = Context.from_mapping({"kind": "multi", "user": {"key": "u"},
                                  "organization": {"targetingKey": "o", "tier": 1}})
    assert multi.error is None
    assert multi.kinds["organization"] == {"key": "o", "tier": 1, "kind": "organization"}
    assert multi.targeting_key == "u"


def test_empty_key_means_no_key() -> None:
    ctx = Context.from_mapping({"targetingKey": ""})
    assert ctx.error is None
    assert "key" not in ctx.kinds["user"]
    assert ctx.targeting_key is None


def test_invalid_shapes_set_error_and_never_raise() -> None:
    bads: list[object] = [None, 1, "x", [], {"kind": ""}, {"kind": "multi"}, {"kind": "kind"},
                {"kind": "multi", "user": []}, {"kind": "multi", "bad kind": {}},
                {"targetingKey": 3}, {"key": "a", "targetingKey": "b"}, {1: "x"}]
    for bad in bads:
        ctx = Context.from_mapping(bad)
        assert ctx.error, bad


def test_from_mapping_returns_a_context_unchanged() -> None:
    ctx = Context.from_mapping({"targetingKey": "u"})
    assert Context.from_mapping(ctx) is ctx


def test_attribute_references() -> None:
    assert parse_attribute("country") == (("country",), None)
    assert parse_attribute("a/b") == (("a/b",), None)
    assert parse_attribute("/a/b") == (("a", "b"), None)
    assert parse_attribute("/a~1b/c~0d") == (("a/b", "c~d"), None)
    assert parse_attribute("targetingKey") == (("key",), None)
    assert parse_attribute("")[1]
    assert parse_attribute("/")[1]
    assert parse_attribute("/a/~")[1]
    get = make_getter(("a", "b"))
    assert get({"a": {"b": 1}}) == 1
    assert get({"a": [1]}) is None
    assert get({"a": None}) is None
