"""Guarded-rollout benchmark on the local stack: how fast an alarm takes readers back.

    python -m loadtests.bench_rollout [--json] [--quick]

Starts its own stack (``vexil.devstack.stack.up``, rollout controller ticking every
second), creates a flag serving ``off``, a strategy of 1-second steps (10 → 20 → 40 → 60 →
80 → 100 %) and a CloudWatch alarm in the emulator as the guard, and starts the rollout. A
``FlagClient`` on the CDN (0.2 s poll) evaluates ``N_CONTEXTS`` contexts. Once the ramp has
taken ``STEPS_BEFORE_ALARM`` steps the alarm is set to ``ALARM`` and the benchmark reports,
per round:

* ``alarm_to_rollback_write_ms`` — alarm set → the rollback committed (the rollout's
  ``rolled_back`` history entry, stamped by the controller in the same transaction);
* ``alarm_to_reader_ms`` — alarm set → the polling reader serves ``off`` to every context;
* ``steps_advanced`` — steps the controller took before the alarm;
* ``steps_after_alarm`` — steps stamped after the alarm was set (must be 0).

Goal (issue 19): the reader is back on the safe variation ≤ 5 s after the alarm (one tick
plus propagation). Output: a table, or one JSON document with ``--json`` (last on stdout).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3

from vexil.api import ApiClient
from vexil.devstack import stack
from vexil.devstack.aws import local_aws_env

N_CONTEXTS = 200
STEPS_BEFORE_ALARM = 3
GOAL_MS = 5000
PERCENTS = [10, 20, 40, 60, 80, 100]


def _iso_seconds(text: str) -> float:
    from datetime import datetime  # noqa: PLC0415

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _seed(api: ApiClient, project: str, rounds: int) -> str:
    api.request("POST", "/v1/projects", body={"key": project})
    api.request("POST", f"/v1/projects/{project}/environments", body={"key": "live"})
    for i in range(rounds):
        api.request("POST", f"/v1/projects/{project}/flags", body={
            "key": f"ramp-{i}", "kind": "boolean", "variations": {"on": True, "off": False}})
        api.request("PUT", f"/v1/projects/{project}/environments/live/flags/ramp-{i}",
                    body={"enabled": True, "off_variation": "off",
                          "default": {"variation": "off"}}, if_match='"1"')
    api.request("POST", f"/v1/projects/{project}/strategies", body={
        "key": "fast", "kind": "custom", "percents": PERCENTS, "bake_seconds": 1})
    key = api.request("POST", f"/v1/projects/{project}/environments/live/sdk-keys",
                      body={"kind": "server"}).body
    return str(key["key"])


def _round(api: ApiClient, cw: Any, client: Any, project: str, i: int) -> dict[str, Any]:
    flag, alarm = f"ramp-{i}", f"bench-guard-{project}-{i}"
    cw.put_metric_alarm(AlarmName=alarm, MetricName="Errors", Namespace="Bench",
                        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1.0,
                        ComparisonOperator="GreaterThanThreshold")
    cw.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="bench")
    url = f"/v1/projects/{project}/environments/live/flags/{flag}/rollout"
    api.request("POST", url, body={"target": "on", "strategy": "fast", "guards": [alarm]})
    contexts = [{"targetingKey": f"user-{n}"} for n in range(N_CONTEXTS)]
    deadline = time.monotonic() + 60
    while api.get(url).body["steps_done"] < STEPS_BEFORE_ALARM + 1:
        if time.monotonic() > deadline:
            raise RuntimeError("the rollout did not advance: is the rollout worker running?")
        time.sleep(0.05)
    while not any(client.get_boolean(flag, c, False) for c in contexts):
        time.sleep(0.02)  # the reader has the ramp: rolling back is then observable
    alarm_at = time.time()
    cw.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="bench: errors")
    while any(client.get_boolean(flag, c, False) for c in contexts):
        if time.time() - alarm_at > 60:
            raise RuntimeError("the reader never went back to off")
        time.sleep(0.01)
    reader_ms = (time.time() - alarm_at) * 1000
    status = api.get(url).body
    while status["status"] != "rolled_back":
        time.sleep(0.05)
        status = api.get(url).body
    history = status["history"]
    rolled = next(h for h in history if h["event"] == "rolled_back")
    advanced = [h for h in history if h["event"] == "advanced"]
    return {"alarm_to_rollback_write_ms": round((_iso_seconds(rolled["at"]) - alarm_at) * 1000),
            "alarm_to_reader_ms": round(reader_ms), "steps_advanced": len(advanced),
            "steps_after_alarm": sum(_iso_seconds(h["at"]) > alarm_at for h in advanced)}


def run(quick: bool) -> dict[str, Any]:
    """Start a stack, run the rounds, stop the stack; return the numbers."""
    import edge_reader  # noqa: PLC0415

    rounds = 2 if quick else 5
    os.environ["VEXIL_ROLLOUT_TICK_SECONDS"] = "1"
    with tempfile.TemporaryDirectory(prefix="vexil-bench-rollout-") as tmp:
        paths = stack.StatePaths(Path(tmp))
        info = stack.up(paths, fixed_ports=False, out=sys.stderr)
        try:
            api = ApiClient(info["api"], info["admin_token"])
            project = f"bench{int(time.time()) % 100000}"
            sdk_key = _seed(api, project, rounds)
            cw = boto3.session.Session(region_name="us-east-1").client(
                "cloudwatch", endpoint_url=info["aws_endpoint"],
                aws_access_key_id=local_aws_env("")["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=local_aws_env("")["AWS_SECRET_ACCESS_KEY"])
            client = edge_reader.FlagClient(
                project=project, environment="live", sdk_key=sdk_key, cdn_url=info["cdn"],
                ca_bundle=info["ca_bundle"], poll_interval=0.2, jitter=0.0,
                signing_keys=info["signing_public_key"])
            try:
                if not client.wait_until_ready(60):
                    raise RuntimeError("the reader never loaded a bundle")
                results = [_round(api, cw, client, project, i) for i in range(rounds)]
            finally:
                client.close()
        finally:
            stack.down(paths, out=sys.stderr)
    return _summary(results)


def _summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    def col(name: str) -> list[int]:
        return [int(r[name]) for r in results]

    reader = col("alarm_to_reader_ms")
    return {
        "rounds": len(results), "tick_seconds": 1.0, "reader_poll_seconds": 0.2,
        "alarm_to_rollback_write_ms": {"median": statistics.median(
            col("alarm_to_rollback_write_ms")), "max": max(col("alarm_to_rollback_write_ms"))},
        "alarm_to_reader_ms": {"median": statistics.median(reader), "max": max(reader)},
        "steps_advanced": sum(col("steps_advanced")),
        "steps_after_alarm": sum(col("steps_after_alarm")),
        "goal_ms": GOAL_MS, "goal_met": max(reader) <= GOAL_MS
        and sum(col("steps_after_alarm")) == 0,
        "per_round": results,
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point: print a table, or one JSON document with ``--json``."""
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench_rollout")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--quick", action="store_true", help="2 rounds instead of 5")
    args = parser.parse_args(argv)
    results = run(args.quick)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    w, r = results["alarm_to_rollback_write_ms"], results["alarm_to_reader_ms"]
    print(f"alarm → rollback committed: median {w['median']} ms, max {w['max']} ms")
    print(f"alarm → reader on 'off':    median {r['median']} ms, max {r['max']} ms "
          f"(goal ≤ {GOAL_MS} ms: {'met' if results['goal_met'] else 'MISSED'})")
    print(f"steps advanced {results['steps_advanced']}, after the alarm "
          f"{results['steps_after_alarm']} (must be 0)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
