"""The rollout controller: advance or roll back every running guarded rollout, once.

:func:`tick` is the pure use case (storage, clock, alarms and notifier are passed in);
:func:`handler` is the scheduled Lambda (EventBridge, every minute: ``infra/rollouts.tf``);
locally ``vexil.rollout_worker`` calls :func:`tick` on a timer. For each rollout in the
index (``gsi1`` partition ``ROLLOUTS``), read consistently:

1. a notification still owed (a rollback committed, its SNS publish not yet confirmed) is
   sent first, then cleared — at least once, never lost to a crash;
2. the flag's configuration moved since the rollout's own last write → a person edited
   it: **pause**, saying who and which version;
3. any guard in ``ALARM`` → **roll back** to the pre-rollout fallthrough in one write,
   stop, notify;
4. any guard not ``OK`` (``INSUFFICIENT_DATA``, missing, or unreadable) → **freeze**:
   nothing moves (fail closed), the reason is recorded;
5. every guard ``OK`` and the step has baked → **advance** one step (or complete after
   the final bake), audited with the alarm states that justified it.

Every write is conditioned on the rollout's ``seq`` and the flag's version
(:func:`chalicelib.usecases.rollouts.write`), so duplicate or overlapping runs make each
move at most once (the loser's transaction is cancelled and it moves on), a crash between
two runs leaves either the old or the new step (one transaction), and a controller whose
clock is behind only steps late.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from chalicelib import keys
from chalicelib.canonical import iso
from chalicelib.errors import ApiError, NotFound
from chalicelib.guards import ALARM, MISSING, OK, UNREADABLE, Alarms, CloudWatchAlarms
from chalicelib.rbac import Principal
from chalicelib.usecases import rollouts
from chalicelib.usecases.base import Call, Ctx

_log = logging.getLogger(__name__)

CONTROLLER = Principal("controller", "controller", "controller", (), ())
"""Who the audit log names for automatic moves."""


class Notifier(Protocol):
    """Delivers a rollout notice (SNS); raises when it could not."""

    def send(self, subject: str, message: Mapping[str, Any]) -> None:
        """Publish one notice."""
        ...


class SnsNotifier:
    """:class:`Notifier` publishing JSON to one SNS topic (``VEXIL_ROLLOUT_TOPIC_ARN``)."""

    def __init__(self, client: Any, topic_arn: str | None) -> None:
        self.client = client
        self.topic_arn = topic_arn

    def send(self, subject: str, message: Mapping[str, Any]) -> None:
        """Publish, or log only when no topic is configured."""
        if not self.topic_arn:
            _log.warning("rollout notice (no VEXIL_ROLLOUT_TOPIC_ARN): %s", subject)
            return
        self.client.publish(TopicArn=self.topic_arn, Subject=subject[:100],
                            Message=orjson.dumps(message).decode())


@dataclass
class TickReport:
    """What one run did, by rollout (``project/environment/flag``)."""

    advanced: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    rolled_back: list[str] = field(default_factory=list)
    paused: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    frozen: list[str] = field(default_factory=list)
    notified: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        """The report as JSON-ready lists."""
        return {k: list(v) for k, v in self.__dict__.items()}


def tick(ctx: Ctx, alarms: Alarms, notifier: Notifier) -> TickReport:
    """Visit every rollout in the index once (see the module docstring); never raises for
    one rollout's failure (it is reported in ``errors`` and retried on the next run)."""
    report = TickReport()
    for entry in ctx.repo.query_index(keys.ROLLOUTS_GSI_PK):
        name = str(entry.get("gsi1sk"))
        try:
            _visit(ctx, alarms, notifier, entry, name, report)
        except rollouts.Lost:
            report.lost.append(name)  # another run moved it first: nothing to do
        except (ApiError, OSError, ValueError, KeyError) as exc:
            _log.warning("rollout %s: %s", name, exc)
            report.errors.append(f"{name}: {exc}")
        except Exception as exc:
            _log.warning("rollout %s: %s", name, exc)
            report.errors.append(f"{name}: {type(exc).__name__}: {exc}")
    return report


