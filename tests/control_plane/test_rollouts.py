"""Release strategies and guarded rollouts at the API, and the controller against moto's
CloudWatch and SNS (alarms fired with ``set_alarm_state``, notices read from an SQS queue
subscribed to the topic). The controller runs on the test's clock (``world.clock``)."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from tests.control_plane.conftest import World

BOOL = {"kind": "boolean", "variations": {"on": True, "off": False}}
ON_OFF = {"enabled": True, "off_variation": "off", "default": {"variation": "off"}}
_n = itertools.count()


@dataclass
class Guards:
    """Real CloudWatch alarms in moto, fired and cleared by hand."""

    cw: Any

    def new(self, state: str = "OK") -> str:
        name = f"guard-{next(_n)}"
        self.cw.put_metric_alarm(
            AlarmName=name, MetricName="Errors", Namespace="Shop", Statistic="Sum",
            Period=60, EvaluationPeriods=1, Threshold=1.0,
            ComparisonOperator="GreaterThanThreshold")
        self.set(name, state)
        return name

    def set(self, name: str, state: str) -> None:
        self.cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason="test")


@dataclass
class Inbox:
    """An SQS queue subscribed to the rollout topic: what operators would be told."""

    sqs: Any
    url: str
    topic: str

    def messages(self) -> list[dict[str, Any]]:
        out = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=0).get("Messages", [])
        for m in out:
            self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])
        return [json.loads(json.loads(m["Body"])["Message"]) for m in out]


@pytest.fixture(scope="module")
def guards(vexil_resources: dict[str, str]) -> Guards:
    return Guards(boto3.client("cloudwatch"))


@pytest.fixture(scope="module")
def inbox(vexil_resources: dict[str, str]) -> Inbox:
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="vexil-rollouts-test")["TopicArn"]
    url = sqs.create_queue(QueueName="vexil-rollouts-test")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return Inbox(sqs, url, topic)


class Controller:
    """The controller use case wired to moto's CloudWatch and SNS, on the test clock."""

    def __init__(self, world: World, inbox: Inbox) -> None:
        from chalicelib.rollout_controller import CloudWatchAlarms, SnsNotifier

        self.world = world
        self.alarms: Any = CloudWatchAlarms(boto3.client("cloudwatch"))
        self.notifier: Any = SnsNotifier(boto3.client("sns"), inbox.topic)

    def tick(self) -> dict[str, list[str]]:
        from chalicelib.rollout_controller import tick

        return tick(self.world.ctx, self.alarms, self.notifier).as_dict()


@pytest.fixture
def controller(world: World, inbox: Inbox) -> Iterator[Controller]:
    """The controller; every rollout a test leaves running is aborted afterwards, so the
    next test's controller sees only its own (the index is shared by the session)."""
    inbox.messages()
    yield Controller(world, inbox)
    for entry in world.ctx.repo.query_index("ROLLOUTS"):
        p, e, f = str(entry["gsi1sk"]).split("#")
        url = f"/v1/projects/{p}/environments/{e}/flags/{f}/rollout"
        status = world.api.get(url).json
        if status["status"] in ("running", "paused"):
            world.api.post(f"{url}/abort", {"rollback": False}, if_match=status["version"])
    Controller(world, inbox).tick()  # owed notices delivered: the index is empty again
    inbox.messages()


def _strategy(world: World, project: str, **body: Any) -> str:
    key = f"s{next(_n)}"
    r = world.api.post(f"/v1/projects/{project}/strategies", {"key": key, **body})
    assert r.status_code == 201, r.json
    return key


def _flag(world: World, protected: tuple[str, ...] = ()) -> tuple[str, str]:
    p = world.new_project(protected=protected)
    assert world.api.post(f"/v1/projects/{p}/flags", {"key": "checkout", **BOOL}).status_code \
        == 201
    return p, f"/v1/projects/{p}/environments/staging"


def _running(world: World, guards: Guards, bake: int = 60, **strategy: Any
             ) -> tuple[str, str, str]:
    """A project whose staging flag ramps linearly (25 % steps) under one OK guard."""
    p, base = _flag(world)
    assert world.api.put(f"{base}/flags/checkout", ON_OFF, if_match=1).status_code == 200
    key = _strategy(world, p, **(strategy or {"kind": "linear", "step_percent": 25}),
                    bake_seconds=bake, final_bake_seconds=bake)
    guard = guards.new()
    r = world.api.post(f"{base}/flags/checkout/rollout",
                       {"target": "on", "strategy": key, "guards": [guard]})
    assert r.status_code == 201, r.json
    return base, guard, key


