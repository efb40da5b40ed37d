"""Pid files and stopping: exactly the processes we started, whole process groups."""

from __future__ import annotations

import ast
import dataclasses
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

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
        procs.stop(bystander)


def test_records_skips_unreadable_pid_files(tmp_path: Path) -> None:
    (tmp_path / "bad.pid").write_text("not json", encoding="utf-8")
    good = procs.ProcessRecord("good", 1, 2.0, ["a"])
    (tmp_path / "good.pid").write_text(
        __import__("json").dumps(dataclasses.asdict(good)), encoding="utf-8")
    assert procs.records(tmp_path) == [good]


# --- stop() on a Popen child: the one TERM → wait → KILL sequence ----------------------------

_STUBBORN = (  # ignores TERM, says so once it is ready, then waits forever
    "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(600)"
)
_CHATTY = (  # on TERM writes far more than a pipe buffer holds before it exits
    "import signal, sys, time\n"
    "def bye(*_):\n    sys.stdout.write('x' * 1_000_000); sys.stdout.flush(); sys.exit(0)\n"
    "signal.signal(signal.SIGTERM, bye); print('ready', flush=True); time.sleep(600)\n"
)


def _ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"


def test_stop_terminates_a_child_and_reaps_it() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    assert procs.stop(proc) == []
    assert proc.returncode == -signal.SIGTERM


def test_stop_kills_a_child_that_ignores_term() -> None:
    proc = subprocess.Popen([sys.executable, "-c", _STUBBORN], stdout=subprocess.PIPE, text=True)
    _ready(proc)
    assert procs.stop(proc, timeout=0.5) == []
    assert proc.returncode == -signal.SIGKILL
    assert proc.stdout is not None
    assert proc.stdout.closed


def test_stop_drains_the_pipe_a_terminating_child_writes_to() -> None:
    proc = subprocess.Popen([sys.executable, "-c", _CHATTY], stdout=subprocess.PIPE, text=True)
    _ready(proc)
    # Without draining, the child would block on the full pipe and only KILL would end it.
    assert procs.stop(proc, timeout=30) == []
    assert proc.returncode == 0


def test_stop_of_a_child_that_already_exited_is_a_no_op() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait()
    assert procs.stop(proc) == []
    assert proc.returncode == 3


def test_stop_of_a_record_needs_its_run_dir() -> None:
    record = procs.ProcessRecord("ghost", 1, 2.0, ["a"])
    with pytest.raises(TypeError, match="run_dir"):
        procs.stop(record)  # type: ignore[call-overload]


def _signal_calls(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return {
        node.func.attr for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("terminate", "send_signal", "kill")
    }


def test_nothing_else_types_the_terminate_wait_kill_sequence() -> None:
    root = Path(__file__).resolve().parents[2]
    offenders = []
    for folder in ("edge_reader", "control_plane", "vexil", "loadtests", "tests", "scripts"):
        for path in sorted((root / folder).rglob("*.py")):
            calls = _signal_calls(path)
            if path.name != "procs.py" and "kill" in calls and len(calls) > 1:
                offenders.append(str(path.relative_to(root)))
    assert offenders == []
