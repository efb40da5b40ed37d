"""What moto kept forever is bounded as AWS bounds it, without losing a record a reader needs.

The launcher runs in its own process with the bounds shortened by environment variables
(iterators live 3 s, stream records 5 s, maintenance every 0.2 s) so the rules can be watched;
the waits are longer than those lifetimes, never shorter (a slow machine only waits more).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.devstack.launcher import Launcher
from vexil.stream_worker import StreamWorker

TABLE = "bounds-test"
SHORT = {"VEXIL_EMULATOR_ITERATOR_TTL": "3", "VEXIL_EMULATOR_STREAM_RETENTION": "5",
         "VEXIL_EMULATOR_MAINTAIN_EVERY": "0.2"}


@pytest.fixture
def launcher(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Launcher]:
    env = {**SHORT, **getattr(request, "param", {})}
    running = Launcher(tmp_path / "moto.state", env=env).wait_ready()
    running.client("dynamodb").create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    try:
        yield running
    finally:
        running.stop()


def _put(launcher: Launcher, *keys: str) -> None:
    for key in keys:
        launcher.client("dynamodb").put_item(TableName=TABLE, Item={"pk": {"S": key}})


def _shard(launcher: Launcher) -> tuple[Any, str, str]:
    streams = launcher.client("dynamodbstreams")
    arn = streams.list_streams(TableName=TABLE)["Streams"][0]["StreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    return streams, arn, shard


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_shard_iterators_expire_after_their_lifetime(launcher: Launcher) -> None:
    _put(launcher, "a")
    streams, arn, shard = _shard(launcher)
    old = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                     ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    nxt = streams.get_records(ShardIterator=old)["NextShardIterator"]
    assert launcher.census()["shard_iterators"] >= 2
    time.sleep(3.5)
    _put(launcher, "b")  # any request lets the launcher prune between requests
    assert launcher.census()["shard_iterators"] == 0
    assert launcher.census()["maintained"]["iterators_expired"] >= 2
    for iterator in (old, nxt):
        with pytest.raises(ClientError) as caught:
            streams.get_records(ShardIterator=iterator)
        assert _code(caught) == "ExpiredIteratorException"
    # A fresh iterator still reads the stream.
    fresh = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                       ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    assert streams.get_records(ShardIterator=fresh)["Records"]


class Capture:
    """A publisher stand-in: notes every record's key and sequence number, all succeed."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    def __call__(self, event: Mapping[str, Any], _context: Any) -> Mapping[str, Any]:
        for record in event["Records"]:
            ddb = record["dynamodb"]
            self.seen.append((ddb["Keys"]["pk"]["S"], int(ddb["SequenceNumber"])))
        return {"batchItemFailures": []}


def _worker(launcher: Launcher, state_dir: Path, handler: Capture,
            monkeypatch: pytest.MonkeyPatch) -> StreamWorker:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1",
                        "AWS_ENDPOINT_URL": launcher.url}.items():
        monkeypatch.setenv(name, value)
    return StreamWorker(state_dir=state_dir, table=TABLE, handler=handler,
                        session=boto3.session.Session(), poll_interval=0.05)


def test_trimming_keeps_what_the_stream_worker_still_needs(
    launcher: Launcher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    capture = Capture()
    _put(launcher, "old-1", "old-2", "old-3")
    _worker(launcher, tmp_path / "w", capture, monkeypatch).run(once=True)
    assert [k for k, _ in capture.seen] == ["old-1", "old-2", "old-3"]

    time.sleep(5.5)  # past the 5 s retention
    _put(launcher, "new-1", "new-2")
    tables = launcher.census()["tables"]
    assert tables[TABLE]["stream_records"] == 2  # the three old ones were trimmed
    assert launcher.census()["maintained"]["stream_records_trimmed"] == 3

    # The same worker (a new process would read the same checkpoint) gets exactly the new
    # records, numbered on from the old ones: nothing lost, nothing twice.
    _worker(launcher, tmp_path / "w", capture, monkeypatch).run(once=True)
    assert [k for k, _ in capture.seen] == ["old-1", "old-2", "old-3", "new-1", "new-2"]
    numbers = [n for _, n in capture.seen]
    assert numbers == list(range(numbers[0], numbers[0] + 5))

    # Below the trim horizon DynamoDB Streams answers TrimmedDataAccessException.
    streams, arn, shard = _shard(launcher)
    trimmed = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                         ShardIteratorType="AT_SEQUENCE_NUMBER",
                                         SequenceNumber=str(numbers[0]))["ShardIterator"]
    with pytest.raises(ClientError) as caught:
        streams.get_records(ShardIterator=trimmed)
    assert _code(caught) == "TrimmedDataAccessException"


@pytest.mark.parametrize("launcher", [{"VEXIL_EMULATOR_STREAM_RETENTION": "600"}],
                         indirect=True)
def test_records_younger_than_the_retention_stay(launcher: Launcher) -> None:
    _put(launcher, "a", "b")
    time.sleep(0.5)  # several maintenance runs
    _put(launcher, "c")
    assert launcher.census()["tables"][TABLE]["stream_records"] == 3
    assert launcher.census()["maintained"]["stream_records_trimmed"] == 0
