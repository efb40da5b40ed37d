"""Local DynamoDB promises and speed: ``python -m loadtests.bench_emulator [--json] [--quick]``.

Runs the same workloads against moto's own ``moto_server`` (threaded, no lock) and against the
stack's launcher (``python -m vexil.devstack.motoserver``: one request at a time), each in
its own process on 127.0.0.1, and reports for each:

* ``chain``: N writers append to one chain the way the control plane appends audit records —
  consistent read of the head, then one ``TransactWriteItems`` (head ``seq = :s`` → ``:s+1``
  plus the record ``R#<s+1>`` with ``attribute_not_exists``), re-read and retry when
  cancelled. Afterwards every reply is checked against the table: ``lost`` = a success whose
  record is not there, ``phantom`` = a cancelled attempt whose record is there, ``head_off`` =
  the head differs from the number of successes, ``gaps`` = record slots 1..head missing.
  On DynamoDB all four are 0.
* ``claim``: N writers race one ``PutItem`` with ``attribute_not_exists`` on the same new key
  per round; ``double_wins`` counts rounds with more than one 200 (DynamoDB: exactly one).
* throughput: DynamoDB requests per second during the chain race (each moto transaction
  deep-copies the table, so on moto's own server this falls as the table grows), single-client
  ``PutItem``/``GetItem`` ops/s (what one sequential caller gets), and 8 clients doing
  ``PutItem`` + ``GetItem`` on their own keys (what a load test through the stack asks).
* ``memory``: the server's RSS growth per 100 six-item transactions on a table of 300 items,
  and transactions per second (moto keeps a whole-table copy per transaction item alive; the
  launcher's per-item rollback, ``vexil.devstack.moto_transactions``, does not copy tables).

The correctness workloads are also what ``tests/reliability/test_emulator_isolation.py``
asserts on; this module owns them.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import boto3
import orjson
import psutil
from botocore.config import Config
from botocore.exceptions import ClientError

from vexil.devstack import procs

FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1"}
# What each kind of server is started with; "serialised" is what the stack and tests run.
SERVERS: dict[str, list[str]] = {
    "moto": [sys.executable, "-m", "moto.server"],
    # moto's own server switching threads every 10 µs, as a loaded machine does: the race
    # is the same, but it shows on every run instead of only when the machine is busy.
    "moto_busy": [sys.executable, "-c", "import sys; sys.setswitchinterval(1e-5); "
                  "sys.argv[0] = 'moto_server'; from moto.server import main; main()"],
    "serialised": [sys.executable, "-m", "vexil.devstack.motoserver"],
}
ATTEMPTS = 3
FILLER = 100


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Emulator:
    """A running emulator process: its URL and pid."""

    url: str
    pid: int

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far."""
        times = psutil.Process(self.pid).cpu_times()
        return float(times.user + times.system)


