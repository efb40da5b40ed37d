"""Flags-as-code at scale: ``python -m loadtests.bench_apply [--json] [--quick]``.

For 100, 1,000 and 10,000 flags (``--quick``: 100 and 1,000), on the local stack (moto, chalice
local, the stream worker, nginx — ``vexil.devstack``), in a fresh project each:

1. **create** — a generated flags file applied to a new environment the way ``vexil apply``
   does it (``fetch_state`` → ``build_plan`` → ``apply_plan``: one changeset);
2. **edit** — 10 % of the flags changed (one rule value each) and applied again.

Per step it reports the API calls made (counted on the client), the seconds of plan + apply,
the revisions published (the environment's revision before and after) and the distinct
revisions a FlagClient (50 ms poll, through the nginx CDN stand-in, publisher signature
verified) served while the apply ran, and the seconds from the start of the apply until that
reader served the new revision.

Goals (issue 14, this 2-core machine): 1,000 flags ≤ 10 s end to end with exactly 1 revision
per apply; 10,000 ≤ 60 s. The last JSON document on stdout is the result (``--json``).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from vexil.api import ApiClient, Response  # noqa: E402
from vexil.apply import apply_plan  # noqa: E402
from vexil.flagsfile import FlagsFile, parse  # noqa: E402
from vexil.plan import build_plan  # noqa: E402
from vexil.remote import Writer, env_path, fetch_state  # noqa: E402

SIZES = (100, 1000, 10_000)
QUICK_SIZES = (100, 1000)


class CountingApi(ApiClient):
    """The CLI's API client, counting the requests it sends."""

    calls = 0

    def request(self, method: str, url_path: str, **kwargs: Any) -> Response:
        """Count, then send."""
        self.calls += 1
        return super().request(method, url_path, **kwargs)


def flags_file(project: str, n: int, edited: int = 0) -> FlagsFile:
    """``n`` boolean flags with a rule each; the first ``edited`` carry a changed rule value."""
    flags = {}
    for i in range(n):
        country = "FR" if i < edited else "DE"
        flags[f"flag-{i:05d}"] = {
            "kind": "boolean", "variations": {"on": True, "off": False},
            "description": f"generated flag {i}", "tags": ["bench"],
            "enabled": True, "off_variation": "off",
            "rules": [{"id": "eu", "clauses": [{"attribute": "country", "op": "in",
                                                "values": [country, "AT"]}],
                       "serve": {"variation": "on"}}],
            "default": {"rollout": {"variations": [{"variation": "on", "weight": 10_000},
                                                   {"variation": "off", "weight": 90_000}]}},
        }
    return parse({"format": 1, "project": project, "environment": "prod", "flags": flags,
                  "segments": {}}, source=f"generated-{n}")


class RevisionWatch:
    """Records every revision a FlagClient serves, on a thread, until stopped."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.seen: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            rev = self.client.revision
            if rev is not None and (not self.seen or self.seen[-1][1] != rev):
                self.seen.append((time.perf_counter(), rev))
            time.sleep(0.01)

    def first_at(self, revision: int, since: float, timeout: float) -> float:
        """Seconds from ``since`` until the reader served ``revision`` (or later)."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            hits = [t for t, r in list(self.seen) if r >= revision]
            if hits:
                return round(hits[0] - since, 2)
            time.sleep(0.01)
        raise TimeoutError(f"the reader never served revision {revision}")

    def stop(self) -> None:
        """Stop the thread."""
        self._stop.set()
        self._thread.join(timeout=5)


def _revision(api: ApiClient, project: str) -> int:
    body = api.get(env_path(project, "prod")).body
    return int(body["revision"]) if isinstance(body, dict) else -1


def apply_step(api: CountingApi, desired: FlagsFile, watch: RevisionWatch) -> dict[str, Any]:
    """One ``vexil apply`` of ``desired``, measured."""
    project = desired.project
    before = _revision(api, project)
    calls0 = api.calls
    t0 = time.perf_counter()
    plan = build_plan(desired, fetch_state(api, project, "prod"))
    report = apply_plan(plan, Writer(api, project, "prod", "bench_apply"))
    seconds = time.perf_counter() - t0
    calls = api.calls - calls0
    after = _revision(api, project)
    seen_at = watch.first_at(after, t0, timeout=300)
    served = sorted({r for t, r in watch.seen if t >= t0})
    return {"changes": len(plan.changes), "api_calls": calls, "seconds": round(seconds, 2),
            "revisions_published": after - before, "reader_revisions_seen": served,
            "reader_sees_new_revision_s": seen_at, "revision": after,
            "applied": len(report.applied)}


