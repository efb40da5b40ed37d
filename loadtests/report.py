"""Run the whole benchmark suite and write ``docs/performance.md`` (+ PNGs in ``docs/img/``).

    python -m loadtests.report [--quick] [--skip-stack] [--doc docs/performance.md]

Steps (each is isolated: a failing step is reported as "not measured: <reason>"):

1. engine workloads — ``python -m loadtests.bench_eval --json``;
2. publisher build + propagation — ``python -m loadtests.bench_publish --json``;
3. reader start-up, overhead, memory — ``python -m loadtests.bench_reader --json``;
4. bundle size / build / load time / memory against flag count — ``loadtests.scaling``;
5. one million users through the engine — ``loadtests.sim_million``;
6. CDN and OFREP (and control-plane) load: a private local stack (``vexil dev up`` into a
   temporary state dir, via ``vexil.devstack.stack``), seeded through the API, hit by wrk
   (``loadtests/wrk/*.lua``) and Locust (``loadtests/locust_*.py``), then stopped;
7. the capacity model (``loadtests.capacity``).

Raw results go to ``loadtests/out/results.json``; Locust CSV/HTML to ``loadtests/out/``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import psutil
import urllib3

from loadtests import capacity, scaling
from loadtests.loadgen import LoadResult, run_locust, run_wrk
from loadtests.report_text import write_doc
from loadtests.target import TARGET_ENV, Target, write_target
from vexil.api import ApiClient, path
from vexil.apply import apply_plan
from vexil.devstack import nginx as nginx_conf
from vexil.devstack import procs, stack
from vexil.devstack.demo import DEMO_FLAGS
from vexil.devstack.tls import ensure_tls
from vexil.flagsfile import parse
from vexil.plan import build_plan
from vexil.remote import Writer, env_path, fetch_state

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "loadtests" / "out"
PROJECT, ENVIRONMENT = "load", "prod"
CLIENT_FLAGS = 20


# ----------------------------------------------------------------------------- helpers


def _log(msg: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def guarded(name: str, fn: Callable[[], Any]) -> Any:
    """Run one step; on any failure return ``{"error": ...}`` so the report says so."""
    _log(f"{name} ...")
    started = time.monotonic()
    try:
        result = fn()
    except Exception as exc:  # one step failing must not lose the others' numbers
        traceback.print_exc()
        return {"error": f"{type(exc).__name__}: {exc}"[:500]}
    _log(f"{name} done in {time.monotonic() - started:.0f} s")
    return result


def run_json_module(module: str, args: list[str], timeout: float = 900) -> Any:
    """``python -m module --json ...``; the last stdout line that parses as JSON."""
    proc = subprocess.run([sys.executable, "-m", module, "--json", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode != 0:
        raise RuntimeError(f"{module} exited {proc.returncode}: {proc.stderr.strip()[-600:]}")
    text = proc.stdout.strip()
    try:
        return json.loads(text)
    except ValueError:
        for line in reversed(text.splitlines()):
            with contextlib.suppress(ValueError):
                return json.loads(line)
    raise RuntimeError(f"{module} printed no JSON")


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu_model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break

    def version(cmd: list[str]) -> str:
        if shutil.which(cmd[0]) is None:
            return "not installed"
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        return (out.stdout + out.stderr).strip().splitlines()[0] if (out.stdout + out.stderr) \
            else "?"

    return {
        "cpus": psutil.cpu_count(), "cpu_model": cpu_model,
        "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "python": platform.python_version(), "os": platform.platform(),
        "nginx": version(["nginx", "-v"]), "wrk": version(["wrk", "-v"]),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


# ----------------------------------------------------------------------------- stack


def _flags_file(n_client: int) -> dict[str, Any]:
    flags: dict[str, Any] = json.loads(json.dumps(DEMO_FLAGS))
    for i in range(n_client):
        flags[f"web-feature-{i:02d}"] = {
            "kind": "boolean", "variations": {"on": True, "off": False},
            "description": f"Client feature {i}", "tags": ["web"], "client_visible": True,
            "enabled": True, "off_variation": "off",
            "rules": [{"id": "eu", "clauses": [{"context_kind": "user", "attribute": "country",
                                                "op": "in", "values": ["DE", "FR", "NL"]}],
                       "serve": {"variation": "on"}}],
            "default": {"rollout": {"variations": [
                {"variation": "on", "weight": 1000 * (i + 1)},
                {"variation": "off", "weight": 100_000 - 1000 * (i + 1)}]}},
        }
    return {"format": 1, "project": PROJECT, "environment": ENVIRONMENT, "flags": flags}


@dataclass(frozen=True)
class StackHandle:
    """A running private stack: the target, the pids per process, dev.json, state paths."""

    target: Target
    pids: dict[str, list[int]]
    info: dict[str, Any]
    paths: stack.StatePaths


@contextlib.contextmanager
def local_stack(n_client: int) -> Iterator[StackHandle]:
    """A private, seeded local stack; yields its handle; stops it and removes its state."""
    state = Path(tempfile.mkdtemp(prefix="vexil-loadtest-"))
    paths = stack.StatePaths(state)
    log = io.StringIO()
    try:
        info = stack.up(paths, fixed_ports=False, out=log)
        api = ApiClient(info["api"], info["admin_token"])
        api.request("POST", path("v1", "projects"), body={"key": PROJECT, "name": "Load test"})
        api.request("POST", path("v1", "projects", PROJECT, "environments"),
                    body={"key": ENVIRONMENT, "protected": False})
        desired = parse(_flags_file(n_client), source="loadtest")
        apply_plan(build_plan(desired, fetch_state(api, PROJECT, ENVIRONMENT)),
                   Writer(api, PROJECT, ENVIRONMENT, "load test seed"))
        keys = {}
        for kind in ("server", "client"):
            body = api.request("POST", env_path(PROJECT, ENVIRONMENT) + "/sdk-keys",
                               body={"kind": kind}).body
            keys[kind] = next(str(v) for v in body.values()
                              if isinstance(v, str) and v.startswith("vxl_"))
        revision = int(api.request("GET", env_path(PROJECT, ENVIRONMENT)).body["revision"])
        _wait_published(info, revision)
        stack.write_edge_config(paths, cdn=info["cdn"], ca_bundle=Path(info["ca_bundle"]),
                                environments=[{"project": PROJECT, "environment": ENVIRONMENT,
                                               "sdk_key": keys["client"]}])
        stack.start_edge(paths, info, stack.stack_env(info))
        client_flags = tuple(sorted(f for f in desired.flags
                                    if desired.flags[f].get("client_visible")))
        target = Target(cdn=info["cdn"], ca_bundle=info["ca_bundle"], edge=info["edge"],
                        api=info["api"], admin_token=info["admin_token"], project=PROJECT,
                        environment=ENVIRONMENT, client_sdk_key=keys["client"],
                        flags=client_flags)
        _wait_edge(target)
        pids: dict[str, list[int]] = {}
        for name in ("cdn", "edge", "api", "moto", "worker"):
            rec = procs.read(paths.run, name)
            pids[name] = [rec.pid] if rec else []
        yield StackHandle(target, pids, info, paths)
    finally:
        stack.down(paths, out=log)
        (OUT / "stack.log").parent.mkdir(parents=True, exist_ok=True)
        (OUT / "stack.log").write_text(log.getvalue(), encoding="utf-8")
        shutil.rmtree(state, ignore_errors=True)


def nginx_settings(conf: Path) -> dict[str, str]:
    """The stack nginx's worker count and access-log setting (what limits the CDN figure)."""
    if not conf.is_file():
        return {"server": "not nginx (Python proxy)"}
    text = conf.read_text(encoding="utf-8")
    workers = re.search(r"worker_processes\s+([^;]+);", text)
    access = re.search(r"access_log\s+([^;]+);", text)
    return {"server": "nginx", "worker_processes": workers.group(1) if workers else "1",
            "access_log": access.group(1) if access else "default"}


