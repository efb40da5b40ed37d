"""Local stand-in for Lambda's DynamoDB-stream event source mapping.

``python -m vexil.stream_worker --state-dir DIR [--once]`` reads the table's stream with
boto3 ``dynamodbstreams`` from a persisted checkpoint, turns each batch into the event Lambda
would deliver (``Records`` with ``eventSourceARN`` and ``dynamodb.SequenceNumber``...), calls
the very same handler the publisher Lambda runs (``chalicelib.publish.stream.handler``) and honours
its ``batchItemFailures`` like ReportBatchItemFailures does: records before the lowest failed
sequence number are done, the rest is retried with exponential backoff.

The checkpoint (``DIR/checkpoint.json``: stream ARN + last *successful* sequence number per
shard) is written atomically (temp file, fsync, rename) and only ever past records that
succeeded, so a restart neither reprocesses finished records nor loses unfinished ones.
SIGTERM/SIGINT stop the worker between batches.

It is also the local stand-in for the heartbeat schedule (infra/heartbeat.tf): every
``--heartbeat-interval`` seconds (default ``$VEXIL_HEARTBEAT_INTERVAL`` or 900; 0 turns it
off), and once at start, it calls the publisher's heartbeat (``chalicelib.publish.stream.
handle_heartbeat``) between batches, so local pointers are re-signed before they expire.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import logging
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import orjson

from vexil.extras import requires

log = logging.getLogger("vexil.stream_worker")

Handler = Callable[[Mapping[str, Any], Any], Mapping[str, Any]]
CHECKPOINT_FILE = "checkpoint.json"
SHARD_REFRESH_SECONDS = 30.0


# chalicelib is the installed vexil-control-plane distribution: the same top-level package
# the Lambda zip carries, imported without any sys.path edit.


def default_heartbeat() -> Callable[[], object]:
    """The heartbeat the schedule runs in AWS (the publisher Lambda's own code)."""
    with requires("vexil.stream_worker"):
        from chalicelib.publish.stream import handle_heartbeat  # noqa: PLC0415 - server pkg

    return handle_heartbeat


def default_handler() -> Handler:
    """The publisher Lambda's own handler (imported from the control-plane package)."""
    with requires("vexil.stream_worker"):
        from chalicelib.publish.stream import handler  # noqa: PLC0415 - server pkg

    return handler


# --- checkpoint -------------------------------------------------------------------------


@dataclass
class Checkpoint:
    """Last successfully handled sequence number per shard of one stream."""

    stream_arn: str | None = None
    shards: dict[str, str] = field(default_factory=dict)
    finished: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> Checkpoint:
        """Read the checkpoint; a missing file is an empty checkpoint."""
        try:
            raw = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            return cls()
        return cls(
            stream_arn=raw.get("stream_arn"),
            shards=dict(raw.get("shards") or {}),
            finished=list(raw.get("finished") or []),
        )

    def save(self, path: Path) -> None:
        """Write atomically: a crash leaves either the old or the new file, never half."""
        data = orjson.dumps(
            {"stream_arn": self.stream_arn, "shards": self.shards, "finished": self.finished},
            option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2,
        )
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)


# --- Lambda-shaped events ---------------------------------------------------------------


