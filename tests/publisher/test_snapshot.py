"""The consistent snapshot: retry when the revision moves, what is and is not read."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from chalicelib import keys
from chalicelib.publish.snapshot import SnapshotError, SnapshotReader

from tests.publisher.tablekit import TableKit


class BumpingDynamo:
    """Wraps the real client; during the first ``n`` queries a write bumps the revision."""

    def __init__(self, real: Any, kit: TableKit, n: int) -> None:
        self.real = real
        self.kit = kit
        self.remaining = n

    def get_item(self, **kw: Any) -> Any:
        return self.real.get_item(**kw)

    def query(self, **kw: Any) -> Any:
        if self.remaining > 0:
            self.remaining -= 1
            self.kit.flag(f"late{self.remaining}")
            self.kit.bump()  # a control-plane transaction lands mid-snapshot
        return self.real.query(**kw)


def _reader(kit: TableKit, dynamodb: Any, **kw: Any) -> SnapshotReader:
    return SnapshotReader(table=kit.table, dynamodb=dynamodb, kms=kit.kms, **kw)


def test_a_write_during_the_reads_restarts_the_snapshot(kit: TableKit) -> None:
    kit.env(revision=1)
    kit.flag("a")
    snapshot = _reader(kit, BumpingDynamo(kit.ddb, kit, 1)).read(kit.project, "prod")
    assert snapshot is not None
    assert snapshot.revision == 2
    assert set(snapshot.flags) == {"a", "late0"}  # the state of revision 2, complete


def test_a_revision_that_keeps_moving_gives_up_loudly(kit: TableKit) -> None:
    kit.env(revision=1)
    reader = _reader(kit, BumpingDynamo(kit.ddb, kit, 100), max_attempts=3)
    with pytest.raises(SnapshotError, match="kept moving"):
        reader.read(kit.project, "prod")


def test_only_bundle_items_are_read(kit: TableKit) -> None:
    kit.env(revision=1)
    kit.flag("a")
    kit.ddb.put_item(TableName=kit.table, Item={
        "pk": {"S": keys.env_pk(kit.project, "prod")},
        "sk": {"S": keys.change_request_sk("cr1")}, "body": {"S": "not json at all"}})
    kit.ddb.put_item(TableName=kit.table, Item={  # a configuration without a definition
        "pk": {"S": keys.env_pk(kit.project, "prod")}, "sk": {"S": keys.flag_config_sk("orphan")},
        "body": {"S": orjson.dumps({"enabled": True}).decode()}, "version": {"N": "1"}})
    snapshot = _reader(kit, kit.ddb).read(kit.project, "prod")
    assert snapshot is not None
    assert set(snapshot.flags) == {"a"}
    assert snapshot.flags["a"]["version"] == 1
    assert snapshot.flags["a"]["kind"] == "boolean"  # definition merged with configuration


def test_a_malformed_sdk_key_record_is_named(kit: TableKit) -> None:
    kit.env(revision=1)
    kit.ddb.put_item(TableName=kit.table, Item={
        "pk": {"S": keys.env_pk(kit.project, "prod")}, "sk": {"S": keys.sdk_key_sk("abcdefghij")},
        "key_id": {"S": "abcdefghij"}, "kind": {"S": "admin"}, "wrapped_secret": {"B": b"x"}})
    with pytest.raises(SnapshotError, match=r"sdk_keys\.abcdefghij\.kind"):
        _reader(kit, kit.ddb).read(kit.project, "prod")


def test_a_missing_environment_is_none(kit: TableKit) -> None:
    assert _reader(kit, kit.ddb).read(kit.project, "prod") is None