@contextmanager
def emulator(kind: str) -> Iterator[Emulator]:
    """Start server ``kind`` (a key of SERVERS) in its own process; yield it; stop it."""
    port = _free_port()
    proc = subprocess.Popen(
        [*SERVERS[kind], "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{kind} emulator exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=2):  # noqa: S310
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield Emulator(url, proc.pid)
    finally:
        procs.stop(proc)  # TERM, then KILL: the one place that sequence lives


def client(endpoint: str) -> Any:
    """A DynamoDB client for ``endpoint``: fake credentials, no retries (every reply counts),
    a pool large enough for every racing thread."""
    return boto3.session.Session(
        aws_access_key_id=FAKE_AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
        region_name=FAKE_AWS["AWS_DEFAULT_REGION"],
    ).client("dynamodb", endpoint_url=endpoint, config=Config(
        retries={"max_attempts": 1, "mode": "standard"}, max_pool_connections=128,
        read_timeout=120))


def create_table(ddb: Any) -> str:
    """A fresh pk/sk table with a stream (the shape of Vexil's table); return its name."""
    name = f"race-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    return name


@dataclass
class ChainResult:
    """What the chain race observed, and its anomalies (all 0 on DynamoDB)."""

    writers: int
    successes: int = 0
    cancelled: int = 0
    requests: int = 0
    seconds: float = 0.0
    lost: int = 0
    phantom: int = 0
    head_off: int = 0
    gaps: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def anomalies(self) -> int:
        """Every way the table disagrees with the replies."""
        return self.lost + self.phantom + self.head_off + self.gaps


def _append(ddb: Any, table: str, marker: str, log: list[tuple[str, str, int]],
            lock: threading.Lock, attempts: int) -> int:
    """One writer: read the head, append one record in a transaction; retry when cancelled.
    Logs (outcome, marker, slot) per attempt; returns the number of requests made."""
    requests = 0
    for attempt in range(attempts):
        head = ddb.get_item(TableName=table, Key={"pk": {"S": "c"}, "sk": {"S": "HEAD"}},
                            ConsistentRead=True).get("Item")
        seq = int(head["seq"]["N"]) if head else 0
        mark = f"{marker}.{attempt}"
        try:
            ddb.transact_write_items(TransactItems=[
                {"Update": {"TableName": table, "Key": {"pk": {"S": "c"}, "sk": {"S": "HEAD"}},
                            "UpdateExpression": "SET seq = :n",
                            "ConditionExpression": "seq = :s",
                            "ExpressionAttributeValues": {":n": {"N": str(seq + 1)},
                                                          ":s": {"N": str(seq)}}}},
                {"Put": {"TableName": table,
                         "Item": {"pk": {"S": "c"}, "sk": {"S": f"R#{seq + 1:06d}"},
                                  "mark": {"S": mark}},
                         "ConditionExpression": "attribute_not_exists(pk)"}},
            ])
            outcome = "ok"
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            outcome = "cancelled"
        requests += 2
        with lock:
            log.append((outcome, mark, seq + 1))
        if outcome == "ok":
            break
    return requests


def fill(ddb: Any, table: str, items: int) -> None:
    """Put ``items`` unrelated ~200-byte items (other projects' data, in Vexil's terms)."""
    pad = "x" * 200
    for start in range(0, items, 25):
        ddb.batch_write_item(RequestItems={table: [
            {"PutRequest": {"Item": {"pk": {"S": f"f{i}"}, "sk": {"S": "x"}, "pad": {"S": pad}}}}
            for i in range(start, min(start + 25, items))]})


def chain_race(endpoint: str, writers: int, filler: int = FILLER,
               attempts: int = ATTEMPTS) -> ChainResult:
    """Run the chain race with ``writers`` threads (each trying up to ``attempts`` times) on a
    fresh table holding ``filler`` other items; check the table against the replies."""
    ddb = client(endpoint)
    table = create_table(ddb)
    # moto copies the whole table per transaction: a table of realistic size makes the copy
    # (and so the window in which a concurrent write is overwritten) as long as on the stack.
    fill(ddb, table, filler)
    ddb.put_item(TableName=table, Item={"pk": {"S": "c"}, "sk": {"S": "HEAD"}, "seq": {"N": "0"}})
    log: list[tuple[str, str, int]] = []
    lock = threading.Lock()
    counts: list[int] = []
    barrier = threading.Barrier(writers)

    def run(n: int) -> None:
        barrier.wait()
        counts.append(_append(ddb, table, f"w{n}", log, lock, attempts))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(writers)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    result = ChainResult(writers=writers, seconds=time.perf_counter() - started,
                         requests=sum(counts))
    _check_chain(ddb, table, log, result)
    return result


def _check_chain(ddb: Any, table: str, log: list[tuple[str, str, int]],
                 result: ChainResult) -> None:
    items = ddb.query(TableName=table, KeyConditionExpression="pk = :p",
                      ExpressionAttributeValues={":p": {"S": "c"}}, ConsistentRead=True)["Items"]
    stored = {i["sk"]["S"]: i for i in items}
    marks = {i["mark"]["S"] for i in items if "mark" in i}
    head = int(stored["HEAD"]["seq"]["N"])
    oks = [(m, slot) for outcome, m, slot in log if outcome == "ok"]
    result.successes, result.cancelled = len(oks), len(log) - len(oks)
    for mark, slot in oks:
        if stored.get(f"R#{slot:06d}", {}).get("mark", {}).get("S") != mark:
            result.lost += 1
            result.examples.append(f"200 for {mark} at slot {slot}, not in the table")
    for outcome, mark, slot in log:
        if outcome == "cancelled" and mark in marks:
            result.phantom += 1
            result.examples.append(f"cancelled {mark} (slot {slot}) is in the table")
    result.head_off = abs(head - len(oks))
    result.gaps = sum(1 for s in range(1, head + 1) if f"R#{s:06d}" not in stored)
    del result.examples[5:]


def claim_race(endpoint: str, writers: int, rounds: int) -> dict[str, int]:
    """``writers`` threads race a conditional create of one new key, ``rounds`` times; count
    rounds with more than one winner (DynamoDB: never)."""
    ddb = client(endpoint)
    table = create_table(ddb)
    double = 0
    for r in range(rounds):
        wins: list[int] = []
        barrier = threading.Barrier(writers)

        def run(n: int, r: int = r, wins: list[int] = wins,
                barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                ddb.put_item(TableName=table, Item={"pk": {"S": f"k{r}"}, "sk": {"S": "x"},
                                                    "by": {"N": str(n)}},
                             ConditionExpression="attribute_not_exists(pk)")
                wins.append(n)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
        threads = [threading.Thread(target=run, args=(n,)) for n in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        double += len(wins) > 1
    return {"writers": writers, "rounds": rounds, "double_wins": double}


def sequential_ops(endpoint: str, n: int) -> dict[str, float]:
    """One client, ``n`` PutItem then ``n`` GetItem: ops/s of each."""
    ddb = client(endpoint)
    table = create_table(ddb)
    t0 = time.perf_counter()
    for i in range(n):
        ddb.put_item(TableName=table, Item={"pk": {"S": f"p{i}"}, "sk": {"S": "x"}})
    t1 = time.perf_counter()
    for i in range(n):
        ddb.get_item(TableName=table, Key={"pk": {"S": f"p{i}"}, "sk": {"S": "x"}})
    t2 = time.perf_counter()
    return {"put_ops_per_s": round(n / (t1 - t0), 1), "get_ops_per_s": round(n / (t2 - t1), 1)}


def concurrent_ops(endpoint: str, threads: int, per_thread: int) -> dict[str, float]:
    """``threads`` clients each doing ``per_thread`` PutItem + GetItem on their own keys:
    total ops/s (what a load test through the stack asks of the emulator)."""
    ddb = client(endpoint)
    table = create_table(ddb)
    barrier = threading.Barrier(threads)

    def run(n: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            key = {"pk": {"S": f"t{n}-{i}"}, "sk": {"S": "x"}}
            ddb.put_item(TableName=table, Item=key)
            ddb.get_item(TableName=table, Key=key)

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    started = time.perf_counter()
    for t in workers:
        t.start()
    for t in workers:
        t.join(300)
    seconds = time.perf_counter() - started
    return {"threads": threads, "ops_per_s": round(2 * threads * per_thread / seconds, 1)}


def transaction_memory(emu: Emulator, filler: int, transactions: int) -> dict[str, float]:
    """Server memory kept per transaction: a table of ``filler`` items (Vexil's table holds
    every project), then ``transactions`` writes of 6 items each, the shape of a config write
    (entity, history, head, record, ...). Reports the server's RSS growth per 100
    transactions and transactions per second. moto copies the whole table per item of every
    transaction and keeps the copies alive; the launcher's per-item rollback copies 6 items."""
    ddb = client(emu.url)
    table = create_table(ddb)
    for i in range(filler):
        ddb.put_item(TableName=table, Item={"pk": {"S": f"f{i}"}, "sk": {"S": "x"},
                                            "body": {"S": "x" * 200}})
    rss0 = psutil.Process(emu.pid).memory_info().rss
    started = time.perf_counter()
    for n in range(transactions):
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": f"t{n}"}, "sk": {"S": str(k)},
                                                  "body": {"S": "y" * 200}}}}
            for k in range(6)])
    seconds = time.perf_counter() - started
    grown = psutil.Process(emu.pid).memory_info().rss - rss0
    return {"filler_items": filler, "transactions": transactions,
            "rss_mb_per_100_transactions": round(grown / 2**20 * 100 / transactions, 1),
            "transactions_per_s": round(transactions / seconds, 1)}