def _weights(world: World, base: str) -> Any:
    return world.api.get(f"{base}/flags/checkout").json["config"]["default"]


def _target_weight(world: World, base: str) -> int:
    default = _weights(world, base)
    return int(default["rollout"]["variations"][0]["weight"])


# --- strategies ----------------------------------------------------------------------------


def test_strategies_compute_their_steps_and_refuse_what_makes_no_plan(world: World) -> None:
    p = world.new_project()
    url = f"/v1/projects/{p}/strategies"
    r = world.api.post(url, {"key": "lin", "kind": "linear", "step_percent": 10,
                             "bake_seconds": 1800, "final_bake_seconds": 3600})
    assert r.status_code == 201, r.json
    assert r.json["steps"] == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    r = world.api.post(url, {"key": "exp", "kind": "exponential", "start_percent": 1,
                             "factor": 2.5, "bake_seconds": 600})
    assert r.json["steps"] == [1, 2.5, 6.25, 15.625, 39.062, 97.656, 100]
    r = world.api.post(url, {"key": "cus", "kind": "custom",
                             "percents": [1, 2, 5, 10, 25, 50, 100], "bake_seconds": 60})
    assert r.json["steps"] == [1, 2, 5, 10, 25, 50, 100]
    bad = [({"kind": "linear", "bake_seconds": 60}, "step_percent"),
           ({"kind": "custom", "percents": [5, 5, 100], "bake_seconds": 60}, "percents"),
           ({"kind": "custom", "percents": [5, 50], "bake_seconds": 60}, "percents[1]"),
           ({"kind": "linear", "step_percent": 0.5, "bake_seconds": 60}, "step_percent"),
           ({"kind": "linear", "step_percent": 10, "factor": 2, "bake_seconds": 60}, "factor"),
           ({"kind": "linear", "step_percent": 10}, "bake_seconds"),
           ({"kind": "exponential", "start_percent": 1, "factor": 1, "bake_seconds": 9},
            "factor")]
    for body, field in bad:
        r = world.api.post(url, {"key": "bad", **body})
        assert r.status_code == 400, (body, r.json)
        assert field in [d["path"] for d in r.json["error"]["details"]], (body, r.json)
    assert world.api.post(url, {"key": "lin", "kind": "linear", "step_percent": 50,
                                "bake_seconds": 60}).status_code == 409
    assert [s["key"] for s in world.api.get(url).json["items"]] == ["cus", "exp", "lin"]
    assert world.api.delete(f"{url}/lin", if_match=2).status_code == 412
    assert world.api.delete(f"{url}/lin", if_match=1).status_code == 200
    assert world.api.get(f"{url}/lin").status_code == 404
    viewer = world.token("viewer", [p])
    r = world.api.post(url, {"key": "v", "kind": "linear", "step_percent": 50,
                             "bake_seconds": 60}, token=viewer)
    assert r.status_code == 403


# --- starting ------------------------------------------------------------------------------


