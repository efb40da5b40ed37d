"""Dry-run impact benchmark: how long the impact use case takes for a sample, storage aside.

    python -m loadtests.bench_impact [--json] [--quick]

Runs ``chalicelib.usecases.impact.impact`` — read the environment, compile it as stored and
with the proposal (strict, the readers' compiler), generate the sample, evaluate every
context twice — against an in-memory repository holding one environment of ``N_FLAGS``
flags (rule-and-rollout shaped, like the demo's), so the number is the API's CPU cost, not
DynamoDB's. The proposal ramps a 10 % rollout to 50 % behind an EU rule. Reported per sample
size: best-of-rounds wall time, contexts per second, and the share of the use case's time
budget (``TIME_BUDGET_SECONDS``) the largest allowed sample uses.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [p for p in (str(ROOT), str(ROOT / "control_plane")) if p not in sys.path]

from chalicelib import keys  # noqa: E402
from chalicelib.usecases.base import Ctx  # noqa: E402
from chalicelib.usecases.impact import MAX_GENERATED, TIME_BUDGET_SECONDS, impact  # noqa: E402

N_FLAGS = 200
BOOL = {"on": True, "off": False}
FIXED_NOW = 1_790_000_000.0


def _config(on_weight: int) -> dict[str, Any]:
    return {"enabled": True, "off_variation": "off",
            "rules": [{"id": "eu", "clauses": [{"attribute": "country", "op": "in",
                                                "values": ["DE", "FR", "NL"]}],
                       "serve": {"variation": "on"}}],
            "default": {"rollout": {"variations": [
                {"variation": "on", "weight": on_weight},
                {"variation": "off", "weight": 100_000 - on_weight}], "bucket_by": "key"}}}


class MemoryRepository:
    """Just enough of ``chalicelib.repository.Repository`` for a read-only use case."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def put(self, item: dict[str, Any]) -> None:
        """Store one item."""
        self.items[(item["pk"], item["sk"])] = item

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        """The item or None."""
        return self.items.get((pk, sk))

    def query(self, pk: str, sk_prefix: str, **_: Any) -> tuple[list[dict[str, Any]], None]:
        """Every item of the partition whose sk starts with the prefix (one page)."""
        found = [v for (p, s), v in sorted(self.items.items())
                 if p == pk and s.startswith(sk_prefix)]
        return found, None


def build_repository() -> MemoryRepository:
    """Project ``bench`` with environment ``prod`` and ``N_FLAGS`` configured flags."""
    repo = MemoryRepository()
    repo.put({"pk": keys.project_pk("bench"), "sk": keys.environment_sk("prod"), "version": 1})
    definition = orjson.dumps({"kind": "boolean", "variations": BOOL}).decode()
    for i in range(N_FLAGS):
        flag = f"flag-{i}"
        repo.put({"pk": keys.project_pk("bench"), "sk": keys.flag_definition_sk(flag),
                  "body": definition, "version": 1})
        repo.put({"pk": keys.env_pk("bench", "prod"), "sk": keys.flag_config_sk(flag),
                  "body": orjson.dumps(_config(10_000)).decode(), "version": 1})
    return repo


def measure(ctx: Ctx, size: int, rounds: int) -> dict[str, float]:
    """Best-of-``rounds`` wall time of one impact call with a generated sample of ``size``."""
    request = {"flag": "flag-0", "config": _config(50_000),
               "sample": {"generate": size, "seed": 1, "attributes": {
                   "country": {"values": ["DE", "FR", "US", "GB", "NL"],
                               "weights": [3, 2, 4, 2, 1]}}}}
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        out = impact(ctx, "bench", "prod", request)
        best = min(best, time.perf_counter() - started)
    assert out["sample_size"] == size
    return {"seconds": round(best, 4), "contexts_per_second": round(size / best),
            "changed": out["changed_count"]}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print a table (or JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--quick", action="store_true", help="fewer rounds (< 30 s)")
    args = parser.parse_args(argv)
    rounds = 2 if args.quick else 5
    ctx = Ctx(build_repository(), now=lambda: FIXED_NOW)  # type: ignore[arg-type]
    sizes = (100, 1_000, MAX_GENERATED)
    results: dict[str, Any] = {str(n): measure(ctx, n, rounds) for n in sizes}
    results["flags_in_environment"] = N_FLAGS
    results["budget_share_at_max"] = round(
        results[str(MAX_GENERATED)]["seconds"] / TIME_BUDGET_SECONDS, 3)
    if args.json:
        print(json.dumps(results))
        return 0
    print(f"bench_impact: one environment of {N_FLAGS} flags, best of {rounds} rounds")
    for n in sizes:
        r = results[str(n)]
        print(f"  sample {n:>6,}: {r['seconds'] * 1000:8.1f} ms  "
              f"{r['contexts_per_second']:>9,} contexts/s  ({r['changed']:,} change)")
    print(f"  the largest sample uses {results['budget_share_at_max']:.1%} of the "
          f"{TIME_BUDGET_SECONDS:g} s budget")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