@contextlib.contextmanager
def tuned_nginx(handle: StackHandle) -> Iterator[tuple[str, int]]:
    """A second nginx on the same origin with 2 workers and no access log (an experiment).

    The stack's CDN stand-in runs one worker and logs every request; this variant shows
    how much of the CDN figure is that configuration rather than the machine. Same config
    generator (``vexil.devstack.nginx``), two lines changed; own prefix, port and cache.
    """
    binary = nginx_conf.find_nginx()
    if binary is None:
        raise RuntimeError("nginx is not installed")
    port = stack.free_port()
    tls = ensure_tls(handle.paths.tls)
    layout = nginx_conf.write_config(
        handle.paths.root / "nginx-tuned", logs=handle.paths.logs, cdn_port=port,
        moto_port=int(handle.info["ports"]["moto"]), bucket=str(handle.info["bucket"]),
        cert=tls.server_cert, key=tls.server_key)
    text = layout.conf.read_text(encoding="utf-8")
    text = re.sub(r"worker_processes [^;]+;", "worker_processes 2;", text)
    text = re.sub(r"access_log [^;]+;", "access_log off;", text)
    layout.conf.write_text(text, encoding="utf-8")
    log = (handle.paths.logs / "nginx-tuned.log").open("wb")
    proc = subprocess.Popen(nginx_conf.command(binary, layout), stdout=log, stderr=log,
                            start_new_session=True)
    url = f"https://127.0.0.1:{port}"
    try:
        http = urllib3.PoolManager(ca_certs=str(tls.ca_cert))
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(Exception):
                if http.request("GET", url + "/health", timeout=2).status == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the tuned nginx did not start")
            time.sleep(0.2)
        yield url, proc.pid
    finally:
        procs.stop(proc)
        log.close()