def test_start_writes_the_first_step_and_refuses_unfit_flags(
        world: World, guards: Guards, controller: Controller) -> None:
    p, base = _flag(world)
    key = _strategy(world, p, kind="linear", step_percent=25, bake_seconds=60)
    guard = guards.new()
    body = {"target": "on", "strategy": key, "guards": [guard]}
    # The flag is off (its default configuration): nothing would be served.
    r = world.api.post(f"{base}/flags/checkout/rollout", body)
    assert r.status_code == 400
    assert "flag.enabled" in [d["path"] for d in r.json["error"]["details"]]
    assert world.api.put(f"{base}/flags/checkout", ON_OFF, if_match=1).status_code == 200
    cases: list[tuple[dict[str, Any], str | None]] = [
        ({"target": "maybe"}, "target"), ({"strategy": "nope"}, None),
        ({"guards": []}, "guards"), ({"guards": ["a\nb"]}, "guards[0]"),
        # A typo would freeze the rollout at its first step: refused up front.
        ({"guards": [guard, "no-such-alarm"]}, "guards[1]")]
    for wrong, field in cases:
        r = world.api.post(f"{base}/flags/checkout/rollout", {**body, **wrong})
        assert r.status_code in (400, 404), (wrong, r.json)
        if field:
            assert field in [d["path"] for d in r.json["error"]["details"]], r.json
    r = world.api.post(f"{base}/flags/checkout/rollout", body)
    assert r.status_code == 201, r.json
    assert r.json["status"] == "running"
    assert r.json["percent"] == 25
    assert _weights(world, base) == {"rollout": {"variations": [
        {"variation": "on", "weight": 25000}, {"variation": "off", "weight": 75000}]}}
    assert world.api.post(f"{base}/flags/checkout/rollout", body).status_code == 409
    records = world.api.get(f"/v1/audit?project={p}&environment=staging").json["items"]
    assert any(rec["action"] == "rollout.start" for rec in records)


# --- the controller ------------------------------------------------------------------------


def test_advances_on_schedule_and_completes_after_the_final_bake(
        world: World, guards: Guards, controller: Controller) -> None:
    base, _, _ = _running(world, guards)
    assert controller.tick()["advanced"] == []  # not baked yet
    assert _target_weight(world, base) == 25000
    for expected in (50000, 75000, 100000):
        world.clock.advance(61)
        report = controller.tick()
        assert len(report["advanced"]) == 1, report
        assert _target_weight(world, base) == expected
    world.clock.advance(61)
    assert len(controller.tick()["completed"]) == 1
    assert _weights(world, base) == {"variation": "on"}
    status = world.api.get(f"{base}/flags/checkout/rollout").json
    assert status["status"] == "completed"
    assert status["next_step_at"] is None
    assert [h["event"] for h in status["history"]] == [
        "started", "advanced", "advanced", "advanced", "completed"]
    steps = [r for r in world.api.get(f"/v1/audit?{_audit_query(base)}").json["items"]
             if r["action"] == "rollout.step"]
    assert len(steps) == 3
    assert all(r["actor"]["name"] == "controller" for r in steps)
    assert all(set(r["after"]["rollout"]["guards"].values()) == {"OK"} for r in steps)
    world.clock.advance(600)
    assert controller.tick()["advanced"] == []  # left the index


def _audit_query(base: str) -> str:
    parts = base.split("/")
    return f"project={parts[3]}&environment={parts[5]}"


def test_rolls_back_on_alarm_in_one_write_and_notifies(
        world: World, guards: Guards, controller: Controller, inbox: Inbox) -> None:
    base, guard, _ = _running(world, guards)
    world.clock.advance(61)
    controller.tick()
    assert _target_weight(world, base) == 50000
    revision = world.api.get(base).json["revision"]
    guards.set(guard, "ALARM")
    report = controller.tick()
    assert len(report["rolled_back"]) == 1, report
    assert _weights(world, base) == {"variation": "off"}
    assert world.api.get(f"{base}/flags/checkout").json["config"] == ON_OFF
    assert world.api.get(base).json["revision"] == revision + 1  # one write, one revision
    status = world.api.get(f"{base}/flags/checkout/rollout").json
    assert status["status"] == "rolled_back"
    assert guard in status["reason"]
    assert "ALARM" in status["reason"]
    assert status["guard_states"] == {guard: "ALARM"}
    notices = inbox.messages()
    assert [n["event"] for n in notices] == ["rolled_back"]
    assert notices[0]["guards"] == {guard: "ALARM"}
    assert notices[0]["percent"] == 50
    # Stopped: nothing moves any more, even once the alarm clears.
    guards.set(guard, "OK")
    world.clock.advance(600)
    assert controller.tick() == {k: [] for k in report}
    assert _weights(world, base) == {"variation": "off"}


