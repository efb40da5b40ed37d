"""Audit-anchor benchmark: ``python -m loadtests.bench_anchors [--json] [--quick]``.

Against a private moto_server (never a throughput target: ~300 ops/s; the figures show how
the work *scales* — calls made — more than AWS latency):

1. Periodic anchoring (``chalicelib.publish.anchoring.anchor_all``) over E environments plus the
   global chain: wall time, KMS ``Sign`` calls (one per 256 new heads), S3 puts; then a
   second run with nothing moved (HEADs only, no ``Sign``).
2. Verification (``POST /v1/audit/verify``'s ``verify_with_anchors``) of one chain of R
   records with A anchors: wall time (median of N), S3 GETs (the newest agreeing anchor
   only, when honest), LIST pages, and the same after the whole chain was rewritten with
   every hash recomputed (GETs until the first genuine disagreeing anchor).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from chalicelib import keys
from chalicelib.anchor_check import AnchorVerifier, verify_with_anchors
from chalicelib.anchors import Anchor, AnchorStore, anchor_digest
from chalicelib.audit import Chain
from chalicelib.publish.anchoring import Anchorer, anchor_all
from chalicelib.publish.signing import PointerSigner
from chalicelib.repository import DynamoRepository


def _count(client: Any, service: str) -> dict[str, int]:
    counts: dict[str, int] = {}

    def seen(model: Any, **_: Any) -> None:
        counts[model.name] = counts.get(model.name, 0) + 1

    client.meta.events.register(f"before-call.{service}", seen)
    return counts


def _write_chain(ddb: Any, table: str, chain: Chain, records: int, head_pk: str,
                 head_sk: str, action: str = "bench") -> list[str]:
    """R records of a chain (direct batch writes) and its head; returns every hash."""
    hashes: list[str] = []
    prev = ""
    items = []
    for seq in range(1, records + 1):
        text = orjson.dumps({"seq": seq, "prev_hash": prev, "action": action},
                            option=orjson.OPT_SORT_KEYS).decode()
        prev = hashlib.sha256(text.encode()).hexdigest()
        hashes.append(prev)
        items.append({"PutRequest": {"Item": {"pk": {"S": chain.records_pk},
                                              "sk": {"S": keys.audit_sk(seq)},
                                              "record": {"S": text}, "hash": {"S": prev}}}})
    for start in range(0, len(items), 25):
        ddb.batch_write_item(RequestItems={table: items[start:start + 25]})
    ddb.update_item(TableName=table, Key={"pk": {"S": head_pk}, "sk": {"S": head_sk}},
                    UpdateExpression="SET audit_seq = :n, audit_head = :h",
                    ExpressionAttributeValues={":n": {"N": str(records)}, ":h": {"S": prev}})
    return hashes


def bench_anchor_all(ddb: Any, table: str, anchorer: Anchorer, envs: int,
                     kms_calls: dict[str, int], s3_calls: dict[str, int]) -> dict[str, Any]:
    """E environments with a few records each, anchored twice (second run: nothing moved)."""
    project = f"bench{int(time.time())}"
    ddb.put_item(TableName=table, Item={"pk": {"S": keys.project_pk(project)},
                                        "sk": {"S": keys.PROJECT_SK},
                                        "gsi1pk": {"S": "PROJECTS"}, "gsi1sk": {"S": project},
                                        "project": {"S": project}})
    for i in range(envs):
        env = f"e{i}"
        ddb.put_item(TableName=table, Item={"pk": {"S": keys.project_pk(project)},
                                            "sk": {"S": keys.environment_sk(env)},
                                            "project": {"S": project},
                                            "environment": {"S": env}})
        _write_chain(ddb, table, Chain.for_environment(project, env), 3,
                     keys.project_pk(project), keys.environment_sk(env))
    repo = DynamoRepository(table)
    out: dict[str, Any] = {"environments": envs}
    for label in ("first", "unchanged"):
        kms_calls.clear()
        s3_calls.clear()
        started = time.perf_counter()
        run = anchor_all(repo, anchorer)
        out[label] = {"seconds": round(time.perf_counter() - started, 3),
                      "written": len(run.written), "already": run.already,
                      "failed": run.failed, "kms_sign": kms_calls.get("Sign", 0),
                      "s3_put": s3_calls.get("PutObject", 0),
                      "s3_head": s3_calls.get("HeadObject", 0)}
    return out


def bench_verify(ddb: Any, table: str, anchorer: Anchorer, records: int, anchors: int,
                 reps: int, s3_calls: dict[str, int]) -> dict[str, Any]:
    """One chain of R records, A anchors spread along it; verify honest, then rewritten."""
    project = f"verify{int(time.time())}"
    chain = Chain.for_environment(project, "prod")
    hashes = _write_chain(ddb, table, chain, records, keys.project_pk(project),
                          keys.environment_sk("prod"))
    step = max(1, records // anchors)
    batch = [Anchor.of_head(chain, seq, hashes[seq - 1], "t")
             for seq in range(step, records + 1, step)]
    for start in range(0, len(batch), 256):
        part = batch[start:start + 256]
        signature = anchorer.signer.sign_digests([anchor_digest(a) for a in part])
        for anchor in part:
            anchorer.store_signed(anchor, signature)
    verifier = AnchorVerifier(anchorer.store, lambda: [anchorer.signer.public_key()])
    repo = DynamoRepository(table)
    out: dict[str, Any] = {"records": records, "anchors": len(batch)}
    for label in ("honest", "rewritten"):
        if label == "rewritten":  # every record edited, every hash recomputed
            _write_chain(ddb, table, chain, records, keys.project_pk(project),
                         keys.environment_sk("prod"), action="rewritten")
        times, result = [], {}
        for _ in range(reps):
            s3_calls.clear()
            started = time.perf_counter()
            result = verify_with_anchors(repo, chain, verifier)
            times.append(time.perf_counter() - started)
        out[label] = {"median_seconds": round(statistics.median(times), 3),
                      "ok": result["ok"], "status": result["anchors"]["status"],
                      "s3_get": s3_calls.get("GetObject", 0),
                      "s3_list": s3_calls.get("ListObjectsV2", 0)}
    return out


def main(argv: list[str] | None = None) -> int:
    """Run against a private moto_server; print a table or JSON."""
    parser = argparse.ArgumentParser(prog="loadtests.bench_anchors")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (< 60 s)")
    args = parser.parse_args(argv)
    envs, records, anchors, reps = (20, 300, 30, 1) if args.quick else (300, 3000, 300, 3)

    import logging  # noqa: PLC0415

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("vexil-anchors").setLevel(logging.WARNING)  # stdout is the answer
    from loadtests.bench_publish import _wait_http  # noqa: PLC0415
    from vexil.devstack.aws import FAKE_CREDENTIALS  # noqa: PLC0415
    from vexil.devstack.stack import free_port  # noqa: PLC0415
    from vexil.resources import ensure_resources  # noqa: PLC0415

    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/moto-api/data.json")
        os.environ.update(FAKE_CREDENTIALS)
        os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
        names = ensure_resources()
        import boto3  # noqa: PLC0415

        session = boto3.session.Session()
        kms, s3, ddb = session.client("kms"), session.client("s3"), session.client("dynamodb")
        kms_calls, s3_calls = _count(kms, "kms"), _count(s3, "s3")
        anchorer = Anchorer(AnchorStore(s3, names["VEXIL_BUCKET"]),
                            PointerSigner(kms, names["VEXIL_SIGNING_KEY_ID"]))
        results = {
            "anchor_all": bench_anchor_all(ddb, names["VEXIL_TABLE"], anchorer, envs,
                                           kms_calls, s3_calls),
            "verify": bench_verify(ddb, names["VEXIL_TABLE"], anchorer, records, anchors,
                                   reps, s3_calls),
        }
    finally:
        server.terminate()
        server.wait(timeout=10)
    if args.json:
        print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
    else:
        for part, values in results.items():
            print(f"{part}: {orjson.dumps(values).decode()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
