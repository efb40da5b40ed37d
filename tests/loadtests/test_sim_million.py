"""The million-user simulation, at a size a unit test can afford."""

from __future__ import annotations

import json

import pytest

from edge_reader.engine import compile_environment
from loadtests import sim_million
from loadtests.scaling import make_flag


def test_simulation_serves_configured_shares_within_chance() -> None:
    result = sim_million.simulate(10_000)
    assert result["users"] == 10_000
    assert result["flags"] == 5 + sim_million.RULE_FLAGS
    assert result["evaluations"] == 10_000 * (len(sim_million.ROLLOUTS) + 3)
    by_flag: dict[str, float] = {}
    for share in result["shares"]:
        assert abs(share["z"]) < 5, share  # 5 standard errors: a real skew, not chance
        by_flag[share["flag"]] = by_flag.get(share["flag"], 0.0) + share["served_pct"]
    assert all(total == pytest.approx(100.0, abs=0.01) for total in by_flag.values())
    eu = next(s for s in result["shares"] if s["flag"] == "eu-recommendations")
    assert 5_000 < eu["eligible_users"] < 9_000  # only EU users reach the split


def test_cli_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert sim_million.main(["--users", "500", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["users"] == 500
    assert out["evaluations_per_s"] > 0


def test_scaling_flags_compile_strictly() -> None:
    env = compile_environment({"flags": {f"f{i}": make_flag(i) for i in range(50)}},
                              strict=True)
    assert len(env.flag_keys) == 50
