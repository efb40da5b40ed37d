"""The reader's list loader against an in-memory CDN: what it believes and what it refuses.

Each attack replaces bytes on the "CDN" the way a poisoned cache or a hostile origin could:
a shard whose digest differs from the manifest, a manifest whose digest differs from the
bundle, a genuine shard of another list or index, a shard encrypted under another secret.
Every one must leave the slot with the last good members (or empty), never a wrong list.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from edge_reader.bundle.lists import (
    Manifest,
    ShardEntry,
    encode_manifest,
    encrypt_shard,
    manifest_object_key,
    shard_object_key,
)
from edge_reader.client._fetcher import Fetcher
from edge_reader.client._lists import ListSync
from edge_reader.client._transport import Request, Response
from edge_reader.engine import CompiledEnvironment, compile_environment
from edge_reader.engine.lists import derive_key, encode_secret, member_hash, split_shards

WHERE = ("shop", "prod", "beta")
ROOT = "http://cdn.test/"


class MemoryCdn:
    """A transport answering GETs from a dict of object keys; counts requests."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.requests: list[str] = []

    def handle_request(self, request: Request) -> Response:
        key = request.url.removeprefix(ROOT)
        self.requests.append(key)
        if key not in self.objects:
            return Response(404, {}, b"")
        return Response(200, {"etag": '"x"'}, self.objects[key])

    def close(self) -> None:
        pass


def publish(cdn: MemoryCdn, secret: bytes, ids: list[str], seq: int = 1) -> dict[str, Any]:
    """What the publisher does, into ``cdn``; the segment's ``list`` reference."""
    key = derive_key(secret, "member")
    shards = split_shards(member_hash(key, i) for i in ids)
    entries: list[ShardEntry | None] = []
    for index, shard in enumerate(shards):
        if not shard:
            entries.append(None)
            continue
        body = encrypt_shard(secret, WHERE, index, shard)
        sha = hashlib.sha256(body).hexdigest()
        cdn.objects[shard_object_key(*WHERE, sha)] = body
        entries.append(ShardEntry(shard_object_key(*WHERE, sha), sha, len(body), len(shard)))
    manifest = encode_manifest(Manifest(*WHERE, seq, len(set(ids)), tuple(entries)))
    sha = hashlib.sha256(manifest).hexdigest()
    cdn.objects[manifest_object_key(*WHERE, sha)] = manifest
    return {"manifest": manifest_object_key(*WHERE, sha), "sha256": sha,
            "members": len(set(ids)), "seq": seq, "secret": encode_secret(secret)}


def env_with(ref: dict[str, Any]) -> CompiledEnvironment:
    return compile_environment({"flags": {}, "segments": {"beta": {"type": "list",
                                                                   "list": ref}}})


@pytest.fixture
def cdn() -> MemoryCdn:
    return MemoryCdn()


def loader(cdn: MemoryCdn, cache: Path | None = None) -> ListSync:
    return ListSync(cdn_root=ROOT, project="shop", environment="prod",
                      fetcher=Fetcher(cdn), cache_dir=cache)


def test_a_list_loads_and_an_unchanged_manifest_costs_no_request(cdn: MemoryCdn) -> None:
    secret = os.urandom(32)
    ref = publish(cdn, secret, [f"u{i}" for i in range(3000)])
    first = env_with(ref)
    assert loader(cdn).fill(first, None) == []
    members = first.lists["beta"].members
    assert members is not None
    assert members.contains("u7")
    assert not members.contains("u3000")
    cdn.requests.clear()
    second = env_with(ref)  # the next bundle names the same manifest
    assert loader(cdn).fill(second, first) == []
    assert second.lists["beta"].members is members
    assert cdn.requests == []


def test_the_disk_cache_serves_unchanged_shards(cdn: MemoryCdn, tmp_path: Path) -> None:
    secret = os.urandom(32)
    ref = publish(cdn, secret, [f"u{i}" for i in range(3000)])
    assert loader(cdn, tmp_path).fill(env_with(ref), None) == []
    cdn.requests.clear()
    ref2 = publish(cdn, secret, [f"u{i}" for i in range(3000)] + ["one-more"], seq=2)
    assert loader(cdn, tmp_path).fill(env_with(ref2), None) == []
    # the manifest and the one shard that changed; every other shard came from disk
    assert len(cdn.requests) == 2


def _tamper(cdn: MemoryCdn, suffix: str, fn: Any) -> None:
    key = next(k for k in cdn.objects if k.endswith(suffix))
    cdn.objects[key] = fn(cdn.objects[key])


