"""Plan benchmark: ``python -m loadtests.bench_plan [--json] [--quick]``.

What ``vexil plan`` costs on the operator's machine once the server state is read (no
network: the remote state is built in memory), for flags files of N flags (a rule with two
clauses, a segment reference, a 10 % rollout; one segment per 50 flags) against a server
holding the same flags with 10 % of them edited:

* ``load_ms`` — reading the YAML with the line locator (PyYAML node tree kept);
* ``plan_ms`` — ``build_plan``: the diff plus the compile of the whole resulting
  environment with the readers' compiler (every error and warning, located);
* ``render_ms`` / ``json_ms`` — the text and ``--json`` outputs.

Median of R runs each. Goal: well under the issue's end-to-end budgets (1,000 flags in
10 s, 10,000 in 60 s for a whole apply).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from edge_reader.engine.fields import split_flag
from vexil.flagsfile import FlagsFile, load
from vexil.plan import build_plan, render, to_json
from vexil.remote import RemoteFlag, RemoteSegment, RemoteState


def flags_document(n: int) -> dict[str, Any]:
    """A flags file of ``n`` realistic flags and n/50 segments."""
    segments = {f"seg-{i}": {"included": [f"u-{i}-{j}" for j in range(20)]}
                for i in range(max(1, n // 50))}
    flags: dict[str, Any] = {}
    for i in range(n):
        flags[f"flag-{i:05d}"] = {
            "kind": "boolean", "variations": {"on": True, "off": False},
            "description": f"flag {i}", "tags": ["bench"], "enabled": True,
            "off_variation": "off",
            "rules": [{"id": "eu", "clauses": [
                {"attribute": "country", "op": "in", "values": ["DE", "FR", "AT"]},
                {"op": "segment_match", "values": [f"seg-{i % len(segments)}"]}],
                "serve": {"variation": "on"}}],
            "default": {"rollout": {"variations": [{"variation": "on", "weight": 10000},
                                                   {"variation": "off", "weight": 90000}]}},
        }
    return {"format": 1, "project": "bench", "environment": "dev", "flags": flags,
            "segments": segments}


def remote_state(desired: FlagsFile, edited_share: float = 0.1) -> RemoteState:
    """The server holding ``desired`` with ``edited_share`` of its flags' rollouts changed."""
    state = RemoteState(desired.project, desired.environment)
    step = max(1, round(1 / edited_share))
    for i, (key, flag) in enumerate(desired.flags.items()):
        definition, config = split_flag(json.loads(json.dumps(flag)))
        if i % step == 0:
            config["default"]["rollout"]["variations"][0]["weight"] = 20000
            config["default"]["rollout"]["variations"][1]["weight"] = 80000
        state.flags[key] = RemoteFlag(key, definition, 1, config, 1)
    for key, seg in desired.segments.items():
        state.segments[key] = RemoteSegment(key, dict(seg), 1)
    return state


def _median_ms(fn: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 1)


def measure(n: int, runs: int) -> dict[str, Any]:
    """Every figure for a file of ``n`` flags."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "flags.yaml"
        path.write_text(yaml.safe_dump(flags_document(n)), encoding="utf-8")
        desired = load(str(path))
        load_ms = _median_ms(lambda: load(str(path)), runs)
    remote = remote_state(desired)
    plan = build_plan(desired, remote)
    return {
        "flags": n,
        "changes": len(plan.changes),
        "errors": len(plan.errors),
        "warnings": len(plan.warnings),
        "load_ms": load_ms,
        "plan_ms": _median_ms(lambda: build_plan(desired, remote), runs),
        "render_ms": _median_ms(lambda: render(plan, source="flags.yaml"), runs),
        "json_ms": _median_ms(lambda: json.dumps(to_json(plan, source="flags.yaml")), runs),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print a table, or JSON with ``--json``."""
    parser = argparse.ArgumentParser(prog="loadtests.bench_plan")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a few seconds)")
    args = parser.parse_args(argv)
    sizes, runs = ((100, 1000), 3) if args.quick else ((100, 1000, 10000), 5)
    results = [measure(n, runs) for n in sizes]
    if args.json:
        print(json.dumps({"benchmark": "plan", "runs": runs, "results": results}, indent=2))
        return 0
    print(f"{'flags':>6} {'changes':>8} {'load ms':>9} {'plan ms':>9} {'render ms':>10} "
          f"{'json ms':>8}")
    for r in results:
        print(f"{r['flags']:>6} {r['changes']:>8} {r['load_ms']:>9} {r['plan_ms']:>9} "
              f"{r['render_ms']:>10} {r['json_ms']:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