def _wait_published(info: dict[str, Any], revision: int, timeout: float = 120) -> None:
    s3 = boto3.session.Session().client(
        "s3", endpoint_url=info["aws_endpoint"], region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing")  # noqa: S106
    deadline = time.monotonic() + timeout
    keys = [f"bundles/{PROJECT}/{ENVIRONMENT}/current.json",
            f"bundles/{PROJECT}/{ENVIRONMENT}/scopes/client/current.json"]
    while True:
        done = 0
        for key in keys:
            with contextlib.suppress(Exception):
                body = s3.get_object(Bucket=info["bucket"], Key=key)["Body"].read()
                done += int(json.loads(body)["revision"]) >= revision
        if done == len(keys):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"revision {revision} not published within {timeout:.0f} s")
        time.sleep(0.5)


def _wait_edge(target: Target, timeout: float = 60) -> None:
    http = urllib3.PoolManager()
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            r = http.request("POST", target.edge + "/ofrep/v1/evaluate/flags",
                             body=b'{"context":{"targetingKey":"u-1"}}',
                             headers={"Authorization": f"Bearer {target.client_sdk_key}",
                                      "Content-Type": "application/json"}, timeout=5)
            if r.status == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError("the OFREP edge did not become ready")
        time.sleep(0.5)


def _pointer(target: Target) -> tuple[str, str]:
    http = urllib3.PoolManager(ca_certs=target.ca_bundle)
    r = http.request("GET", target.cdn + target.pointer_path, timeout=10)
    if r.status != 200:
        raise RuntimeError(f"pointer answered {r.status}")
    return str(r.headers.get("ETag")), str(json.loads(r.data)["key"])