def _lambda_attr(value: Any) -> Any:
    """boto3 AttributeValue → the JSON Lambda delivers (binary as base64 text)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if k == "B" and isinstance(v, bytes | bytearray):
                out[k] = base64.b64encode(v).decode("ascii")
            elif k == "BS":
                out[k] = [base64.b64encode(b).decode("ascii") for b in v]
            else:
                out[k] = _lambda_attr(v)
        return out
    if isinstance(value, list):
        return [_lambda_attr(v) for v in value]
    return value


def lambda_record(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """One GetRecords record → one Lambda ``Records[]`` entry (same field names)."""
    ddb = dict(record.get("dynamodb") or {})
    created = ddb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        ddb["ApproximateCreationDateTime"] = created.timestamp()
    for image in ("Keys", "NewImage", "OldImage"):
        if image in ddb:
            ddb[image] = {k: _lambda_attr(v) for k, v in ddb[image].items()}
    return {
        "eventID": record.get("eventID"),
        "eventName": record.get("eventName"),
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": record.get("eventSource", "aws:dynamodb"),
        "awsRegion": record.get("awsRegion"),
        "dynamodb": ddb,
        "eventSourceARN": stream_arn,
    }


# --- the worker -------------------------------------------------------------------------


@dataclass
class _Shard:
    shard_id: str
    parent: str | None
    iterator: str | None = None
    closed: bool = False


class StreamWorker:
    """Polls one table's stream and feeds the publisher handler; see the module docstring."""

    def __init__(
        self,
        *,
        state_dir: Path,
        table: str,
        handler: Handler | None = None,
        session: Any | None = None,
        batch_size: int = 100,
        poll_interval: float = 0.1,
        backoff_base: float = 0.2,
        backoff_max: float = 10.0,
        heartbeat: Callable[[], object] | None = None,
        heartbeat_interval: float = 0.0,
    ) -> None:
        self.state_dir = state_dir
        # Called once at start and then every heartbeat_interval seconds (both set, > 0).
        self.heartbeat = heartbeat if heartbeat_interval > 0 else None
        self.heartbeat_interval = heartbeat_interval
        self._next_heartbeat = 0.0  # monotonic: due at once
        self.table = table
        self.handler = handler or default_handler()
        session = session or boto3.session.Session()
        self.ddb = session.client("dynamodb")
        self.streams = session.client("dynamodbstreams")
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.stop_event = threading.Event()
        state_dir.mkdir(parents=True, exist_ok=True)
        self.checkpoint_path = state_dir / CHECKPOINT_FILE
        self.checkpoint = Checkpoint.load(self.checkpoint_path)
        self._shards: dict[str, _Shard] = {}
        self._failures = 0
        self._refreshed_at = 0.0
        self.handled_records = 0

    # -- discovery

    def _stream_arn(self) -> str:
        arn = self.ddb.describe_table(TableName=self.table)["Table"].get("LatestStreamArn")
        if not arn:
            raise RuntimeError(f"table {self.table} has no stream enabled")
        return str(arn)

    def _refresh_shards(self) -> None:
        arn = self._stream_arn()
        if self.checkpoint.stream_arn != arn:
            # A new stream (table re-created): old sequence numbers mean nothing there.
            log.info("new stream %s; starting from its trim horizon", arn)
            self.checkpoint = Checkpoint(stream_arn=arn)
            self._shards.clear()
            self.checkpoint.save(self.checkpoint_path)
        kwargs: dict[str, Any] = {"StreamArn": arn}
        while True:
            desc = self.streams.describe_stream(**kwargs)["StreamDescription"]
            for shard in desc.get("Shards", []):
                sid = shard["ShardId"]
                if sid not in self._shards and sid not in self.checkpoint.finished:
                    self._shards[sid] = _Shard(sid, shard.get("ParentShardId"))
            last = desc.get("LastEvaluatedShardId")
            if not last:
                break
            kwargs["ExclusiveStartShardId"] = last

    def _iterator(self, shard: _Shard, at: str | None = None) -> str:
        assert self.checkpoint.stream_arn is not None
        kwargs: dict[str, Any] = {
            "StreamArn": self.checkpoint.stream_arn,
            "ShardId": shard.shard_id,
        }
        if at is not None:
            kwargs |= {"ShardIteratorType": "AT_SEQUENCE_NUMBER", "SequenceNumber": at}
        elif shard.shard_id in self.checkpoint.shards:
            kwargs |= {
                "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                "SequenceNumber": self.checkpoint.shards[shard.shard_id],
            }
        else:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        return str(self.streams.get_shard_iterator(**kwargs)["ShardIterator"])

    # -- processing

    def poll_once(self) -> int:
        """Read and handle at most one batch per open shard; return records fetched."""
        now = time.monotonic()
        # Shards change rarely (every few hours on AWS): re-list them now and then, not on
        # every poll, so an idle worker costs one GetRecords per shard per interval.
        if not self._shards or any(s.closed for s in self._shards.values()) or (
            now - self._refreshed_at > SHARD_REFRESH_SECONDS
        ):
            self._refresh_shards()
            self._shards = {k: v for k, v in self._shards.items() if not v.closed}
            self._refreshed_at = now
        fetched = 0
        for shard in list(self._shards.values()):
            if self.stop_event.is_set():
                break
            parent = shard.parent
            if parent and parent in self._shards and not self._shards[parent].closed:
                continue  # a child shard waits for its parent: per-key order is preserved
            fetched += self._poll_shard(shard)
        return fetched

    def _poll_shard(self, shard: _Shard) -> int:
        if shard.closed:
            return 0
        if shard.iterator is None:
            shard.iterator = self._iterator(shard)
        resp = self.streams.get_records(ShardIterator=shard.iterator, Limit=self.batch_size)
        records = resp.get("Records", [])
        next_iterator = resp.get("NextShardIterator")
        if records:
            ok = self._handle(shard, records)
            if not ok:
                return len(records)  # iterator was reset to the first failed record
        # moto swaps in a new stream object behind the same shard id after a refused
        # conditional write, stranding an iterator held across polls. An idle poll therefore
        # re-derives its iterator from the checkpoint next time (one extra cheap call).
        shard.iterator = next_iterator if records else None
        if next_iterator is None:
            shard.closed = True
            self.checkpoint.finished.append(shard.shard_id)
            self.checkpoint.save(self.checkpoint_path)
        return len(records)

    def _handle(self, shard: _Shard, records: list[Any]) -> bool:
        """Deliver one batch; advance the checkpoint past what succeeded; True if all did."""
        assert self.checkpoint.stream_arn is not None
        event = {"Records": [lambda_record(r, self.checkpoint.stream_arn) for r in records]}
        sequences = [str(r["dynamodb"]["SequenceNumber"]) for r in records]
        try:
            result = self.handler(event, None)
            failed = {str(f["itemIdentifier"]) for f in result.get("batchItemFailures") or []}
        except Exception:
            log.exception("handler raised; the whole batch is retried")
            failed = set(sequences)
        first_failed = next((i for i, s in enumerate(sequences) if s in failed), None)
        done = sequences if first_failed is None else sequences[:first_failed]
        if done:
            self.checkpoint.shards[shard.shard_id] = done[-1]
            self.checkpoint.save(self.checkpoint_path)
            self.handled_records += len(done)
        if first_failed is None:
            self._failures = 0
            return True
        self._failures += 1
        delay = min(self.backoff_max, self.backoff_base * 2 ** (self._failures - 1))
        delay *= 0.5 + random.random() / 2  # noqa: S311 - jitter, not cryptography
        log.warning(
            "batch partially failed: retrying from %s in %.2fs (attempt %d)",
            sequences[first_failed], delay, self._failures,
        )
        shard.iterator = self._iterator(shard, at=sequences[first_failed])
        self.stop_event.wait(delay)
        return False

    def beat_if_due(self) -> bool:
        """Run the heartbeat when it is due; True when it ran. Never raises: a failed beat
        is logged and retried at the next interval, like a failed scheduled invocation."""
        now = time.monotonic()
        if self.heartbeat is None or now < self._next_heartbeat:
            return False
        self._next_heartbeat = now + self.heartbeat_interval
        try:
            log.info("heartbeat: %s", self.heartbeat())
        except Exception:
            log.exception("heartbeat failed; the next one retries")
        return True

    def run(self, *, once: bool = False) -> None:
        """Poll until stopped; with ``once``, until every shard has nothing new (and no
        heartbeat: draining is all ``once`` does)."""
        while not self.stop_event.is_set():
            if not once:
                self.beat_if_due()
            try:
                fetched = self.poll_once()
            except Exception:
                if once:
                    raise
                log.exception("stream poll failed; retrying")
                fetched = 0
                self._shards.clear()  # iterators may have expired: rebuild from checkpoint
                self.stop_event.wait(min(self.backoff_max, 1.0))
            if once and fetched == 0 and self._failures == 0:
                return
            if fetched == 0:
                self.stop_event.wait(self.poll_interval)

    def stop(self, *_: Any) -> None:
        """Ask the worker to stop after the current batch (signal-handler compatible)."""
        self.stop_event.set()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m vexil.stream_worker``."""
    parser = argparse.ArgumentParser(prog="vexil.stream_worker", description=__doc__.split("\n")[0])
    parser.add_argument("--state-dir", type=Path, required=True, help="checkpoint directory")
    parser.add_argument("--once", action="store_true", help="drain the stream, then exit")
    parser.add_argument("--table", default=os.environ.get("VEXIL_TABLE"),
                        help="table name (default: $VEXIL_TABLE)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--poll-interval", type=float, default=0.1,
                        help="seconds between polls of an idle stream (default 0.1)")
    parser.add_argument("--heartbeat-interval", type=float,
                        default=float(os.environ.get("VEXIL_HEARTBEAT_INTERVAL") or 900),
                        help="seconds between publisher heartbeats (default "
                             "$VEXIL_HEARTBEAT_INTERVAL or 900; 0: none)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not args.table:
        parser.error("--table or VEXIL_TABLE is required")
    if args.batch_size < 1 or args.batch_size > 1000:
        parser.error("--batch-size must be between 1 and 1000")
    if args.heartbeat_interval < 0:
        parser.error("--heartbeat-interval must be >= 0")
    worker = StreamWorker(state_dir=args.state_dir, table=args.table,
                          batch_size=args.batch_size, poll_interval=args.poll_interval,
                          heartbeat=default_heartbeat() if args.heartbeat_interval else None,
                          heartbeat_interval=args.heartbeat_interval)
    if not args.once:
        from vexil import list_importer  # noqa: PLC0415 (list-segment imports, issue 18)

        list_importer.start(args.table, worker.stop_event)
    signal.signal(signal.SIGTERM, worker.stop)
    signal.signal(signal.SIGINT, worker.stop)
    with contextlib.suppress(KeyboardInterrupt):
        worker.run(once=args.once)
    log.info("stream worker stopped after %d records", worker.handled_records)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
