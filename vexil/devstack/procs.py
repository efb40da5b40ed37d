"""Start, record and stop the local stack's processes — exactly those, nothing else.

Each process runs in its own session (so its process group id equals its pid) with its
output in ``logs/<name>.log``. Its pid file ``run/<name>.pid`` is JSON holding the pid
and the process's start time: ``stop`` signals the group only when the live process
with that pid started at that time, so a recycled pid is never killed by mistake.

``stop`` is also the one TERM → wait → KILL sequence for a child held as a
``subprocess.Popen`` (servers started by tests and benchmarks): nothing else in the tree
types that sequence again.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import psutil

_KILL_GRACE = 5.0  # after KILL: how long to wait for the kernel to reap the process


@dataclass(frozen=True)
class ProcessRecord:
    """What a pid file holds about one started process."""

    name: str
    pid: int
    create_time: float
    argv: list[str]

    def is_alive(self) -> bool:
        """True when the process with this pid is still the one we started."""
        try:
            proc = psutil.Process(self.pid)
            # create_time is a float read back from /proc; equal within a tick means "same".
            same = abs(proc.create_time() - self.create_time) < 0.05
            return same and proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False


def pid_path(run_dir: Path, name: str) -> Path:
    """Path of the pid file for process ``name``."""
    return run_dir / f"{name}.pid"


def start(
    name: str,
    argv: Sequence[str],
    *,
    run_dir: Path,
    log_dir: Path,
    env: Mapping[str, str],
    cwd: Path | None = None,
) -> ProcessRecord:
    """Start ``argv`` in a new session, log to ``log_dir/name.log``, write its pid file."""
    run_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(  # noqa: S603 - argv is built by us, never a shell string
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=str(cwd) if cwd else None,
            start_new_session=True,
        )
    record = ProcessRecord(
        name=name, pid=proc.pid, create_time=psutil.Process(proc.pid).create_time(),
        argv=list(argv),
    )
    path = pid_path(run_dir, name)
    tmp = path.with_suffix(".pid.tmp")
    tmp.write_text(json.dumps(record.__dict__), encoding="utf-8")
    os.replace(tmp, path)
    return record


def read(run_dir: Path, name: str) -> ProcessRecord | None:
    """The record in ``run/<name>.pid``, or None when absent or unreadable."""
    try:
        data = json.loads(pid_path(run_dir, name).read_text(encoding="utf-8"))
        return ProcessRecord(
            name=str(data["name"]), pid=int(data["pid"]),
            create_time=float(data["create_time"]), argv=[str(a) for a in data["argv"]],
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def records(run_dir: Path) -> list[ProcessRecord]:
    """Every readable pid file under ``run_dir``."""
    if not run_dir.is_dir():
        return []
    found = [read(run_dir, p.stem) for p in sorted(run_dir.glob("*.pid"))]
    return [r for r in found if r is not None]


def _group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(proc.pid) == pgid:
                members.append(proc)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return members


@overload
def stop(target: ProcessRecord, *, run_dir: Path, timeout: float = 10.0) -> list[int]: ...


@overload
def stop(target: subprocess.Popen[Any], *, timeout: float = 10.0) -> list[int]: ...


def stop(
    target: ProcessRecord | subprocess.Popen[Any],
    *,
    run_dir: Path | None = None,
    timeout: float = 10.0,
) -> list[int]:
    """Stop a process (TERM, wait up to ``timeout`` s, then KILL); return pids still alive.

    A :class:`ProcessRecord` (with its ``run_dir``): its whole process group, only while the
    recorded process is still the one we started; the pid file goes once nothing of the
    group remains. A ``Popen`` child: that process, reaped (its ``returncode`` is set) and
    its pipes drained and closed, so a child blocked on a full pipe still exits.
    """
    if isinstance(target, ProcessRecord):
        if run_dir is None:
            raise TypeError("stop(record): run_dir is required for a recorded process")
        return stop_many([target], run_dir=run_dir, timeout=timeout)[target.name]
    return _stop_child(target, timeout)


def _stop_child(proc: subprocess.Popen[Any], timeout: float) -> list[int]:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.communicate(timeout=timeout)  # waits, and drains pipes a TERM handler writes to
    except subprocess.TimeoutExpired:
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=_KILL_GRACE)
    return [] if proc.poll() is not None else [proc.pid]


def stop_many(
    records: Sequence[ProcessRecord], *, run_dir: Path, timeout: float = 10.0
) -> dict[str, list[int]]:
    """Stop several recorded process groups at once; return the survivors of each.

    TERM goes to every group (in the order given) before waiting, so the total time is
    that of the slowest process, not the sum; groups still alive after ``timeout`` get
    KILL. Pid files are removed for groups that are fully gone.
    """
    members: dict[str, list[psutil.Process]] = {}
    for record in records:
        members[record.name] = []
        if not record.is_alive():
            continue
        # start_new_session made the process its group's leader: pgid == pid.
        members[record.name] = _group_members(record.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(record.pid, signal.SIGTERM)
    everyone = [p for group in members.values() for p in group]
    _, alive = psutil.wait_procs(everyone, timeout=timeout)
    if alive:
        for record in records:
            if any(p in alive for p in members[record.name]):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(record.pid, signal.SIGKILL)
        _, alive = psutil.wait_procs(alive, timeout=3.0)
    left: dict[str, list[int]] = {}
    for record in records:
        left[record.name] = [p.pid for p in members[record.name] if p in alive]
        if not left[record.name]:
            pid_path(run_dir, record.name).unlink(missing_ok=True)
    return left


class ProcessExited(Exception):
    """Raised by a readiness check when the process it waits for has died: stop waiting."""


def wait_for(
    check: Callable[[], object], *, timeout: float, what: str, interval: float = 0.1
) -> None:
    """Call ``check()`` until it returns truthy; raise TimeoutError naming ``what``.

    Exceptions from ``check`` mean "not ready yet", except :class:`ProcessExited`, which
    ends the wait at once.
    """
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except ProcessExited:
            raise
        except Exception as exc:
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s" + (f" ({last})" if last else ""))