def _timed(emu: Emulator, run: Callable[[], Any]) -> tuple[Any, float, float]:
    """Run a workload; (its result, wall seconds, server CPU seconds)."""
    cpu0, wall0 = emu.cpu_seconds(), time.perf_counter()
    result = run()
    return result, time.perf_counter() - wall0, emu.cpu_seconds() - cpu0


def measure(writers: int, claim_rounds: int, seq_ops: int, repeat: int) -> dict[str, Any]:
    """Every workload against both emulators, started side by side and taken in turn
    (``repeat`` times for the throughput workloads), so machine load hits both alike.
    Throughput is given per wall second (median) and per server CPU second (total)."""
    out: dict[str, Any] = {}
    with emulator("moto") as plain, emulator("serialised") as serial:
        emus = {"moto": plain, "serialised": serial}
        chains: dict[str, list[tuple[ChainResult, float, float]]] = {k: [] for k in emus}
        conc: dict[str, list[tuple[Any, float, float]]] = {k: [] for k in emus}
        seq: dict[str, list[dict[str, float]]] = {k: [] for k in emus}
        for _ in range(repeat):
            for kind, emu in emus.items():
                seq[kind].append(sequential_ops(emu.url, seq_ops))
                chains[kind].append(_timed(emu, partial(chain_race, emu.url, writers)))
                conc[kind].append(_timed(emu, partial(concurrent_ops, emu.url, 8,
                                                      seq_ops // 8)))
        for kind, emu in emus.items():
            runs = [c for c, _, _ in chains[kind]]
            requests = sum(c.requests for c in runs)
            worst = max(runs, key=lambda c: c.anomalies)
            out[kind] = {
                "chain": {"runs": len(runs), "successes": sum(c.successes for c in runs),
                          "cancelled": sum(c.cancelled for c in runs),
                          "lost": sum(c.lost for c in runs),
                          "phantom": sum(c.phantom for c in runs),
                          "head_off": sum(c.head_off for c in runs),
                          "gaps": sum(c.gaps for c in runs), "examples": worst.examples[:3],
                          "ops_per_s": round(statistics.median(
                              c.requests / wall for c, wall, _ in chains[kind]), 1),
                          "ops_per_cpu_s": round(requests / sum(
                              cpu for _, _, cpu in chains[kind]), 1)},
                "concurrent": {"threads": 8, "ops_per_s": statistics.median(
                                   r["ops_per_s"] for r, _, _ in conc[kind]),
                               "ops_per_cpu_s": round(
                                   repeat * 2 * 8 * (seq_ops // 8)
                                   / sum(cpu for _, _, cpu in conc[kind]), 1)},
                "claim": claim_race(emu.url, writers, claim_rounds),
                "memory": transaction_memory(emu, FILLER * 3, 4 * seq_ops // 8),
                "sequential": {k: statistics.median(r[k] for r in seq[kind])
                               for k in ("put_ops_per_s", "get_ops_per_s")},
            }
    return out


def main(argv: list[str] | None = None) -> int:
    """Measure both emulators; print a summary or (``--json``) one JSON document."""
    parser = argparse.ArgumentParser(description="moto vs the serialised launcher")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--quick", action="store_true", help="smaller runs (< 60 s)")
    parser.add_argument("--writers", type=int, default=50)
    args = parser.parse_args(argv)
    os.environ.update(FAKE_AWS)
    results: dict[str, Any] = {"writers": args.writers, **measure(
        args.writers, 3 if args.quick else 10, 200 if args.quick else 800,
        1 if args.quick else 3)}
    if args.json:
        print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
    else:
        for kind in SERVERS:
            r = results[kind]
            print(f"{kind:>10}: chain {r['chain']['ops_per_s']} ops/s "
                  f"({r['chain']['ops_per_cpu_s']} per server CPU s), "
                  f"{r['chain']['successes']} ok, lost {r['chain']['lost']}, "
                  f"phantom {r['chain']['phantom']}; "
                  f"claim double wins {r['claim']['double_wins']}/{r['claim']['rounds']}; "
                  f"sequential put {r['sequential']['put_ops_per_s']} / "
                  f"get {r['sequential']['get_ops_per_s']} ops/s; "
                  f"8 clients {r['concurrent']['ops_per_s']} ops/s "
                  f"({r['concurrent']['ops_per_cpu_s']} per server CPU s); "
                  f"transactions {r['memory']['transactions_per_s']}/s, "
                  f"+{r['memory']['rss_mb_per_100_transactions']} MB RSS per 100")
    return 0


if __name__ == "__main__":
    sys.exit(main())