def test_never_steps_while_a_guard_is_not_ok(world: World, guards: Guards,
                                             controller: Controller) -> None:
    base, guard, _ = _running(world, guards)
    world.clock.advance(61)
    for state in ("INSUFFICIENT_DATA",):
        guards.set(guard, state)
        assert len(controller.tick()["frozen"]) == 1
        assert _target_weight(world, base) == 25000
        status = world.api.get(f"{base}/flags/checkout/rollout").json
        assert status["status"] == "running"
        assert status["reason"].startswith("frozen")
    # An alarm that cannot be read (deleted) freezes too: fail closed.
    boto3.client("cloudwatch").delete_alarms(AlarmNames=[guard])
    assert len(controller.tick()["frozen"]) == 1
    assert _target_weight(world, base) == 25000
    assert world.api.get(f"{base}/flags/checkout/rollout").json["guard_states"] == {
        guard: "MISSING"}


def test_unreadable_guards_freeze(world: World, guards: Guards, controller: Controller
                                  ) -> None:
    base, _, _ = _running(world, guards)
    world.clock.advance(61)

    class Broken:
        def states(self, names: Sequence[str]) -> dict[str, str]:
            raise ConnectionError("CloudWatch is down")

    controller.alarms = Broken()
    assert len(controller.tick()["frozen"]) == 1
    assert _target_weight(world, base) == 25000
    assert "UNREADABLE" in world.api.get(f"{base}/flags/checkout/rollout").json["reason"]


def test_two_overlapping_controller_runs_step_once(world: World, guards: Guards,
                                                   controller: Controller) -> None:
    from chalicelib.rollout_controller import CloudWatchAlarms

    base, _, _ = _running(world, guards)
    world.clock.advance(61)
    barrier = threading.Barrier(2, timeout=30)

    class Together(CloudWatchAlarms):
        """Both runs have read the rollout before either writes."""

        def states(self, names: Sequence[str]) -> dict[str, str]:
            out = super().states(names)
            barrier.wait()
            return out

    controller.alarms = Together(boto3.client("cloudwatch"))
    reports: list[dict[str, list[str]]] = []
    threads = [threading.Thread(target=lambda: reports.append(controller.tick()))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(r["advanced"]) for r in reports) == [0, 1], reports
    assert sorted(len(r["lost"]) for r in reports) == [0, 1], reports
    assert _target_weight(world, base) == 50000
    status = world.api.get(f"{base}/flags/checkout/rollout").json
    assert status["steps_done"] == 2


def test_a_crash_between_writes_recovers(world: World, guards: Guards,
                                         controller: Controller, inbox: Inbox) -> None:
    base, guard, _ = _running(world, guards)
    world.clock.advance(61)
    guards.set(guard, "ALARM")
    real = controller.notifier

    class Crashing:
        def send(self, subject: str, message: Any) -> None:
            raise ConnectionError("the controller died before SNS answered")

    controller.notifier = Crashing()
    report = controller.tick()
    assert len(report["rolled_back"]) == 1
    assert len(report["errors"]) == 1
    assert _weights(world, base) == {"variation": "off"}  # the rollback itself committed
    assert world.api.get(f"{base}/flags/checkout/rollout").json["notification_pending"]
    assert inbox.messages() == []
    controller.notifier = real
    report = controller.tick()
    assert len(report["notified"]) == 1
    assert report["rolled_back"] == []
    assert [n["event"] for n in inbox.messages()] == ["rolled_back"]
    assert not world.api.get(f"{base}/flags/checkout/rollout").json["notification_pending"]
    assert controller.tick()["notified"] == []  # delivered once, then out of the index


def test_a_storage_failure_mid_tick_changes_nothing(world: World, guards: Guards,
                                                    controller: Controller) -> None:
    from chalicelib.repository import TransactionCancelled

    base, _, _ = _running(world, guards)
    world.clock.advance(61)
    repo = world.ctx.repo
    real = repo.transact
    calls = {"n": 0}

    def dying(steps: Any) -> None:
        calls["n"] += 1
        raise TransactionCancelled(["None"] * len(steps) if calls["n"] > 99 else ["x"])

    repo.transact = dying
    try:
        report = controller.tick()
    finally:
        repo.transact = real
    assert len(report["errors"]) == 1
    assert _target_weight(world, base) == 25000
    assert len(controller.tick()["advanced"]) == 1
    assert _target_weight(world, base) == 50000


