"""The refresh benchmark runs, takes the paths it claims to time, and reports in JSON."""

from __future__ import annotations

import json

import pytest

from loadtests import bench_refresh


def test_quick_json_run_reports_every_case(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_refresh.main(["--json", "--quick"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["not_modified_ns"]) == {"without_signing_keys", "with_signing_keys"}
    assert all(v > 0 for v in out["not_modified_ns"].values())
    assert out["renewal_us"] > 0  # (_best raises if a cycle took another path than timed)
