"""The local stack's list importer: drains queued bulk imports (issue 18).

On AWS an importer function would drain the same queue; locally this loop runs on a thread of
the stream worker process (``vexil/stream_worker.py``) — beside its stream handler, never in
it, so a million-line import never delays a publish. One import at a time; every failure is
recorded on the import itself (``GET …/imports/<id>``), never raised here.
"""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger("vexil.list_importer")


def run(table: str, stop: threading.Event, interval: float = 0.5) -> None:
    """Process queued imports until ``stop`` is set (checked between imports)."""
    from chalicelib.repository import DynamoRepository  # noqa: PLC0415 (server extra)
    from chalicelib.usecases.base import Ctx  # noqa: PLC0415
    from chalicelib.usecases.list_imports import process_next  # noqa: PLC0415

    ctx = Ctx(DynamoRepository(table), kms_key_id=os.environ.get("VEXIL_KMS_KEY_ID"))
    while not stop.is_set():
        try:
            done = process_next(ctx)
        except Exception:  # the loop must outlive any one import (it is recorded there)
            log.exception("list import failed")
            done = None
        if done is None:
            stop.wait(interval)
        else:
            log.info("list import %s processed", done)


def start(table: str, stop: threading.Event) -> threading.Thread:
    """Run :func:`run` on a daemon thread; return it."""
    thread = threading.Thread(target=run, args=(table, stop), name="vexil-list-importer",
                              daemon=True)
    thread.start()
    return thread