def test_a_paused_rollout_does_not_move(world: World, guards: Guards,
                                        controller: Controller) -> None:
    base, guard, _ = _running(world, guards)
    url = f"{base}/flags/checkout/rollout"
    version = world.api.get(url).json["version"]
    assert world.api.post(f"{url}/pause", if_match=version + 5).status_code == 412
    r = world.api.post(f"{url}/pause", if_match=version)
    assert r.status_code == 200
    assert r.json["status"] == "paused"
    world.clock.advance(600)
    guards.set(guard, "ALARM")
    assert controller.tick()["advanced"] == []
    assert controller.tick()["rolled_back"] == []
    assert _target_weight(world, base) == 25000
    guards.set(guard, "OK")
    r = world.api.post(f"{url}/resume", if_match=r.json["version"])
    assert r.status_code == 200
    assert r.json["status"] == "running"
    assert controller.tick()["advanced"] == []  # the step bakes anew from the resume
    world.clock.advance(61)
    assert len(controller.tick()["advanced"]) == 1
    assert _target_weight(world, base) == 50000


def test_abort_rolls_back_unless_told_not_to(world: World, guards: Guards,
                                             controller: Controller) -> None:
    base, _, _ = _running(world, guards)
    url = f"{base}/flags/checkout/rollout"
    r = world.api.post(f"{url}/abort", {}, if_match=world.api.get(url).json["version"])
    assert r.status_code == 200
    assert r.json["status"] == "aborted"
    assert _weights(world, base) == {"variation": "off"}
    assert world.api.post(f"{url}/abort", {}, if_match=r.json["version"]).status_code == 409
    # A new rollout of the flag continues the version: the old ETag cannot act on it.
    old = r.json["version"]
    strategy = world.api.get(url).json["strategy"]["key"]
    guard = world.api.get(url).json["guards"][0]
    r = world.api.post(url, {"target": "on", "strategy": strategy, "guards": [guard]})
    assert r.status_code == 201, r.json
    assert r.json["version"] == old + 1
    assert world.api.post(f"{url}/pause", if_match=old).status_code == 412


def test_a_manual_edit_pauses_the_rollout_and_says_so(world: World, guards: Guards,
                                                      controller: Controller) -> None:
    base, _, _ = _running(world, guards)
    editor = world.token("editor", name=f"erin-{next(_n)}")
    flag = world.api.get(f"{base}/flags/checkout").json
    edited = {**flag["config"], "targets": [{"values": ["u-1"], "variation": "on"}]}
    assert world.api.put(f"{base}/flags/checkout", edited, if_match=flag["version"],
                         token=editor).status_code == 200
    world.clock.advance(61)
    report = controller.tick()
    assert len(report["paused"]) == 1
    assert report["advanced"] == []
    status = world.api.get(f"{base}/flags/checkout/rollout").json
    assert status["status"] == "paused"
    assert "edited by erin" in status["reason"]
    assert _target_weight(world, base) == 25000
    # Aborting with a rollback would overwrite the edit: refused unless asked to keep it.
    url = f"{base}/flags/checkout/rollout"
    r = world.api.post(f"{url}/abort", {}, if_match=status["version"])
    assert r.status_code == 409
    r = world.api.post(f"{url}/abort", {"rollback": False}, if_match=status["version"])
    assert r.status_code == 200
    assert world.api.get(f"{base}/flags/checkout").json["config"]["targets"]


def test_a_person_completes_early(world: World, guards: Guards, controller: Controller
                                  ) -> None:
    base, _, _ = _running(world, guards)
    url = f"{base}/flags/checkout/rollout"
    r = world.api.post(f"{url}/complete", {}, if_match=world.api.get(url).json["version"])
    assert r.status_code == 200, r.json
    assert r.json["status"] == "completed"
    assert _weights(world, base) == {"variation": "on"}
    assert world.api.post(f"{url}/complete", {}, if_match=r.json["version"]).status_code == 409


def test_deleting_the_flag_stops_its_rollout(world: World, guards: Guards,
                                             controller: Controller) -> None:
    base, _, _ = _running(world, guards)
    project = base.split("/")[3]
    assert world.api.delete(f"/v1/projects/{project}/flags/checkout", if_match=1
                            ).status_code == 200
    world.clock.advance(61)
    assert len(controller.tick()["stopped"]) == 1
    status = world.api.get(f"{base}/flags/checkout/rollout").json
    assert status["status"] == "aborted"
    assert "no longer exists" in status["reason"]
    assert controller.tick()["stopped"] == []  # out of the index