@pytest.mark.parametrize("attack", ["shard_bytes", "manifest_bytes", "missing_shard",
                                    "other_secret", "shard_swapped"])
def test_tampered_objects_keep_the_last_good_list(cdn: MemoryCdn, attack: str) -> None:
    secret = os.urandom(32)
    good = env_with(publish(cdn, secret, [f"u{i}" for i in range(3000)]))
    assert loader(cdn).fill(good, None) == []
    old_shards = set(cdn.objects)
    ids = [f"u{i}" for i in range(1000, 4000)]  # the new list drops u0..u999
    if attack == "other_secret":
        # digests all match, but the shards were not encrypted with the bundle's secret
        ref = {**publish(cdn, os.urandom(32), ids, seq=2), "secret": encode_secret(secret)}
    else:
        ref = publish(cdn, secret, ids, seq=2)
    new_shards = [k for k in cdn.objects if k.endswith(".shard") and k not in old_shards]
    if attack == "shard_bytes":
        cdn.objects[new_shards[-1]] = cdn.objects[new_shards[-1]][:-1] + b"\0"
    elif attack == "manifest_bytes":
        cdn.objects[ref["manifest"]] = cdn.objects[ref["manifest"]].replace(b'"seq":2',
                                                                            b'"seq":9')
    elif attack == "missing_shard":
        for key in new_shards:
            del cdn.objects[key]
    elif attack == "shard_swapped":
        # a genuine shard served where another index's shard should be: the digest differs
        a, b = new_shards[0], new_shards[1]
        cdn.objects[a], cdn.objects[b] = cdn.objects[b], cdn.objects[a]
    new = env_with(ref)
    failures = loader(cdn).fill(new, good)
    assert len(failures) == 1
    slot = new.lists["beta"]
    assert slot.stale
    assert slot.members is good.lists["beta"].members  # the last good list, nothing else
    assert slot.members is not None
    assert slot.members.contains("u0")


def test_with_no_last_good_the_clause_stays_off_and_says_why(cdn: MemoryCdn) -> None:
    ref = publish(cdn, os.urandom(32), ["a"])
    for key in [k for k in cdn.objects if k.endswith(".shard")]:
        del cdn.objects[key]
    env = env_with(ref)
    assert len(loader(cdn).fill(env, None)) == 1
    slot = env.lists["beta"]
    assert slot.members is None
    assert "load failed" in slot.why


def test_a_small_delta_downloads_only_the_shards_it_changed(cdn: MemoryCdn) -> None:
    secret = os.urandom(32)
    ids = [f"u{i}" for i in range(3000)]
    load = loader(cdn)  # no disk cache: the previous list in memory is the source
    first = env_with(publish(cdn, secret, ids))
    assert load.fill(first, None) == []
    cdn.requests.clear()
    second = env_with(publish(cdn, secret, [*ids[1:], "newcomer"], seq=2))
    assert load.fill(second, first) == []
    assert 2 <= len(cdn.requests) <= 3  # the manifest and the one or two shards touched
    members = second.lists["beta"].members
    assert members is not None
    assert members.contains("newcomer")
    assert not members.contains("u0")
    assert all(members.contains(i) for i in ids[1:])


def test_an_interrupted_load_resumes_from_the_shards_it_already_has(cdn: MemoryCdn) -> None:
    secret = os.urandom(32)
    ref = publish(cdn, secret, [f"u{i}" for i in range(3000)])
    shards = sorted(k for k in cdn.objects if k.endswith(".shard"))
    kept = cdn.objects.pop(shards[-1])  # one shard unreachable: the first attempt fails
    load = loader(cdn)  # no disk cache
    env = env_with(ref)
    assert len(load.fill(env, None)) == 1
    # What the first attempt finished is kept (by digest). On a loaded machine its time
    # budget may end before every fetch did: those, and only those, are fetched again.
    held = set(load._partial)
    assert held, "the first attempt kept nothing"
    cdn.objects[shards[-1]] = kept
    cdn.requests.clear()
    assert load.fill(env, None) == []
    assert ref["manifest"] in cdn.requests
    assert shards[-1] in cdn.requests
    refetched = {k.rsplit("/", 1)[-1].removesuffix(".shard")
                 for k in cdn.requests if k.endswith(".shard")}
    assert not refetched & held
    members = env.lists["beta"].members
    assert members is not None
    assert members.count == 3000
