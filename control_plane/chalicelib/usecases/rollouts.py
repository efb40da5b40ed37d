"""Guarded rollouts of a flag in one environment: start, status, pause, resume, abort.

A rollout ramps the flag's fallthrough (``default``) from the variation it serves (the
*control*) to a *target* variation along a release strategy's steps, while CloudWatch alarms
(the *guards*) hold. Its state is one item beside the flag (``ROLLOUT#<flag>``, JSON in
``body``; ``seq`` moves on every write and conditions the next one). Each step is written
like any configuration change — the flag's configuration (the step's weights), its history
item, the rollout item, an audit record and the environment's revision in ONE transaction
(:func:`write`) — so readers only ever see whole steps, and need nothing new.

Starting is the only decision a person makes: on a protected environment it is a change
request (``rollout.start``, content bound: the strategy's plan is copied into the operation).
After that the controller (:mod:`chalicelib.rollout_controller`) steps under the approved
plan without further approvals, as principal ``controller``. Pause and abort only ever
reduce exposure and resume continues the approved plan, so a writer may do them directly.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

import boto3
import orjson
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import keys
from chalicelib.audit import Chain, Entry
from chalicelib.canonical import canonical, iso, parse_iso
from chalicelib.envdoc import Versioned, check, load_state
from chalicelib.errors import (
    BadRequest,
    Conflict,
    Detail,
    NotFound,
    PreconditionFailed,
    ServiceUnavailable,
)
from chalicelib.guards import MISSING, CloudWatchAlarms
from chalicelib.repository import Item, Step, put
from chalicelib.timing import instrument
from chalicelib.usecases import base, strategies
from chalicelib.usecases.base import Approved, Call, Ctx, NeedsApproval
from chalicelib.usecases.flag_configs import config_steps

RUNNING, PAUSED = "running", "paused"
ROLLED_BACK, ABORTED, COMPLETED = "rolled_back", "aborted", "completed"
ACTIVE = (RUNNING, PAUSED)
HISTORY_KEPT = 50
START_FIELDS = ("target", "strategy", "guards", "context_kind", "bucket_by")


class Lost(Exception):
    """A conditional write found the rollout or the flag moved (another writer won)."""


def rollout_resource(project: str, environment: str, flag: str) -> str:
    """The audit resource name of a flag's rollout."""
    return f"projects/{project}/environments/{environment}/flags/{flag}/rollout"


def serve(state: Mapping[str, Any], weight: int) -> dict[str, Any]:
    """The fallthrough of a step: the target first, so raising its weight only adds
    contexts to it (a context's bucket never moves; docs/bucketing.md)."""
    rollout: dict[str, Any] = {"variations": [
        {"variation": state["target"], "weight": weight},
        {"variation": state["control"], "weight": strategies.FULL - weight}]}
    for name in ("context_kind", "bucket_by"):
        if state.get(name):
            rollout[name] = state[name]
    return {"rollout": rollout}


def read(ctx: Ctx, project: str, environment: str, flag: str) -> Item | None:
    """The rollout item of a flag (consistent read), or None."""
    return ctx.repo.get(keys.env_pk(project, environment), keys.rollout_sk(flag))


def state_of(item: Item) -> dict[str, Any]:
    """The rollout's state (its ``body``) with its ``seq``."""
    return {**orjson.loads(item["body"]), "seq": int(item["seq"])}


def event(state: dict[str, Any], at: str, what: str, by: str, **extra: Any) -> None:
    """Append one entry to the rollout's own short history (the audit log keeps all)."""
    entry = {"at": at, "event": what, "by": by, "step": state["step"],
             "percent": state["plan"][state["step"]] / 1000, **extra}
    state["history"] = [*state.get("history", []), entry][-HISTORY_KEPT:]


def _item(project: str, environment: str, flag: str, state: Mapping[str, Any]) -> Item:
    body = {k: v for k, v in state.items() if k != "seq"}
    item: Item = {"pk": keys.env_pk(project, environment), "sk": keys.rollout_sk(flag),
                  "flag": flag, "phase": state["status"], "seq": state["seq"],
                  "version": state["seq"], "body": canonical(body)}
    # The controller visits only what is in the index: running rollouts and owed notices.
    if state["status"] == RUNNING or state.get("notify"):
        item["gsi1pk"] = keys.ROLLOUTS_GSI_PK
        item["gsi1sk"] = keys.rollout_gsi_sk(project, environment, flag)
    return item


