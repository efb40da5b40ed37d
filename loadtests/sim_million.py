"""One million distinct users through the engine: rollout shares, evaluation rate, memory.

    python -m loadtests.sim_million [--users 1000000] [--json]

A realistic environment (``build_document``): 5 rollout flags with known weights (10 %,
50 %, a three-way experiment, a rule-gated 25 %, a 0.5 % canary), 300 rule flags (country,
plan, semver, segment clauses) and a 10,000-key beta segment. Every user gets a fresh
context (key, country, plan, app version) and is evaluated against every rollout flag plus
three rule flags. Reported: the served share of every rollout variation against its
configured weight (with the binomial standard error, so a reader can judge the gap), the
evaluation rate including context construction, and RSS (psutil) before and after.
Engine only: no network, no decryption.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter
from typing import Any

import psutil

from edge_reader.engine import Context, compile_environment

COUNTRIES = ("DE", "FR", "NL", "US", "GB", "ES", "IT", "PL", "SE", "JP")
PLANS = ("free", "free", "free", "pro", "team")
BOOL = {"on": True, "off": False}
RULE_FLAGS = 300


def _rollout(weights: dict[str, int], salt: str) -> dict[str, Any]:
    return {"rollout": {"variations": [{"variation": v, "weight": w} for v, w in weights.items()],
                        "bucket_by": "key", "context_kind": "user", "salt": salt}}


# flag key -> configured weights (units of 0.001 %); the share check compares against these.
ROLLOUTS: dict[str, dict[str, int]] = {
    "new-search": {"on": 10_000, "off": 90_000},
    "checkout-v2": {"on": 50_000, "off": 50_000},
    "pricing-experiment": {"control": 33_334, "a": 33_333, "b": 33_333},
    "eu-recommendations": {"on": 25_000, "off": 75_000},   # only for EU users (rule-gated)
    "canary": {"on": 500, "off": 99_500},
}
EU = ["DE", "FR", "NL", "ES", "IT", "PL", "SE"]


def build_document() -> dict[str, Any]:
    """The simulated production environment (flags + segments)."""
    flags: dict[str, Any] = {}
    for key, weights in ROLLOUTS.items():
        variations: dict[str, Any] = (
            BOOL if set(weights) == {"on", "off"} else {v: v for v in weights})
        flag: dict[str, Any] = {"kind": "boolean" if variations is BOOL else "string",
                                "variations": variations, "enabled": True,
                                "default": _rollout(weights, key)}
        if key == "eu-recommendations":
            flag["off_variation"] = "off"
            flag["rules"] = [{"id": "non-eu", "clauses": [
                {"attribute": "country", "op": "in", "values": EU, "negate": True}],
                "serve": {"variation": "off"}}]
        flags[key] = flag
    for i in range(RULE_FLAGS):
        flags[f"rule-{i:03d}"] = {
            "kind": "boolean", "variations": BOOL, "enabled": True, "off_variation": "off",
            "rules": [
                {"id": "beta", "clauses": [{"attribute": "key", "op": "segment_match",
                                            "values": ["beta"]}], "serve": {"variation": "on"}},
                {"id": "pro-eu", "clauses": [
                    {"attribute": "country", "op": "in", "values": EU[: 1 + i % 7]},
                    {"attribute": "plan", "op": "in", "values": ["pro", "team"]},
                    {"attribute": "appVersion", "op": "semver_gte",
                     "values": [f"4.{i % 10}.0"]}],
                 "serve": {"variation": "on"}},
            ],
            "default": {"variation": "off"},
        }
    segments = {"beta": {"context_kind": "user",
                         "included": [f"user-{i}" for i in range(0, 1_000_000, 100)]}}
    return {"flags": flags, "segments": segments}


def _context(i: int) -> dict[str, Any]:
    # Deterministic but varied attributes; the targeting key alone decides the bucket.
    return {"targetingKey": f"user-{i}", "country": COUNTRIES[(i * 7) % 10],
            "plan": PLANS[(i * 13) % 5], "appVersion": f"{3 + i % 3}.{(i // 3) % 10}.{i % 7}"}


def simulate(users: int) -> dict[str, Any]:
    """Run the simulation; return shares, rates and memory as a JSON-ready dict."""
    proc = psutil.Process()
    rss0 = proc.memory_info().rss
    t0 = time.perf_counter()
    env = compile_environment(build_document(), strict=True, clock=time.time)
    compile_s = time.perf_counter() - t0
    rss_compiled = proc.memory_info().rss
    counts: dict[str, Counter[str]] = {k: Counter() for k in ROLLOUTS}
    eligible: Counter[str] = Counter()
    rule_keys = [f"rule-{i:03d}" for i in range(RULE_FLAGS)]
    rule_on = 0
    evaluations = 0
    t1 = time.perf_counter()
    for i in range(users):
        ctx = Context.from_mapping(_context(i))
        for key in ROLLOUTS:
            detail = env.evaluate(key, ctx, None)
            if detail.reason == "SPLIT":
                counts[key][str(detail.variant)] += 1
                eligible[key] += 1
        for j in (i % RULE_FLAGS, (i * 7) % RULE_FLAGS, (i * 13) % RULE_FLAGS):
            rule_on += env.evaluate(rule_keys[j], ctx, False).value is True
        evaluations += len(ROLLOUTS) + 3
    elapsed = time.perf_counter() - t1
    rss_end = proc.memory_info().rss
    shares: list[dict[str, Any]] = []
    for key, weights in ROLLOUTS.items():
        n = eligible[key]
        for variation, weight in weights.items():
            expected = weight / 100_000
            served = counts[key][variation] / n if n else 0.0
            stderr = math.sqrt(expected * (1 - expected) / n) if n else 0.0
            shares.append({
                "flag": key, "variation": variation, "eligible_users": n,
                "configured_pct": round(expected * 100, 3), "served_pct": round(served * 100, 3),
                "diff_pct_points": round((served - expected) * 100, 3),
                "z": round((served - expected) / stderr, 2) if stderr else 0.0,
            })
    mb = 1024 * 1024
    return {
        "users": users, "flags": len(env.flag_keys), "segment_keys": 10_000,
        "evaluations": evaluations, "seconds": round(elapsed, 2),
        "evaluations_per_s": round(evaluations / elapsed),
        "users_per_s": round(users / elapsed),
        "compile_seconds": round(compile_s, 3),
        "rss_before_mb": round(rss0 / mb, 1), "rss_compiled_mb": round(rss_compiled / mb, 1),
        "rss_end_mb": round(rss_end / mb, 1),
        "rule_flag_on_share_pct": round(100 * rule_on / (3 * users), 2),
        "shares": shares,
    }


def main(argv: list[str] | None = None) -> int:
    """Run and print a table (or JSON with ``--json``)."""
    parser = argparse.ArgumentParser(prog="python -m loadtests.sim_million")
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args(argv)
    if args.users < 1:
        parser.error("--users must be at least 1")
    result = simulate(args.users)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['users']:,} users, {result['flags']} flags: "
          f"{result['evaluations_per_s']:,} evaluations/s ({result['users_per_s']:,} users/s, "
          f"context construction included); RSS {result['rss_before_mb']} → "
          f"{result['rss_compiled_mb']} (compiled) → {result['rss_end_mb']} MB")
    print(f"{'flag':22} {'variation':10} {'configured %':>12} {'served %':>9} {'z':>6}")
    for s in result["shares"]:
        print(f"{s['flag']:22} {s['variation']:10} {s['configured_pct']:12.3f} "
              f"{s['served_pct']:9.3f} {s['z']:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
