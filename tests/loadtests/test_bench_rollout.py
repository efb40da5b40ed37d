"""bench_rollout runs end to end on its own local stack and reports what it says (no timing
asserted here: the numbers are for docs/rollouts.md; never a step after the alarm is)."""

from __future__ import annotations

import json

import pytest

from loadtests import bench_rollout


def test_bench_rollout_quick_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_rollout.main(["--json", "--quick"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rounds"] == 2
    assert out["steps_advanced"] >= 2 * bench_rollout.STEPS_BEFORE_ALARM
    assert out["steps_after_alarm"] == 0
    for name in ("alarm_to_rollback_write_ms", "alarm_to_reader_ms"):
        assert out[name]["max"] >= out[name]["median"] > 0
