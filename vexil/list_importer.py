"""The local stack's list importer: drains queued bulk imports (issue 18).

On AWS the ``list_importer`` Lambda drains the same queue (``chalicelib/list_importer.py``,
``infra/importer.tf``); locally this loop runs the same :func:`drain` on a thread of the
stream worker process (``vexil/stream_worker.py``) — beside its stream handler, never in it,
so a million-line import never delays a publish. Every failure is recorded on the import
itself (``GET …/imports/<id>``), never raised here.
"""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger("vexil.list_importer")


def run(table: str, stop: threading.Event, interval: float = 0.5) -> None:
    """Process queued imports until ``stop`` is set (checked between imports)."""
    from chalicelib.list_importer import drain  # noqa: PLC0415 (server extra)
    from chalicelib.repository import DynamoRepository  # noqa: PLC0415
    from chalicelib.usecases.base import Ctx  # noqa: PLC0415

    ctx = Ctx(DynamoRepository(table), kms_key_id=os.environ.get("VEXIL_KMS_KEY_ID"))
    while not stop.is_set():
        try:
            drain(ctx, lambda: None if not stop.is_set() else 0.0)
        except Exception:  # the loop must outlive any one import (it is recorded there)
            log.exception("list import failed")
        stop.wait(interval)


def start(table: str, stop: threading.Event) -> threading.Thread:
    """Run :func:`run` on a daemon thread; return it."""
    thread = threading.Thread(target=run, args=(table, stop), name="vexil-list-importer",
                              daemon=True)
    thread.start()
    return thread