def _visit(ctx: Ctx, alarms: Alarms, notifier: Notifier, entry: Mapping[str, Any],
           name: str, report: TickReport) -> None:
    item = ctx.repo.get(str(entry["pk"]), str(entry["sk"]))  # the index lags: re-read
    if item is None:
        return
    state = rollouts.state_of(item)
    if state.get("notify"):
        state = _notify(ctx, notifier, state)
        report.notified.append(name)
    if state["status"] != rollouts.RUNNING:
        return
    try:
        current = rollouts.flag_config(ctx, state)
    except NotFound:
        _stop_flag_gone(ctx, state)
        report.stopped.append(name)
        return
    if current.version != state.get("config_version"):
        _pause_for_edit(ctx, state, current.version)
        report.paused.append(name)
        return
    guards = _read_guards(alarms, state["guards"])
    if any(s == ALARM for s in guards.values()):
        state = _roll_back(ctx, state, current, guards)
        report.rolled_back.append(name)
        _notify(ctx, notifier, state)
        report.notified.append(name)
    elif any(s != OK for s in guards.values()):
        if _freeze(ctx, state, guards):
            report.frozen.append(name)
    elif rollouts.is_due(state, ctx.now()):
        last = state["step"] == len(state["plan"]) - 1
        _complete(ctx, state, current, guards) if last else _advance(ctx, state, current,
                                                                      guards)
        (report.completed if last else report.advanced).append(name)
    elif guards != state.get("guard_states"):
        _record(ctx, state, guards, None)


def _read_guards(alarms: Alarms, guards: Sequence[str]) -> dict[str, str]:
    try:
        states = alarms.states(guards)
    except Exception as exc:
        _log.warning("guards unreadable: %s", exc)
        return dict.fromkeys(guards, UNREADABLE)
    return {g: str(states.get(g, MISSING)) for g in guards}


def _call(why: str) -> Call:
    return Call(CONTROLLER, why)


def _summary(guards: Mapping[str, str]) -> str:
    return ", ".join(f"{g}={s}" for g, s in sorted(guards.items())) or "no guards"


def _advance(ctx: Ctx, state: dict[str, Any], current: Any, guards: dict[str, str]) -> None:
    at = iso(ctx.now())
    state.update(step=state["step"] + 1, step_at=at, guard_states=guards, reason=None)
    state["next_at"] = rollouts.next_due(state, ctx.now())
    weight = state["plan"][state["step"]]
    config = {**current.body, "default": rollouts.serve(state, weight)}
    rollouts.event(state, at, "advanced", CONTROLLER.name, guards=guards)
    _write_step(ctx, state, current, config, "rollout.step",
                f"step {state['step'] + 1}/{len(state['plan'])} to {weight / 1000} %: "
                f"guards {_summary(guards)}")


def _complete(ctx: Ctx, state: dict[str, Any], current: Any, guards: dict[str, str]) -> None:
    at = iso(ctx.now())
    state.update(status=rollouts.COMPLETED, guard_states=guards, reason="completed: every "
                 "step baked with its guards OK")
    config = {**current.body, "default": {"variation": state["target"]}}
    rollouts.event(state, at, "completed", CONTROLLER.name, guards=guards)
    _write_step(ctx, state, current, config, "rollout.complete",
                f"final bake done: guards {_summary(guards)}")


def _roll_back(ctx: Ctx, state: dict[str, Any], current: Any, guards: dict[str, str]
               ) -> dict[str, Any]:
    at = iso(ctx.now())
    firing = sorted(g for g, s in guards.items() if s == ALARM)
    reason = f"rolled back: guard {', '.join(firing)} in ALARM"
    state.update(status=rollouts.ROLLED_BACK, guard_states=guards, reason=reason)
    state["notify"] = {"subject": f"Vexil rollout rolled back: {state['project']}/"
                                  f"{state['environment']}/{state['flag']}",
                       "message": {"event": "rolled_back", "project": state["project"],
                                   "environment": state["environment"],
                                   "flag": state["flag"], "reason": reason, "guards": guards,
                                   "at": at, "percent": state["plan"][state["step"]] / 1000}}
    rollouts.event(state, at, "rolled_back", CONTROLLER.name, guards=guards)
    return _write_step(ctx, state, current, rollouts.restored(state, current.body),
                       "rollout.rollback", f"{reason}: {_summary(guards)}")