def load_suite(quick: bool) -> dict[str, Any]:
    """CDN, OFREP and API load against a private local stack."""
    if shutil.which("wrk") is None:
        return {"error": "wrk is not installed"}
    dur = 5.0 if quick else 15.0
    out: dict[str, Any] = {"duration_s": dur}
    with local_stack(CLIENT_FLAGS) as handle:
        target, pids = handle.target, handle.pids
        target_file = OUT / "target.json"
        OUT.mkdir(parents=True, exist_ok=True)
        write_target(target_file, target)
        env = {TARGET_ENV: str(target_file)}
        out["cdn_config"] = nginx_settings(handle.paths.nginx / "nginx.conf")
        etag, bundle_key = _pointer(target)
        pointer_url = target.cdn + target.pointer_path
        cdn_pids, edge_pids = pids["cdn"], pids["edge"]
        every = [p for group in pids.values() for p in group]
        cdn_kw: dict[str, Any] = {"server_pids": cdn_pids,
                                  "rest_pids": [p for p in every if p not in cdn_pids]}
        edge_kw: dict[str, Any] = {"server_pids": edge_pids,
                                   "rest_pids": [p for p in every if p not in edge_pids]}
        # Warm-up: TLS session caches, nginx cache entries.
        run_wrk(pointer_url, "cdn_pointer.lua", connections=16, duration=2,
                env={"VEXIL_ETAG": etag}, **cdn_kw)

        def record(result: LoadResult, label: str) -> dict[str, Any]:
            data = result.to_json()
            data["label"] = label
            _log(f"  {label}: {result.requests_per_s:,.0f} req/s p99 "
                 f"{result.latency_ms.get('p99')} ms cpu {result.cpu}")
            return data

        levels = (8, 32, 128) if quick else (8, 32, 128, 256)
        out["cdn_wrk_304"] = [record(run_wrk(
            pointer_url, "cdn_pointer.lua", connections=c, duration=dur,
            env={"VEXIL_ETAG": etag}, **cdn_kw), f"wrk pointer 304 c={c}")
            for c in levels]
        out["cdn_wrk_pointer_200"] = record(run_wrk(
            pointer_url, "cdn_pointer.lua", connections=32, duration=dur, **cdn_kw),
            "wrk pointer 200 c=32")
        out["cdn_wrk_bundle_200"] = record(run_wrk(
            f"{target.cdn}/{bundle_key}", "cdn_bundle.lua", connections=32, duration=dur,
            **cdn_kw), "wrk bundle 200 c=32")
        try:
            with tuned_nginx(handle) as (tuned_url, tuned_pid):
                tuned_kw: dict[str, Any] = {"server_pids": [tuned_pid],
                                            "rest_pids": every}
                tuned_pointer = tuned_url + target.pointer_path
                run_wrk(tuned_pointer, "cdn_pointer.lua", connections=16, duration=2,
                        env={"VEXIL_ETAG": etag}, **tuned_kw)
                out["cdn_wrk_304_tuned"] = [record(run_wrk(
                    tuned_pointer, "cdn_pointer.lua", connections=c, duration=dur,
                    env={"VEXIL_ETAG": etag}, **tuned_kw),
                    f"wrk pointer 304 c={c}, nginx 2 workers, no access log")
                    for c in (32, 128)]
        except (RuntimeError, OSError) as exc:
            out["cdn_wrk_304_tuned"] = {"error": str(exc)}
        instances = 200 if quick else 500
        out["cdn_locust"] = [record(run_locust(
            "locust_cdn.py", users=instances, duration=dur + 5, spawn_rate=instances,
            out_prefix=OUT / f"cdn_u{instances}", extra=["--poll-interval", "0.5"], env=env,
            **cdn_kw), f"locust {instances} SDK instances, 0.5 s poll")]
        out["cdn_locust"].append(record(run_locust(
            "locust_cdn.py", users=100, duration=dur + 5, spawn_rate=100, processes=2,
            out_prefix=OUT / "cdn_max", extra=["--poll-interval", "0.001"], env=env,
            **cdn_kw), "locust x2 processes, 100 instances, no wait"))

        flags = ",".join(target.flags)
        ofrep_levels = (4, 16, 64)
        out["ofrep_wrk_single"] = [record(run_wrk(
            target.edge, "ofrep.lua", connections=c, duration=dur,
            env={"VEXIL_SDK_KEY": target.client_sdk_key, "VEXIL_FLAGS": flags},
            **edge_kw), f"wrk single c={c}") for c in ofrep_levels]
        out["ofrep_wrk_bulk"] = [record(run_wrk(
            target.edge, "ofrep.lua", connections=c, duration=dur,
            env={"VEXIL_SDK_KEY": target.client_sdk_key}, **edge_kw),
            f"wrk bulk ({len(target.flags)} flags) c={c}") for c in (4, 16)]
        out["ofrep_locust"] = [record(run_locust(
            "locust_ofrep.py", users=u, duration=dur + 5, out_prefix=OUT / f"ofrep_u{u}",
            env=env, **edge_kw), f"locust {u} users") for u in (8, 32)]
        out["ofrep_locust"].append(record(run_locust(
            "locust_ofrep.py", users=32, duration=dur + 5, processes=2,
            out_prefix=OUT / "ofrep_u32_p2", env=env, **edge_kw),
            "locust x2 processes, 32 users"))
        out["api_locust"] = record(run_locust(
            "locust_api.py", users=9, duration=dur + 10, out_prefix=OUT / "api_u9", env=env,
            server_pids=pids["api"] + pids["moto"],
            rest_pids=pids["cdn"] + pids["edge"] + pids["worker"]), "locust API mix, 9 users")
    return out


