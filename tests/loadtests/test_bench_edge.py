"""The edge benchmark runs against the session's moto_server, times the paths it claims
(each warm request answered 200 by the handler; the cold start answered by a fresh
interpreter) and reports in JSON. No timing thresholds: the numbers go to docs."""

from __future__ import annotations

import json

import pytest

from loadtests import bench_edge


def test_quick_json_run_reports_warm_and_cold(
    aws_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench_edge.main(["--json", "--quick"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["flags"] == 50
    warm, cold = out["warm"], out["cold_start"]
    assert warm["single_us"] > 0
    assert warm["bulk_us"] > warm["single_us"]  # 50 flags rendered, not one
    assert cold["runs"] == 3
    assert cold["process_ms"] > cold["imports_ms"] + cold["first_invoke_ms"] > 0