def _write_step(ctx: Ctx, state: dict[str, Any], current: Any, config: dict[str, Any],
                action: str, why: str) -> dict[str, Any]:
    rollouts.focus_check(ctx, state, config)
    after = {"config": config, "rollout": {
        "status": state["status"], "step": state["step"],
        "percent": state["plan"][state["step"]] / 1000, "guards": state["guard_states"]}}
    return rollouts.write(ctx, _call(why), state, action=action, config=(current, config),
                          audit_after=after)


def _pause_for_edit(ctx: Ctx, state: dict[str, Any], version: int) -> None:
    hist = ctx.repo.get(keys.history_pk(state["project"], state["environment"], state["flag"]),
                        keys.history_sk(version)) or {}
    who = (hist.get("actor") or {}).get("name", "someone")
    reason = (f"paused: the flag's configuration was edited by {who} (version {version}); "
              "resume to continue the plan, or abort")
    state.update(status=rollouts.PAUSED, reason=reason)
    rollouts.event(state, iso(ctx.now()), "paused", CONTROLLER.name, edited_by=who,
                   flag_version=version)
    rollouts.write(ctx, _call(reason), state, action="rollout.pause")


def _stop_flag_gone(ctx: Ctx, state: dict[str, Any]) -> None:
    reason = "aborted: the flag no longer exists in this environment"
    state.update(status=rollouts.ABORTED, reason=reason)
    rollouts.event(state, iso(ctx.now()), "aborted", CONTROLLER.name)
    rollouts.write(ctx, _call(reason), state, action="rollout.abort")


def _freeze(ctx: Ctx, state: dict[str, Any], guards: dict[str, str]) -> bool:
    bad = sorted(f"{g}={s}" for g, s in guards.items() if s != OK)
    reason = f"frozen: guard state not OK ({', '.join(bad)}); no step until every guard is OK"
    if reason == state.get("reason") and guards == state.get("guard_states"):
        return True  # already recorded: no write per tick
    _record(ctx, state, guards, reason)
    return True


def _record(ctx: Ctx, state: dict[str, Any], guards: dict[str, str], reason: str | None
            ) -> None:
    """Keep the last guard states and any freeze reason (status shows them); not audited:
    nothing served changes."""
    state.update(guard_states=guards, reason=reason)
    p, e, f = state["project"], state["environment"], state["flag"]
    ctx.repo.transact([rollouts.record_step(p, e, f, state)])


def _notify(ctx: Ctx, notifier: Notifier, state: dict[str, Any]) -> dict[str, Any]:
    notice = state["notify"]
    notifier.send(str(notice["subject"]), notice["message"])  # raises: owed till next run
    state = {**state, "notify": None}
    p, e, f = state["project"], state["environment"], state["flag"]
    ctx.repo.transact([rollouts.record_step(p, e, f, state)])
    state["seq"] += 1
    return state


# --- the Lambda --------------------------------------------------------------------------


def from_env() -> tuple[Ctx, Alarms, Notifier]:
    """The controller's dependencies from the environment (built once per container)."""
    import boto3  # noqa: PLC0415 - only the controller needs CloudWatch and SNS clients

    from chalicelib.repository import DynamoRepository  # noqa: PLC0415

    session = boto3.session.Session()
    return (Ctx(DynamoRepository(os.environ["VEXIL_TABLE"])),
            CloudWatchAlarms(session.client("cloudwatch")),
            SnsNotifier(session.client("sns"), os.environ.get("VEXIL_ROLLOUT_TOPIC_ARN")))


_DEPS: list[tuple[Ctx, Alarms, Notifier]] = []


def handler(event: Mapping[str, Any], context: Any,
            deps: Callable[[], tuple[Ctx, Alarms, Notifier]] = from_env) -> dict[str, Any]:
    """The scheduled Lambda: one :func:`tick`; returns its report (logged as JSON)."""
    if not _DEPS:
        _DEPS.append(deps())
    report = tick(*_DEPS[0]).as_dict()
    _log.info("rollout tick %s", orjson.dumps(report).decode())
    return report

