"""Retiring list segments' superseded shards and manifests (publish/list_retention.py).

Against moto's S3 and the real publisher: the live manifest, the newest ``keep`` and any
superseded less than ``grace`` ago keep their objects; everything else older than ``grace``
is tagged for the lifecycle; an object that becomes live again is put again untagged (warm
and cold publishers); a deleted list's objects go only after ``grace``.
"""

from __future__ import annotations

import os
import time
from typing import Any

import boto3
import orjson
import pytest
from chalicelib.publish.list_retention import ListRetention, is_tagged
from chalicelib.publish.publisher import Publisher, publisher_from_env

from edge_reader.bundle.lists import lists_prefix
from tests.control_plane.conftest import World
from tests.control_plane.test_list_segments import _setup


def _manifest(where: tuple[str, str, str], shards: list[str]) -> bytes:
    entries: list[Any] = [None] * 256
    for i, key in enumerate(shards):
        sha = key.rsplit("/", 1)[-1].removesuffix(".shard")
        entries[i] = {"key": key, "sha256": sha, "size": 1, "members": 1}
    return orjson.dumps({"format": 1, "project": where[0], "environment": where[1],
                         "segment": where[2], "seq": 1, "members": len(shards),
                         "shard_bits": 8, "shards": entries}, option=orjson.OPT_SORT_KEYS)


@pytest.fixture
def s3(vexil_resources: dict[str, str]) -> Any:
    return boto3.session.Session().client("s3")


def test_superseded_objects_are_tagged_after_the_grace_only(s3: Any) -> None:
    bucket = os.environ["VEXIL_BUCKET"]
    where = (f"ret{time.time_ns()}", "dev", "beta")
    prefix = lists_prefix(*where)
    a, b, c = (f"{prefix}{n * 64}.shard" for n in "abc")  # content-addressed names
    for key in (a, b, c):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    m1, m2 = f"{prefix}1.manifest", f"{prefix}2.manifest"
    s3.put_object(Bucket=bucket, Key=m1, Body=_manifest(where, [a, b]))
    time.sleep(1.1)  # S3 LastModified has one-second resolution: m2 is the newer
    s3.put_object(Bucket=bucket, Key=m2, Body=_manifest(where, [a, c]))
    now = time.time()

    def run(at: float, keep: int = 1, live: str | None = m2) -> list[str]:
        retention = ListRetention(s3, bucket, keep=keep, grace=100, clock=lambda: at)
        tagged, errors = retention.after_publish(where[0], where[1],
                                                 {"beta": live} if live else {})
        assert errors == []
        return sorted(tagged)

    assert run(now + 50) == []  # m1 superseded 50 s ago: within the grace, all kept
    assert run(now + 1000, keep=2) == []  # the newest two manifests are kept
    assert run(now + 1000) == sorted([m1, b])  # only what m1 alone named
    assert not is_tagged(s3, bucket, a)
    assert is_tagged(s3, bucket, b)
    # The list is deleted: nothing goes before the grace, everything after it.
    gone = ListRetention(s3, bucket, keep=1, grace=100, clock=lambda: now + 2000)
    tagged, errors = gone.after_publish(where[0], where[1], {})
    assert set(tagged) == {m1, b}  # tagged already (this container did not know): idempotent
    assert errors == []
    assert not is_tagged(s3, bucket, m2)
    gone.clock = lambda: now + 2200
    tagged, _ = gone.after_publish(where[0], where[1], {})
    assert sorted(tagged) == sorted([a, c, m2])


def test_an_object_live_again_is_put_again_untagged(
        world: World, vexil_resources: dict[str, str], s3: Any) -> None:
    bucket = os.environ["VEXIL_BUCKET"]
    p, members = _setup(world)
    publisher = publisher_from_env(boto3.session.Session())
    assert publisher.lists is not None
    # Everything not named by the live manifest is superseded at once.
    publisher.lists.retention = ListRetention(s3, bucket, keep=1, grace=0)
    ids = [f"user-{i}" for i in range(600)]

    def publish(batch: str, **body: list[str]) -> dict[str, Any]:
        time.sleep(1.1)  # S3's one-second LastModified: each manifest newer than the last
        assert world.api.post(members, {"batch_id": batch, **body}).status_code == 200
        outcome = publisher.publish(p, "dev")
        assert outcome.published
        assert outcome.housekeeping is not None
        assert outcome.housekeeping.errors == []
        return dict(outcome.lists["beta"].ref)

    def shards(ref: dict[str, Any]) -> set[str]:
        body = s3.get_object(Bucket=bucket, Key=ref["manifest"])["Body"].read()
        return {e["key"] for e in orjson.loads(body)["shards"] if e}

    first = shards(publish("b1", add=ids))
    (reverted,) = first - shards(publish("b2", remove=ids[:1]))  # the shard ids[0] left
    assert is_tagged(s3, bucket, reverted)  # superseded (grace 0, keep 1): tagged
    assert reverted in shards(publish("b3", add=ids[:1]))  # the same content, the same key
    assert not is_tagged(s3, bucket, reverted)  # put again: a new, untagged version
    # A cold publisher (a new container) meeting a tagged object it needs puts it again.
    publish("b4", remove=ids[:1])
    assert is_tagged(s3, bucket, reverted)
    cold: Publisher = publisher_from_env(boto3.session.Session())
    assert cold.lists is not None
    cold.lists.retention = ListRetention(s3, bucket, keep=1, grace=0)
    time.sleep(1.1)
    assert world.api.post(members, {"batch_id": "b5", "add": ids[:1]}).status_code == 200
    live = shards(dict(cold.publish(p, "dev").lists["beta"].ref))
    assert reverted in live
    for key in live:
        assert not is_tagged(s3, bucket, key), key
