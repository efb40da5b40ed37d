"""List segments in the engine: keyed-hash membership, the slot hook, the "why" detail."""

from __future__ import annotations

import os
from typing import Any

import pytest

from edge_reader.engine import CompileError, Reason, compile_environment
from edge_reader.engine.lists import (
    SHARD_COUNT,
    Membership,
    derive_key,
    encode_secret,
    member_hash,
    shard_of,
    split_shards,
)

SECRET = bytes(range(32))
MEMBER_KEY = derive_key(SECRET, "member")


def _ref(**over: Any) -> dict[str, Any]:
    ref = {"manifest": "bundles/p/e/lists/beta/" + "a" * 64 + ".manifest", "sha256": "a" * 64,
           "members": 2, "seq": 3, "secret": encode_secret(SECRET)}
    return {**ref, **over}


def _doc(segment: dict[str, Any]) -> dict[str, Any]:
    return {
        "flags": {
            "beta-ui": {
                "kind": "boolean", "variations": {"on": True, "off": False},
                "rules": [{"id": "r1", "clauses": [{"op": "segment_match", "values": ["beta"]}],
                           "serve": {"variation": "on"}}],
                "default": {"variation": "off"},
            },
            "plain": {"kind": "boolean", "variations": {"on": True, "off": False},
                      "default": {"variation": "on"}},
        },
        "segments": {"beta": segment},
    }


def _membership(ids: list[str]) -> Membership:
    return Membership(MEMBER_KEY, split_shards(member_hash(MEMBER_KEY, i) for i in ids))


def test_members_match_and_others_do_not() -> None:
    ids = [f"user-{i}@example.com" for i in range(5000)]
    members = _membership(ids)
    assert members.count == 5000
    assert all(members.contains(i) for i in ids[::7])
    assert not any(members.contains(f"other-{i}@example.com") for i in range(5000))


def test_the_hash_is_keyed() -> None:
    other = derive_key(os.urandom(32), "member")
    assert member_hash(MEMBER_KEY, "alice") != member_hash(other, "alice")
    assert derive_key(SECRET, "member") != derive_key(SECRET, "shard")


def test_shards_are_sorted_and_hold_only_their_prefix() -> None:
    shards = split_shards(member_hash(MEMBER_KEY, f"u{i}") for i in range(3000))
    assert len(shards) == SHARD_COUNT
    for index, shard in enumerate(shards):
        assert list(shard) == sorted(set(shard))
        assert all(shard_of(h) == index for h in shard)


def test_a_clause_on_an_unloaded_list_does_not_match_and_says_why() -> None:
    env = compile_environment(_doc({"type": "list", "list": _ref()}))
    detail = env.evaluate("beta-ui", {"key": "alice"}, None)
    assert detail.value is False
    assert detail.reason == Reason.DEFAULT
    assert detail.error_message is not None
    assert "'beta' is not loaded" in detail.error_message
    # flags that do not reach the list are untouched
    assert env.evaluate("plain", {"key": "alice"}, None).error_message is None


def test_filling_the_slot_turns_members_on() -> None:
    env = compile_environment(_doc({"type": "list", "list": _ref()}))
    env.lists["beta"].members = _membership(["alice", "bob"])
    on = env.evaluate("beta-ui", {"key": "alice"}, None)
    assert on.value is True
    assert on.reason == Reason.TARGETING_MATCH
    assert on.error_message is None
    off = env.evaluate("beta-ui", {"key": "carol"}, None)
    assert off.value is False
    assert off.error_message is None
    assert env.get_boolean("beta-ui", {"key": "bob"}, False) is True


def test_the_context_kind_decides_whose_key_is_looked_up() -> None:
    env = compile_environment(_doc({"type": "list", "context_kind": "org", "list": _ref()}))
    env.lists["beta"].members = _membership(["acme"])
    assert env.get_boolean("beta-ui", {"key": "acme"}, False) is False  # a user named acme
    assert env.get_boolean("beta-ui", {"kind": "org", "key": "acme"}, False) is True


def test_a_list_reached_through_another_segment_is_guarded_too() -> None:
    doc = _doc({"type": "list", "list": _ref()})
    doc["segments"]["outer"] = {"rules": [{"clauses": [
        {"op": "segment_match", "values": ["beta"]}]}]}
    doc["flags"]["beta-ui"]["rules"][0]["clauses"][0]["values"] = ["outer"]
    env = compile_environment(doc)
    assert "not loaded" in str(env.evaluate("beta-ui", {"key": "x"}, None).error_message)
    env.lists["beta"].members = _membership(["x"])
    assert env.get_boolean("beta-ui", {"key": "x"}, False) is True


def test_a_list_segment_without_a_published_list_compiles_and_never_matches() -> None:
    # the API's stored form and a client-scope document: no `list` reference at all
    env = compile_environment(_doc({"type": "list"}))
    detail = env.evaluate("beta-ui", {"key": "alice"}, None)
    assert detail.value is False
    assert "no list in this bundle" in str(detail.error_message)
    assert env.lists["beta"].ref is None


@pytest.mark.parametrize(("segment", "path"), [
    ({"type": "list", "included": ["a"]}, "segments.beta.included"),
    ({"type": "list", "list": _ref(sha256="xyz")}, "segments.beta.list.sha256"),
    ({"type": "list", "list": _ref(secret="short")}, "segments.beta.list.secret"),
    ({"type": "list", "list": _ref(extra=1)}, "segments.beta.list.extra"),
    ({"type": "list", "list": {"manifest": "m"}}, "segments.beta.list"),
    ({"type": "bitmap"}, "segments.beta.type"),
    ({"included": ["a"], "list": _ref()}, "segments.beta.list"),
])
def test_malformed_list_segments_are_refused_with_the_path(segment: dict[str, Any],
                                                           path: str) -> None:
    with pytest.raises(CompileError) as info:
        compile_environment(_doc(segment))
    assert any(p.path == path for p in info.value.errors), info.value.errors


def test_the_secret_is_not_in_the_reference_repr() -> None:
    env = compile_environment(_doc({"type": "list", "list": _ref()}))
    assert encode_secret(SECRET) not in repr(env.lists["beta"])
    assert str(SECRET) not in repr(env.lists["beta"])


def test_the_pre_keyed_hash_and_its_memo_answer_as_the_writer_hashed() -> None:
    # The reader's pre-keyed hasher (copy + update) and its one-entry memo (by the context
    # key's identity) must agree with member_hash, whatever the order of lookups.
    ids = [f"user-{i}" for i in range(300)]
    env = compile_environment(_doc({"type": "list", "list": _ref()}))
    env.lists["beta"].members = _membership(ids[::2])
    from edge_reader.engine import Context

    contexts = [Context.from_mapping({"key": i}) for i in ids] + [
        Context.from_mapping({"key": "\ud800-lone-surrogate"})]
    for _ in range(2):  # the same contexts again: memo hits and misses interleaved
        for n, ctx in enumerate(contexts):
            expected = n < len(ids) and n % 2 == 0
            assert env.get_boolean("beta-ui", ctx, not expected) is expected
            assert env.get_boolean("beta-ui", ctx, not expected) is expected  # memo hit
    other = _membership(["user-1"])  # another list: its own memo, its own key
    env.lists["beta"].members = other
    assert env.get_boolean("beta-ui", contexts[1], False) is True
    assert env.get_boolean("beta-ui", contexts[0], True) is False
