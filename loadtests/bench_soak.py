"""The local stack over many revisions: ``python -m loadtests.bench_soak [--json] [--quick]``.

Starts a whole local stack (``vexil dev up`` in a temporary state directory, free ports),
creates a project with ``--flags`` flags, then makes ``--revisions`` revisions (default
2,000; ``--quick``: 300) — each one ``PUT`` of a flag's configuration with If-Match, so one
published revision each — and every ``--every`` revisions (100) reads the launcher's census
(``GET /_vexil/emulator``): the emulator's RSS, its stream records, live shard iterators and
S3 object versions. At the end it waits until the stream worker has handled every stream
record (no publish lost), stops the stack (which saves the emulator's state) and reports the
state file's size and the last save's duration.

Goal (issue 14): RSS ≤ 1 GB after 2,000 revisions and flat after warm-up. "Flat" is
defined here: the least-squares slope of RSS over the samples of the run's last half is at
most ``FLAT_MB_PER_100`` (2 MB per 100 revisions). The growth from the sample at a quarter
of the run to the last is reported too (the earlier verdict, kept for comparison).
Every bound is a retention window (iterators 15 min, stream records 24 h, superseded bundles
30 lifecycle "days" of 10 s), and memory can only be flat once the run is longer than the
longest window. So the soak compresses the emulator's clock (``SOAK_CLOCK``: iterators 60 s,
stream records 120 s, a lifecycle day 2 s, a maintenance pass every 10 s) and says so in its
report; ``--stack-defaults`` runs with the stack's own windows instead (then a 2,000-revision
run, about 12 minutes, ends before the 15-minute and 24-hour windows are reached). With
``--tracemalloc`` the emulator runs under tracemalloc and the report lists its 15 largest
allocation sites (slower: for finding what grows, not for the numbers).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from vexil.api import ApiClient
from vexil.devstack import stack
from vexil.errors import ApiError
from vexil.remote import Writer
from vexil.stream_worker import CHECKPOINT_FILE, Checkpoint

PROJECT, ENVIRONMENT = "soak", "dev"
GOAL_RSS_BYTES = 1 << 30
FLAT_MB_PER_100 = 2.0
# The emulator's retention windows, compressed so that a 12-minute soak passes all of them.
SOAK_CLOCK = {"VEXIL_EMULATOR_ITERATOR_TTL": "60", "VEXIL_EMULATOR_STREAM_RETENTION": "120",
              "VEXIL_EMULATOR_LIFECYCLE_DAY": "2", "VEXIL_EMULATOR_MAINTAIN_EVERY": "10"}
MB = 1024 * 1024


def _flag(key: str) -> dict[str, Any]:
    return {"kind": "boolean", "variations": {"on": True, "off": False},
            "description": "soak benchmark flag"}


def seed(api: ApiClient, flags: int) -> list[str]:
    """Create the project, its environment and ``flags`` boolean flags; return their keys."""
    writer = Writer(api, PROJECT, ENVIRONMENT, "bench_soak seed")
    writer.create_project()
    writer.create_environment()
    keys = [f"soak-{i:03d}" for i in range(flags)]
    for key in keys:
        writer.create_flag(key, _flag(key))
    return keys


def revise(writer: Writer, key: str, versions: dict[str, int], n: int) -> None:
    """One revision: flip ``key`` on/off with If-Match on the version last written."""
    body = {"enabled": n % 2 == 0, "off_variation": "off", "default": {"variation": "on"}}
    if key not in versions:
        versions[key] = writer.config_version(key)
    try:
        writer.put_configuration(key, body, versions[key])
    except ApiError as exc:
        if exc.status != 412:
            raise
        versions[key] = writer.config_version(key)  # someone else wrote: read, retry once
        writer.put_configuration(key, body, versions[key])
    versions[key] += 1


def sample(info: dict[str, Any], revisions: int, started: float) -> dict[str, Any]:
    """One census of the emulator, trimmed to what the report plots."""
    census = stack.emulator_census(str(info["aws_endpoint"]))
    main = census.get("tables", {}).get(str(info["table"]), {})
    return {
        "revisions": revisions,
        "seconds": round(time.monotonic() - started, 1),
        "rss_mb": round(census.get("rss_bytes", 0) / MB, 1),
        "stream_records": main.get("stream_records", 0),
        "shard_iterators": census.get("shard_iterators", 0),
        "s3_versions": census.get("s3_versions", 0),
        "s3_objects": census.get("s3_objects", 0),
        "items": main.get("items", 0),
    }


def wait_drained(paths: stack.StatePaths, info: dict[str, Any], timeout: float = 120.0
                 ) -> float:
    """Seconds until the stream worker's checkpoint reaches the stream's last record."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        census = stack.emulator_census(str(info["aws_endpoint"]))
        main = census.get("tables", {}).get(str(info["table"]), {})
        checkpoint = Checkpoint.load(paths.stream / CHECKPOINT_FILE)
        done = checkpoint.shards.get(str(main.get("shard_id")))
        if done is not None and int(done) >= int(main.get("stream_next", 0)) - 1:
            return time.monotonic() - started
        time.sleep(0.5)
    raise TimeoutError(f"the stream worker did not catch up within {timeout:.0f} s")