def record_step(project: str, environment: str, flag: str, state: Mapping[str, Any]) -> Step:
    """A put of the rollout's state alone (``seq`` + 1, conditioned on ``seq``): for what
    changes nothing served (guard states seen, a notice delivered), so not audited."""
    old_seq = int(state["seq"])
    item = _item(project, environment, flag, {**state, "seq": old_seq + 1})
    return put(item, "seq = :s", s=old_seq)


def write(ctx: Ctx, call: Call, state: dict[str, Any], *, action: str,
          config: tuple[Versioned, dict[str, Any]] | None = None,
          audit_after: Any = None, approved: Approved | None = None,
          on_conflict: Callable[[], NoReturn] | None = None) -> dict[str, Any]:
    """Commit the rollout's next state (``seq`` + 1, conditioned on ``seq``) and, when
    ``config`` = (current, new) is given, the flag's new configuration with its history
    item, the audit record and the revision bump — one transaction. Returns the new state.
    """
    p, e, f = state["project"], state["environment"], state["flag"]
    old_seq = int(state["seq"])
    new = {**state, "seq": old_seq + 1, "updated_at": iso(ctx.now())}
    if config is not None:
        new["config_version"] = config[0].version + 1
    item = _item(p, e, f, new)
    if action != "rollout.start":
        steps: list[Step] = [put(item, "seq = :s", s=old_seq)]
    elif old_seq == 0:
        steps = [put(item, "attribute_not_exists(pk)")]
    else:
        # A new rollout replaces the flag's finished one and continues its ``seq``, so a
        # version (ETag) never comes back: an old If-Match cannot act on the new rollout.
        steps = [put(item, "seq = :s AND NOT (phase IN (:r, :p))", s=old_seq, r=RUNNING,
                     p=PAUSED)]
    before: Any = None
    if config is not None:
        current, body = config
        steps += config_steps(p, e, f, body, current.version + 1, new["updated_at"], call,
                              action)
        before = current.body
    if approved:
        steps.append(approved.step)

    def lost() -> NoReturn:
        if approved:
            approved.check_cr()
        raise Lost(f"rollout of {f!r} in {e!r} moved")

    base.commit(ctx, call, steps=steps, bump=[(p, e)] if config is not None else [],
                entries=[Entry(Chain.for_environment(p, e), action, rollout_resource(p, e, f),
                               before, audit_after if audit_after is not None else
                               {k: v for k, v in new.items() if k not in ("history", "seq")})],
                on_conflict=on_conflict or lost)
    return new


def _validate_start(flag: str, definition: Versioned, config: Versioned,
                    body: Mapping[str, Any]) -> str:
    """The control variation, or 400 naming what makes the flag unfit for a rollout."""
    target = str(body["target"])
    variations = definition.body.get("variations") or {}
    default = config.body.get("default") or {}
    problems: list[Detail] = []
    if target not in variations:
        problems.append(Detail("target", f"flag {flag!r} has no variation {target!r}"))
    if not config.body.get("enabled", True):
        problems.append(Detail("flag.enabled", "the flag is off in this environment: turn it "
                               "on (serving its current variation) before a rollout"))
    if set(default) != {"variation"}:
        problems.append(Detail("flag.default", "a guarded rollout starts from a fallthrough "
                               "serving one variation, not a percentage rollout"))
    elif default["variation"] == target:
        problems.append(Detail("target", f"the flag already serves {target!r} by default"))
    if problems:
        raise BadRequest("the flag cannot start this rollout", problems)
    return str(default["variation"])


@functools.cache
def _cloudwatch(endpoint: str | None, region: str) -> Any:
    return instrument(boto3.session.Session().client("cloudwatch", endpoint_url=endpoint,
                                                     region_name=region))


def _guard_states(guards: list[str]) -> dict[str, str]:
    """The guards' alarm states now, read with the API's own CloudWatch client (once per
    container); missing alarms are ``MISSING``."""
    client = _cloudwatch(os.environ.get("AWS_ENDPOINT_URL"),
                         os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
                         or "us-east-1")
    return CloudWatchAlarms(client).states(guards)


