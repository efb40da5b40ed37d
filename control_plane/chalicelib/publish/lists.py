"""Publish stage for list segments: member batches → encrypted shards + manifest on S3.

Runs inside the publisher's prepare step, before anything is signed or any pointer moves
(a failure is ``PublishError(stage="lists:<segment>")``, nothing made live). For each list
segment of the snapshot: fold its batches up to the snapshot's ``seq`` into members (kept
per container, so the next publish applies only the new batches), split them into 256
shards by hash prefix, encrypt each (deterministically: an unchanged shard is the same
object), put only the objects not already in S3, then the manifest. The result is the
``list`` reference the server documents carry (edge_reader/engine/lists.py).

Objects are immutable and content-addressed; writing one twice is harmless, so a crash
between puts is repaired by the next publish. After a publish, :meth:`ListPublisher.retire`
tags superseded shards and manifests for the lifecycle (``list_retention.py``); an object
referenced again while it carries that tag is put again (a new untagged version), so what a
manifest names is never expiring.
"""

from __future__ import annotations

import hashlib
import threading
from array import array
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from chalicelib import keys, list_record
from chalicelib.list_record import ListState
from chalicelib.publish.list_retention import DEFAULT_GRACE_SECONDS, ListRetention, is_tagged
from chalicelib.repository import decode_item
from edge_reader.bundle.lists import (
    Manifest,
    ShardEntry,
    encode_manifest,
    encrypt_shard,
    lists_prefix,
    manifest_object_key,
    shard_object_key,
)
from edge_reader.engine.lists import SHARD_COUNT, encode_secret, shard_of

SHARD_CONTENT_TYPE = "application/octet-stream"
OBJECT_CACHE_CONTROL = "public, max-age=31536000, immutable"
PUT_PARALLELISM = 10  # botocore keeps 10 connections per client by default: no more


@dataclass(slots=True)
class _Held:
    """What a container remembers of one list between publishes: members per shard, the
    shards' published entries, and which shards the batches since then touched."""

    seq: int
    members: list[set[int]] = field(default_factory=lambda: [set() for _ in range(SHARD_COUNT)])
    entries: list[ShardEntry | None] = field(default_factory=lambda: [None] * SHARD_COUNT)
    touched: set[int] = field(default_factory=lambda: set(range(SHARD_COUNT)))
    ref: dict[str, Any] | None = None

    @property
    def count(self) -> int:
        return sum(len(m) for m in self.members)

    def apply(self, item: dict[str, Any]) -> None:
        """Apply one batch item, remembering the shards it touched."""
        for h in list_record.unpack(item.get("adds")):
            self.members[shard_of(h)].add(h)
            self.touched.add(shard_of(h))
        for h in list_record.unpack(item.get("removes")):
            self.members[shard_of(h)].discard(h)
            self.touched.add(shard_of(h))


@dataclass(frozen=True, slots=True)
class ListPublish:
    """One list's outcome: its reference and how many objects this publish wrote."""

    segment: str
    ref: dict[str, Any]
    shards_written: int
    members: int


