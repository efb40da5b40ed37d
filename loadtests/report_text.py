"""The text of ``docs/performance.md``, written from a results dict (see ``loadtests.report``).

Every figure below is read from ``results``; a missing section prints "not measured" and why.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from loadtests import capacity
from loadtests.report_doc import (
    failed,
    flatten,
    fmt,
    plot_latency,
    plot_memory,
    plot_scaling,
    plot_throughput,
    table,
)

LOCUSTFILES = {
    "CDN (SDK instances)": ".venv/bin/locust -f loadtests/locust_cdn.py --headless -u 500 -r 100 "
                           "-t 60s --poll-interval 1 --csv loadtests/out/cdn "
                           "--html loadtests/out/cdn.html",
    "OFREP (browsers, apps)": ".venv/bin/locust -f loadtests/locust_ofrep.py --headless -u 64 "
                              "-r 64 -t 60s --csv loadtests/out/ofrep "
                              "--html loadtests/out/ofrep.html",
    "control-plane API": ".venv/bin/locust -f loadtests/locust_api.py --headless -u 9 -r 9 "
                         "-t 60s --csv loadtests/out/api --html loadtests/out/api.html",
}


def _runs_table(runs: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for r in runs:
        lat, cpu = r.get("latency_ms", {}), r.get("cpu", {})
        statuses = ", ".join(
            f"{k}: {fmt(v)}" for k, v in sorted(r.get("statuses", {}).items()))
        server = float(cpu.get("server_cores") or 0)
        per_core = round(float(r.get("requests_per_s") or 0) / server) if server > 0.01 else None
        rows.append([r.get("label", r.get("target")), r.get("concurrency"),
                     r.get("requests_per_s"), per_core, lat.get("p50"), lat.get("p90"),
                     lat.get("p99"), lat.get("p99_9"), r.get("errors"), statuses,
                     cpu.get("server_cores"), cpu.get("generator_cores"),
                     cpu.get("stack_rest_cores"), cpu.get("other_cores")])
    return table(["run", "conc.", "req/s", "req/s per server core", "p50 ms", "p90 ms",
                  "p99 ms", "p99.9 ms", "errors/failures", "responses", "server cores",
                  "generator cores",
                  "rest of stack cores", "other cores"], rows)


def _contention_note(runs: Sequence[Mapping[str, Any]]) -> str:
    """One sentence on who used the machine during ``runs`` (from their CPU columns)."""
    cpus = [r.get("cpu") or {} for r in runs]
    if not cpus:
        return ""
    n = len(cpus)

    def avg(key: str) -> float:
        return sum(float(c.get(key) or 0) for c in cpus) / n

    busy, other = avg("machine_busy_cores"), avg("other_cores")
    cores = int(cpus[0].get("machine_cores") or 2)
    text = (f"Over these runs the machine was busy {busy:.2f} of {cores} cores on average: "
            f"server {avg('server_cores'):.2f}, load generator {avg('generator_cores'):.2f}, "
            f"rest of the stack {avg('stack_rest_cores'):.2f}, other jobs {other:.2f}.")
    if busy >= 0.95 * cores:
        text += (" The CPU was saturated, so these throughputs and tail latencies are the "
                 "machine's limit (shared between generator, server")
        text += ", and other jobs)." if other > 0.2 else ")."
    return text


def _best(runs: Sequence[Mapping[str, Any]], p99_limit: float = 50.0) -> Mapping[str, Any] | None:
    """The highest-throughput run whose p99 is under the limit (else the fastest run)."""
    ok = [r for r in runs if float(r["latency_ms"].get("p99", 1e9)) < p99_limit]
    pool = ok or list(runs)
    return max(pool, key=lambda r: float(r["requests_per_s"])) if pool else None


def _verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("met" if ok else "NOT met")


def _targets(results: Mapping[str, Any]) -> list[str]:
    rows: list[list[Any]] = []
    load = results.get("load") or {}
    cdn = load.get("cdn_wrk_304") if not failed(load) else None
    tuned = load.get("cdn_wrk_304_tuned") if not failed(load) else None
    if cdn:
        best = _best(cdn)
        assert best is not None
        ok = best["requests_per_s"] > 10_000 and best["latency_ms"].get("p99", 1e9) < 50
        rows.append(["CDN path > 10,000 req/s, p99 < 50 ms (wrk, pointer 304s)",
                     f"{fmt(best['requests_per_s'])} req/s, "
                     f"p99 {fmt(best['latency_ms']['p99'])} ms "
                     f"({best['label']})", _verdict(ok)])
    else:
        rows.append(["CDN path > 10,000 req/s, p99 < 50 ms", "not measured", "—"])
    if isinstance(tuned, list) and tuned:
        best_tuned = _best(tuned)
        assert best_tuned is not None
        rows.append(["(experiment) same, nginx with 2 workers and no access log",
                     f"{fmt(best_tuned['requests_per_s'])} req/s, "
                     f"p99 {fmt(best_tuned['latency_ms']['p99'])} ms ({best_tuned['label']})",
                     _verdict(best_tuned["requests_per_s"] > 10_000
                              and best_tuned["latency_ms"].get("p99", 1e9) < 50)])
    ofrep = load.get("ofrep_locust") if not failed(load) else None
    if ofrep:
        top = max(ofrep, key=lambda r: float(r["requests_per_s"]))
        p99 = float(top["latency_ms"].get("p99", 1e9))
        measured = f"p99 {fmt(p99)} ms at {fmt(top['requests_per_s'])} req/s ({top['label']})"
        under = [r for r in ofrep if float(r["latency_ms"].get("p99", 1e9)) < 50]
        if under and p99 >= 50:
            fast = max(under, key=lambda r: float(r["requests_per_s"]))
            measured += (f"; highest Locust load with p99 < 50 ms: "
                         f"{fmt(fast['requests_per_s'])} req/s, p99 "
                         f"{fmt(fast['latency_ms']['p99'])} ms ({fast['label']})")
        rows.append(["OFREP p99 < 50 ms at the highest load Locust drives", measured,
                     _verdict(p99 < 50)])
    else:
        rows.append(["OFREP p99 < 50 ms (Locust)", "not measured", "—"])
    reader = results.get("reader")
    rss = reader.get("rss") if isinstance(reader, Mapping) and not failed(reader) else None
    if isinstance(rss, Mapping) and "rss_after_load_mb" in rss:
        rows.append(["reader memory < 50 MB for 10,000 flags (bench_reader, fresh process)",
                     f"{fmt(rss['rss_after_load_mb'])} MB RSS after load "
                     f"({fmt(rss.get('rss_flags_delta_mb'))} MB for the flags, "
                     f"{fmt(rss.get('rss_after_imports_mb'))} MB after imports)",
                     _verdict(float(rss["rss_after_load_mb"]) < 50)])
    else:
        rows.append(["reader memory < 50 MB for 10,000 flags", "not measured", "—"])
    ev = results.get("eval")
    if isinstance(ev, Mapping) and not failed(ev):
        worst = max((v for k, v in ev.items() if k.startswith("W")),
                    key=lambda v: float(v["mean_us"]), default=None)
        if worst:
            rows.append(["SDK evaluation (engine issue: microseconds)",
                         f"slowest workload mean {fmt(worst['mean_us'])} µs, "
                         f"p99 {fmt(worst['p99_us'])} µs", "see engine section"])
    return [table(["target", "measured", "verdict"], rows)]


def _nginx_note(load: Mapping[str, Any]) -> str:
    conf = load.get("cdn_config")
    if not isinstance(conf, Mapping):
        return ""
    if conf.get("server") != "nginx":
        return f"The stack's CDN stand-in was {conf.get('server')}."
    workers = str(conf.get("worker_processes"))
    log = str(conf.get("access_log"))
    logging = "no access log" if log == "off" else "an access log line per request"
    text = (f"The stack's nginx (as `vexil dev up` generates it) runs `worker_processes "
            f"{workers}` with {logging}")
    if workers == "1":
        text += ", so the server side can use at most one of the two cores"
    return text + "."


def _section_load(results: Mapping[str, Any], img: Path, rel: str) -> list[str]:
    load = results.get("load")
    reason = failed(load)
    if reason or not isinstance(load, Mapping):
        return ["## CDN and OFREP load", "", f"Not measured: {reason}."]
    lines = ["## CDN path (nginx stand-in for CloudFront, HTTPS with the local CA)", "",
             f"Each run lasts {fmt(load['duration_s'])} s. wrk uses 2 threads. CPU columns are "
             "cores used on average over the run (CPU seconds / wall seconds): the server "
             "(nginx master + worker), the load generator (wrk or locust, all processes), the "
             "rest of the local stack (moto, chalice local, stream worker, edge) and "
             "everything else on the machine (other jobs). *req/s per server core* divides "
             "the throughput by the server's CPU use: what one dedicated core would serve if "
             "throughput scaled linearly — an extrapolation, printed because on a shared "
             "machine the server rarely gets a whole core. " + _nginx_note(load), ""]
    cdn = list(load.get("cdn_wrk_304", []))
    extra = [load[k] for k in ("cdn_wrk_pointer_200", "cdn_wrk_bundle_200") if k in load]
    lines += ["### wrk (server capacity)", "", _runs_table(cdn + extra), "",
              _contention_note(cdn + extra), ""]
    tuned = load.get("cdn_wrk_304_tuned")
    series = {"pointer 304 (If-None-Match)": cdn}
    if isinstance(tuned, list) and tuned:
        lines += ["An experiment beside the stack: the same generated nginx configuration with "
                  "two lines changed — `worker_processes 2` and `access_log off` — on its own "
                  "port and cache, same origin. It shows how much of the figure above is the "
                  "local stand-in's configuration rather than the machine. (CloudFront is "
                  "neither.)", "", _runs_table(tuned), ""]
        series["pointer 304, nginx 2 workers, no log"] = tuned
    elif isinstance(tuned, Mapping):
        lines += [f"Tuned-nginx experiment not measured: {tuned.get('error')}.", ""]
    plot_throughput(series, img / "cdn_throughput.png",
                    "CDN pointer polls: throughput and p99 against concurrency")
    lines += [f"![CDN throughput]({rel}/cdn_throughput.png)", ""]
    lines += ["### Locust (SDK instances)", "",
              "`locust_cdn.py`: every user is one application instance (one keep-alive TLS "
              "connection) that fetches the pointer and bundle at start and then polls with "
              "If-None-Match. The first run is a realistic fleet at a short poll interval; "
              "the second removes the wait to find the most Locust can drive. All instances "
              "start within about a second, so the tail latencies include a thundering herd "
              "of TLS handshakes and first bundle downloads (the `bundle` count); the "
              "steady-state polls are the `pointer` requests.", "",
              _runs_table(load.get("cdn_locust", [])), "",
              _contention_note(load.get("cdn_locust", [])), ""]
    plot_latency(cdn + extra + list(load.get("cdn_locust", [])), img / "cdn_latency.png",
                 "CDN latency percentiles")
    lines += [f"![CDN latency]({rel}/cdn_latency.png)", ""]

    lines += ["## OFREP edge server (browsers and mobile apps)", "",
              "`python -m edge_reader.edge` (ThreadingHTTPServer, one Python process) serving "
              "the `client` scope bundle. wrk's script sends a fresh context per request "
              "(random targeting key out of a million, country, platform, plan).", ""]
    single = list(load.get("ofrep_wrk_single", []))
    bulk = list(load.get("ofrep_wrk_bulk", []))
    lines += ["### wrk", "", _runs_table(single + bulk), "", _contention_note(single + bulk), ""]
    plot_throughput({"single flag": single, "bulk": bulk}, img / "ofrep_throughput.png",
                    "OFREP: throughput and p99 against concurrency")
    lines += [f"![OFREP throughput]({rel}/ofrep_throughput.png)", ""]
    loc = list(load.get("ofrep_locust", []))
    lines += ["### Locust", "", "`locust_ofrep.py`: 4 of 5 requests evaluate one flag for a "
              "fresh context, 1 of 5 is a bulk evaluation for a returning context with "
              "If-None-Match. No think time: each user sends as fast as it gets answers.", "",
              _runs_table(loc), "", _contention_note(loc), ""]
    plot_latency(single + bulk + loc, img / "ofrep_latency.png", "OFREP latency percentiles")
    lines += [f"![OFREP latency]({rel}/ofrep_latency.png)", ""]
    api = load.get("api_locust")
    if isinstance(api, Mapping):
        lines += ["## Control-plane API mix (Locust)", "",
                  "`locust_api.py`: viewer, editor (GET + PUT with If-Match) and auditor "
                  "tokens created at start with the admin token. Locally every request ends in "
                  "moto, which the stack serialises (one request at a time, ≈300 DynamoDB "
                  "ops/s on this machine: see the emulator section; `chalice local` runs each "
                  "request on its own thread), so this shows the mix works under concurrency "
                  "and what moto allows — not what API Gateway + Lambda + DynamoDB would do. "
                  "The server "
                  "CPU column is chalice local + moto.", "", _runs_table([api]), ""]
    return lines


SOAK_RESULTS = Path(__file__).with_name("soak_results.md")

EMULATOR_INTRO = (
    "`python -m loadtests.bench_emulator --json` starts moto's own `moto_server` (`moto`: "
    "threaded, no lock) and the stack's launcher (`serialised`: `python -m "
    "vexil.devstack.motoserver`, one request at a time — what `vexil dev up`, the benchmarks "
    "and every test fixture run) side by side and gives them the same workloads in turn "
    "(3 rounds, medians; `--quick`: 1). `chain`: 50 writers append to one chain as the "
    "control plane appends audit records (consistent read of the head, one "
    "TransactWriteItems moving it and putting the record, 3 tries each) on a table holding "
    "100 other items; `lost` counts 200s whose record is not in the table, `phantom` "
    "cancelled attempts whose record is (both 0 on DynamoDB). `claim`: 50 writers race a "
    "conditional create of one key; `double_wins` counts rounds with two winners. "
    "`sequential`: one client; `concurrent`: 8 clients, PutItem + GetItem on their own keys. "
    "`ops_per_cpu_s` divides by the server process's CPU time, which the shared machine's "
    "load does not inflate: that is the figure to compare. moto is CPU-bound Python under "
    "one GIL, so the lock costs no CPU per operation. moto's own transactions deep-copy the "
    "whole table once per item and keep every copy alive (its memory growth); the launcher "
    "rolls a cancelled transaction back per item instead "
    "(`vexil.devstack.moto_transactions`). `memory`: RSS growth of the server per 100 "
    "six-item transactions on a 300-item table, and transactions/s. The emulator's speed is "
    "never a load-test target.")


EDGE_INTRO = (
    "`python -m loadtests.bench_edge --json`: the handler `infra/edge.tf` deploys, configured "
    "as Terraform configures it (bundle read from an S3 bucket on moto_server), answering "
    "API Gateway HTTP API events. `warm`: µs per request in one process (single flag; bulk "
    "of every client flag), a fresh targeting key per request, Lambda's own invoke overhead "
    "and the network excluded. `cold_start`: a fresh interpreter per run to the end of the "
    "first answer (imports, config, boto3 client, pointer and bundle GETs, decrypt, compile, "
    "evaluate), median; Lambda's sandbox set-up comes on top, and S3 in-region answers a few "
    "ms slower than moto on loopback.")


SEGMENTS_INTRO = (
    "`python -m loadtests.bench_segments --json` (issue 18): lookup in a flag evaluation "
    "(process CPU time; wall beside it), reader RSS growth per million members, bulk import "
    "(presigned upload → importer → publisher → reader behind nginx) and a 1,000-id delta "
    "on the local stack; shards rewritten out of 256.")


def _section_bench(title: str, data: Any, intro: str) -> list[str]:
    reason = failed(data)
    if reason:
        return [f"## {title}", "", intro, "", f"Not measured: {reason}.", ""]
    return [f"## {title}", "", intro, "",
            table(["measurement", "value"], flatten(data)), ""]


def _section_eval(data: Any) -> list[str]:
    reason = failed(data)
    head = ["## Engine (SDK evaluation)", "",
            "`python -m loadtests.bench_eval --json`: single-threaded typed-getter evaluations "
            "over 100,000 distinct contexts (see the module docstring for W1–W6; p50/p99 are "
            "percentiles of 100-evaluation batch averages).", ""]
    if reason or not isinstance(data, Mapping):
        return [*head, f"Not measured: {reason}.", ""]
    rows = [[k, v.get("evals_per_sec"), v.get("mean_us"), v.get("p50_us"), v.get("p99_us")]
            for k, v in data.items() if k.startswith("W") and isinstance(v, Mapping)]
    lines = [*head, table(["workload", "evaluations/s", "mean µs", "p50 µs", "p99 µs"], rows), ""]
    lines += _eval_paths(data)
    rest = {k: v for k, v in data.items()
            if not k.startswith("W") and k not in ("client", "openfeature", "client_goal")}
    if rest:
        lines += [table(["measurement", "value"], flatten(rest)), ""]
    return lines


def _eval_paths(data: Mapping[str, Any]) -> list[str]:
    """Engine getter (prebuilt Context) beside FlagClient (a fresh plain dict per call) and
    the OpenFeature SDK client, per workload: what applications get (issue 21)."""
    client, of, goal = data.get("client"), data.get("openfeature"), data.get("client_goal")
    if not isinstance(client, Mapping) or not isinstance(goal, Mapping):
        return []
    rows = []
    for name, g in goal.items():
        of_row = of.get(name, {}) if isinstance(of, Mapping) else {}
        rows.append([name, g.get("engine_mean_us"), g.get("client_mean_us"), g.get("gap_us"),
                     _verdict(bool(g.get("met"))), of_row.get("mean_us")])
    return ["What applications call: `FlagClient.get_boolean(key, {plain dict}, default)` (a "
            "fresh dict per call) and the OpenFeature SDK client over the provider (its own "
            "hooks and checks included), against the engine getter with a prebuilt Context. "
            "Goal: client mean ≤ engine mean + 0.15 µs.", "",
            table(["workload", "engine µs", "FlagClient µs", "gap µs", "goal",
                   "OpenFeature client µs"], rows), ""]


def _section_scaling(rows: Any, img: Path, rel: str) -> list[str]:
    head = ["## Bundle size, time and memory against flag count", "",
            "`loadtests.scaling`, one fresh process per size. Each flag is ≈800 bytes of JSON "
            "(targets, a country + plan rule, a semver rule, a 10 % rollout, metadata). "
            "Build/encode, decrypt, decode and compile are given as CPU seconds of the working "
            "thread (the machine is shared, wall time is inflated by other load; wall "
            "times are in `loadtests/out/results.json`); encrypt is wall time including the "
            "branch-key fetch (key store + KMS, in-process moto). Memory is the RSS growth "
            "of the process over the load (decrypt + decode + compile): its peak while "
            "loading, and what it still holds once the document is dropped.", ""]
    reason = failed(rows)
    if reason or not isinstance(rows, list) or not rows:
        return [*head, f"Not measured: {reason}.", ""]
    lines = [*head, table(
        ["flags", "plaintext MB", "bundle MB", "build+encode s", "encrypt s", "decrypt s",
         "decode s", "compile s", "load total s", "RSS peak MB", "RSS held MB"],
        [[r["flags"], r["plain_bytes"] / 1e6, r["bundle_bytes"] / 1e6,
          r["build_encode_cpu_s"], r["encrypt_s"], r["decrypt_cpu_s"], r["decode_cpu_s"],
          r["compile_cpu_s"], r["load_cpu_s"], r["rss_peak_load_mb"],
          r.get("rss_held_mb", "—")] for r in rows]), ""]
    plot_scaling(rows, img / "scaling.png")
    plot_memory(rows, img / "memory.png")
    lines += [f"![bundle size and time]({rel}/scaling.png)", "",
              f"![memory]({rel}/memory.png)", ""]
    return lines


def _section_million(data: Any) -> list[str]:
    head = ["## One million users (engine only)", "",
            "`python -m loadtests.sim_million`: 305 flags (5 rollouts, 300 rule flags with "
            "segment, country, plan and semver clauses) and a 10,000-key segment; each user "
            "gets a fresh context and is evaluated against every rollout flag and three rule "
            "flags. `z` is the gap divided by the binomial standard error (|z| < 3 is what "
            "chance produces).", ""]
    reason = failed(data)
    if reason or not isinstance(data, Mapping):
        return [*head, f"Not measured: {reason}.", ""]
    return [*head, table(["measurement", "value"], [
        ["distinct users", data["users"]], ["evaluations", data["evaluations"]],
        ["wall seconds", data["seconds"]],
        ["evaluations/s (context construction included)", data["evaluations_per_s"]],
        ["users/s", data["users_per_s"]], ["compile seconds", data["compile_seconds"]],
        ["RSS before compile MB", data["rss_before_mb"]],
        ["RSS compiled MB", data["rss_compiled_mb"]], ["RSS at end MB", data["rss_end_mb"]],
    ]), "", table(["flag", "variation", "eligible users", "configured %", "served %",
                   "gap (points)", "z"],
                  [[s["flag"], s["variation"], s["eligible_users"], s["configured_pct"],
                    s["served_pct"], s["diff_pct_points"], s["z"]] for s in data["shares"]]), ""]


def _fleet_note(results: Mapping[str, Any]) -> str:
    """How many polling instances the measured CDN stand-in alone would carry."""
    load = results.get("load")
    runs = load.get("cdn_wrk_304") if isinstance(load, Mapping) and not failed(load) else None
    best = _best(runs) if runs else None
    if best is None:
        return "No CDN measurement in this run to compare with."
    rps = float(best["requests_per_s"])
    return (f"For scale: the local nginx stand-in answered {fmt(rps)} pointer polls/s on this "
            f"shared 2-core machine ({best['label']}), enough for {fmt(round(rps * 30))} "
            "application instances polling every 30 s. CloudFront spreads the same load over "
            "its edge locations; at these rates it is not the constraint, cost is.")


def _section_capacity(results: Mapping[str, Any]) -> list[str]:
    scen: Mapping[str, Any] = results.get("capacity") or {}
    grid = results.get("capacity_grid") or []
    lines = ["## Capacity model (on paper)", "",
             "`loadtests/capacity.py`. The server SDK's only load is the pointer poll: "
             "**instances / poll interval** requests/s, nearly all 304s of ≈400 bytes; a "
             "change costs each instance one pointer and one bundle download. Browsers and "
             "apps go through the edge function (OFREP). A change is one DynamoDB "
             "transaction, one publisher invocation and two S3 objects per scope; KMS is "
             "called once to sign the pointers (one `Sign`) and at most once more (a "
             "branch-key `Decrypt` when the container's 300 s cache has expired), whatever "
             "the number of scopes.", "",
             "### CDN requests/s from server SDK polling", "",
             table(["instances", "poll interval s", "CDN requests/s"],
                   [[g["instances"], g["poll_interval_s"], g["requests_per_s"]] for g in grid]),
             "", _fleet_note(results), ""]
    if not scen:
        return lines
    names = list(scen)
    w_rows = []
    for field in capacity.Workload.__dataclass_fields__:
        w_rows.append([field, *[scen[n]["workload"][field] for n in names]])
    lines += ["### Assumptions", "", table(["workload input", *names], w_rows), "",
              "### Derived load", "", table(["", *names], [
                  ["server-SDK CDN requests/s", *[scen[n]["sdk_requests_per_s"] for n in names]],
                  ["server-SDK egress GB/month", *[scen[n]["sdk_egress_gb_month"] for n in names]],
                  ["OFREP requests/s (daily mean)",
                   *[scen[n]["ofrep_requests_per_s"] for n in names]],
                  ["OFREP requests/s (peak hour, 3× mean)",
                   *[scen[n]["ofrep_peak_requests_per_s"] for n in names]],
                  ["OFREP egress GB/month", *[scen[n]["ofrep_egress_gb_month"] for n in names]],
              ]), "", "### Per change", "",
              table(["operation", *names],
                    [[k, *[scen[n]["per_change"][k] for n in names]]
                     for k in scen[names[0]]["per_change"]]), "",
              f"### Monthly cost (USD) at list prices — {capacity.PRICES_AS_OF}", "",
              table(["line", *names],
                    [[k, *[scen[n]["monthly_cost"][k] for n in names]]
                     for k in scen[names[0]]["monthly_cost"]]
                    + [["**total**", *[scen[n]["total_monthly_cost"] for n in names]]]), "",
              "Prices assumed (USD): " + "; ".join(
                  f"{k} {v}" for k, v in vars(capacity.Prices()).items()) + ".", "",
              "The edge function dominates: browsers and apps are where the requests are. "
              "Server SDK polling is cents, and changes cost fractions of a cent each — "
              "the backend scales with the change rate, not with the user count.", ""]
    lists = results.get("capacity_lists") or capacity.list_costs()
    w = capacity.ListWorkload()
    lines += ["### One list segment of a million members (monthly)", "",
              f"`capacity.list_costs()`: {w.readers} readers, {w.full_changes_per_month} full "
              f"changes and {w.small_deltas_per_month} ten-id deltas a month, "
              f"{w.versions_kept} old versions kept. A delta of k random ids touches "
              "256·(1 − (1 − 1/256)^k) shards; readers download only those.", "",
              table(["line", "value"], list(lists.items())), ""]
    return lines


def render(results: Mapping[str, Any], img: Path, rel: str = "img") -> str:
    """The whole Markdown document (plots are written to ``img`` as a side effect)."""
    m = results.get("machine", {})
    lines = [
        "# Vexil performance", "",
        f"Generated by `{results.get('command', 'python -m loadtests.report')}` "
        f"({results.get('started_at')} → {results.get('finished_at')}). Every number on "
        "this page comes from that run; rerun it to refresh the page "
        "(`--quick` for a shorter run; raw numbers in `loadtests/out/results.json`).", "",
        "## Machine", "",
        table(["", ""], [
            ["CPU", f"{m.get('cpus')} cores — {m.get('cpu_model')}"],
            ["memory", f"{m.get('memory_gb')} GB"], ["Python", m.get("python")],
            ["OS", m.get("os")], ["nginx", m.get("nginx")], ["wrk", m.get("wrk")],
            ["load average at start / end",
             f"{m.get('load_average_at_start')} / {m.get('load_average_at_end')}"],
        ]), "",
        "**Read every load figure as a floor, not a ceiling.** The load generator and the "
        "server share the same 2 cores (the CPU columns show who used what), and other work "
        "may be running on the machine (the load averages above and the \"other cores\" "
        "column say how much). Where a run is limited by the machine — the generator "
        "saturating a core, or the server capped at the one core its single process can "
        "use — the text says so.", "",
        "## Targets", "", *_targets(results), "",
    ]
    lines += _section_load(results, img, rel)
    lines += _section_eval(results.get("eval"))
    lines += _section_bench(
        "Publisher (build, encrypt, propagation)", results.get("publish"),
        "`python -m loadtests.bench_publish --json --quick` (publisher helper's benchmark; "
        "always in its quick mode here: the full mode grows moto past 7 GB of memory and "
        "runs for well over 10 minutes on this machine. `propagation` is table write → new "
        "pointer in S3 through the stream worker; `stack_propagation`, where present, is "
        "API write → FlagClient through the CDN stand-in).")
    lines += _section_bench(
        "Reader (time to READY, overhead, memory)", results.get("reader"),
        "`python -m loadtests.bench_reader --json` (reader helper's benchmark; RSS is "
        "measured in a fresh subprocess).")
    lines += _section_bench("OFREP edge as a Lambda (handler cost, cold start)",
                            results.get("edge"), EDGE_INTRO)
    lines += _section_bench("Local DynamoDB (moto): isolation and throughput",
                            results.get("emulator"), EMULATOR_INTRO)
    lines += _section_bench("List segments at a million members", results.get("segments"),
                            SEGMENTS_INTRO)
    # bench_soak takes half an hour: its hand-run numbers are kept beside this module.
    lines += [SOAK_RESULTS.read_text(encoding="utf-8")]
    lines += _section_scaling(results.get("scaling"), img, rel)
    lines += _section_million(results.get("million"))
    lines += _section_capacity(results)
    lines += ["## Rerun pieces by hand", "",
              "Against a stack from `vexil dev up --demo` (or set `VEXIL_LOADTEST_TARGET` to a "
              "target file such as `loadtests/out/target.json`):", ""]
    lines += [f"* {name}: `{cmd}`" for name, cmd in LOCUSTFILES.items()]
    lines += ["* wrk: `VEXIL_ETAG='\"<etag>\"' wrk -t2 -c128 -d15s --latency "
              "-s loadtests/wrk/cdn_pointer.lua https://127.0.0.1:8443/bundles/shop/staging/"
              "current.json --timeout 5s` (and `cdn_bundle.lua`, `ofrep.lua` — usage in each "
              "script's header)",
              "* `python -m loadtests.sim_million`, `python -m loadtests.scaling`, "
              "`python -m loadtests.bench_eval|bench_publish|bench_reader|bench_emulator`", ""]
    return "\n".join(lines)


def write_doc(results: Mapping[str, Any], doc: Path, img: Path) -> Path:
    """Write the document and its plots; return the document path."""
    img.mkdir(parents=True, exist_ok=True)
    rel = os.path.relpath(img, doc.parent)
    text = render(results, img, rel)
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text, encoding="utf-8")
    return doc