def _check_guards(guards: list[str]) -> None:
    """400 naming every guard that is not an alarm here (a typo would freeze the rollout at
    its first step); 503 when CloudWatch cannot be read (nothing was written)."""
    try:
        states = _guard_states(guards)
    except (BotoCoreError, ClientError) as exc:
        raise ServiceUnavailable("CloudWatch could not be read to check the guards; nothing "
                                 "was written, retry") from exc
    missing = [Detail(f"guards[{i}]", f"no CloudWatch alarm {g!r} in this account and region")
               for i, g in enumerate(guards) if states.get(g) == MISSING]
    if missing:
        raise BadRequest("every guard must be an existing CloudWatch alarm", missing)


def _strategy(ctx: Ctx, project: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The strategy's full content: as stored (by key), or as the approved operation holds it."""
    given = body["strategy"]
    if isinstance(given, Mapping):
        return dict(given)
    stored = strategies.get_strategy(ctx, project, str(given))
    return {k: stored[k] for k in ("key", *strategies.FIELDS) if k in stored}


def start(ctx: Ctx, call: Call, project: str, environment: str, flag: str,
          body: Mapping[str, Any], if_match: int | None = None,
          approved: Approved | None = None) -> dict[str, Any]:
    """Start a guarded rollout: validated, compiled with its first step, then a change
    request on a protected environment, else written (first step live) in one transaction.

    ``if_match``: the flag configuration's version the rollout starts from (optional).
    """
    env = base.environment_item(ctx, project, environment)
    state = load_state(ctx.repo, project, environment)
    config, definition = state.configs.get(flag), state.definitions.get(flag)
    if config is None or definition is None:
        raise NotFound(f"flag {flag!r} in environment {environment!r} does not exist")
    if if_match is not None:
        base.match({"version": config.version}, if_match, f"flag {flag!r} in {environment!r}")
    if approved and approved.definition_version not in (None, definition.version):
        raise PreconditionFailed(definition.version, f"the definition of flag {flag!r} moved "
                                 f"to version {definition.version} since it was reviewed")
    existing = read(ctx, project, environment, flag)
    if existing is not None and existing["phase"] in ACTIVE:
        raise Conflict(f"flag {flag!r} already has a {existing['phase']} rollout in "
                       f"{environment!r}: abort it first")
    strategy = _strategy(ctx, project, body)
    plan = strategies.plan(strategy)
    control = _validate_start(flag, definition, config, body)
    _check_guards(list(body["guards"]))
    at = iso(ctx.now())
    rollout: dict[str, Any] = {
        "project": project, "environment": environment, "flag": flag, "status": RUNNING,
        "target": str(body["target"]), "control": control, "strategy": strategy,
        "plan": plan, "guards": list(body["guards"]), "step": 0, "step_at": at,
        "next_at": iso(ctx.now() + int(strategy["bake_seconds"])),
        "base_config": config.body, "base_version": config.version, "started_at": at,
        "started_by": call.principal.actor, "guard_states": {}, "reason": None,
        "change_request": approved.cr_id if approved else None,
        "seq": int(existing["seq"]) if existing is not None else 0,
        **{k: body[k] for k in ("context_kind", "bucket_by") if body.get(k)}}
    first = {**config.body, "default": serve(rollout, plan[0])}
    state.configs[flag] = Versioned(first, config.version + 1)
    check(state, focus=f"flags.{flag}", clock=ctx.now)
    if env.get("protected") and approved is None:
        raise NeedsApproval(project, environment, {
            "type": "rollout.start", "flag": flag, "base_version": config.version,
            "definition_version": definition.version,
            "body": {**{k: body[k] for k in START_FIELDS if k in body}, "strategy": strategy}})
    event(rollout, at, "started", call.principal.name, approved_in=rollout["change_request"])
    new = write(ctx, call, rollout, action="rollout.start", config=(config, first),
                approved=approved, on_conflict=lambda: _start_lost(ctx, project, environment,
                                                                   flag, approved))
    return view(new)


def _start_lost(ctx: Ctx, project: str, environment: str, flag: str,
                approved: Approved | None) -> NoReturn:
    if approved:
        approved.check_cr()
    existing = read(ctx, project, environment, flag)
    if existing is not None and existing["phase"] in ACTIVE:
        raise Conflict(f"flag {flag!r} already has a {existing['phase']} rollout")
    base.stale(ctx, keys.env_pk(project, environment), keys.flag_config_sk(flag),
               f"flag {flag!r} in {environment!r}")


def view(state: Mapping[str, Any]) -> dict[str, Any]:
    """Public form: the state plus what a release manager asks first (percent now, steps
    done of the plan, when the next step is due while running)."""
    out = {k: v for k, v in state.items() if k not in ("seq", "base_config", "notify")}
    out["version"] = int(state["seq"])
    out["percent"] = state["plan"][state["step"]] / 1000
    out["steps_done"] = state["step"] + 1
    out["steps_total"] = len(state["plan"])
    out["next_step_at"] = state["next_at"] if state["status"] == RUNNING else None
    out["notification_pending"] = bool(state.get("notify"))
    return out


def _require(ctx: Ctx, project: str, environment: str, flag: str) -> dict[str, Any]:
    base.environment_item(ctx, project, environment)
    item = read(ctx, project, environment, flag)
    if item is None:
        raise NotFound(f"flag {flag!r} has no rollout in {environment!r}")
    return state_of(item)


def status(ctx: Ctx, project: str, environment: str, flag: str) -> dict[str, Any]:
    """A flag's rollout (the latest one, finished or not), or 404."""
    return view(_require(ctx, project, environment, flag))


def list_rollouts(ctx: Ctx, project: str, environment: str) -> dict[str, Any]:
    """Every flag's latest rollout in an environment, in flag order."""
    base.environment_item(ctx, project, environment)
    items, _ = ctx.repo.query(keys.env_pk(project, environment), keys.ROLLOUT_SK_PREFIX)
    return {"items": [view(state_of(i)) for i in items]}


def _person_write(ctx: Ctx, call: Call, state: dict[str, Any], if_match: int, action: str,
                  config: tuple[Versioned, dict[str, Any]] | None = None) -> dict[str, Any]:
    base.match({"version": state["seq"]}, if_match, f"rollout of {state['flag']!r}")

    def moved() -> NoReturn:
        now = _require(ctx, state["project"], state["environment"], state["flag"])
        raise PreconditionFailed(now["seq"], f"the rollout is at version {now['seq']}")

    return view(write(ctx, call, state, action=action, config=config, on_conflict=moved))


def flag_config(ctx: Ctx, state: Mapping[str, Any]) -> Versioned:
    """The flag's stored configuration (consistent read), or 404."""
    item = base.require_item(ctx, keys.env_pk(state["project"], state["environment"]),
                             keys.flag_config_sk(state["flag"]), f"flag {state['flag']!r}")
    return Versioned(orjson.loads(item["body"]), int(item["version"]))


def pause(ctx: Ctx, call: Call, project: str, environment: str, flag: str,
          if_match: int) -> dict[str, Any]:
    """Stop stepping (the flag keeps serving the current step) until resumed."""
    state = _require(ctx, project, environment, flag)
    if state["status"] != RUNNING:
        raise Conflict(f"the rollout is {state['status']}, not running")
    state.update(status=PAUSED, reason=f"paused by {call.principal.name}")
    event(state, iso(ctx.now()), "paused", call.principal.name)
    return _person_write(ctx, call, state, if_match, "rollout.pause")


def resume(ctx: Ctx, call: Call, project: str, environment: str, flag: str,
           if_match: int) -> dict[str, Any]:
    """Continue a paused rollout under its plan. The current step's weights are written
    again over whatever a person changed meanwhile (other fields of the flag are kept), and
    the step bakes anew from now. On a protected environment a fallthrough changed
    meanwhile was approved by two people: one writer may not overwrite it (409: abort, or
    start anew); a change to other fields (targets, rules) is kept and the plan resumes."""
    env = base.environment_item(ctx, project, environment)
    state = _require(ctx, project, environment, flag)
    if state["status"] != PAUSED:
        raise Conflict(f"the rollout is {state['status']}, not paused")
    current = flag_config(ctx, state)
    wanted = {**current.body, "default": serve(state, state["plan"][state["step"]])}
    if env.get("protected") and wanted != current.body:
        raise Conflict("the flag's fallthrough was changed (an approved change) since the "
                       "rollout's last step; resuming would overwrite it: abort the rollout "
                       "and start a new one", [Detail("flag.default", "changed since the pause")])
    at = iso(ctx.now())
    state.update(status=RUNNING, reason=None, step_at=at, next_at=iso(
        ctx.now() + _bake(state)))
    event(state, at, "resumed", call.principal.name)
    config = None if wanted == current.body else (current, wanted)
    if config is None:
        state["config_version"] = current.version
    else:
        focus_check(ctx, state, wanted)
    return _person_write(ctx, call, state, if_match, "rollout.resume", config)


def abort(ctx: Ctx, call: Call, project: str, environment: str, flag: str, if_match: int,
          rollback: bool = True) -> dict[str, Any]:
    """Stop for good; with ``rollback`` (default) the flag serves its pre-rollout
    fallthrough again. Refused (409) when a person edited the flag since the rollout's
    last write: say ``rollback: false`` to keep that edit."""
    state = _require(ctx, project, environment, flag)
    if state["status"] not in ACTIVE:
        raise Conflict(f"the rollout is already {state['status']}")
    config = None
    if rollback:
        current = flag_config(ctx, state)
        if current.version != state.get("config_version"):
            raise Conflict("the flag was edited since the rollout's last step; abort with "
                           "rollback=false to keep that edit",
                           [Detail("rollback", "would overwrite a manual edit")])
        config = (current, restored(state, current.body))
    state.update(status=ABORTED, reason=f"aborted by {call.principal.name}"
                 + (" (rolled back)" if rollback else " (flag left as it is)"))
    event(state, iso(ctx.now()), "aborted", call.principal.name, rollback=rollback)
    return _person_write(ctx, call, state, if_match, "rollout.abort", config)


def complete(ctx: Ctx, call: Call, project: str, environment: str, flag: str,
             if_match: int | None, approved: Approved | None = None, *,
             started_at: str | None = None) -> dict[str, Any]:
    """Finish now: the flag serves the target to everyone, skipping the remaining steps and
    bakes. That exposes more than the plan does at this point, so on a protected environment
    it is a change request (``rollout.complete``, naming the rollout by its ``started_at``;
    applying it acts on that rollout whatever step it reached meanwhile)."""
    env = base.environment_item(ctx, project, environment)
    state = _require(ctx, project, environment, flag)
    if started_at is not None and state["started_at"] != started_at:
        raise Conflict("the rollout this request completes is not the flag's rollout any more")
    if if_match is not None:
        base.match({"version": state["seq"]}, if_match, f"rollout of {flag!r}")
    if state["status"] not in ACTIVE:
        raise Conflict(f"the rollout is already {state['status']}")
    current = flag_config(ctx, state)
    if current.version != state.get("config_version"):
        raise Conflict("the flag was edited since the rollout's last step: resume or abort "
                       "the rollout instead")
    if env.get("protected") and approved is None:
        raise NeedsApproval(project, environment, {
            "type": "rollout.complete", "flag": flag, "started_at": state["started_at"]})
    state.update(status=COMPLETED, reason=f"completed early by {call.principal.name}")
    event(state, iso(ctx.now()), "completed", call.principal.name,
          approved_in=approved.cr_id if approved else None)
    config = {**current.body, "default": {"variation": state["target"]}}
    return view(write(ctx, call, state, action="rollout.complete", config=(current, config),
                      approved=approved))


def restored(state: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration a rollback writes: the pre-rollout configuration (the rollout
    touched only ``default``, so this is exactly it unless a resumed pause kept a person's
    edit of other fields, which stays)."""
    return {**current, "default": state["base_config"]["default"]}


def _bake(state: Mapping[str, Any]) -> int:
    last = state["step"] == len(state["plan"]) - 1
    strategy = state["strategy"]
    return int(strategy.get("final_bake_seconds", 0) if last else strategy["bake_seconds"])


def next_due(state: Mapping[str, Any], now: float) -> str:
    """When the step just taken (``state['step']``) has baked (final bake on the last)."""
    return iso(now + _bake(state))


def is_due(state: Mapping[str, Any], now: float) -> bool:
    """Whether the current step has baked long enough."""
    return now >= parse_iso(str(state["next_at"]))


def focus_check(ctx: Ctx, state: Mapping[str, Any], config: dict[str, Any]) -> None:
    """Compile the environment with ``config`` for the flag (400 if it no longer compiles,
    e.g. a variation was removed from the definition)."""
    env_state = load_state(ctx.repo, state["project"], state["environment"])
    env_state.configs[state["flag"]] = Versioned(config, 0)
    check(env_state, focus=f"flags.{state['flag']}", clock=ctx.now)