def run_size(info: dict[str, Any], n: int) -> dict[str, Any]:
    """Create + 10 % edit for ``n`` flags in a fresh project."""
    from edge_reader import FlagClient  # noqa: PLC0415

    project = f"bench-apply-{n}"
    api = CountingApi(info["api"], info["admin_token"], timeout=600)
    writer = Writer(api, project, "prod", "bench_apply")
    writer.create_project()
    writer.create_environment()
    resp = api.request("POST", env_path(project, "prod") + "/sdk-keys", body={"kind": "server"})
    key = str(resp.body["key"]) if isinstance(resp.body, dict) else ""
    client = FlagClient(project=project, environment="prod", sdk_key=key, cdn_url=info["cdn"],
                        ca_bundle=info["ca_bundle"], signing_keys=info["signing_public_key"],
                        poll_interval=0.05, jitter=0.0)
    watch = RevisionWatch(client)
    try:
        watch.first_at(_revision(api, project), time.perf_counter(), timeout=60)
        create = apply_step(api, flags_file(project, n), watch)
        edit = apply_step(api, flags_file(project, n, edited=max(1, n // 10)), watch)
    finally:
        watch.stop()
        client.close()
    return {"flags": n, "create": create, "edit": edit}


def run(sizes: tuple[int, ...]) -> dict[str, Any]:
    """Start a local stack, measure every size, stop the stack."""
    from vexil.devstack.stack import StatePaths, down, up  # noqa: PLC0415

    state = Path(tempfile.mkdtemp(prefix="vexil-bench-apply-"))
    paths = StatePaths(state)
    os.environ["VEXIL_LOCAL_CDN_CACHE_DIR"] = str(paths.nginx / "cache")
    log = io.StringIO()
    try:
        info = up(paths, fixed_ports=False, out=log)
        results = [run_size(info, n) for n in sizes]
    finally:
        left = down(paths, out=log)
        shutil.rmtree(state, ignore_errors=True)
    goals = {r["flags"]: r for r in results}
    checks = {
        "1000_flags_le_10s": all(goals[1000][s]["reader_sees_new_revision_s"] <= 10
                                 for s in ("create", "edit")) if 1000 in goals else None,
        "1_revision_per_apply": all(r[s]["revisions_published"] == 1
                                    for r in results for s in ("create", "edit")),
        "10000_flags_le_60s": all(goals[10_000][s]["reader_sees_new_revision_s"] <= 60
                                  for s in ("create", "edit")) if 10_000 in goals else None,
    }
    return {"benchmark": "apply", "sizes": results, "goals": checks,
            "stack_processes_left": left,
            "command": "python -m loadtests.bench_apply --json" + (
                " --quick" if sizes == QUICK_SIZES else "")}


def _text(result: dict[str, Any]) -> str:
    lines = ["flags  step    changes  API calls  apply s  revisions  reader saw  reader s"]
    for r in result["sizes"]:
        for step in ("create", "edit"):
            s = r[step]
            lines.append(f"{r['flags']:>6} {step:<7} {s['changes']:>7} {s['api_calls']:>10} "
                         f"{s['seconds']:>8} {s['revisions_published']:>10} "
                         f"{s['reader_revisions_seen']!s:>11} "
                         f"{s['reader_sees_new_revision_s']:>9}")
    lines.append(f"goals: {result['goals']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench_apply")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--quick", action="store_true", help="100 and 1,000 flags only")
    parser.add_argument("--sizes", type=int, nargs="+", help="flag counts (default 100 1000 "
                        "10000)")
    args = parser.parse_args(argv)
    result = run(tuple(args.sizes) if args.sizes else QUICK_SIZES if args.quick else SIZES)
    print(json.dumps(result, indent=2) if args.json else _text(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
