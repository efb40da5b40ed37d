"""The stream handler with real-shaped events captured from moto (tests/events/)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from chalicelib.publish.publisher import Publisher, PublishError, PublishOutcome
from chalicelib.publish.stream import environments_in, handle_stream_batch

from tests.publisher.conftest import Bucket
from tests.publisher.tablekit import TableKit

EVENTS = Path(__file__).resolve().parent.parent / "events"


def captured(project: str = "shop") -> dict[str, Any]:
    """The captured batch, retargeted from project ``shop`` to ``project``."""
    text = (EVENTS / "stream_batch.json").read_text()
    text = text.replace("#shop", f"#{project}").replace('"shop"', f'"{project}"')
    event: dict[str, Any] = orjson.loads(text)
    return event


def env_records(event: dict[str, Any], sk: str = "ENV#prod") -> list[dict[str, Any]]:
    return [r for r in event["Records"] if r["dynamodb"]["Keys"]["sk"]["S"] == sk]


def spy(publisher: Publisher, monkeypatch: pytest.MonkeyPatch,
        fail: Callable[[str, str], bool] = lambda p, e: False) -> list[tuple[str, str]]:
    """Record publish calls; raise PublishError for pairs where ``fail`` says so."""
    calls: list[tuple[str, str]] = []
    real = publisher.publish

    def publish(project: str, environment: str) -> PublishOutcome:
        calls.append((project, environment))
        if fail(project, environment):
            raise PublishError(project, environment, "injected", "boom")
        return real(project, environment)

    monkeypatch.setattr(publisher, "publish", publish)
    return calls


def test_the_captured_batch_collapses_to_environment_pairs() -> None:
    event = captured()
    pairs = environments_in(event)
    seqs = {r["dynamodb"]["SequenceNumber"]: r for r in event["Records"]}
    assert set(pairs) == {("shop", "prod"), ("shop", "dev")}
    assert pairs[("shop", "prod")] == [r["dynamodb"]["SequenceNumber"]
                                       for r in env_records(event)]
    assert len(pairs[("shop", "dev")]) == 2  # moto's duplicate INSERT, kept as records
    assert all(seqs[s]["eventSourceARN"].startswith("arn:aws:dynamodb:") for s in seqs)


def test_a_batch_publishes_each_environment_once(
    kit: TableKit, publisher: Publisher, bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    kit.env(revision=2)
    kit.flag("checkout")
    calls = spy(publisher, monkeypatch)
    result = handle_stream_batch(captured(kit.project), publisher)
    assert result == {"batchItemFailures": []}
    assert sorted(calls) == [(kit.project, "dev"), (kit.project, "prod")]
    pointer = bucket.pointer(kit.project)
    assert pointer is not None
    assert pointer.revision == 2
    assert bucket.pointer(kit.project, "dev") is None  # no such environment item: nothing


def test_duplicate_and_replayed_batches_publish_nothing_new(
    kit: TableKit, publisher: Publisher, bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    kit.env(revision=2)
    kit.flag("checkout")
    event = captured(kit.project)
    modify = env_records(event)[1]
    duplicated = {"Records": [modify, copy.deepcopy(modify), copy.deepcopy(modify)]}
    calls = spy(publisher, monkeypatch)
    assert handle_stream_batch(duplicated, publisher) == {"batchItemFailures": []}
    assert calls == [(kit.project, "prod")]
    first = bucket.pointer(kit.project)
    puts: list[str] = []
    publisher.store.s3.meta.events.register("before-call.s3.PutObject",
                                            lambda **_: puts.append("put"))
    assert handle_stream_batch(duplicated, publisher) == {"batchItemFailures": []}  # replay
    assert handle_stream_batch(event, publisher) == {"batchItemFailures": []}
    assert puts == []
    assert bucket.pointer(kit.project) == first


def test_a_no_op_modify_publishes_nothing(
    kit: TableKit, publisher: Publisher, bucket: Bucket
) -> None:
    kit.env(revision=2)
    kit.flag("checkout")
    event = captured(kit.project)
    handle_stream_batch(event, publisher)
    no_op = env_records(event)[3]  # audit-only change: OldImage.revision == NewImage.revision
    assert (no_op["dynamodb"]["OldImage"]["revision"]
            == no_op["dynamodb"]["NewImage"]["revision"])
    kit.env(revision=2, audit_head="cd" * 32)  # the same kind of write, for real
    puts: list[str] = []
    publisher.store.s3.meta.events.register("before-call.s3.PutObject",
                                            lambda **_: puts.append("put"))
    assert handle_stream_batch({"Records": [no_op]}, publisher) == {"batchItemFailures": []}
    assert puts == []


def test_out_of_order_records_publish_the_latest_state(
    kit: TableKit, publisher: Publisher, bucket: Bucket
) -> None:
    kit.env(revision=1)
    kit.flag("checkout")
    kit.bump()
    kit.bump()  # table at revision 3
    event = captured(kit.project)
    reversed_event = {"Records": list(reversed(event["Records"]))}
    assert handle_stream_batch(reversed_event, publisher) == {"batchItemFailures": []}
    pointer = bucket.pointer(kit.project)
    assert pointer is not None
    assert pointer.revision == 3
    # An old record delivered late (its NewImage says revision 1) changes nothing.
    old = env_records(event)[0]
    assert handle_stream_batch({"Records": [old]}, publisher) == {"batchItemFailures": []}
    pointer = bucket.pointer(kit.project)
    assert pointer is not None
    assert pointer.revision == 3


def test_a_failed_environment_reports_only_its_records(
    kit: TableKit, publisher: Publisher, bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    kit.env("prod", revision=2)
    kit.flag("checkout")
    event = captured(kit.project)
    spy(publisher, monkeypatch, fail=lambda p, e: e == "dev")
    result = handle_stream_batch(event, publisher)
    dev = [r["dynamodb"]["SequenceNumber"] for r in env_records(event, "ENV#dev")]
    assert result == {"batchItemFailures": [{"itemIdentifier": s} for s in dev]}
    pointer = bucket.pointer(kit.project)
    assert pointer is not None
    assert pointer.revision == 2  # prod still went live


def test_an_unexpected_error_is_reported_not_raised(
    kit: TableKit, publisher: Publisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(project: str, environment: str) -> PublishOutcome:
        raise RuntimeError("bug")

    monkeypatch.setattr(publisher, "publish", explode)
    event = captured(kit.project)
    result = handle_stream_batch(event, publisher)
    reported = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    expected = {r["dynamodb"]["SequenceNumber"] for r in event["Records"]
                if r["dynamodb"]["Keys"]["sk"]["S"].startswith("ENV#")}
    assert reported == expected


def test_malformed_and_foreign_records_are_ignored(publisher: Publisher,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    calls = spy(publisher, monkeypatch)
    event = {"Records": [
        {"eventName": "MODIFY"},
        {"eventName": "MODIFY", "dynamodb": {"SequenceNumber": "1"}},
        {"eventName": "MODIFY", "dynamodb": {"SequenceNumber": "2",
                                             "Keys": {"pk": {"N": "1"}, "sk": {"S": "x"}}}},
        {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "3", "Keys": {
            "pk": {"S": "T#abc"}, "sk": {"S": "TOKEN"}}}},
    ]}
    assert handle_stream_batch(event, publisher) == {"batchItemFailures": []}
    assert calls == []
