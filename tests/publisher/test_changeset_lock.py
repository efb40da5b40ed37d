"""A changeset's lock on the environment item: the publisher never publishes a half-written
environment, and a snapshot that read across a whole rolled-back changeset starts over."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from chalicelib import keys
from chalicelib.publish.publisher import Publisher
from chalicelib.publish.snapshot import SnapshotLocked, SnapshotReader

from tests.publisher.conftest import Bucket
from tests.publisher.tablekit import TableKit


def _set(kit: TableKit, expression: str, **values: Any) -> None:
    kit.ddb.update_item(
        TableName=kit.table, UpdateExpression=expression,
        Key={"pk": {"S": keys.project_pk(kit.project)}, "sk": {"S": keys.environment_sk("prod")}},
        ExpressionAttributeValues={f":{k}": v for k, v in values.items()} or None)


def _lock(kit: TableKit) -> None:
    _set(kit, "SET cs_lock = :k, cs_lock_until = :u, cs_seq = if_not_exists(cs_seq, :z) + :one",
         k={"S": "cs-0000000000001-00000000.ab"}, u={"N": "1"}, z={"N": "0"}, one={"N": "1"})


def _unlock(kit: TableKit) -> None:
    _set(kit, "REMOVE cs_lock, cs_lock_until SET cs_seq = cs_seq + :one", one={"N": "1"})


def test_a_locked_environment_is_not_published(kit: TableKit, publisher: Publisher,
                                               bucket: Bucket) -> None:
    kit.env(revision=1)
    kit.flag("a")
    _lock(kit)
    outcome = publisher.publish(kit.project, "prod")
    assert outcome.revision is None
    assert outcome.published == []
    assert bucket.pointer(kit.project) is None
    _unlock(kit)
    assert publisher.publish(kit.project, "prod").published  # the end of the lock publishes


class LockingDynamo:
    """Wraps the real client: before the snapshot's first query a changeset locks the
    environment and writes flag ``half``; after its second query the changeset is rolled back
    (``half`` removed, lock released). Both queries saw ``half``; the revision never moved,
    only ``cs_seq``. (The snapshot runs its two queries on two threads: one lock orders them.)
    """

    def __init__(self, real: Any, kit: TableKit) -> None:
        self.real, self.kit, self.calls = real, kit, 0
        self.lock = threading.Lock()

    def get_item(self, **kw: Any) -> Any:
        return self.real.get_item(**kw)

    def query(self, **kw: Any) -> Any:
        with self.lock:
            self.calls += 1
            if self.calls == 1:
                _lock(self.kit)
                self.kit.flag("half")
            out = self.real.query(**kw)
            if self.calls == 2:
                for pk, sk in ((keys.project_pk(self.kit.project),
                                keys.flag_definition_sk("half")),
                               (keys.env_pk(self.kit.project, "prod"),
                                keys.flag_config_sk("half"))):
                    self.real.delete_item(TableName=self.kit.table,
                                          Key={"pk": {"S": pk}, "sk": {"S": sk}})
                _unlock(self.kit)
            return out


def test_a_snapshot_across_a_rolled_back_changeset_starts_over(kit: TableKit) -> None:
    kit.env(revision=1)
    kit.flag("a")
    reader = SnapshotReader(table=kit.table, dynamodb=LockingDynamo(kit.ddb, kit), kms=kit.kms)
    snapshot = reader.read(kit.project, "prod")
    assert snapshot is not None
    # The revision never moved, but cs_seq did: the first attempt (which saw "half", a state
    # no reader may see) was thrown away; the second read the state without it.
    assert snapshot.revision == 1
    assert set(snapshot.flags) == {"a"}
    plain = SnapshotReader(table=kit.table, dynamodb=kit.ddb, kms=kit.kms)
    _lock(kit)
    with pytest.raises(SnapshotLocked):
        plain.read(kit.project, "prod")
