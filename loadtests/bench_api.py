"""Control-plane API benchmark: ``python -m loadtests.bench_api [--n 200] [--json]``.

Starts a private ``moto_server`` and ``chalice local`` (both on 127.0.0.1, both stopped at
the end), bootstraps an admin token, creates a project with two environments and a flag,
then times N sequential writes (``PUT .../environments/dev/flags/f`` with If-Match) and N
reads (``GET`` of the same resource) over HTTP.

Each response carries ``Server-Timing: handler;dur=…, aws;dur=…`` (see
``chalicelib/timing.py``: botocore ``before-call``/``after-call`` hooks on our clients), so
every request splits into

* ``aws``      — time inside DynamoDB/KMS calls (here: moto, the emulator),
* ``ours``     — handler time minus aws (parsing, RBAC, compile-check, audit hashing),
* ``gateway``  — client-observed latency minus handler time (chalice local's HTTP server,
  authorizer — which itself does one DynamoDB read — and the loopback round trip).

moto tops out near 300 ops/s on the 2-core machine, so absolute numbers mostly measure moto.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from vexil.devstack import procs

ROOT = Path(__file__).resolve().parent.parent
CONTROL_PLANE = ROOT / "control_plane"
BIN = Path(sys.executable).parent
_TIMING = re.compile(r"(\w+);dur=([\d.]+)")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()  # noqa: S310 - loopback URL
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up") from None
            time.sleep(0.2)


def _request(base: str, method: str, path: str, token: str, body: Any = None,
             if_match: int | None = None) -> tuple[int, dict[str, Any], dict[str, float], float]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)  # noqa: S310
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", "application/json")
    if if_match is not None:
        req.add_header("If-Match", f'"{if_match}"')
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
            status, raw, headers = resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as err:
        status, raw, headers = err.code, err.read(), err.headers
    elapsed = time.perf_counter() - started
    timing = {k: float(v) / 1000 for k, v in _TIMING.findall(headers.get("Server-Timing", ""))}
    return status, json.loads(raw or b"{}"), timing, elapsed


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(samples: list[tuple[dict[str, float], float]]) -> dict[str, dict[str, float]]:
    parts: dict[str, list[float]] = {"total": [], "handler": [], "aws": [], "ours": [],
                                     "authz_aws": [], "gateway": []}
    for timing, total in samples:
        handler, aws = timing.get("handler", 0.0), timing.get("aws", 0.0)
        parts["total"].append(total)
        parts["handler"].append(handler)
        parts["aws"].append(aws)
        parts["ours"].append(handler - aws)
        parts["authz_aws"].append(timing.get("authz", 0.0))
        parts["gateway"].append(total - handler)
    return {name: {"p50_ms": round(_pct(v, 0.5) * 1000, 2),
                   "p99_ms": round(_pct(v, 0.99) * 1000, 2),
                   "mean_ms": round(statistics.fmean(v) * 1000, 2)} for name, v in parts.items()}


def run(n: int) -> dict[str, Any]:
    """Start the stack, run the benchmark, stop everything; return the numbers."""
    moto_port, api_port = _port(), _port()
    env = dict(os.environ)
    env.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
                "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}"})
    started: list[subprocess.Popen[bytes]] = []
    try:
        moto = subprocess.Popen(
            # The stack's serialised moto (vexil/devstack/motoserver.py), not moto's CLI.
            [sys.executable, "-m", "vexil.devstack.motoserver", "-H", "127.0.0.1",
             "-p", str(moto_port)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(moto)
        _wait(f"http://127.0.0.1:{moto_port}/moto-api/", moto)
        os.environ.update(env)
        sys.path[:0] = [str(ROOT), str(CONTROL_PLANE)]
        from chalicelib.tokens import bootstrap_admin_token  # noqa: PLC0415

        from vexil.resources import ensure_resources  # noqa: PLC0415

        env.update(ensure_resources())
        os.environ.update(env)
        token, _ = bootstrap_admin_token("bench")
        api = subprocess.Popen([str(BIN / "chalice"), "local", "--host", "127.0.0.1", "--port",
                                str(api_port), "--stage", "local", "--no-autoreload"],
                               cwd=CONTROL_PLANE, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        started.append(api)
        base = f"http://127.0.0.1:{api_port}"
        _wait(base + "/v1/health", api)
        _request(base, "POST", "/v1/projects", token, {"key": "bench"})
        for e in ("dev", "prod"):
            _request(base, "POST", "/v1/projects/bench/environments", token, {"key": e})
        _request(base, "POST", "/v1/projects/bench/flags", token,
                 {"key": "f", "kind": "boolean", "variations": {"on": True, "off": False}})
        url = "/v1/projects/bench/environments/dev/flags/f"
        writes, reads = [], []
        for i in range(n):
            cfg = {"enabled": i % 2 == 0, "default": {"variation": "on"}, "off_variation": "off",
                   "rules": [{"id": "r", "clauses": [{"attribute": "country", "op": "in",
                                                      "values": ["DE", "FR"]}],
                              "serve": {"variation": "off"}}]}
            status, _, timing, total = _request(base, "PUT", url, token, cfg, if_match=i + 1)
            if status != 200:
                raise RuntimeError(f"write {i} answered {status}")
            writes.append((timing, total))
            status, _, timing, total = _request(base, "GET", url, token)
            if status != 200:
                raise RuntimeError(f"read {i} answered {status}")
            reads.append((timing, total))
        return {"n": n, "write": _summary(writes), "read": _summary(reads)}
    finally:
        for proc in reversed(started):
            procs.stop(proc)


def main(argv: list[str] | None = None) -> int:
    """Run and print a table (or JSON)."""
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench_api")
    parser.add_argument("--n", type=int, default=200, help="writes and reads to time")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.n)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"control-plane API via chalice local on moto, n={result['n']} sequential requests")
    print(f"{'':8}{'part':10}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    for kind in ("write", "read"):
        for part in ("total", "handler", "aws", "ours", "authz_aws", "gateway"):
            s = result[kind][part]
            print(f"{kind:8}{part:10}{s['p50_ms']:>10}{s['p99_ms']:>10}{s['mean_ms']:>10}")
    print("aws = handler time inside boto3 calls (moto); ours = handler - aws; authz_aws = the "
          "authorizer's token lookup in moto;\ngateway = total - handler (chalice local, "
          "authorizer incl. authz_aws, loopback HTTP)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
