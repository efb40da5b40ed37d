"""The local stream worker: Lambda-shaped events, checkpoints, retries, restarts, SIGTERM.

Each test uses its own table (a private stream), so records written by other tests never
reach these workers.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from chalicelib.publish.publisher import Publisher
from chalicelib.publish.snapshot import SnapshotReader
from chalicelib.publish.store import BundleStore
from chalicelib.publish.stream import handle_stream_batch

from edge_reader.bundle.esdk import EnvelopeCache
from edge_reader.bundle.hierarchy import BranchKeyStore
from tests.publisher.conftest import Bucket
from tests.publisher.tablekit import TableKit
from vexil.devstack import procs
from vexil.resources import _ensure_table, load_definition
from vexil.stream_worker import Checkpoint, StreamWorker, lambda_record


@pytest.fixture
def private_table(boto_session: Any) -> str:
    """A fresh table with its own stream, same definition as the real one."""
    name = f"worker-{uuid.uuid4().hex[:10]}"
    _ensure_table(boto_session.client("dynamodb"), name, load_definition()["table"])
    return name


class Recorder:
    """A handler that records deliveries and fails chosen sequence numbers once each."""

    def __init__(self, fail_once: set[str] | None = None, raise_once: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.events: list[Mapping[str, Any]] = []
        self.fail_once = set(fail_once or ())
        self.raise_once = raise_once

    def __call__(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        seqs = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        self.batches.append(seqs)
        self.events.append(event)
        if self.raise_once:
            self.raise_once = False
            raise RuntimeError("handler crashed")
        failed = [s for s in seqs if s in self.fail_once]
        self.fail_once -= set(failed)
        return {"batchItemFailures": [{"itemIdentifier": s} for s in failed]}

    @property
    def delivered(self) -> list[str]:
        return [s for batch in self.batches for s in batch]


def _worker(tmp_path: Path, table: str, handler: Any, boto_session: Any) -> StreamWorker:
    return StreamWorker(state_dir=tmp_path, table=table, handler=handler,
                        session=boto_session, poll_interval=0.01, backoff_base=0.01,
                        backoff_max=0.05)


def _write_envs(boto_session: Any, table: str, project: str, n: int) -> None:
    kit = TableKit(table=table, project=project, ddb=boto_session.client("dynamodb"),
                   kms=boto_session.client("kms"))
    for i in range(1, n + 1):
        kit.env(revision=i)


def test_events_are_lambda_shaped(private_table: str, tmp_path: Path,
                                  boto_session: Any) -> None:
    kit = TableKit(table=private_table, ddb=boto_session.client("dynamodb"),
                   kms=boto_session.client("kms"))
    kit.env(revision=1)
    rec = Recorder()
    _worker(tmp_path, private_table, rec, boto_session).run(once=True)
    record = rec.events[0]["Records"][0]
    assert record["eventSourceARN"].startswith("arn:aws:dynamodb:")
    assert "/stream/" in record["eventSourceARN"]
    assert record["eventSource"] == "aws:dynamodb"
    assert record["eventName"] == "INSERT"
    ddb = record["dynamodb"]
    assert isinstance(ddb["ApproximateCreationDateTime"], float)
    assert ddb["Keys"] == {"pk": {"S": f"P#{kit.project}"}, "sk": {"S": "ENV#prod"}}
    assert ddb["NewImage"]["revision"] == {"N": "1"}
    assert ddb["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    orjson.dumps(rec.events[0])  # JSON-serialisable, like a real event


def test_binary_and_dates_convert_like_lambda() -> None:
    out = lambda_record({"eventID": "1", "eventName": "INSERT", "dynamodb": {
        "ApproximateCreationDateTime": datetime(2026, 1, 1, tzinfo=UTC),
        "Keys": {"pk": {"S": "a"}}, "NewImage": {"b": {"B": b"\x00\x01"},
                                                  "m": {"M": {"bs": {"BS": [b"x"]}}}},
        "SequenceNumber": "5"}}, "arn:x")
    assert out["dynamodb"]["NewImage"]["b"] == {"B": base64.b64encode(b"\x00\x01").decode()}
    assert out["dynamodb"]["NewImage"]["m"]["M"]["bs"] == {"BS": ["eA=="]}
    assert out["dynamodb"]["ApproximateCreationDateTime"] == 1767225600.0
    assert out["eventSourceARN"] == "arn:x"


def test_processes_checkpoints_and_restarts_without_reprocessing(
    private_table: str, tmp_path: Path, boto_session: Any
) -> None:
    _write_envs(boto_session, private_table, "wk", 3)
    first = Recorder()
    _worker(tmp_path, private_table, first, boto_session).run(once=True)
    assert len(first.delivered) == 3
    checkpoint = Checkpoint.load(tmp_path / "checkpoint.json")
    assert list(checkpoint.shards.values()) == [first.delivered[-1]]

    again = Recorder()
    _worker(tmp_path, private_table, again, boto_session).run(once=True)
    assert again.delivered == []  # restart: nothing handled twice

    _write_envs(boto_session, private_table, "wk2", 1)
    more = Recorder()
    _worker(tmp_path, private_table, more, boto_session).run(once=True)
    assert len(more.delivered) == 1
    assert int(more.delivered[0]) > int(first.delivered[-1])


def test_failed_records_are_retried_and_the_checkpoint_stops_before_them(
    private_table: str, tmp_path: Path, boto_session: Any
) -> None:
    _write_envs(boto_session, private_table, "wf", 3)
    probe = Recorder()
    _worker(tmp_path / "probe", private_table, probe, boto_session).run(once=True)
    s1, s2, s3 = probe.delivered
    seen_checkpoints: list[dict[str, str]] = []

    class Watching(Recorder):
        def __call__(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
            seen_checkpoints.append(Checkpoint.load(tmp_path / "checkpoint.json").shards)
            return super().__call__(event, context)

    rec = Watching(fail_once={s2})
    _worker(tmp_path, private_table, rec, boto_session).run(once=True)
    assert rec.batches == [[s1, s2, s3], [s2, s3]]
    assert list(seen_checkpoints[1].values()) == [s1]  # only past what succeeded
    assert list(Checkpoint.load(tmp_path / "checkpoint.json").shards.values()) == [s3]


def test_a_crash_loses_nothing(private_table: str, tmp_path: Path, boto_session: Any) -> None:
    _write_envs(boto_session, private_table, "wc", 2)
    crashing = Recorder(raise_once=True)
    worker = _worker(tmp_path, private_table, crashing, boto_session)
    worker.poll_once()  # the handler raises: the whole batch counts as failed
    assert len(crashing.delivered) == 2
    assert Checkpoint.load(tmp_path / "checkpoint.json").shards == {}
    # "restart": a new process reads the checkpoint and gets both records again
    fresh = Recorder()
    _worker(tmp_path, private_table, fresh, boto_session).run(once=True)
    assert fresh.delivered == crashing.delivered


def test_end_to_end_with_the_real_handler(
    private_table: str, tmp_path: Path, boto_session: Any, bucket: Bucket,
    vexil_resources: dict[str, str]
) -> None:
    kms = boto_session.client("kms")
    publisher = Publisher(
        reader=SnapshotReader(table=private_table, dynamodb=boto_session.client("dynamodb"),
                              kms=kms),
        store=BundleStore(bucket=vexil_resources["VEXIL_BUCKET"], s3=boto_session.client("s3")),
        envelope=EnvelopeCache(BranchKeyStore(
            table=vexil_resources["VEXIL_KEY_STORE_TABLE"],
            kms_key_arn=vexil_resources["VEXIL_KMS_KEY_ID"],
            dynamodb_client=boto_session.client("dynamodb"), kms_client=kms)),
    )
    kit = TableKit(table=private_table, ddb=boto_session.client("dynamodb"), kms=kms)
    kit.env(revision=1)
    kit.flag("a")
    kit.bump()

    def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        return handle_stream_batch(event, publisher)

    _worker(tmp_path, private_table, handler, boto_session).run(once=True)
    pointer = bucket.pointer(kit.project)
    assert pointer is not None
    assert pointer.revision == 2


def test_sigterm_stops_the_process_cleanly(private_table: str, tmp_path: Path) -> None:
    env = {**os.environ, "VEXIL_TABLE": private_table,
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vexil.stream_worker", "--state-dir", str(tmp_path),
         "--poll-interval", "0.05"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "checkpoint.json").exists():
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "worker never reached its stream"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert proc.stdout is not None
        assert "stream worker stopped" in proc.stdout.read()
    finally:
        procs.stop(proc)


def test_the_worker_runs_the_heartbeat_at_start_and_on_its_interval(
    private_table: str, tmp_path: Path, boto_session: Any
) -> None:
    beats: list[float] = []
    worker = StreamWorker(state_dir=tmp_path, table=private_table, handler=Recorder(),
                          session=boto_session, poll_interval=0.01,
                          heartbeat=lambda: beats.append(time.monotonic()),
                          heartbeat_interval=3600)
    assert worker.beat_if_due()  # due at once: a restarted stack renews straight away
    assert not worker.beat_if_due()  # then not before the interval
    assert len(beats) == 1
    # A failing heartbeat is logged, never stops the worker.
    failing = StreamWorker(state_dir=tmp_path / "f", table=private_table, handler=Recorder(),
                           session=boto_session, heartbeat=lambda: 1 / 0, heartbeat_interval=5)
    assert failing.beat_if_due()
    # In the polling loop, beats keep coming while the stream is idle.
    looping = StreamWorker(state_dir=tmp_path / "l", table=private_table, handler=Recorder(),
                           session=boto_session, poll_interval=0.01,
                           heartbeat=lambda: beats.append(time.monotonic()),
                           heartbeat_interval=0.05)
    thread = threading.Thread(target=looping.run)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while len(beats) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        looping.stop()
        thread.join(10)
    assert not thread.is_alive()
    assert len(beats) >= 3
