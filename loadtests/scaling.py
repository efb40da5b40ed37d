"""Bundle size, build and load time, and reader memory against flag count (100 → 100,000).

    python -m loadtests.scaling [--sizes 100,1000,10000,100000] [--json]

Each size runs in a fresh subprocess (so RSS is not polluted by the previous size):
build an environment of N realistic flags (targets, a country + plan rule, a semver rule, a
10 % rollout, metadata), canonical-encode it, encrypt it with the real envelope (KMS on an
in-process moto_server + one SDK key, as the publisher does), then — as a reader — decrypt
with the SDK key, decode and compile (``strict=False``), and measure the RSS the compiled
environment holds once the plaintext and the document are dropped.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import psutil
from moto.server import ThreadedMotoServer

from edge_reader.bundle import (
    decode_bundle_document,
    decrypt_bundle,
    encode_bundle_document,
    encryption_context,
    generate_sdk_key,
)
from edge_reader.bundle.esdk import EnvelopeCache, encrypt_bundle
from edge_reader.bundle.hierarchy import BranchKeyStore
from edge_reader.engine import compile_environment
from vexil.resources import ensure_key_store_table

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SIZES = (100, 1_000, 10_000, 100_000)
COUNTRIES = ["DE", "FR", "NL", "US", "GB", "ES", "IT", "PL", "SE", "JP"]


def make_flag(i: int) -> dict[str, Any]:
    """One realistic boolean flag (≈1 KB of JSON)."""
    return {
        "kind": "boolean", "variations": {"on": True, "off": False},
        "description": f"Flag number {i} for the checkout team", "tags": [f"team-{i % 7}"],
        "client_visible": i % 3 == 0, "version": 1 + i % 5,
        "metadata": {"owner": f"team-{i % 7}", "ticket": f"VX-{i}"},
        "enabled": True, "off_variation": "off",
        "targets": [{"context_kind": "user", "values": [f"u-{i}-{j}" for j in range(5)],
                     "variation": "on"}],
        "rules": [
            {"id": "geo", "clauses": [
                {"attribute": "country", "op": "in", "values": COUNTRIES[: 1 + i % 9]},
                {"attribute": "plan", "op": "in", "values": ["pro", "team"]}],
             "serve": {"variation": "on"}},
            {"id": "app", "clauses": [
                {"attribute": "appVersion", "op": "semver_gte", "values": [f"4.{i % 10}.0"]}],
             "serve": {"variation": "on"}},
        ],
        "default": {"rollout": {"variations": [{"variation": "on", "weight": 10_000},
                                               {"variation": "off", "weight": 90_000}],
                                "salt": f"flag-{i}"}},
    }


class _Stage:
    """Wall and CPU (this thread only: moto's threads are excluded) time of one stage."""

    def __enter__(self) -> _Stage:
        self.wall0, self.cpu0 = time.perf_counter(), time.thread_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = round(time.perf_counter() - self.wall0, 3)
        self.cpu = round(time.thread_time() - self.cpu0, 3)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(n: int) -> dict[str, Any]:
    """Build, encrypt, decrypt, compile N flags in this process; return sizes, times, RSS."""
    proc = psutil.Process()
    port = _free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    try:
        os.environ.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
                          AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106
                          AWS_DEFAULT_REGION="us-east-1")
        session = boto3.session.Session()
        kms = session.client("kms")
        key_arn = kms.create_key(Description="scaling")["KeyMetadata"]["Arn"]
        envelope = EnvelopeCache(BranchKeyStore(
            table=ensure_key_store_table("scaling-branch-keys", session=session),
            kms_key_arn=key_arn, dynamodb_client=session.client("dynamodb"), kms_client=kms))
        sdk_key = generate_sdk_key("srv")
        context = encryption_context("load", "prod", 1, "server")
        gc.collect()
        rss_base = proc.memory_info().rss

        with _Stage() as encode:
            doc = {"format": 1, "project": "load", "environment": "prod", "revision": 1,
                   "scope": "server", "segments": {},
                   "flags": {f"flag-{i:06d}": make_flag(i) for i in range(n)}}
            plain = encode_bundle_document(doc)
        with _Stage() as encrypt:
            cipher = encrypt_bundle(plain, context=context, sdk_keys=[sdk_key], cache=envelope)
        plain_bytes, cipher_bytes = len(plain), len(cipher)
        del doc, plain
        gc.collect()
        rss_before_load = proc.memory_info().rss

        with _Stage() as decrypt:
            opened = decrypt_bundle(cipher, sdk_key=sdk_key, expected=context)
        with _Stage() as decode:
            decoded = decode_bundle_document(opened)
        with _Stage() as compile_:
            env = compile_environment(decoded, strict=False, clock=time.time)
        rss_peak = proc.memory_info().rss
        del opened, decoded
        gc.collect()
        rss_held = proc.memory_info().rss
        assert len(env.flag_keys) == n
    finally:
        moto.stop()
    mb = 1024 * 1024
    return {
        "flags": n, "plain_bytes": plain_bytes, "bundle_bytes": cipher_bytes,
        "build_encode_s": encode.wall, "build_encode_cpu_s": encode.cpu,
        "encrypt_s": encrypt.wall,
        "decrypt_s": decrypt.wall, "decrypt_cpu_s": decrypt.cpu,
        "decode_s": decode.wall, "decode_cpu_s": decode.cpu,
        "compile_s": compile_.wall, "compile_cpu_s": compile_.cpu,
        "load_s": round(decrypt.wall + decode.wall + compile_.wall, 3),
        "load_cpu_s": round(decrypt.cpu + decode.cpu + compile_.cpu, 3),
        "rss_base_mb": round(rss_base / mb, 1),
        "rss_peak_load_mb": round((rss_peak - rss_before_load) / mb, 1),
        "rss_held_mb": round((rss_held - rss_before_load) / mb, 1),
    }


def run(sizes: tuple[int, ...] = DEFAULT_SIZES, timeout: float = 900) -> list[dict[str, Any]]:
    """Measure every size in its own subprocess; return one row per size."""
    rows = []
    for n in sizes:
        out = subprocess.run(
            [sys.executable, "-m", "loadtests.scaling", "--child", str(n)],
            capture_output=True, text=True, cwd=ROOT, timeout=timeout, check=False,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        if out.returncode != 0:
            raise RuntimeError(f"scaling child for {n} flags failed: {out.stderr[-800:]}")
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return rows


def main(argv: list[str] | None = None) -> int:
    """CLI: print one row per size (JSON with ``--json``)."""
    parser = argparse.ArgumentParser(prog="python -m loadtests.scaling")
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)))
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child)))
        return 0
    try:
        sizes = tuple(int(s) for s in args.sizes.split(",") if s)
    except ValueError:
        parser.error("--sizes: comma-separated flag counts, e.g. 100,1000")
    rows = run(sizes)
    if args.json:
        print(json.dumps(rows))
        return 0
    for r in rows:
        print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
