"""Evaluation-insights benchmark: ``python -m loadtests.bench_insights [--json] [--quick]``.

* ``table``: a reader's summary table filled with 10,000 flags × 3 variations (the worst
  case of one window): its memory (tracemalloc: exactly what the window allocates), the
  slow-path ``add`` time (new and existing entries; the getters' inline fast path is
  measured by ``bench_eval``), and the time and bytes to turn it into payloads.
* ``ingest``: the local ingest endpoint (``POST /v1/insights/evaluations`` on a private
  ``moto_server`` + ``chalice local``, both on 127.0.0.1 and stopped at the end): N
  sequential summaries of F flags × 2 variations each, authenticated by a real SDK key;
  summaries/s, counters/s, latency and its ``aws`` share (Server-Timing). moto serves about
  300 DynamoDB operations/s on this machine and a summary costs F + 1 UpdateItems, so the
  figure measures the emulator more than the endpoint. The F flags are created first: only
  flags the environment has are counted per name.
* ``unknown``: summaries of 5,000 counters of flags the environment does not have (what a
  hostile or misconfigured client key sends): answered with one UpdateItem (the day's
  summary item), whatever the names; latency and the items written.

What recording costs a getter is measured by ``bench_eval`` (its ``insights`` figures).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from typing import Any

from edge_reader.client._insights import Insights
from edge_reader.engine import EvaluationDetail, Reason
from loadtests.bench_api import BIN, CONTROL_PLANE, ROOT, _port, _request, _wait
from vexil.devstack import procs

N_FLAGS = 10_000
VARIATIONS = ("a", "b", "c")


def measure_table(n_flags: int = N_FLAGS) -> dict[str, Any]:
    """Memory and CPU of one window holding ``n_flags`` × 3 variations, filled the way the
    getters fill it (prebuilt details: two per flag in its slots, the third counted by
    (flag, variant, reason))."""
    keys = [f"flag-{i}" for i in range(n_flags)]
    details = [EvaluationDetail(v, v, Reason.SPLIT) for v in VARIATIONS]

    def fill(table: Insights) -> float:
        t0 = time.perf_counter()
        for key in keys:
            for detail in details:
                table.add(key, detail)
        return time.perf_counter() - t0

    def new_table() -> Insights:
        return Insights(url="http://127.0.0.1:9/v1/insights/evaluations", sdk_key_text="k",
                        project="shop", environment="production",
                        max_entries=n_flags * len(VARIATIONS))

    entries = n_flags * len(VARIATIONS)
    table = new_table()
    first = fill(table)
    again = fill(table)  # every entry exists: the steady state
    window = table.take_window()
    t0 = time.perf_counter()
    payloads = table.payloads(window, time.time())
    build = time.perf_counter() - t0
    gc.collect()
    tracemalloc.start()  # a second table, traced: exactly what a window allocates
    traced = new_table()
    fill(traced)
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"flags": n_flags, "entries": entries,
            "table_mb": round(current / 2**20, 2),
            "bytes_per_flag_variation": round(current / entries),
            "record_first_us": round(first / entries * 1e6, 3),
            "record_existing_us": round(again / entries * 1e6, 3),
            "payloads": len(payloads),
            "payload_kb_total": round(sum(len(b) for b, _ in payloads) / 1024, 1),
            "payload_build_ms": round(build * 1000, 1)}


def _summary(flags: int, round_no: int) -> dict[str, Any]:
    counters = [{"flag": f"flag-{i}", "variant": v, "reason": "SPLIT", "count": 10 + round_no}
                for i in range(flags) for v in ("on", "off")]
    return {"format": 1, "sdk": {"name": "bench", "version": "1"}, "project": "bench",
            "environment": "dev", "window": {"start": 0, "end": 1}, "dropped": 0,
            "counters": counters}


def measure_ingest(n: int, flags: int) -> dict[str, Any]:
    """Start moto + chalice local, create an SDK key, time ``n`` summaries of ``flags``."""
    moto_port, api_port = _port(), _port()
    env = dict(os.environ)
    env.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
                "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}"})
    started: list[subprocess.Popen[bytes]] = []
    try:
        moto = subprocess.Popen([sys.executable, "-m", "vexil.devstack.motoserver", "-H",
                                 "127.0.0.1", "-p", str(moto_port)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(moto)
        _wait(f"http://127.0.0.1:{moto_port}/moto-api/", moto)
        os.environ.update(env)
        sys.path[:0] = [str(ROOT), str(CONTROL_PLANE)]
        from chalicelib.tokens import bootstrap_admin_token  # noqa: PLC0415

        from vexil.resources import ensure_resources  # noqa: PLC0415

        env.update(ensure_resources())
        os.environ.update(env)
        token, _ = bootstrap_admin_token("bench")
        api = subprocess.Popen([str(BIN / "chalice"), "local", "--host", "127.0.0.1",
                                "--port", str(api_port), "--stage", "local",
                                "--no-autoreload"], cwd=CONTROL_PLANE, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(api)
        base = f"http://127.0.0.1:{api_port}"
        _wait(base + "/v1/health", api)
        _request(base, "POST", "/v1/projects", token, {"key": "bench"})
        _request(base, "POST", "/v1/projects/bench/environments", token, {"key": "dev"})
        status, created, _, _ = _request(base, "POST",
                                         "/v1/projects/bench/environments/dev/sdk-keys", token,
                                         {"kind": "server"})
        if status != 201:
            raise RuntimeError(f"creating the SDK key answered {status}")
        for i in range(flags):
            _request(base, "POST", "/v1/projects/bench/flags", token, {
                "key": f"flag-{i}", "kind": "boolean", "variations": {"on": True, "off": False}})
        result = _time_ingest(base, str(created["key"]), n, flags)
        result["unknown"] = _time_unknown(base, str(created["key"]), max(3, n // 4))
        return result
    finally:
        for proc in reversed(started):
            procs.stop(proc)


def _time_ingest(base: str, sdk_key: str, n: int, flags: int) -> dict[str, Any]:
    totals: list[float] = []
    aws: list[float] = []
    t0 = time.perf_counter()
    for i in range(n):
        status, answer, timing, total = _request(base, "POST", "/v1/insights/evaluations",
                                                 sdk_key, _summary(flags, i))
        if status != 200 or answer.get("flags") != flags:
            raise RuntimeError(f"summary {i} answered {status}: {answer}")
        totals.append(total)
        aws.append(timing.get("aws", 0.0))
    wall = time.perf_counter() - t0
    ordered = sorted(totals)
    return {"summaries": n, "flags_per_summary": flags, "counters_per_summary": flags * 2,
            "dynamodb_writes_per_summary": flags + 1,
            "summaries_per_sec": round(n / wall, 1),
            "counters_per_sec": round(n * flags * 2 / wall),
            "p50_ms": round(statistics.median(totals) * 1000, 1),
            "p99_ms": round(ordered[min(n - 1, round(0.99 * (n - 1)))] * 1000, 1),
            "aws_share": round(sum(aws) / sum(totals), 2)}


def _time_unknown(base: str, sdk_key: str, n: int) -> dict[str, Any]:
    """``n`` summaries of 5,000 counters naming flags the environment does not have."""
    totals: list[float] = []
    written: set[int] = set()
    for i in range(n):
        body = {**_summary(0, i), "counters": [
            {"flag": f"ghost-{i}-{j}", "variant": "on", "reason": "SPLIT", "count": 1}
            for j in range(5000)]}
        status, answer, _, total = _request(base, "POST", "/v1/insights/evaluations",
                                            sdk_key, body)
        if status != 200 or answer.get("unknown", {}).get("flags") != 5000:
            raise RuntimeError(f"unknown summary {i} answered {status}: {answer}")
        totals.append(total)
        written.add(int(answer["flags"]) + 1)  # one item per counted flag + the day summary
    return {"summaries": n, "counters_per_summary": 5000,
            "items_written_per_summary": max(written),
            "p50_ms": round(statistics.median(totals) * 1000, 1)}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print a summary (or JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--quick", action="store_true", help="fewer summaries (< 60 s)")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"table": measure_table()}
    results["ingest"] = measure_ingest(n=20 if args.quick else 100, flags=20)
    if args.json:
        print(json.dumps(results))
        return 0
    t, g = results["table"], results["ingest"]
    print(f"summary table, {t['flags']:,} flags x 3 variations ({t['entries']:,} entries): "
          f"{t['table_mb']} MB ({t['bytes_per_flag_variation']} B each); add "
          f"{t['record_first_us']} us new / {t['record_existing_us']} us existing; "
          f"{t['payloads']} payloads, "
          f"{t['payload_kb_total']} KB, built in {t['payload_build_ms']} ms")
    print(f"ingest (local, moto): {g['summaries_per_sec']} summaries/s = "
          f"{g['counters_per_sec']:,} counters/s ({g['counters_per_summary']} counters, "
          f"{g['dynamodb_writes_per_summary']} UpdateItems each); p50 {g['p50_ms']} ms, p99 "
          f"{g['p99_ms']} ms, {int(g['aws_share'] * 100)} % of it in DynamoDB (moto)")
    u = g["unknown"]
    print(f"ingest of {u['counters_per_summary']:,} counters of unknown flags: "
          f"{u['items_written_per_summary']} item written per summary; p50 {u['p50_ms']} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