# --- protected environments ----------------------------------------------------------------


def test_protected_start_needs_a_second_person_then_steps_without_approvals(
        world: World, guards: Guards, controller: Controller) -> None:
    p, _ = _flag(world, protected=("production",))
    prod = f"/v1/projects/{p}/environments/production"
    alice = world.token("editor", [p], name=f"alice-{p}")
    bob = world.token("editor", [p], name=f"bob-{p}")
    viewer = world.token("viewer", [p])
    staging_only = world.token("editor", [p], ["staging"])
    # Configure the flag in production (itself a change request), approved by bob.
    r = world.api.put(f"{prod}/flags/checkout", ON_OFF, if_match=0, token=alice)
    _approve_and_apply(world, prod, r.json["change_request"], bob, alice)
    key = _strategy(world, p, kind="linear", step_percent=50, bake_seconds=30)
    body = {"target": "on", "strategy": key, "guards": [guards.new()]}
    assert world.api.post(f"{prod}/flags/checkout/rollout", body, token=viewer
                          ).status_code == 403
    assert world.api.post(f"{prod}/flags/checkout/rollout", body, token=staging_only
                          ).status_code == 403
    r = world.api.post(f"{prod}/flags/checkout/rollout", body, token=alice)
    assert r.status_code == 202, r.json
    cr = r.json["change_request"]
    assert cr["operation"]["type"] == "rollout.start"
    assert cr["operation"]["body"]["strategy"]["step_percent"] == 50  # the plan, bound
    assert world.api.get(f"{prod}/flags/checkout/rollout").status_code == 404
    url = f"{prod}/change-requests/{cr['id']}"
    r = world.api.post(f"{url}/approve", if_match=1, token=alice)
    assert r.status_code == 403  # four-eyes: the author cannot approve
    assert world.api.post(f"{url}/apply", if_match=1, token=alice).status_code == 409
    _approve_and_apply(world, prod, cr, bob, alice)
    status = world.api.get(f"{prod}/flags/checkout/rollout").json
    assert status["status"] == "running"
    assert status["change_request"] == cr["id"]
    world.clock.advance(31)
    assert len(controller.tick()["advanced"]) == 1  # no further approval
    assert _target_weight(world, prod) == 100000
    # Completing early skips the final bake: a change request too, bound to this rollout.
    version = world.api.get(f"{prod}/flags/checkout/rollout").json["version"]
    r = world.api.post(f"{prod}/flags/checkout/rollout/complete", {}, if_match=version,
                       token=alice)
    assert r.status_code == 202, r.json
    done = r.json["change_request"]
    assert done["operation"]["type"] == "rollout.complete"
    assert world.api.post(f"{prod}/change-requests/{done['id']}/approve", if_match=1,
                          token=alice).status_code == 403
    # A manual edit on the protected environment (its own approved request) pauses it.
    flag = world.api.get(f"{prod}/flags/checkout").json
    r = world.api.put(f"{prod}/flags/checkout", {**flag["config"], "targets": [
        {"values": ["u-9"], "variation": "off"}]}, if_match=flag["version"], token=alice)
    _approve_and_apply(world, prod, r.json["change_request"], bob, alice)
    world.clock.advance(31)
    assert len(controller.tick()["paused"]) == 1
    assert "edited by alice" in world.api.get(f"{prod}/flags/checkout/rollout").json["reason"]
    # The complete request now meets an edited flag: refused at apply, nothing written.
    r = world.api.post(f"{prod}/change-requests/{done['id']}/approve", if_match=1, token=bob)
    assert r.status_code == 200
    r = world.api.post(f"{prod}/change-requests/{done['id']}/apply", if_match=2, token=alice)
    assert r.status_code == 409
    assert "edited" in r.json["error"]["message"]


def _approve_and_apply(world: World, env_url: str, cr: dict[str, Any], approver: str,
                       author: str) -> None:
    url = f"{env_url}/change-requests/{cr['id']}"
    r = world.api.post(f"{url}/approve", if_match=cr["version"], token=approver)
    assert r.status_code == 200, r.json
    r = world.api.post(f"{url}/apply", if_match=r.json["version"], token=author)
    assert r.status_code == 200, r.json
