"""OFREP edge Lambda benchmark: handler cost per request when warm, and cold-start time.

    python -m loadtests.bench_edge [--json] [--quick]

What infra/edge.tf deploys, on real parts of this machine: a client-scope bundle (100
client-visible flags, half with a targeting rule; 50 with ``--quick``) encrypted with the
real envelope (KMS on moto_server + the client SDK key, ``loadtests.bench_reader.Stack``)
and put in an S3 bucket on that moto_server; the handler configured exactly as Terraform
configures it (``VEXIL_EDGE_CONFIG_JSON`` with ``s3_bucket``, ``VEXIL_EDGE_ORIGIN_SECRET``);
API Gateway HTTP API (payload 2.0) events as CloudFront forwards them.

1. **Warm** (µs per request, in this process): ``handler(event)`` for a single-flag
   evaluation and for a bulk evaluation of every flag, a different targeting key per
   request, event parsing, auth, evaluation, JSON rendering and the response dict
   included — Lambda's own invoke overhead and the network are not. Best of several rounds.
2. **Cold start** (ms, a fresh interpreter per run, median of several): interpreter start
   to the end of the first answer — imports, config, boto3 client, the S3 GETs of pointer
   and bundle, decrypt, compile, evaluate. Reported whole and split (imports / first
   invoke). Lambda adds its own init (download, sandbox) on top; moto_server on loopback
   answers faster than S3 in-region (a few ms per GET), so add ~10-20 ms for the two GETs.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import orjson

from edge_reader.edge import lambda_handler
from loadtests.bench_reader import ENV, PROJECT, Stack, flags

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "vexil-bench-edge"
SECRET = "bench-origin-secret-0123456789abcdef"  # noqa: S105 - a made-up local value

_COLD = r"""
import sys, time, json
t0 = time.perf_counter()
from edge_reader.edge import lambda_handler
t1 = time.perf_counter()
out = lambda_handler.handler(json.loads(sys.argv[1]), None)
t2 = time.perf_counter()
assert out["statusCode"] == 200, out
print(json.dumps({"imports_ms": (t1 - t0) * 1e3, "first_invoke_ms": (t2 - t1) * 1e3}))
"""


def event(path: str, key: str, targeting_key: str) -> dict[str, Any]:
    """An HTTP API (payload 2.0) event for a POST, as CloudFront → API Gateway sends it."""
    body = orjson.dumps({"context": {"targetingKey": targeting_key, "country": "DE"}})
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "authorization": f"Bearer {key}",
            "content-type": "application/json",
            "origin": "https://shop.example",
            lambda_handler.ORIGIN_HEADER: SECRET,
            "user-agent": "Amazon CloudFront",
        },
        "requestContext": {"http": {"method": "POST", "path": path}, "stage": "$default"},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


def _setup(stack: Stack, n_flags: int) -> dict[str, str]:
    """Publish the client bundle into the bucket; return the Lambda's environment."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    built = stack.build(flags(n_flags, client_visible=True), scope="client")
    s3.put_object(Bucket=BUCKET, Key=built.pointer.key, Body=built.ciphertext)
    pointer_key = built.pointer.key.rsplit("/", 1)[0] + "/current.json"
    s3.put_object(Bucket=BUCKET, Key=pointer_key, Body=built.pointer_bytes)
    config = {
        "s3_bucket": BUCKET,
        "environments": [
            {"project": PROJECT, "environment": ENV, "sdk_key": stack.client_key.text}
        ],
        "cors_origins": ["https://shop.example"],
        "lambda_ttl": 15,
    }
    return {"VEXIL_EDGE_CONFIG_JSON": json.dumps(config), "VEXIL_EDGE_ORIGIN_SECRET": SECRET}


def bench_warm(key: str, n: int, rounds: int) -> dict[str, float]:
    """Best-of-rounds µs per handler call, single flag and bulk."""
    out: dict[str, float] = {}
    for label, path in (
        ("single_us", "/ofrep/v1/evaluate/flags/flag-00001"),
        ("bulk_us", "/ofrep/v1/evaluate/flags"),
    ):
        events = [event(path, key, f"user-{i}") for i in range(n)]
        assert lambda_handler.handler(events[0], None)["statusCode"] == 200
        best = float("inf")
        for _ in range(rounds):
            t0 = time.perf_counter()
            for ev in events:
                lambda_handler.handler(ev, None)
            best = min(best, (time.perf_counter() - t0) / n)
        out[label] = round(best * 1e6, 1)
    return out


def bench_cold(env: dict[str, str], key: str, runs: int) -> dict[str, float]:
    """Median over ``runs`` fresh interpreters: whole process, imports, first invoke (ms)."""
    first = json.dumps(event("/ofrep/v1/evaluate/flags/flag-00001", key, "cold"))
    child_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    wall, imports, invoke = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", _COLD, first], env=child_env, capture_output=True,
            text=True, check=True, timeout=120,
        )
        wall.append((time.perf_counter() - t0) * 1e3)
        parts = json.loads(done.stdout.strip().splitlines()[-1])
        imports.append(parts["imports_ms"])
        invoke.append(parts["first_invoke_ms"])
    return {
        "process_ms": round(statistics.median(wall), 1),
        "imports_ms": round(statistics.median(imports), 1),
        "first_invoke_ms": round(statistics.median(invoke), 1),
        "runs": runs,
    }


def run(quick: bool) -> dict[str, Any]:
    """Both measurements; the moto_server and loopback CDN are stopped before returning."""
    n_flags = 50 if quick else 100
    stack = Stack()
    saved = {k: os.environ.get(k) for k in ("VEXIL_EDGE_CONFIG_JSON", "VEXIL_EDGE_ORIGIN_SECRET")}
    try:
        env = _setup(stack, n_flags)
        os.environ.update(env)
        lambda_handler.reset_app()
        key = stack.client_key.text
        warm = bench_warm(key, 500 if quick else 3000, 3 if quick else 5)
        cold = bench_cold(env, key, 3 if quick else 7)
    finally:
        lambda_handler.reset_app()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        stack.close()
    return {
        "benchmark": "edge",
        "quick": quick,
        "flags": n_flags,
        "warm": warm,
        "cold_start": cold,
        "python": sys.version.split()[0],
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point: print a table, or one JSON document with ``--json``."""
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench_edge")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--quick", action="store_true", help="smaller, shorter runs")
    args = parser.parse_args(argv)
    results = run(args.quick)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    warm, cold = results["warm"], results["cold_start"]
    print(f"warm, single flag:            {warm['single_us']:8.1f} us/request")
    print(f"warm, bulk ({results['flags']} flags):       {warm['bulk_us']:8.1f} us/request")
    print(f"cold start (process):         {cold['process_ms']:8.1f} ms")
    print(f"  imports / first invoke:     {cold['imports_ms']:.1f} / "
          f"{cold['first_invoke_ms']:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
