"""The list importer Lambda: drains the bulk-import queue of list segments (issue 18).

``app.list_importer`` is invoked two ways (``infra/importer.tf``): by the DynamoDB stream,
filtered to the insertion of a queue item (``IMPORTQ``), so an import starts within
seconds of ``…/start`` (or of its change request's approval); and by an EventBridge
schedule every minute, the safety net that picks up whatever a failed or timed-out run left
(``list_imports.process_next`` reclaims an import whose importer died). The event's content
is never read: every invocation drains the same queue, one import at a time, and stops
starting new ones when less than ``RESERVE_SECONDS`` of the invocation remain.

Each run emits ``ListImportQueueAgeSeconds`` (the oldest waiting import; 0 when none):
alarmed when imports wait too long, and — because the schedule emits it every minute —
when the importer stops running at all. Locally ``vexil/list_importer.py`` runs the same
:func:`drain` on a thread of the stream worker.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.usecases.base import Ctx

log = logging.getLogger("vexil.list_importer")
RESERVE_SECONDS = 300.0
"""Do not start another import with less than this left: a million-line import takes
about a minute (docs/performance.md), so five leave a wide margin under Lambda's 900 s."""
_CTX: list[Ctx] = []


def drain(ctx: Ctx, time_left: Callable[[], float | None] = lambda: None) -> list[str]:
    """Process queued imports until none is left for this importer or ``time_left()``
    (seconds; None: unbounded) drops under ``RESERVE_SECONDS``; the ids processed."""
    from chalicelib.usecases.list_imports import process_next  # noqa: PLC0415

    done: list[str] = []
    while True:
        left = time_left()
        if left is not None and left < RESERVE_SECONDS:
            break
        import_id = process_next(ctx)
        if import_id is None:
            break
        log.info("list import %s processed", import_id)
        done.append(import_id)
    return done


def from_env() -> Ctx:
    """The importer's context: the table and KMS key of the environment (once per container)."""
    from chalicelib.repository import DynamoRepository  # noqa: PLC0415

    return Ctx(DynamoRepository(os.environ["VEXIL_TABLE"]),
               kms_key_id=os.environ.get("VEXIL_KMS_KEY_ID"))


def handler(event: Mapping[str, Any], context: Any,
            deps: Callable[[], Ctx] = from_env) -> dict[str, Any]:
    """The Lambda: drain the queue, emit the queue age, return what was done."""
    from chalicelib.observability import Metric, emit  # noqa: PLC0415
    from chalicelib.usecases.list_imports import queue_age  # noqa: PLC0415

    if not _CTX:
        _CTX.append(deps())
    ctx = _CTX[0]
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    processed = drain(ctx, (lambda: remaining() / 1000) if callable(remaining) else
                      (lambda: None))
    age = queue_age(ctx)
    emit(Metric.LIST_IMPORT_QUEUE_AGE, age)
    return {"processed": processed, "queue_age_seconds": round(age, 1)}
