"""Racing publishers never make a pointer go back.

moto_server's conditional PutObject is a check-then-set without a lock, so it is not a valid
oracle for thread races (docs: DESIGN "moto quirks"). The threaded test therefore runs the
real Publisher/BundleStore against an in-process S3 stand-in whose IfMatch/IfNoneMatch check
is atomic, as S3's is; KMS is still moto's. The deterministic interleaving test uses moto.
"""

from __future__ import annotations

import hashlib
import io
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from chalicelib.publish.publisher import Publisher
from chalicelib.publish.snapshot import EnvironmentSnapshot
from chalicelib.publish.store import BundleStore

from edge_reader.bundle import decode_pointer
from edge_reader.bundle.esdk import EnvelopeCache
from tests.publisher.conftest import Bucket
from tests.publisher.tablekit import TableKit, boolean_flag, unique


@dataclass
class AtomicS3:
    """The slice of S3 the store uses, with atomic conditional puts and a pointer history."""

    objects: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    history: dict[str, list[int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def _jitter() -> None:
        time.sleep(random.random() / 500)  # shuffles interleavings; asserts nothing on time

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        self._jitter()
        with self.lock:
            if Key not in self.objects:
                raise ClientError({"Error": {"Code": "NoSuchKey", "Message": Key}}, "GetObject")
            body, etag = self.objects[Key]
        return {"Body": io.BytesIO(body), "ETag": etag}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **kw: Any) -> dict[str, Any]:
        self._jitter()
        with self.lock:
            existing = self.objects.get(Key)
            if "IfMatch" in kw and (existing is None or existing[1] != kw["IfMatch"]):
                raise ClientError({"Error": {"Code": "PreconditionFailed", "Message": ""}},
                                  "PutObject")
            if kw.get("IfNoneMatch") == "*" and existing is not None:
                raise ClientError({"Error": {"Code": "PreconditionFailed", "Message": ""}},
                                  "PutObject")
            etag = '"' + hashlib.md5(Body + Key.encode(), usedforsecurity=False).hexdigest() + '"'
            self.objects[Key] = (Body, etag)
            if Key.endswith("current.json"):
                self.history.setdefault(Key, []).append(decode_pointer(Body).revision)
        return {"ETag": etag}


class FixedReader:
    """A snapshot reader that always returns one (possibly stale) snapshot; the table
    itself is at ``table_revision`` (what the publisher checks a higher pointer against)."""

    def __init__(self, snapshot: EnvironmentSnapshot, table_revision: int) -> None:
        self.snapshot = snapshot
        self.table_revision = table_revision

    def read(self, project: str, environment: str) -> EnvironmentSnapshot:
        return self.snapshot

    def revision(self, project: str, environment: str) -> int:
        return self.table_revision


def _snapshot(project: str, revision: int) -> EnvironmentSnapshot:
    d, c = boolean_flag()
    return EnvironmentSnapshot(
        project=project, environment="prod", revision=revision,
        updated_at=f"2026-11-24T06:00:{revision:02d}.000Z", audit_head="",
        flags={f"f{revision}": d | c | {"version": revision}},
    )


def test_threaded_publishers_never_regress_a_pointer(publisher: Publisher) -> None:
    s3 = AtomicS3()
    store = BundleStore(bucket="b", s3=s3)
    revisions = [3, 4, 5, 6]
    for _round in range(8):
        project = unique("race")
        publishers = [
            Publisher(reader=FixedReader(_snapshot(project, r), max(revisions)),  # type: ignore[arg-type]
                      store=store,
                      envelope=EnvelopeCache(publisher.envelope.key_store))
            for r in revisions
        ]
        random.shuffle(publishers)
        barrier = threading.Barrier(len(publishers))
        errors: list[BaseException] = []

        def run(p: Publisher, project: str = project,
                barrier: threading.Barrier = barrier, errors: list[BaseException] = errors
                ) -> None:
            try:
                barrier.wait()
                p.publish(project, "prod")
            except BaseException as exc:  # surfaced by the assert below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(p,)) for p in publishers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        for scope_key in (f"bundles/{project}/prod/current.json",
                          f"bundles/{project}/prod/scopes/client/current.json"):
            history = s3.history[scope_key]
            assert history == sorted(history), history  # never went back
            assert len(set(history)) == len(history)  # never rewrote the same revision
            body, _ = s3.objects[scope_key]
            assert decode_pointer(body).revision == max(revisions)


def test_a_stale_publisher_that_loses_the_pointer_race_gives_way(
    kit: TableKit, publisher: Publisher, bucket: Bucket, boto_session: Any
) -> None:
    from chalicelib.publish.publisher import publisher_from_env

    kit.env(revision=1)
    kit.flag("a")
    publisher.publish(kit.project, "prod")
    kit.bump()  # revision 2: the stale publisher snapshots this one
    newer = publisher_from_env(boto_session)
    original_put = publisher.store.put_bundle
    interleaved: list[int] = []

    def put_then_let_the_newer_one_win(key: str, body: bytes) -> None:
        original_put(key, body)
        if not interleaved:
            interleaved.append(kit.bump())  # revision 3 lands and is fully published
            newer.publish(kit.project, "prod")

    publisher.store.put_bundle = put_then_let_the_newer_one_win  # type: ignore[method-assign]
    outcome = publisher.publish(kit.project, "prod")
    assert interleaved == [3]
    assert {s.status for s in outcome.scopes} == {"superseded"}
    pointer = bucket.pointer(kit.project)
    assert pointer is not None
    assert pointer.revision == 3
