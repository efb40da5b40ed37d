"""The stream worker is SIGKILLed mid-stream and restarted: no change lost, none applied twice.

Writes go through the API into a table with its own stream while the real worker process
(``python -m vexil.stream_worker``) publishes. The worker is killed with SIGKILL (no cleanup
runs) while writes keep arriving, then restarted from its checkpoint.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import orjson

from tests.reliability.conftest import Plane
from tests.reliability.readers import live_plaintext, live_revision
from vexil.devstack.procs import stop as stop_process

ROOT = Path(__file__).resolve().parents[2]
WRITES = 16


def _start(table: str, state: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "VEXIL_TABLE": table, "PYTHONPATH": f"{ROOT}:{ROOT / 'control_plane'}"}
    return subprocess.Popen(
        [sys.executable, "-m", "vexil.stream_worker", "--state-dir", str(state),
         "--table", table, "--poll-interval", "0.05"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _bundles_by_revision(project: str) -> dict[int, set[str]]:
    s3 = boto3.session.Session().client("s3")
    out: dict[int, set[str]] = {}
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=os.environ["VEXIL_BUCKET"],
                                   Prefix=f"bundles/{project}/prod/"):
        for obj in page.get("Contents", []):
            name = obj["Key"].rsplit("/", 1)[-1]
            if name.endswith(".bundle") and "/scopes/" not in obj["Key"]:
                out.setdefault(int(name.split("-", 1)[0]), set()).add(obj["Key"])
    return out


def _wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_sigkill_and_restart_loses_nothing_and_repeats_nothing(
    plane_factory: Callable[..., Plane], private_table: str, tmp_path: Path
) -> None:
    plane = plane_factory(table=private_table)
    p = plane.project()
    plane.flag(p, {"key": "limit", "kind": "number",
                   "variations": {f"v{i}": i for i in range(WRITES + 1)}})
    key = str(plane.sdk_key(p)["key"])
    path = f"/v1/projects/{p}/environments/prod/flags/limit"
    seen: list[int] = []  # every live pointer revision observed, in order
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            rev = live_revision(p)
            if rev is not None and (not seen or seen[-1] != rev):
                seen.append(rev)
            time.sleep(0.05)

    def write_all() -> None:
        for i in range(1, WRITES + 1):
            body = {"enabled": True, "default": {"variation": f"v{i}"}}
            r = plane.api.put(path, body, if_match=i)
            assert r.status_code == 200, r.json
            time.sleep(0.15)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    worker = _start(private_table, tmp_path)
    workers = [worker]
    try:
        writer = threading.Thread(target=write_all)
        writer.start()
        _wait(lambda: bool(seen), 60, "the first publish")
        worker.send_signal(signal.SIGKILL)
        assert worker.wait(30) == -signal.SIGKILL
        live_at_kill = _bundles_by_revision(p)
        live_rev_at_kill = live_revision(p) or 0
        time.sleep(0.5)  # writes keep landing while nobody publishes
        worker = _start(private_table, tmp_path)
        workers.append(worker)
        writer.join(120)
        final = int(plane.env_item(p)["revision"])
        _wait(lambda: live_revision(p) == final, 90, "the worker to catch up")
    finally:
        stop.set()
        for proc in workers:
            stop_process(proc, timeout=15)
        watcher.join(5)
    # nothing lost: the live bundle holds the last write
    doc: dict[str, Any] = orjson.loads(live_plaintext(p, key))
    assert doc["revision"] == final
    assert doc["flags"]["limit"]["default"] == {"variation": f"v{WRITES}"}
    # the pointer only ever moved forward
    assert seen == sorted(seen), seen
    assert seen[-1] == final
    # none applied twice: a revision already published before the kill was not
    # published again after the restart (redelivered records published nothing new)
    after = _bundles_by_revision(p)
    assert live_rev_at_kill >= 1
    for revision, objects in live_at_kill.items():
        if revision <= live_rev_at_kill:
            assert after[revision] == objects, revision