def run(revisions: int, every: int, flags: int, *, tracemalloc: bool = False,
        clock: dict[str, str] | None = None) -> dict[str, Any]:
    """Run the soak on a fresh stack; return the report (samples, verdict, state file).
    ``clock``: environment for the emulator's retention windows (None: the stack's own)."""
    if tracemalloc:
        os.environ["VEXIL_EMULATOR_TRACEMALLOC"] = "1"
    os.environ.update(clock or {})  # the stack's launcher inherits this environment
    with tempfile.TemporaryDirectory(prefix="vexil-soak-") as tmp:
        paths = stack.StatePaths(Path(tmp))
        info = stack.up(paths, fixed_ports=False, out=io.StringIO())
        try:
            api = ApiClient(info["api"], info["admin_token"])
            keys = seed(api, flags)
            writer = Writer(api, PROJECT, ENVIRONMENT, None)
            versions: dict[str, int] = {}
            started = time.monotonic()
            samples = [sample(info, 0, started)]
            for n in range(1, revisions + 1):
                revise(writer, keys[n % len(keys)], versions, n)
                if n % every == 0:
                    samples.append(sample(info, n, started))
            drained = wait_drained(paths, info)
            final = stack.emulator_census(str(info["aws_endpoint"]))
        finally:
            stack.down(paths, out=io.StringIO())
        state_bytes = paths.emulator_state.stat().st_size if paths.emulator_state.exists() else 0
    result = report(samples, drained=drained, final=final, state_bytes=state_bytes)
    return {"emulator_clock": clock or "stack defaults", **result}


def slope_per_100(samples: list[dict[str, Any]]) -> float:
    """Least-squares slope of ``rss_mb`` over ``revisions`` in MB per 100 revisions (0 for
    fewer than two samples)."""
    if len(samples) < 2:
        return 0.0
    xs = [float(s["revisions"]) for s in samples]
    ys = [float(s["rss_mb"]) for s in samples]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return 100 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


