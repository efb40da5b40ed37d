"""loadtests.bench_eval's pieces work (the benchmark itself is run by hand, never timed here)."""

from __future__ import annotations

import random

from loadtests import bench_eval


def test_workloads_evaluate_what_they_claim() -> None:
    rng = random.Random(1)
    contexts = bench_eval.build_contexts(rng, 2000)
    keys = [c.targeting_key or "" for c in contexts]
    env = bench_eval.build_environment(rng, keys, segment_size=200)
    assert len(env.flag_keys) == 1005
    assert env.errors == []
    served = {w: sum(env.get_boolean(w, c, False) for c in contexts) for w in
              ("w1", "w2", "w3", "w4", "w5")}
    assert served["w1"] == 2000
    assert 400 < served["w2"] < 800          # 3 of 10 countries
    assert 800 < served["w3"] < 1200         # 50 % rollout
    assert 0 < served["w4"] < served["w2"]   # a subset of W2's audience
    assert served["w5"] == 200               # the segment's keys are drawn from the contexts
    stats = bench_eval.run_workload(env.get_boolean, ["w2"] * 2000, contexts, rounds=1)
    assert set(stats) == {"evals_per_sec", "mean_us", "p50_us", "p99_us", "cpu_mean_us"}
    assert stats["mean_us"] > 0


def test_compile_measurement_reports_its_numbers() -> None:
    stats = bench_eval.measure_compile(50)
    assert stats["flags"] == 50
    assert stats["compile_seconds"] > 0


def test_load_measurement_runs_in_a_fresh_process_and_reports_its_numbers() -> None:
    for mode in bench_eval.LOAD_MODES:
        stats = bench_eval.measure_load(50, mode)
        assert stats["flags"] == 50
        assert stats["mode"] == mode
        assert stats["plaintext_mb"] > 0
        assert stats["decode_compile_cpu_seconds"] >= 0
        assert stats["first_eval_ms"] >= stats["decode_ms"] >= 0
        assert "rss_growth_mb_after_drop" in stats
        assert "rss_growth_mb_all_flags_compiled" in stats


def test_client_and_openfeature_workloads_serve_what_the_engine_serves() -> None:
    rng = random.Random(2)
    mappings = bench_eval.build_mappings(rng, 300)
    keys = [m["targetingKey"] for m in mappings]
    document = bench_eval.build_document(rng, keys, segment_size=30)
    workloads = {"W2": ["w2"] * 300, "W5": ["w5"] * 300}
    with bench_eval.served_client(document) as client:
        assert sum(client.get_boolean("w5", dict(m), False) for m in mappings) == 30
        stats = bench_eval.run_workload(client.get_boolean, ["w2"] * 300, mappings, rounds=1)
        assert stats["mean_us"] > 0
        of = bench_eval.measure_openfeature(client, workloads, mappings)
        assert set(of) == {"W2", "W5"}
        assert of["W5"]["mean_us"] > 0
        # the provider was shut down without closing the client it was given
        assert client.get_boolean("w1", {}, False) is True