# ----------------------------------------------------------------------------- main


def collect(quick: bool, skip_stack: bool) -> dict[str, Any]:
    """Run every step; return the results dict the doc is written from."""
    q = ["--quick"] if quick else []
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m loadtests.report" + (" --quick" if quick else ""),
        "quick": quick,
        "machine": machine_info(),
    }
    results["eval"] = guarded("bench_eval", lambda: run_json_module("loadtests.bench_eval", q))
    # bench_publish's full mode (500-flag environments, a whole local stack, 100 writes)
    # grows moto past 7 GB and runs well over 10 minutes here; its --quick mode measures
    # the same things at a smaller size, so the report always uses it (and says so).
    results["publish"] = guarded(
        "bench_publish", lambda: run_json_module("loadtests.bench_publish", ["--quick"],
                                                 timeout=900))
    results["reader"] = guarded(
        "bench_reader", lambda: run_json_module("loadtests.bench_reader", q))
    results["emulator"] = guarded(
        "bench_emulator", lambda: run_json_module("loadtests.bench_emulator", q))
    results["edge"] = guarded("bench_edge", lambda: run_json_module("loadtests.bench_edge", q))
    # list segments at a million members (issue 18): starts a stack of its own
    results["segments"] = guarded("bench_segments", lambda: run_json_module(
        "loadtests.bench_segments", [*q, *(["--skip-stack"] if skip_stack else [])]))
    sizes = (100, 1_000, 10_000) if quick else scaling.DEFAULT_SIZES
    results["scaling"] = guarded("scaling", lambda: scaling.run(sizes))
    users = 200_000 if quick else 1_000_000
    results["million"] = guarded(
        "sim_million", lambda: run_json_module("loadtests.sim_million", ["--users", str(users)]))
    results["load"] = {"error": "skipped (--skip-stack)"} if skip_stack else guarded(
        "load (local stack)", lambda: load_suite(quick))
    results["capacity"] = {k: v.to_json() for k, v in capacity.scenarios().items()}
    results["capacity_grid"] = capacity.instance_grid()
    results["capacity_lists"] = capacity.list_costs()
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["finished_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return results


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    parser = argparse.ArgumentParser(prog="python -m loadtests.report")
    parser.add_argument("--quick", action="store_true", help="shorter runs, up to 10k flags")
    parser.add_argument("--skip-stack", action="store_true", help="no CDN/OFREP/API load")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument("--from-json", type=Path, help="re-render a previous results.json")
    args = parser.parse_args(argv)
    if args.from_json:
        results = json.loads(args.from_json.read_text(encoding="utf-8"))
    else:
        results = collect(args.quick, args.skip_stack)
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    write_doc(results, args.doc, args.doc.parent / "img")
    _log(f"wrote {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
