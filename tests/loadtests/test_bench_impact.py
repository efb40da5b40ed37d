"""bench_impact runs and reports what it says (no timing asserted here: numbers are for the
benchmark's reader)."""

from __future__ import annotations

import json

import pytest

from loadtests import bench_impact


def test_bench_impact_quick_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_impact.main(["--json", "--quick"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"100", "1000", "10000", "budget_share_at_max"}
    for size in ("100", "1000", "10000"):
        assert out[size]["seconds"] > 0
        # 10 % → 50 % behind an EU rule: some, never all, contexts change.
        assert 0 < out[size]["changed"] < int(size)