def report(samples: list[dict[str, Any]], *, drained: float, final: dict[str, Any],
           state_bytes: int) -> dict[str, Any]:
    """The verdict over ``samples``: final RSS, growth per 100 revisions after warm-up."""
    last = samples[-1]
    warm = samples[max(1, len(samples) // 4)] if len(samples) > 2 else samples[0]
    span = max(1, last["revisions"] - warm["revisions"])
    slope = (last["rss_mb"] - warm["rss_mb"]) * 100 / span
    half = slope_per_100([s for s in samples if s["revisions"] >= last["revisions"] / 2])
    return {
        "revisions": last["revisions"],
        "seconds": last["seconds"],
        "revisions_per_second": round(last["revisions"] / max(last["seconds"], 0.001), 1),
        "rss_mb_start": samples[0]["rss_mb"],
        "rss_mb_warm": warm["rss_mb"],
        "rss_mb_end": last["rss_mb"],
        "rss_mb_per_100_after_warmup": round(slope, 2),
        "rss_mb_per_100_last_half": round(half, 2),
        "flat_mb_per_100": FLAT_MB_PER_100,
        "flat": half <= FLAT_MB_PER_100,
        "goal_rss_mb": GOAL_RSS_BYTES // MB,
        "within_goal": last["rss_mb"] * MB <= GOAL_RSS_BYTES,
        "worker_caught_up_seconds": round(drained, 2),
        "state_file_mb": round(state_bytes / MB, 2),
        "last_save_seconds": (final.get("state") or {}).get("last_seconds"),
        "maintained": final.get("maintained"),
        "tracemalloc": final.get("tracemalloc"),
        "samples": samples,
    }


def _print_text(result: dict[str, Any]) -> None:
    print(f"{'revisions':>9} {'s':>7} {'RSS MB':>8} {'stream':>7} {'iters':>6} {'S3 vers':>8} "
          f"{'S3 objs':>8}")
    for s in result["samples"]:
        print(f"{s['revisions']:>9} {s['seconds']:>7} {s['rss_mb']:>8} {s['stream_records']:>7} "
              f"{s['shard_iterators']:>6} {s['s3_versions']:>8} {s['s3_objects']:>8}")
    print(f"RSS {result['rss_mb_start']} → {result['rss_mb_end']} MB "
          f"({result['rss_mb_per_100_after_warmup']:+} MB per 100 revisions after warm-up); "
          f"goal ≤ {result['goal_rss_mb']} MB: {'met' if result['within_goal'] else 'MISSED'}")
    print(f"last half: {result['rss_mb_per_100_last_half']:+} MB per 100 revisions "
          f"(flat ≤ {result['flat_mb_per_100']}): {'flat' if result['flat'] else 'NOT flat'}")
    print(f"emulator clock: {result['emulator_clock']}")
    print(f"{result['revisions_per_second']} revisions/s; worker caught up "
          f"{result['worker_caught_up_seconds']} s after the last write; state file "
          f"{result['state_file_mb']} MB, last save {result['last_save_seconds']} s")
    for site in result.get("tracemalloc") or []:
        print(f"  {site['bytes'] / MB:8.1f} MB {site['count']:>8}  {site['site']}")


def main(argv: list[str] | None = None) -> int:
    """Entry point; exit 0 when the goal is met (and, for a full run, RSS is flat), 1 when
    not."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--quick", action="store_true", help="300 revisions (about a minute)")
    parser.add_argument("--revisions", type=int, default=None, help="default 2000 (quick 300)")
    parser.add_argument("--every", type=int, default=100, help="sample every N revisions")
    parser.add_argument("--flags", type=int, default=20, help="flags in the environment")
    parser.add_argument("--stack-defaults", action="store_true",
                        help="keep the stack's own retention windows (no SOAK_CLOCK)")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="run the emulator under tracemalloc; list its top allocations")
    args = parser.parse_args(argv)
    revisions = args.revisions or (300 if args.quick else 2000)
    if revisions < 1 or args.every < 1 or args.flags < 1:
        parser.error("--revisions, --every and --flags must be positive")
    result = run(revisions, args.every, args.flags, tracemalloc=args.tracemalloc,
                 clock=None if args.stack_defaults else SOAK_CLOCK)
    if args.json:
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        _print_text(result)
    full = not (args.quick or args.stack_defaults)
    return 0 if result["within_goal"] and (result["flat"] or not full) else 1


if __name__ == "__main__":
    sys.exit(main())
