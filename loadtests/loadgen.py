"""Run wrk and Locust, parse what they print, and account for the CPU each side used.

The load generator and the server share the machine, so every run records, over its own
wall time: CPU seconds of the server's process tree (psutil), CPU seconds of the load
generator (``RUSAGE_CHILDREN``: wrk, or locust with its worker processes, once waited for)
and the whole machine's busy time (``psutil.cpu_times``) — whatever is left over is other
load on the machine, reported rather than hidden.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
WRK_DIR = Path(__file__).resolve().parent / "wrk"


# ----------------------------------------------------------------------------- CPU


@dataclass(frozen=True)
class CpuUse:
    """CPU used during one run, in cores (CPU seconds / wall seconds)."""

    wall_s: float
    server_cores: float
    generator_cores: float
    machine_busy_cores: float
    machine_cores: int
    stack_rest_cores: float = 0.0

    @property
    def other_cores(self) -> float:
        """Busy time that was neither the server, the rest of the stack nor the generator."""
        return max(0.0, self.machine_busy_cores - self.server_cores - self.generator_cores
                   - self.stack_rest_cores)


def _tree_cpu(pids: Iterable[int]) -> float:
    total = 0.0
    seen: set[int] = set()
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for proc in procs:
            if proc.pid in seen:
                continue
            seen.add(proc.pid)
            try:
                t = proc.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system
    return total


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _machine_busy() -> float:
    # Explicit fields: Linux already counts guest time inside user/nice, so summing every
    # field would count it twice; steal (the hypervisor took the CPU) counts as busy.
    t = psutil.cpu_times()
    return float(sum(getattr(t, f, 0.0) for f in (
        "user", "nice", "system", "irq", "softirq", "steal")))


class CpuMeter:
    """Measure server, generator and machine CPU between ``start()`` and ``stop()``.

    The generator must be a child process that has been waited for before ``stop()``
    (``subprocess.run``): that is when the kernel adds it to ``RUSAGE_CHILDREN``.
    """

    def __init__(self, server_pids: Iterable[int], rest_pids: Iterable[int] = ()) -> None:
        self.server_pids = list(server_pids)
        self.rest_pids = list(rest_pids)

    def start(self) -> None:
        """Take the first sample."""
        self._t0 = time.monotonic()
        self._server0 = _tree_cpu(self.server_pids)
        self._rest0 = _tree_cpu(self.rest_pids)
        self._children0 = _children_cpu()
        self._machine0 = _machine_busy()

    def stop(self) -> CpuUse:
        """Take the second sample and return the differences as cores."""
        wall = max(time.monotonic() - self._t0, 1e-9)
        return CpuUse(
            wall_s=round(wall, 2),
            server_cores=round((_tree_cpu(self.server_pids) - self._server0) / wall, 2),
            generator_cores=round((_children_cpu() - self._children0) / wall, 2),
            machine_busy_cores=round((_machine_busy() - self._machine0) / wall, 2),
            machine_cores=psutil.cpu_count() or 1,
            stack_rest_cores=round((_tree_cpu(self.rest_pids) - self._rest0) / wall, 2),
        )


# ----------------------------------------------------------------------------- wrk


@dataclass
class LoadResult:
    """One load run: throughput, latency percentiles (ms), status counts and CPU."""

    tool: str
    target: str
    concurrency: int
    duration_s: float
    requests: int
    requests_per_s: float
    latency_ms: dict[str, float]
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    notes: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return asdict(self)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(text: str) -> dict[str, Any]:
    """Parse wrk's ``--latency`` report plus the ``vexil-*`` lines of our Lua scripts."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    latency: dict[str, float] = {}
    for pct, value, unit in re.findall(
        r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE
    ):
        latency[f"p{pct}"] = round(float(value) * _UNITS[unit], 3)
    ours = re.search(r"vexil-latency-us (\d+) (\d+) (\d+) (\d+) (\d+)", text)
    if ours:
        p50, p90, p99, p999, top = (int(v) / 1000 for v in ours.groups())
        latency.update(p50=round(p50, 3), p90=round(p90, 3), p99=round(p99, 3),
                       p99_9=round(p999, 3), max=round(top, 3))
    statuses = {code: int(n) for code, n in re.findall(r"vexil-status (\d+) (\d+)", text)}
    return {
        "requests_per_s": float(rps.group(1)) if rps else 0.0,
        "requests": int(total.group(1)) if total else 0,
        "latency_ms": latency,
        "statuses": statuses,
        "errors": sum(int(v) for v in errors.groups()) if errors else 0,
    }


