"""Guarded rollouts tried as an attacker would, against the running API (`chalice local`,
authorizer enforced, real clock) with several real tokens: who may start one, four-eyes on a
protected environment (the plan is bound to the approval), and what readers then get — the
controller then steps without further approvals. Read the way the publisher reads it."""

from __future__ import annotations

import os
import time
from itertools import count

import boto3
import pytest

from tests.control_plane.test_four_eyes_local import (  # noqa: F401 - the module's fixtures
    Http,
    People,
    _project,
    _served,
    http,
    people,
)

_n = count()
ON_OFF = {"enabled": True, "off_variation": "off", "default": {"variation": "off"}}


def _share_on(project: str) -> float:
    """Share of 400 contexts a server reader of production serves ``on``."""
    from chalicelib.publish.build import document_for
    from chalicelib.publish.snapshot import SnapshotReader

    from edge_reader.engine import ENGINE_VERSION, compile_environment

    reader = SnapshotReader(table=os.environ["VEXIL_TABLE"], dynamodb=boto3.client("dynamodb"),
                            kms=boto3.client("kms"))
    snapshot = reader.read(project, "production")
    assert snapshot is not None
    env = compile_environment(document_for(snapshot, "server", None, str(ENGINE_VERSION)),
                              strict=True, clock=time.time)
    hits = sum(env.evaluate("checkout", {"targetingKey": f"u-{i}"}, False).value is True
               for i in range(400))
    return hits / 400


def _tick() -> dict[str, list[str]]:
    from chalicelib.repository import DynamoRepository
    from chalicelib.rollout_controller import CloudWatchAlarms, SnsNotifier, tick
    from chalicelib.usecases.base import Ctx

    ctx = Ctx(DynamoRepository(os.environ["VEXIL_TABLE"]))
    return tick(ctx, CloudWatchAlarms(boto3.client("cloudwatch")),
                SnsNotifier(boto3.client("sns"), None)).as_dict()


@pytest.fixture
def guard(vexil_resources: dict[str, str]) -> str:
    name = f"local-guard-{next(_n)}-{int(time.time())}"
    cw = boto3.client("cloudwatch")
    cw.put_metric_alarm(AlarmName=name, MetricName="Errors", Namespace="Shop",
                        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1.0,
                        ComparisonOperator="GreaterThanThreshold")
    cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="test")
    return name


def test_starting_a_rollout_takes_the_right_and_a_second_person(
        http: Http, people: People, guard: str) -> None:  # noqa: F811 - fixtures
    p, prod = _project(http, protect_after_flag=True)
    # Production serves off to everyone (its own approved change request).
    cr = http.ok("PUT", f"{prod}/flags/checkout", ON_OFF, token=people.alice, if_match=1,
                 status=202)["change_request"]
    url = f"{prod}/change-requests/{cr['id']}"
    http.ok("POST", f"{url}/approve", token=people.bob, if_match=1)
    http.ok("POST", f"{url}/apply", token=people.alice, if_match=2)
    http.ok("POST", f"/v1/projects/{p}/strategies", {
        "key": "halves", "kind": "linear", "step_percent": 50, "bake_seconds": 1},
        status=201)
    body = {"target": "on", "strategy": "halves", "guards": [guard]}
    viewer = http.token(f"vic-{next(_n)}", "viewer")[0]
    code, out = http.call("POST", f"/v1/projects/{p}/strategies", {
        "key": "v", "kind": "linear", "step_percent": 50, "bake_seconds": 1}, token=viewer)
    assert code == 403
    staging_only = http.ok("POST", "/v1/tokens", {
        "name": f"sam-{next(_n)}", "role": "editor", "projects": [p],
        "environments": ["staging"]}, status=201)["token"]
    for token in (viewer, staging_only):
        code, out = http.call("POST", f"{prod}/flags/checkout/rollout", body, token=token)
        assert code == 403, out
    # Alice proposes; the plan itself travels in the request.
    cr = http.ok("POST", f"{prod}/flags/checkout/rollout", body, token=people.alice,
                 status=202)["change_request"]
    assert cr["operation"]["body"]["strategy"] == {
        "key": "halves", "kind": "linear", "step_percent": 50, "bake_seconds": 1,
        "final_bake_seconds": 0}
    assert _share_on(p) == 0.0  # nothing served before approval
    url = f"{prod}/change-requests/{cr['id']}"
    code, out = http.call("POST", f"{url}/approve", token=people.alice, if_match=1)
    assert code == 403
    assert "four-eyes" in out["error"]["message"]
    code, out = http.call("POST", f"{url}/apply", token=people.alice, if_match=1)
    assert code == 409
    # Deleting the strategy after review changes nothing: the request holds its copy.
    http.ok("DELETE", f"/v1/projects/{p}/strategies/halves", {}, if_match=1)
    http.ok("POST", f"{url}/approve", token=people.bob, if_match=1)
    applied = http.ok("POST", f"{url}/apply", token=people.alice, if_match=2)
    assert applied["result"]["status"] == "running"
    assert 0.35 < _share_on(p) < 0.65  # readers get the first step, 50 %
    # The controller then steps on its own: no further approval.
    time.sleep(1.1)
    report = _tick()
    assert f"{p}#production#checkout" in report["advanced"]
    assert _share_on(p) == 1.0
    status = http.ok("GET", f"{prod}/flags/checkout/rollout", token=viewer)
    assert status["steps_done"] == 2
    assert status["change_request"] == cr["id"]
    # Editors may stop it at any time (it only reduces exposure): abort rolls back.
    http.ok("POST", f"{prod}/flags/checkout/rollout/abort", {}, token=people.bob,
            if_match=status["version"])
    assert _share_on(p) == 0.0
    assert _served(p, "production", "checkout", True).value is False
