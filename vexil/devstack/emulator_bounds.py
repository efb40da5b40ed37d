"""Bounds on what moto keeps forever, so the local stack can run for days.

Measured (``python -m loadtests.bench_soak``, the launcher's ``/_vexil/emulator`` census with
``VEXIL_EMULATOR_TRACEMALLOC=1``; numbers in docs/performance.md): what grew without limit was
not the data but moto's DynamoDB Streams *shard iterators*. moto keeps every iterator it ever
handed out — ``GetShardIterator`` adds one, every ``GetRecords`` adds the next one and keeps
the old — in a dict that is never pruned. Each holds a 630-character id, its ARN and a
reference to the stream shard it was made for (and so, after moto replaces a table object, to
a whole old copy of the table). The stream worker polls an idle stream ten times a second, so
that is two iterators per poll, every poll, forever. The other accumulating store is the
stream itself: moto keeps every stream record, where DynamoDB keeps 24 hours.

Both are bounded the way AWS bounds them:

* an iterator expires 15 minutes after it was handed out (``ExpiredIteratorException`` after
  that, as DynamoDB Streams answers; the stream worker then re-derives one from its
  checkpoint; ``$VEXIL_EMULATOR_ITERATOR_TTL`` seconds overrides it, for tests);
* stream records older than 24 hours are trimmed (``$VEXIL_EMULATOR_STREAM_RETENTION``
  seconds overrides it); reading below the trim horizon answers
  ``TrimmedDataAccessException``. Sequence numbers of the records kept do not change.

The pruning runs from :func:`maintain`, which the launcher calls between two requests (under
its lock), never inside one: a cancelled transaction's rollback (moto_transactions) counts
stream records by position within its request.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from moto.core.exceptions import JsonRESTError

ITERATOR_TTL_SECONDS = 15 * 60
DEFAULT_STREAM_RETENTION_SECONDS = 24 * 3600
_INSTALLED = "_vexil_bounded"
_BORN = "_vexil_born"


class ExpiredIteratorError(JsonRESTError):
    """DynamoDB Streams' answer to an iterator older than 15 minutes (or unknown)."""

    def __init__(self) -> None:
        super().__init__("ExpiredIteratorException", "The shard iterator has expired")


class TrimmedDataAccessError(JsonRESTError):
    """DynamoDB Streams' answer to a read below the trim horizon."""

    def __init__(self) -> None:
        super().__init__("TrimmedDataAccessException",
                         "The requested sequence number is beyond the trim horizon")


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


def stream_retention_seconds() -> float:
    """How long stream records are kept: ``$VEXIL_EMULATOR_STREAM_RETENTION`` or 24 h."""
    return _seconds("VEXIL_EMULATOR_STREAM_RETENTION", DEFAULT_STREAM_RETENTION_SECONDS)


def iterator_ttl_seconds() -> float:
    """How long a shard iterator lives: ``$VEXIL_EMULATOR_ITERATOR_TTL`` or 15 minutes."""
    return _seconds("VEXIL_EMULATOR_ITERATOR_TTL", ITERATOR_TTL_SECONDS)


def maintain_every_seconds() -> float:
    """How often :func:`maintain` runs: ``$VEXIL_EMULATOR_MAINTAIN_EVERY`` or 60 s."""
    return _seconds("VEXIL_EMULATOR_MAINTAIN_EVERY", 60.0)


def install() -> None:
    """Patch moto's DynamoDB Streams in this process (idempotent): iterators remember when
    they were made, an unknown one is "expired", a read below the trim horizon is refused."""
    from moto.dynamodb.models.table import StreamShard  # noqa: PLC0415 - heavy import
    from moto.dynamodbstreams import models as streams  # noqa: PLC0415

    if getattr(streams.ShardIterator.__init__, _INSTALLED, False):
        return
    moto_init: Callable[..., None] = streams.ShardIterator.__init__
    moto_get_records: Callable[..., dict[str, Any]] = streams.DynamoDBStreamsBackend.get_records
    moto_shard_get: Callable[..., list[dict[str, Any]]] = StreamShard.get

    def iterator_init(self: Any, *args: Any, **kwargs: Any) -> None:
        moto_init(self, *args, **kwargs)
        setattr(self, _BORN, time.monotonic())

    def get_records(self: Any, iterator_arn: str, limit: int) -> dict[str, Any]:
        if iterator_arn not in self.shard_iterators:
            raise ExpiredIteratorError()
        return moto_get_records(self, iterator_arn, limit)

    def shard_get(self: Any, start: int, quantity: int) -> list[dict[str, Any]]:
        if start < self.starting_sequence_number:
            raise TrimmedDataAccessError()
        return moto_shard_get(self, start, quantity)

    setattr(iterator_init, _INSTALLED, True)
    streams.ShardIterator.__init__ = iterator_init  # type: ignore[method-assign]
    streams.DynamoDBStreamsBackend.get_records = get_records  # type: ignore[method-assign]
    StreamShard.get = shard_get  # type: ignore[method-assign]