class ListPublisher:
    """Turns list state into S3 objects; one per container (it caches members per list)."""

    def __init__(self, *, table: str, dynamodb: Any, kms: Any, s3: Any, bucket: str,
                 keep: int = 10, grace: float = DEFAULT_GRACE_SECONDS) -> None:
        """Low-level DynamoDB, KMS and S3 clients; ``bucket`` is the bundle bucket; ``keep``
        and ``grace``: what :class:`ListRetention` keeps of each list's history."""
        self.table, self.dynamodb, self.kms, self.s3, self.bucket = (
            table, dynamodb, kms, s3, bucket)
        self.retention = ListRetention(s3, bucket, keep=keep, grace=grace)
        self._held: dict[str, _Held] = {}
        self._secrets: dict[tuple[str, bytes], bytes] = {}
        self._lock = threading.Lock()

    def publish(self, project: str, environment: str, segment: str,
                state: ListState) -> ListPublish:
        """Make the list's objects exist in S3 for ``state``; return its reference."""
        with self._lock:
            secret = self._secret(project, environment, state)
            held = self._members(project, environment, state)
            if held.ref is not None:
                return ListPublish(segment, held.ref, 0, held.count)
            where = (project, environment, segment)
            # A cold container re-encrypts every shard; equal content is the same object, so
            # one listing spares re-writing what a previous container already put.
            cold = len(held.touched) == SHARD_COUNT
            existing = self._existing(lists_prefix(*where)) if cold else set()
            written = 0
            puts: list[tuple[str, bytes]] = []
            for index in sorted(held.touched):
                shard = array("Q", sorted(held.members[index]))
                if not shard:
                    held.entries[index] = None
                    continue
                body = encrypt_shard(secret, where, index, shard)
                sha = hashlib.sha256(body).hexdigest()
                entry = ShardEntry(shard_object_key(*where, sha), sha, len(body), len(shard))
                if entry.key in existing:
                    if self._tagged(entry.key):  # superseded once, live again
                        puts.append((entry.key, body))
                elif entry != held.entries[index]:
                    puts.append((entry.key, body))
                    written += 1
                held.entries[index] = entry
            self._put_all(puts)
            manifest = encode_manifest(Manifest(project, environment, segment, state.seq,
                                                held.count, tuple(held.entries)))
            sha = hashlib.sha256(manifest).hexdigest()
            key = manifest_object_key(*where, sha)
            if key not in existing or self._tagged(key):
                self._put(key, manifest)  # a fresh LastModified: when it last became live
            held.touched = set()
            held.ref = {"manifest": key, "sha256": sha, "members": held.count,
                        "seq": state.seq, "secret": encode_secret(secret)}
            return ListPublish(segment, held.ref, written, held.count)

    def retire(self, project: str, environment: str, live: dict[str, str]
               ) -> tuple[list[str], list[str]]:
        """After a publish moved the pointer: tag superseded list objects (``live``: segment
        → manifest key the bundle names). (keys tagged, errors); never raises."""
        return self.retention.after_publish(project, environment, live)

    def _tagged(self, key: str) -> bool:
        return is_tagged(self.s3, self.bucket, key)

    def _secret(self, project: str, environment: str, state: ListState) -> bytes:
        cache_key = (state.list_id, state.wrapped_secret)
        secret = self._secrets.get(cache_key)
        if secret is None:
            secret = list_record.unwrap_secret(self.kms, project, environment, state)
            self._secrets[cache_key] = secret
        return secret

    def _members(self, project: str, environment: str, state: ListState) -> _Held:
        """The members at ``state.seq``: the held fold plus newer batches, or a fresh fold."""
        held = self._held.get(state.list_id)
        if held is None or held.seq > state.seq:
            held = _Held(0)
        if held.seq < state.seq:
            for item in self._batches(project, environment, state.list_id, held.seq + 1,
                                      state.seq):
                held.apply(item)
            held.seq, held.ref = state.seq, None
        self._held[state.list_id] = held
        return held

    def _batches(self, project: str, environment: str, list_id: str, first: int,
                 last: int) -> list[dict[str, Any]]:
        """Batch items ``first..last`` in order (consistent reads; immutable items)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table, "ConsistentRead": True,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :a AND :b",
            "ExpressionAttributeValues": {
                ":pk": {"S": keys.list_batches_pk(project, environment, list_id)},
                ":a": {"S": keys.list_batch_sk(first)}, ":b": {"S": keys.list_batch_sk(last)}},
        }
        out: list[dict[str, Any]] = []
        while True:
            resp = self.dynamodb.query(**kwargs)
            out += [decode_item(raw) for raw in resp.get("Items", [])]
            if not resp.get("LastEvaluatedKey"):
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        if len(out) != last - first + 1:
            raise ValueError(f"list {list_id}: expected batches {first}..{last}, "
                             f"found {len(out)}")
        return out

    def _existing(self, prefix: str) -> set[str]:
        found: set[str] = set()
        for page in self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix):
            found.update(str(o["Key"]) for o in page.get("Contents", []))
        return found

    def _put_all(self, puts: list[tuple[str, bytes]]) -> None:
        """Put the shards in parallel: a 1,000-id delta rewrites ~250 of them, and one at a
        time costs 250 S3 round trips (5+ s on AWS). Any failure raises (the publish fails,
        nothing goes live); what was put is harmless (content-addressed, unreferenced)."""
        if len(puts) <= 1:
            for key, body in puts:
                self._put(key, body)
            return
        with ThreadPoolExecutor(min(PUT_PARALLELISM, len(puts)),
                                thread_name_prefix="vexil-shard-put") as pool:
            for _ in pool.map(lambda kb: self._put(*kb), puts):
                pass

    def _put(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body,
                           ContentType=SHARD_CONTENT_TYPE, CacheControl=OBJECT_CACHE_CONTROL)
        self.retention.forget(key)
