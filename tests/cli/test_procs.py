"""Pid files and stopping: exactly the processes we started, whole process groups."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from pathlib import Path

import psutil

from vexil.devstack import procs

# A parent that starts a child in its own process group and then waits forever.
PARENT = (
    "import subprocess, sys, time; "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
    "time.sleep(600)"
)


def _children(pid: int) -> list[psutil.Process]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        kids = psutil.Process(pid).children()
        if kids:
            return kids
        time.sleep(0.05)
    raise AssertionError("child never started")


def test_stop_kills_the_whole_group_and_removes_the_pid_file(tmp_path: Path) -> None:
    record = procs.start("thing", [sys.executable, "-c", PARENT], run_dir=tmp_path / "run",
                         log_dir=tmp_path / "logs", env={})
    kids = _children(record.pid)
    assert procs.read(tmp_path / "run", "thing") == record
    assert record.is_alive()
    assert procs.stop(record, run_dir=tmp_path / "run") == []
    assert not psutil.pid_exists(record.pid) or not record.is_alive()
    for kid in kids:
        assert not kid.is_running() or kid.status() == psutil.STATUS_ZOMBIE
    assert not procs.pid_path(tmp_path / "run", "thing").exists()
    assert (tmp_path / "logs" / "thing.log").exists()


def test_a_recycled_pid_is_never_signalled(tmp_path: Path) -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        # A pid file naming a live process that started at another time: not ours.
        fake = procs.ProcessRecord("ghost", bystander.pid, create_time=1.0, argv=["x"])
        assert not fake.is_alive()
        assert procs.stop(fake, run_dir=tmp_path) == []
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_records_skips_unreadable_pid_files(tmp_path: Path) -> None:
    (tmp_path / "bad.pid").write_text("not json", encoding="utf-8")
    good = procs.ProcessRecord("good", 1, 2.0, ["a"])
    (tmp_path / "good.pid").write_text(
        __import__("json").dumps(dataclasses.asdict(good)), encoding="utf-8")
    assert procs.records(tmp_path) == [good]
