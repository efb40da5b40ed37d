"""``vexil strategies`` and ``vexil rollouts`` against the real control plane (in-process
``chalice local`` on the session's moto), human output and ``--json``."""

from __future__ import annotations

import json

import boto3
import pytest

from tests.apiclient import request_json
from tests.cli.test_cli_verbs import _cli, _ok


def _flag(cli_env: dict[str, str], project: str) -> None:
    api, token = cli_env["api"], cli_env["token"]
    assert request_json(f"{api}/v1/projects", "POST", {"key": project}, token=token)[0] == 201
    assert request_json(f"{api}/v1/projects/{project}/environments", "POST",
                        {"key": "live"}, token=token)[0] == 201
    assert request_json(f"{api}/v1/projects/{project}/flags", "POST", {
        "key": "search", "kind": "boolean", "variations": {"on": True, "off": False}},
        token=token)[0] == 201
    assert request_json(f"{api}/v1/projects/{project}/environments/live/flags/search", "PUT",
                        {"enabled": True, "default": {"variation": "off"}}, token=token,
                        if_match=1)[0] == 200


def test_strategies_and_a_rollout_from_start_to_abort(
        capsys: pytest.CaptureFixture[str], cli_env: dict[str, str], project: str) -> None:
    _flag(cli_env, project)
    cw = boto3.client("cloudwatch")
    cw.put_metric_alarm(AlarmName=f"{project}-5xx", MetricName="5xx", Namespace="Search",
                        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1.0,
                        ComparisonOperator="GreaterThanThreshold")
    _ok(capsys, "strategies", "create", "tens", "--project", project, "--kind", "linear",
        "--step-percent", "10", "--bake", "1800", "--final-bake", "3600")
    shown = json.loads(_ok(capsys, "strategies", "show", "tens", "--project", project,
                           "--json"))
    assert shown["steps"] == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    listing = _ok(capsys, "strategies", "list", "--project", project)
    assert "tens" in listing
    assert "linear" in listing
    code, _, err = _cli(capsys, "strategies", "create", "bad", "--project", project, "--kind",
                        "linear", "--bake", "60")
    assert code == 1
    assert "step_percent" in err
    scope = ("--project", project, "--environment", "live")
    out = _ok(capsys, "rollouts", "start", "search", *scope, "--target", "on",
              "--strategy", "tens", "--guards", f"{project}-5xx")
    assert "running at 10 % of on (step 1/10" in out
    status = json.loads(_ok(capsys, "rollouts", "status", "search", *scope, "--json"))
    assert status["status"] == "running"
    assert status["guards"] == [f"{project}-5xx"]
    assert "search" in _ok(capsys, "rollouts", "list", *scope)
    assert "paused" in _ok(capsys, "rollouts", "pause", "search", *scope)
    assert "running" in _ok(capsys, "rollouts", "resume", "search", *scope)
    out = _ok(capsys, "rollouts", "abort", "search", *scope, "--reason", "not today")
    assert "aborted" in out
    served = request_json(f"{cli_env['api']}/v1/projects/{project}/environments/live/flags/"
                          "search", "GET", token=cli_env["token"])[1]
    assert served["config"]["default"] == {"variation": "off"}
    code, _, err = _cli(capsys, "strategies", "delete", "tens", "--project", project)
    assert code == 0, err
