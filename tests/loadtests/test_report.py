"""The report's parsers, CPU meter and document writer, fed with given numbers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from loadtests import capacity
from loadtests.loadgen import CpuMeter, parse_locust_json, parse_wrk
from loadtests.report import nginx_settings
from loadtests.report_doc import flatten, fmt, table
from loadtests.report_text import write_doc
from loadtests.target import Target, from_mapping, load_target, write_target

WRK_OUTPUT = """Running 5s test @ https://127.0.0.1:8443/bundles/shop/staging/current.json
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.10ms    2.00ms  40.00ms   90.00%
  Latency Distribution
     50%    2.50ms
     75%    3.50ms
     90%    5.00ms
     99%   12.00ms
  51234 requests in 5.01s, 20.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
Requests/sec:  10226.55
Transfer/sec:      4.00MB
vexil-status 304 51200
vexil-status 200 34
vexil-latency-us 2500 5000 12000 30500 40000
"""


def test_parse_wrk_reads_throughput_percentiles_statuses_and_errors() -> None:
    r = parse_wrk(WRK_OUTPUT)
    assert r["requests_per_s"] == 10226.55
    assert r["requests"] == 51234
    assert r["errors"] == 3
    assert r["statuses"] == {"304": 51200, "200": 34}
    assert r["latency_ms"] == {"p50": 2.5, "p75": 3.5, "p90": 5.0, "p99": 12.0,
                               "p99_9": 30.5, "max": 40.0}


def _entry(name: str, times: dict[str, int], failures: int = 0) -> dict[str, Any]:
    return {"name": name, "method": "GET", "num_requests": sum(times.values()),
            "num_failures": failures, "response_times": times, "start_time": 100.0,
            "last_request_timestamp": 110.0, "max_response_time": max(map(float, times))}


def test_parse_locust_json_merges_entries_and_computes_percentiles(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps([
        _entry("pointer", {"2": 98, "40": 1}),
        _entry("bundle", {"100": 1}, failures=1),
    ]))
    r = parse_locust_json(path)
    assert r["requests"] == 100
    assert r["failures"] == 1
    assert r["requests_per_s"] == 10.0
    assert r["latency_ms"]["p50"] == 2.0
    assert r["latency_ms"]["p99"] == 40.0
    assert r["latency_ms"]["max"] == 100.0
    assert r["by_name"]["bundle"] == {"requests": 1, "failures": 1, "p50": 100.0, "p99": 100.0}


def test_cpu_meter_counts_a_waited_child_as_the_generator() -> None:
    meter = CpuMeter(server_pids=[])
    meter.start()
    subprocess.run([sys.executable, "-c", "sum(i * i for i in range(3_000_000))"], check=True)
    use = meter.stop()
    assert use.generator_cores > 0
    assert use.server_cores == 0
    assert use.machine_busy_cores >= 0
    assert use.machine_cores >= 1


def test_target_file_round_trip_and_dev_json_fallback(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    target = Target(cdn="https://x:1", ca_bundle="/ca.pem", client_sdk_key="vxl_cli_k",
                    flags=("a", "b"))
    path = tmp_path / "t.json"
    write_target(path, target)
    assert path.stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("VEXIL_LOADTEST_TARGET", str(path))
    assert load_target() == target
    dev = from_mapping({"cdn": "https://c:2/", "sdk_keys": {"staging": {"client": "vxl_cli_d"}}})
    assert dev.client_sdk_key == "vxl_cli_d"
    assert dev.cdn == "https://c:2"
    assert dev.pointer_path == "/bundles/shop/staging/current.json"


def test_table_and_flatten_format_numbers() -> None:
    assert fmt(12345.6) == "12,346"
    assert fmt(0.01234) == "0.0123"
    assert fmt(None) == "—"
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": [{"e": 3}]}) == [
        ("a.b", 1), ("a.c", "1, 2"), ("d[0].e", 3)]
    assert table(["x", "y"], [[1, "a|b"]]).splitlines() == ["| x | y |", "|---|---|",
                                                              "| 1 | a\\|b |"]


def _run(label: str, rps: float, p99: float, conc: int) -> dict[str, Any]:
    return {"label": label, "tool": "wrk", "target": label, "concurrency": conc,
            "duration_s": 5, "requests": int(rps * 5), "requests_per_s": rps,
            "latency_ms": {"p50": p99 / 4, "p90": p99 / 2, "p99": p99, "p99_9": p99 * 2},
            "statuses": {"304": int(rps * 5)}, "errors": 0,
            "cpu": {"server_cores": 0.9, "generator_cores": 0.8, "stack_rest_cores": 0.1,
                    "other_cores": 0.1}}


def _results() -> dict[str, Any]:
    load = {
        "duration_s": 5,
        "cdn_wrk_304": [_run("wrk pointer 304 c=8", 9000, 10, 8),
                        _run("wrk pointer 304 c=64", 12_345, 31, 64)],
        "cdn_wrk_304_tuned": [_run("wrk pointer 304 c=32, nginx 2 workers", 15_000, 20, 32)],
        "cdn_locust": [_run("locust 500 instances", 1000, 20, 500)],
        "ofrep_wrk_single": [_run("wrk single c=4", 2000, 9, 4)],
        "ofrep_wrk_bulk": [_run("wrk bulk c=4", 900, 12, 4)],
        "ofrep_locust": [_run("locust 32 users", 777, 44, 32)],
        "api_locust": _run("api", 5, 900, 9),
    }
    return {
        "command": "python -m loadtests.report", "started_at": "t0", "finished_at": "t1",
        "machine": {"cpus": 2, "cpu_model": "test cpu"},
        "eval": {"W1": {"evals_per_sec": 1_000_000, "mean_us": 1.0, "p50_us": 0.9,
                        "p99_us": 2.0}},
        "publish": {"error": "RuntimeError: boom"},
        "reader": {"rss": {"rss_after_load_mb": 42.0, "rss_flags_delta_mb": 20.0,
                           "rss_after_imports_mb": 22.0}},
        "scaling": [{"flags": n, "plain_bytes": 800 * n, "bundle_bytes": 810 * n,
                     "build_encode_cpu_s": n / 1e4, "encrypt_s": 0.1, "decrypt_cpu_s": 0.01,
                     "decode_cpu_s": n / 1e5, "compile_cpu_s": n / 1e4, "load_cpu_s": n / 5e3,
                     "rss_peak_load_mb": n / 200} for n in (100, 1000, 10000)],
        "million": {"error": "not run"},
        "load": load,
        "capacity": {k: v.to_json() for k, v in capacity.scenarios().items()},
        "capacity_grid": capacity.instance_grid(),
    }


def test_write_doc_renders_given_numbers_plots_and_failures(tmp_path: Path) -> None:
    doc = write_doc(_results(), tmp_path / "performance.md", tmp_path / "img")
    text = doc.read_text()
    assert "12,345 req/s, p99 31 ms (wrk pointer 304 c=64) | met" in text
    assert "p99 44 ms at 777 req/s (locust 32 users) | met" in text
    assert "15,000 req/s, p99 20 ms (wrk pointer 304 c=32, nginx 2 workers) | met" in text
    assert "42 MB RSS after load" in text
    assert "Not measured: RuntimeError: boom." in text
    assert "## One million users" in text
    assert "Not measured: not run." in text
    assert "10M users" in text
    assert capacity.PRICES_AS_OF in text
    for png in ("cdn_throughput", "cdn_latency", "ofrep_throughput", "ofrep_latency",
                "scaling", "memory"):
        image = tmp_path / "img" / f"{png}.png"
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"](img/{png}.png)" in text


def test_write_doc_says_when_the_load_step_failed(tmp_path: Path) -> None:
    results = _results()
    results["load"] = {"error": "wrk is not installed"}
    text = write_doc(results, tmp_path / "p.md", tmp_path / "img").read_text()
    assert "Not measured: wrk is not installed." in text
    assert "| CDN path > 10,000 req/s, p99 < 50 ms | not measured | — |" in text


def test_ofrep_target_names_the_highest_load_under_50_ms_and_the_nginx_setup(
    tmp_path: Path,
) -> None:
    results = _results()
    results["load"]["ofrep_locust"].append(_run("locust x2 processes", 900, 80, 32))
    results["load"]["cdn_config"] = {"server": "nginx", "worker_processes": "1",
                                     "access_log": "/logs/access.log"}
    text = write_doc(results, tmp_path / "p.md", tmp_path / "img").read_text()
    assert ("p99 80 ms at 900 req/s (locust x2 processes); highest Locust load with "
            "p99 < 50 ms: 777 req/s, p99 44 ms (locust 32 users) | NOT met") in text
    assert ("runs `worker_processes 1` with an access log line per request, so the server"
            in text)


def test_nginx_settings_reads_the_generated_config(tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text("worker_processes 2;\nhttp {\n    access_log off;\n}\n")
    assert nginx_settings(conf) == {"server": "nginx", "worker_processes": "2",
                                    "access_log": "off"}
    assert nginx_settings(tmp_path / "missing.conf") == {"server": "not nginx (Python proxy)"}