def _each(backends: Any) -> Iterator[Any]:
    """Every region's backend of a moto ``BackendDict`` (typed loosely: moto's are dynamic)."""
    for _account, _region, backend in backends.iter_backends():
        yield backend


def prune_iterators(now: float | None = None, ttl: float | None = None) -> int:
    """Forget shard iterators older than ``ttl`` seconds (default
    :func:`iterator_ttl_seconds`); return how many went."""
    from moto.dynamodbstreams.models import dynamodbstreams_backends  # noqa: PLC0415

    cutoff = (time.monotonic() if now is None else now) - (
        iterator_ttl_seconds() if ttl is None else ttl)
    dropped = 0
    for backend in _each(dynamodbstreams_backends):
        iterators: dict[str, Any] = backend.shard_iterators
        # Insertion order is creation order: the old ones are at the front.
        stale = []
        for arn, iterator in iterators.items():
            if getattr(iterator, _BORN, float("-inf")) >= cutoff:
                break
            stale.append(arn)
        for arn in stale:
            del iterators[arn]
        dropped += len(stale)
    return dropped


def trim_streams(now: dt.datetime | None = None, retention: float | None = None) -> int:
    """Drop stream records older than ``retention`` seconds (default
    :func:`stream_retention_seconds`) from every table's shard; return how many went."""
    from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415

    keep = stream_retention_seconds() if retention is None else retention
    horizon = (now or dt.datetime.now(dt.UTC).replace(tzinfo=None)) - dt.timedelta(seconds=keep)
    dropped = 0
    for backend in _each(dynamodb_backends):
        for table in backend.tables.values():
            shard = getattr(table, "stream_shard", None)
            if shard is None:
                continue
            count = 0
            for record in shard.items:
                if record.record["dynamodb"]["ApproximateCreationDateTime"] >= horizon:
                    break
                count += 1
            if count:
                # Sequence numbers are positions from starting_sequence_number: moving the
                # start by what is cut keeps every kept record's number (and a checkpoint's).
                del shard.items[:count]
                shard.starting_sequence_number += count
                dropped += count
    return dropped


def maintain() -> dict[str, int]:
    """Both prunings and one S3 lifecycle run (:mod:`emulator_lifecycle`); call between two
    requests (under the launcher's lock)."""
    from vexil.devstack import emulator_lifecycle  # noqa: PLC0415 - imports moto's S3

    return {"iterators_expired": prune_iterators(), "stream_records_trimmed": trim_streams(),
            **emulator_lifecycle.apply_lifecycle()}


def census() -> dict[str, Any]:
    """What the emulator holds now: items, stream records, iterators, S3 objects and
    versions, KMS keys (for the soak benchmark and for finding the next leak)."""
    from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415
    from moto.dynamodbstreams.models import dynamodbstreams_backends  # noqa: PLC0415
    from moto.kms.models import kms_backends  # noqa: PLC0415
    from moto.s3.models import s3_backends  # noqa: PLC0415

    tables: dict[str, dict[str, Any]] = {}
    for ddb in _each(dynamodb_backends):
        for name, table in ddb.tables.items():
            shard = getattr(table, "stream_shard", None)
            tables[name] = {"items": len(table),
                            "stream_records": len(shard.items) if shard else 0}
            if shard is not None:
                tables[name] |= {
                    "stream_arn": f"{table.table_arn}/stream/{table.latest_stream_label}",
                    "shard_id": shard.id, "stream_start": shard.starting_sequence_number,
                    "stream_next": shard.starting_sequence_number + len(shard.items)}
    objects = versions = 0
    for s3 in _each(s3_backends):
        for bucket in s3.buckets.values():
            objects += len(bucket.keys)
            versions += sum(len(bucket.keys.getlist(k)) for k in bucket.keys)
    return {
        "tables": tables,
        "shard_iterators": sum(len(b.shard_iterators)
                               for b in _each(dynamodbstreams_backends)),
        "s3_objects": objects,
        "s3_versions": versions,
        "kms_keys": sum(len(b.keys) for b in _each(kms_backends)),
    }