def run_wrk(
    url: str,
    script: str,
    *,
    connections: int,
    duration: float,
    threads: int = 2,
    env: Mapping[str, str] | None = None,
    server_pids: Iterable[int] = (),
    rest_pids: Iterable[int] = (),
    label: str = "",
) -> LoadResult:
    """Run ``wrk`` with one of ``loadtests/wrk/*.lua`` and return the parsed result."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s",
           "--latency", "--timeout", "5s", "-s", str(WRK_DIR / script), url]
    run_env = {**os.environ, "VEXIL_WRK_DIR": str(WRK_DIR), **(env or {})}
    meter = CpuMeter(server_pids, rest_pids)
    meter.start()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=run_env, check=False)
    cpu = meter.stop()
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip()[:500]}")
    parsed = parse_wrk(proc.stdout)
    return LoadResult(
        tool="wrk", target=label or url, concurrency=connections, duration_s=duration,
        requests=parsed["requests"], requests_per_s=parsed["requests_per_s"],
        latency_ms=parsed["latency_ms"], statuses=parsed["statuses"], errors=parsed["errors"],
        cpu={**asdict(cpu), "other_cores": round(cpu.other_cores, 2)},
    )


# ----------------------------------------------------------------------------- locust


def _percentile(hist: Mapping[float, int], q: float) -> float:
    """The q-quantile (0..1) of a {response time ms: count} histogram."""
    total = sum(hist.values())
    if not total:
        return 0.0
    rank = q * total
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        if seen >= rank:
            return float(value)
    return float(max(hist))


def _summarise(entries: list[Mapping[str, Any]]) -> dict[str, Any]:
    hist: dict[float, int] = {}
    for e in entries:
        for ms, count in e["response_times"].items():
            hist[float(ms)] = hist.get(float(ms), 0) + int(count)
    requests = sum(int(e["num_requests"]) for e in entries)
    start = min((float(e["start_time"]) for e in entries), default=0.0)
    end = max((float(e["last_request_timestamp"] or 0) for e in entries), default=0.0)
    span = end - start
    return {
        "requests": requests,
        "failures": sum(int(e["num_failures"]) for e in entries),
        "requests_per_s": round(requests / span, 1) if span > 0 else 0.0,
        "latency_ms": {"p50": _percentile(hist, 0.50), "p90": _percentile(hist, 0.90),
                       "p99": _percentile(hist, 0.99), "p99_9": _percentile(hist, 0.999),
                       "max": max((float(e["max_response_time"] or 0) for e in entries),
                                  default=0.0)},
    }


def parse_locust_json(path: Path) -> dict[str, Any]:
    """Aggregate (and per-name) numbers from Locust's ``--json-file`` output.

    Locust's CSV files are rewritten once a second and not at exit, so they can miss the
    last second; the JSON file is written at exit from the final stats. Percentiles come
    from Locust's response-time histogram (values rounded as Locust rounds them).
    """
    entries: list[Mapping[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    out = _summarise(entries)
    out["by_name"] = {}
    for e in entries:
        one = _summarise([e])
        out["by_name"][str(e["name"])] = {"requests": one["requests"],
                                          "failures": one["failures"],
                                          "p50": one["latency_ms"]["p50"],
                                          "p99": one["latency_ms"]["p99"]}
    return out


def run_locust(
    locustfile: str,
    *,
    users: int,
    duration: float,
    out_prefix: Path,
    spawn_rate: float | None = None,
    processes: int = 1,
    extra: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
    server_pids: Iterable[int] = (),
    rest_pids: Iterable[int] = (),
    label: str = "",
) -> LoadResult:
    """Run a locustfile headless; CSV, HTML and JSON land at ``out_prefix``; return the totals."""
    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "locust", "-f", str(Path(__file__).parent / locustfile),
           "--headless", "-u", str(users), "-r", str(spawn_rate or users),
           "-t", f"{max(1, round(duration))}s", "--only-summary", "--stop-timeout", "2",
           "--csv", str(out_prefix), "--html", f"{out_prefix}.html",
           "--json-file", str(out_prefix), *extra]
    if processes > 1:
        cmd += ["--processes", str(processes)]
    run_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    meter = CpuMeter(server_pids, rest_pids)
    meter.start()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=run_env, cwd=ROOT,
                          check=False, timeout=duration + 120)
    cpu = meter.stop()
    stats_file = Path(f"{out_prefix}.json")
    if not stats_file.is_file():
        raise RuntimeError(f"locust wrote no stats ({proc.returncode}): {proc.stderr[-800:]}")
    parsed = parse_locust_json(stats_file)
    return LoadResult(
        tool=f"locust x{processes}" if processes > 1 else "locust", target=label or locustfile,
        concurrency=users, duration_s=duration, requests=parsed["requests"],
        requests_per_s=parsed["requests_per_s"], latency_ms=parsed["latency_ms"],
        statuses={name: v["requests"] for name, v in parsed["by_name"].items()},
        errors=parsed["failures"],
        cpu={**asdict(cpu), "other_cores": round(cpu.other_cores, 2)},
    )
