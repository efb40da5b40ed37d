"""Reader benchmark: start-up, per-evaluation overhead, memory, OFREP edge capacity.

    python -m loadtests.bench_reader [--json] [--quick]

Everything runs on this machine against real parts: bundles are encrypted with the real
envelope (KMS on an in-process moto_server + a raw AES SDK key), served by a loopback HTTP
server with ETags, and opened by ``FlagClient`` exactly as in production.

1. **Time to READY** for 1,000 and 10,000 flags: (a) from the loopback CDN (pointer GET,
   bundle GET, sha256, decrypt, decode, compile, swap), (b) from the disk cache with no
   network (offline). Each is timed from ``FlagClient(...)`` to ``wait_until_ready()``
   returning; the stage breakdown (decrypt / decode / compile) is timed separately.
2. **Overhead** per boolean evaluation (ns): raw engine vs ``FlagClient`` vs the OpenFeature
   provider (``resolve_boolean_details``) vs the OpenFeature SDK client (provider + SDK).
   Best of several rounds of N calls, same flag, same context.
3. **RSS** of a fresh subprocess that imports the reader and loads 10,000 flags from the
   disk cache (psutil): baseline after imports, and after load; plus (extra fields) the
   same process as a background reader of the loopback CDN, and which heavy modules
   (ESDK, MPL, boto3, asyncio, urllib3, jsonschema) either process ended up holding.
   The stage breakdown of (1) also times the SDK-key decrypt with the reader's light
   decoder against the ESDK's own decrypt, interleaved.
4. **OFREP edge** (``python -m edge_reader.edge`` in a subprocess) under ``wrk`` (Lua script
   for POST bodies with a different targeting key per request): single-flag and bulk
   (100 client-visible flags) throughput and latency percentiles. wrk and the server share
   this 2-core machine, so these numbers are a floor, not a ceiling.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import orjson
from openfeature import api
from openfeature.evaluation_context import EvaluationContext

from edge_reader.bundle import (
    Pointer,
    SdkKey,
    bundle_object_key,
    decode_bundle_document,
    decrypt_bundle,
    encode_bundle_document,
    encode_pointer,
    encryption_context,
    generate_sdk_key,
    pointer_object_key,
)
from edge_reader.bundle.esdk import EnvelopeCache, encrypt_bundle, open_with_sdk_key
from edge_reader.bundle.hierarchy import BranchKeyStore
from edge_reader.client import DiskCache, FlagClient
from edge_reader.engine import Context, compile_environment
from edge_reader.openfeature import VexilProvider
from vexil.devstack import procs
from vexil.resources import ensure_key_store_table

ROOT = Path(__file__).resolve().parents[1]
PROJECT, ENV = "bench", "prod"


# ---------------------------------------------------------------------------- fixtures


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


class StaticCdn:
    """A loopback HTTP server with strong ETags and 304s, like the CDN."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}
        cdn = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                entry = cdn.objects.get(self.path)
                if entry is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body, etag = entry
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def put(self, key: str, body: bytes) -> None:
        self.objects["/" + key] = (body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Built:
    pointer_bytes: bytes
    ciphertext: bytes
    plaintext: bytes
    pointer: Pointer


class Stack:
    """moto (KMS only) + a KMS key + SDK keys + the loopback CDN."""

    def __init__(self) -> None:
        self.moto: subprocess.Popen[bytes] | None = None
        if not os.environ.get("AWS_ENDPOINT_URL"):
            os.environ.update(
                {
                    "AWS_ACCESS_KEY_ID": "bench",
                    "AWS_SECRET_ACCESS_KEY": "bench",
                    "AWS_SESSION_TOKEN": "bench",
                    "AWS_DEFAULT_REGION": "us-east-1",
                }
            )
            # moto in its own process: in-process, its large heap would make every gen-2
            # collection in the measured code slower than in a real application.
            port = _free_port()
            self.moto = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
            _wait_for_port(port)
        session = boto3.session.Session()
        self.kms = session.client("kms")
        self.kms_key = self.kms.create_key(Description="bench")["KeyMetadata"]["Arn"]
        self.envelope = EnvelopeCache(BranchKeyStore(
            table=ensure_key_store_table("bench-branch-keys", session=session),
            kms_key_arn=self.kms_key, dynamodb_client=session.client("dynamodb"),
            kms_client=self.kms))
        self.server_key: SdkKey = generate_sdk_key("srv")
        self.client_key: SdkKey = generate_sdk_key("cli")
        self.cdn = StaticCdn()
        self.tmp = Path(tempfile.mkdtemp(prefix="vexil-bench-"))

    def build(self, flags: dict[str, Any], *, scope: str = "server", revision: int = 1) -> Built:
        doc = {
            "format": 1,
            "project": PROJECT,
            "environment": ENV,
            "revision": revision,
            "generated_at": "2026-11-24T06:00:00.000Z",
            "engine": "1",
            "scope": scope,
            "flags": flags,
            "segments": {},
        }
        plaintext = encode_bundle_document(doc)
        key = self.client_key if scope == "client" else self.server_key
        ciphertext = encrypt_bundle(
            plaintext,
            context=encryption_context(PROJECT, ENV, revision, scope),
            cache=self.envelope,
            sdk_keys=[key],
        )
        sha = hashlib.sha256(ciphertext).hexdigest()
        pointer = Pointer(
            1,
            PROJECT,
            ENV,
            scope,
            revision,
            bundle_object_key(PROJECT, ENV, scope, revision, sha),
            sha,
            len(ciphertext),
            "2026-11-24T06:00:00.000Z",
        )
        return Built(encode_pointer(pointer), ciphertext, plaintext, pointer)

    def publish(self, built: Built) -> str:
        self.cdn.put(built.pointer.key, built.ciphertext)
        path = pointer_object_key(PROJECT, ENV, built.pointer.scope)
        self.cdn.put(path, built.pointer_bytes)
        return f"{self.cdn.base}/{path}"

    def close(self) -> None:
        self.cdn.stop()
        if self.moto is not None:
            procs.stop(self.moto)
        shutil.rmtree(self.tmp, ignore_errors=True)


def flags(n: int, *, client_visible: bool = False) -> dict[str, Any]:
    """``n`` flags, half one-rule targeting (country in [...]), half plain booleans."""
    out: dict[str, Any] = {}
    for i in range(n):
        flag: dict[str, Any] = {
            "kind": "boolean",
            "variations": {"on": True, "off": False},
            "enabled": True,
            "off_variation": "off",
            "version": i + 1,
            "client_visible": client_visible,
            "description": f"benchmark flag {i}",
            "tags": ["bench"],
        }
        if i % 2:
            flag["rules"] = [
                {
                    "id": f"r{i}",
                    "clauses": [
                        {
                            "context_kind": "user",
                            "attribute": "country",
                            "op": "in",
                            "values": ["DE", "FR", "NL"],
                        }
                    ],
                    "serve": {"variation": "on"},
                }
            ]
            flag["default"] = {"variation": "off"}
        else:
            flag["default"] = {"variation": "on"}
        out[f"flag-{i:05d}"] = flag
    return out


# ---------------------------------------------------------------------------- 1. ready


def bench_ready(stack: Stack, sizes: list[int], runs: int) -> dict[str, Any]:
    """Time to READY from the CDN and from the disk cache, plus a stage breakdown."""
    out: dict[str, Any] = {}
    for n in sizes:
        built = stack.build(flags(n))
        url = stack.publish(built)
        cache_dir = stack.tmp / f"cache-{n}"
        DiskCache(cache_dir, PROJECT, ENV, "server").store(built.pointer_bytes, built.ciphertext)

        def from_cdn(url: str = url) -> float:
            t0 = time.perf_counter()
            client = FlagClient(
                project=PROJECT, environment=ENV, sdk_key=stack.server_key, pointer_url=url
            )
            ok = client.wait_until_ready(60)
            elapsed = time.perf_counter() - t0
            client.close()
            assert ok, client.status()
            return elapsed

        def from_disk(cache_dir: Path = cache_dir) -> float:
            t0 = time.perf_counter()
            client = FlagClient(
                project=PROJECT,
                environment=ENV,
                sdk_key=stack.server_key,
                mode="offline",
                cache_dir=cache_dir,
            )
            ok = client.wait_until_ready(60)
            elapsed = time.perf_counter() - t0
            client.close()
            assert ok, client.status()
            return elapsed

        cdn_times = [from_cdn() for _ in range(runs)]
        disk_times = [from_disk() for _ in range(runs)]
        stages = _stages(stack, built)
        out[str(n)] = {
            "bundle_bytes": len(built.ciphertext),
            "cdn_ms": _summary_ms(cdn_times),
            "disk_ms": _summary_ms(disk_times),
            "stages_ms": stages,
            "decrypt_compare_ms": _decrypt_compare(stack, built, runs=max(5, 2 * runs)),
        }
    return out


def _decrypt_compare(stack: Stack, built: Built, runs: int) -> dict[str, Any]:
    """The SDK-key decrypt of one bundle: the reader's light decoder vs the ESDK's own
    decrypt (raw AES keyring), interleaved run by run so machine noise hits both alike.
    Both are already imported here; this is decrypt time only."""
    expected = encryption_context(PROJECT, ENV, built.pointer.revision, "server")
    light_pt = decrypt_bundle(built.ciphertext, sdk_key=stack.server_key, expected=expected)
    esdk_pt = open_with_sdk_key(built.ciphertext, stack.server_key, expected=expected)
    assert light_pt == esdk_pt == built.plaintext
    light: list[float] = []
    heavy: list[float] = []
    for _ in range(runs):
        t0 = time.perf_counter()
        decrypt_bundle(built.ciphertext, sdk_key=stack.server_key, expected=expected)
        t1 = time.perf_counter()
        open_with_sdk_key(built.ciphertext, stack.server_key, expected=expected)
        t2 = time.perf_counter()
        light.append(t1 - t0)
        heavy.append(t2 - t1)
    return {
        "light": _summary_ms(light),
        "esdk": _summary_ms(heavy),
        "esdk_over_light": round(statistics.median(heavy) / statistics.median(light), 2),
    }


def _stages(stack: Stack, built: Built) -> dict[str, float]:
    expected = encryption_context(PROJECT, ENV, built.pointer.revision, "server")
    t0 = time.perf_counter()
    hashlib.sha256(built.ciphertext).hexdigest()
    t1 = time.perf_counter()
    plaintext = decrypt_bundle(built.ciphertext, sdk_key=stack.server_key, expected=expected)
    t2 = time.perf_counter()
    doc = decode_bundle_document(plaintext)
    t3 = time.perf_counter()
    compile_environment(doc, strict=False, clock=time.time)
    t4 = time.perf_counter()
    return {
        "sha256": _ms(t1 - t0),
        "decrypt": _ms(t2 - t1),
        "decode": _ms(t3 - t2),
        "compile": _ms(t4 - t3),
    }


# ---------------------------------------------------------------------------- 2. overhead


def bench_overhead(stack: Stack, iterations: int, rounds: int) -> dict[str, Any]:
    """ns per boolean evaluation through each layer (same flag, same context)."""
    built = stack.build(flags(1000))
    cache_dir = stack.tmp / "cache-overhead"
    DiskCache(cache_dir, PROJECT, ENV, "server").store(built.pointer_bytes, built.ciphertext)
    client = FlagClient(
        project=PROJECT,
        environment=ENV,
        sdk_key=stack.server_key,
        mode="offline",
        cache_dir=cache_dir,
    )
    snap = client.snapshot()
    assert snap is not None
    env = snap.env
    key = "flag-00001"  # one targeting rule, matches DE
    mapping = {"targetingKey": "user-42", "country": "DE"}
    ctx = Context.from_mapping(mapping)
    provider = VexilProvider(client)
    api.set_provider_and_wait(provider)
    of_client = api.get_client()
    ectx = EvaluationContext(targeting_key="user-42", attributes={"country": "DE"})
    assert env.get_boolean_details(key, ctx, False).value is True
    assert of_client.get_boolean_value(key, False, ectx) is True

    cases: dict[str, Callable[[], object]] = {
        "engine_context": lambda: env.get_boolean_details(key, ctx, False),
        "engine_mapping": lambda: env.get_boolean_details(key, mapping, False),
        "flagclient_context": lambda: client.get_boolean_details(key, ctx, False),
        "flagclient_mapping": lambda: client.get_boolean_details(key, mapping, False),
        "provider_resolve": lambda: provider.resolve_boolean_details(key, False, ectx),
        "openfeature_sdk_client": lambda: of_client.get_boolean_details(key, False, ectx),
    }
    ns = _per_call_ns(cases, iterations, rounds)
    api.shutdown()
    client.close()
    raw = ns["engine_context"]
    raw_mapping = ns["engine_mapping"]
    return {
        "ns_per_eval": {k: round(v, 1) for k, v in ns.items()},
        "ratio_vs_engine_context": {k: round(v / raw, 2) for k, v in ns.items()},
        "ratio_vs_engine_mapping": {k: round(v / raw_mapping, 2) for k, v in ns.items()},
        "goal_provider_le_2x_raw": {
            "provider_vs_engine_mapping": round(ns["provider_resolve"] / raw_mapping, 2),
            "provider_vs_engine_context": round(ns["provider_resolve"] / raw, 2),
        },
    }


def _per_call_ns(
    cases: dict[str, Callable[[], object]], iterations: int, rounds: int
) -> dict[str, float]:
    """Best-of-rounds ns per call for each case; rounds interleave the cases so that a
    noisy neighbour on this shared machine disturbs all of them alike."""
    best = dict.fromkeys(cases, float("inf"))
    gc.collect()
    for _ in range(rounds):
        for name, fn in cases.items():
            t0 = time.perf_counter_ns()
            for _ in range(iterations):
                fn()
            best[name] = min(best[name], (time.perf_counter_ns() - t0) / iterations)
    return best


# ---------------------------------------------------------------------------- 3. rss

_RSS_SCRIPT = r"""
import gc, json, sys, time, psutil
proc = psutil.Process()
start = proc.memory_info().rss
t0 = time.perf_counter()
from edge_reader.client import FlagClient
import edge_reader.openfeature  # what an OpenFeature user imports too
t1 = time.perf_counter()
gc.collect()
imported = proc.memory_info().rss
t2 = time.perf_counter()
if len(sys.argv) > 5:  # a background-mode reader on the CDN instead (extra field)
    client = FlagClient(project=sys.argv[1], environment=sys.argv[2], sdk_key=sys.argv[3],
                        pointer_url=sys.argv[5])
else:
    client = FlagClient(project=sys.argv[1], environment=sys.argv[2], sdk_key=sys.argv[3],
                        mode="offline", cache_dir=sys.argv[4])
assert client.wait_until_ready(60)
t3 = time.perf_counter()
n = len(client.snapshot().env.flag_keys)
gc.collect()
loaded = proc.memory_info().rss
heavy = sorted(m for m in ("aws_encryption_sdk", "aws_cryptographic_material_providers",
                           "boto3", "botocore", "asyncio", "urllib3", "jsonschema")
               if m in sys.modules)
print(json.dumps({"flags": n, "interpreter": start, "after_imports": imported,
                  "after_load": loaded, "import_s": t1 - t0, "load_s": t3 - t2,
                  "heavy_modules": heavy}))
"""


def bench_rss(stack: Stack, n: int) -> dict[str, Any]:
    """RSS of a fresh process: after imports, and after loading ``n`` flags from disk."""
    built = stack.build(flags(n))
    cache_dir = stack.tmp / "cache-rss"
    DiskCache(cache_dir, PROJECT, ENV, "server").store(built.pointer_bytes, built.ciphertext)
    args = [PROJECT, ENV, stack.server_key.text, str(cache_dir)]
    raw = _rss_process(args)
    # Extra: the same fresh process as a background-mode reader of the loopback CDN, which
    # also loads the HTTP stack (http.client, ssl) an offline reader never needs.
    cdn = _rss_process([*args, stack.publish(built)])
    mb = 1024 * 1024
    return {
        "flags": raw["flags"],
        "bundle_bytes": len(built.ciphertext),
        "rss_interpreter_mb": round(raw["interpreter"] / mb, 1),
        "rss_after_imports_mb": round(raw["after_imports"] / mb, 1),
        "rss_after_load_mb": round(raw["after_load"] / mb, 1),
        "rss_flags_delta_mb": round((raw["after_load"] - raw["after_imports"]) / mb, 1),
        "cold_process_import_ms": _ms(raw["import_s"]),
        "cold_process_load_from_disk_ms": _ms(raw["load_s"]),
        "heavy_modules_loaded": raw["heavy_modules"],
        "cdn": {
            "rss_after_imports_mb": round(cdn["after_imports"] / mb, 1),
            "rss_after_load_mb": round(cdn["after_load"] / mb, 1),
            "cold_process_import_ms": _ms(cdn["import_s"]),
            "cold_process_load_from_cdn_ms": _ms(cdn["load_s"]),
            "heavy_modules_loaded": cdn["heavy_modules"],
        },
    }


def _rss_process(args: list[str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    raw: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return raw


# ---------------------------------------------------------------------------- 4. ofrep


_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(key)s"
local counter = 0
request = function()
  counter = counter + 1
  local body = string.format(
    '{"context":{"targetingKey":"user-%%d","country":"%%s"}}',
    counter, (counter %% 2 == 0) and "DE" or "US")
  return wrk.format(nil, "%(path)s", nil, body)
end
"""


@contextmanager
def edge_process(stack: Stack) -> Iterator[str]:
    config = stack.tmp / "edge.json"
    config.write_bytes(
        orjson.dumps(
            {
                "cdn": stack.cdn.base,
                "ca_bundle": None,
                "environments": [
                    {"project": PROJECT, "environment": ENV, "sdk_key": stack.client_key.text}
                ],
            }
        )
    )
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edge_reader.edge",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--config",
            str(config),
            "--log-level",
            "WARNING",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "listening" not in line:
            raise RuntimeError(
                f"edge did not start: {line} {proc.stderr.read() if proc.stderr else ''}"
            )
        yield f"http://127.0.0.1:{port}"
    finally:
        procs.stop(proc)


def bench_ofrep(stack: Stack, duration: int, connections: int) -> dict[str, Any]:
    """wrk against the edge: single-flag and bulk evaluation."""
    if shutil.which("wrk") is None:
        return {"skipped": "wrk not installed"}
    stack.publish(stack.build(flags(100, client_visible=True), scope="client"))
    out: dict[str, Any] = {}
    with edge_process(stack) as base:
        for name, path in (
            ("single", "/ofrep/v1/evaluate/flags/flag-00001"),
            ("bulk_100_flags", "/ofrep/v1/evaluate/flags"),
        ):
            script = stack.tmp / f"{name}.lua"
            script.write_text(_LUA % {"key": stack.client_key.text, "path": path})
            # Warm-up (connections, caches), then the measured run.
            _wrk(base, script, 2, connections)
            out[name] = _wrk(base, script, duration, connections)
    out["connections"] = connections
    out["threads"] = 2
    return out


def _wrk(base: str, script: Path, duration: int, connections: int) -> dict[str, Any]:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), base]
    text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    total = re.search(r"(\d+) requests in", text)
    pct = {
        p: _to_ms(v, u)
        for p, v, u in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    }
    return {
        "requests_per_s": float(rps.group(1)) if rps else None,
        "requests": int(total.group(1)) if total else None,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "latency_ms": pct,
    }


def _to_ms(value: str, unit: str) -> float:
    factor = {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return round(float(value) * factor, 3)


# ---------------------------------------------------------------------------- main


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _summary_ms(times: list[float]) -> dict[str, Any]:
    return {
        "first": _ms(times[0]),
        "median": _ms(statistics.median(times)),
        "min": _ms(min(times)),
        "runs": len(times),
    }


def main(argv: list[str] | None = None) -> int:
    """Run every measurement; print a table (or JSON with --json)."""
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench_reader")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--quick", action="store_true", help="smaller, shorter runs")
    args = parser.parse_args(argv)
    sizes = [1000] if args.quick else [1000, 10_000]
    stack = Stack()
    try:
        results: dict[str, Any] = {
            "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
            "ready": bench_ready(stack, sizes, runs=3 if args.quick else 5),
            "overhead": bench_overhead(
                stack, iterations=10_000 if args.quick else 20_000, rounds=5 if args.quick else 15
            ),
            "rss": bench_rss(stack, 10_000),
            "ofrep_wrk": bench_ofrep(stack, duration=3 if args.quick else 10, connections=32),
        }
    finally:
        stack.close()
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        _print_table(results)
    return 0


def _print_table(r: dict[str, Any]) -> None:
    print("== time to READY (ms; first / median / min)")
    for n, v in r["ready"].items():
        c, d = v["cdn_ms"], v["disk_ms"]
        print(
            f"  {int(n):>6} flags  bundle {v['bundle_bytes'] / 1024:8.1f} KiB   "
            f"CDN {c['first']:8.1f} / {c['median']:8.1f} / {c['min']:8.1f}   "
            f"disk {d['first']:8.1f} / {d['median']:8.1f} / {d['min']:8.1f}"
        )
        s = v["stages_ms"]
        print(
            f"                stages: sha256 {s['sha256']} decrypt {s['decrypt']} "
            f"decode {s['decode']} compile {s['compile']}"
        )
        d = v["decrypt_compare_ms"]
        print(
            f"                decrypt median: light {d['light']['median']} ms, "
            f"ESDK {d['esdk']['median']} ms (x{d['esdk_over_light']})"
        )
    print("== overhead per boolean evaluation (ns, best round)")
    o = r["overhead"]
    for name, ns in o["ns_per_eval"].items():
        print(
            f"  {name:<24} {ns:9.1f} ns   x{o['ratio_vs_engine_context'][name]:5.2f} vs engine "
            f"(Context)   x{o['ratio_vs_engine_mapping'][name]:5.2f} vs engine (mapping)"
        )
    m = r["rss"]
    print(
        f"== RSS, {m['flags']} flags: interpreter {m['rss_interpreter_mb']} MB, after imports "
        f"{m['rss_after_imports_mb']} MB, after load {m['rss_after_load_mb']} MB "
        f"(flags +{m['rss_flags_delta_mb']} MB)"
    )
    print(
        f"   fresh process: import edge_reader.client + openfeature "
        f"{m['cold_process_import_ms']} ms, then READY from disk "
        f"{m['cold_process_load_from_disk_ms']} ms; heavy modules {m['heavy_modules_loaded']}"
    )
    c = m["cdn"]
    print(
        f"   same, background reader on the CDN: after imports {c['rss_after_imports_mb']} MB, "
        f"after load {c['rss_after_load_mb']} MB (READY {c['cold_process_load_from_cdn_ms']} ms)"
    )
    w = r["ofrep_wrk"]
    if "skipped" in w:
        print(f"== OFREP edge: skipped ({w['skipped']})")
        return
    print(f"== OFREP edge under wrk (-t2 -c{w['connections']}, same 2-core machine)")
    for name in ("single", "bulk_100_flags"):
        x = w[name]
        lat = x["latency_ms"]
        print(
            f"  {name:<16} {x['requests_per_s']:9.1f} req/s   p50 {lat.get('50')} ms   "
            f"p90 {lat.get('90')} ms   p99 {lat.get('99')} ms   non-2xx {x['non_2xx']}"
        )


if __name__ == "__main__":
    sys.exit(main())
