"""The publisher Lambda's handler: a DynamoDB stream batch → publishes → partial failures.

A batch is collapsed into the set of (project, environment) pairs whose *environment item*
changed (every bundle-relevant write bumps it in the same transaction). Each pair is
published once per batch from a consistent read, so duplicate, no-op, out-of-order and
replayed records cost at most one idempotent publish. When a pair fails, every record of
that pair is reported in ``batchItemFailures`` by sequence number (ReportBatchItemFailures):
Lambda (or the local stream worker) retries from the lowest one.

Parsing uses aws-lambda-powertools' ``DynamoDBStreamEvent`` data class (typed access,
attribute-value deserialization) and its structured ``Logger``. Its ``BatchProcessor`` is not
used: it calls a handler per record, whereas a batch must be collapsed per environment first
(one publish for fifty records of one environment, not fifty).

The same Lambda is the target of the heartbeat schedule (infra/heartbeat.tf; the stream
worker's timer locally): an event with ``source`` ``vexil.heartbeat`` (or an EventBridge
``Scheduled Event``) runs :meth:`Publisher.heartbeat` instead — re-signing pointers before
they expire and repairing any pointer that storage lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent

from chalicelib.keys import parse_environment_key
from chalicelib.publish.publisher import Publisher, PublishError, publisher_from_env

logger = Logger(service="vexil-publisher")

_PUBLISHER: Publisher | None = None


def get_publisher() -> Publisher:
    """The container's publisher (boto3 clients built on the first invocation only)."""
    global _PUBLISHER  # noqa: PLW0603 - one set of clients per Lambda container
    if _PUBLISHER is None:
        _PUBLISHER = publisher_from_env()
    return _PUBLISHER


def environments_in(event: Mapping[str, Any]) -> dict[tuple[str, str], list[str]]:
    """(project, environment) → sequence numbers of the records that touched it, in order.

    Records that are not environment items, or are malformed, are ignored (nothing a retry
    could fix); they are logged.
    """
    pairs: dict[tuple[str, str], list[str]] = {}
    for record in DynamoDBStreamEvent(dict(event)).records:
        stream = record.dynamodb
        try:
            keys = stream.keys if stream is not None else {}
            pk, sk = keys.get("pk"), keys.get("sk")
        except (KeyError, TypeError, ValueError, AttributeError):
            pk = sk = None
        sequence = stream.sequence_number if stream is not None else None
        if not isinstance(pk, str) or not isinstance(sk, str) or not sequence:
            logger.warning("ignoring malformed stream record", event_id=record.event_id)
            continue
        pair = parse_environment_key(pk, sk)
        if pair is not None:
            pairs.setdefault(pair, []).append(sequence)
    return pairs


def handle_stream_batch(
    event: Mapping[str, Any], publisher: Publisher | None = None
) -> dict[str, list[dict[str, str]]]:
    """Publish every environment the batch touched; report failed records by sequence number.

    Never raises for a publish failure: the failure is logged (structured) and reported, so
    the other environments of the batch still go live.
    """
    publisher = publisher or get_publisher()
    failures: list[dict[str, str]] = []
    for (project, environment), sequences in environments_in(event).items():
        try:
            publisher.publish(project, environment)
        except PublishError as exc:
            logger.error("environment publish failed", project=project,
                         environment=environment, stage=exc.stage, records=len(sequences))
            failures.extend({"itemIdentifier": s} for s in sequences)
        except Exception as exc:  # an unexpected bug must not hide other envs' results
            logger.exception("unexpected publisher error", project=project,
                             environment=environment, error=str(exc))
            failures.extend({"itemIdentifier": s} for s in sequences)
    return {"batchItemFailures": failures}


HEARTBEAT_SOURCE = "vexil.heartbeat"


def is_heartbeat(event: Mapping[str, Any]) -> bool:
    """True for the heartbeat schedule's event (never for a stream batch)."""
    return "Records" not in event and (
        event.get("source") == HEARTBEAT_SOURCE or event.get("detail-type") == "Scheduled Event")


def handle_heartbeat(publisher: Publisher | None = None) -> dict[str, Any]:
    """Run one heartbeat over every environment; return counts (failures are logged).

    The one entry point the schedule (and the local stack's timer) calls; work that must
    happen on every heartbeat belongs in :meth:`Publisher.heartbeat`.
    """
    publisher = publisher or get_publisher()
    outcomes = publisher.heartbeat()
    anchors = publisher.last_anchor_run
    return {"heartbeat": {
        "environments": len(outcomes),
        "renewed": sum(len(o.renewed) for o in outcomes),
        "published": sum(len(o.published) for o in outcomes),
        "anchors": None if anchors is None else {
            "written": len(anchors.written), "already": anchors.already,
            "failed": anchors.failed},
    }}


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda entry point (registered in app.py as ``publisher``): a stream batch, or the
    heartbeat schedule's event."""
    request_id = getattr(context, "aws_request_id", None)
    if isinstance(request_id, str):
        # Every line of this invocation names it, so one failed batch is one query away.
        logger.append_keys(request_id=request_id)
    if is_heartbeat(event):
        return handle_heartbeat()
    return handle_stream_batch(event)
