"""Release strategies: named, reusable ramps of a project (``linear``, ``exponential``,
``custom``), each a list of percentages with a bake time between steps and a final bake.

A strategy is only a plan: nothing is served differently until a guarded rollout
(:mod:`chalicelib.usecases.rollouts`) uses it, and a rollout copies the strategy's content
when it starts (so an approved rollout runs exactly the plan its reviewers saw, whatever
happens to the strategy afterwards). Writes are audited in the global chain.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, NoReturn

from chalicelib import keys
from chalicelib.audit import Chain, Entry
from chalicelib.canonical import canonical, iso
from chalicelib.envdoc import versioned
from chalicelib.errors import BadRequest, Conflict, Detail
from chalicelib.repository import delete, put
from chalicelib.usecases import base
from chalicelib.usecases.base import Call, Ctx

FULL = 100_000
"""100 % in the engine's weight unit (0.001 %)."""
MAX_STEPS = 100
FIELDS = ("kind", "step_percent", "start_percent", "factor", "percents", "bake_seconds",
          "final_bake_seconds", "description")
_NEEDS = {"linear": ("step_percent",), "exponential": ("start_percent", "factor"),
          "custom": ("percents",)}


def _units(percent: float) -> int:
    return round(percent * 1000)


def _plan_or_problems(body: Mapping[str, Any]) -> tuple[list[int], list[Detail]]:
    kind = str(body.get("kind"))
    problems = [Detail(name, f"required for kind {kind!r}")
                for name in _NEEDS.get(kind, ()) if name not in body]
    problems += [Detail(name, f"only for kind {other!r}")
                 for other, names in _NEEDS.items() if other != kind
                 for name in names if name in body and name not in _NEEDS.get(kind, ())]
    if problems:
        return [], problems
    if kind == "linear":
        step = _units(float(body["step_percent"]))
        plan = [*range(step, FULL, step), FULL]
    elif kind == "exponential":
        plan, value = [], float(body["start_percent"])
        while _units(value) < FULL and len(plan) <= MAX_STEPS:
            plan.append(_units(value))
            value *= float(body["factor"])
        # A small factor repeats a step at the engine's precision: keep each step once.
        plan = [*sorted(set(plan)), FULL]
    else:
        plan = [_units(float(p)) for p in body["percents"]]
        if any(b <= a for a, b in itertools.pairwise(plan)) or not plan:
            return [], [Detail("percents", "must be strictly increasing")]
        if plan[0] <= 0:
            return [], [Detail("percents[0]", "must be above 0")]
        if plan[-1] != FULL:
            return [], [Detail(f"percents[{len(plan) - 1}]", "the last step must be 100")]
    if len(plan) > MAX_STEPS:
        field = {"linear": "step_percent", "exponential": "factor"}.get(kind, "percents")
        return [], [Detail(field, f"makes {len(plan)} steps; at most {MAX_STEPS}")]
    return plan, []


def plan(body: Mapping[str, Any]) -> list[int]:
    """The strategy's steps as engine weights of the target variation (0.001 % units, the
    last always 100000), or 400 naming the field that makes no plan."""
    steps, problems = _plan_or_problems(body)
    if problems:
        raise BadRequest("invalid release strategy", problems)
    return steps


def view(key: str, body: Mapping[str, Any], version: int, at: str = "") -> dict[str, Any]:
    """Public form of a strategy: its fields, the computed steps (percent) and version."""
    return {"key": key, **body, "steps": [w / 1000 for w in plan(body)], "version": version,
            "updated_at": at}


def create_strategy(ctx: Ctx, call: Call, project: str, body: Mapping[str, Any]
                    ) -> dict[str, Any]:
    """Create a strategy (409 if the key exists); its plan is validated first (400)."""
    base.project_item(ctx, project)
    key = str(body["key"])
    content = base.pick(body, FIELDS)
    content.setdefault("final_bake_seconds", 0)
    plan(content)
    at = iso(ctx.now())
    item = {"pk": keys.project_pk(project), "sk": keys.strategy_sk(key), "strategy": key,
            "body": canonical(content), "version": 1, "created_at": at, "updated_at": at}

    def exists() -> NoReturn:
        raise Conflict(f"strategy {key!r} already exists")

    base.commit(ctx, call, steps=[put(item, "attribute_not_exists(pk)")], on_conflict=exists,
                entries=[Entry(Chain.global_chain(), "strategy.create",
                               f"projects/{project}/strategies/{key}", None, content)])
    return view(key, content, 1, at)


def get_strategy(ctx: Ctx, project: str, key: str) -> dict[str, Any]:
    """One strategy, or 404."""
    item = base.require_item(ctx, keys.project_pk(project), keys.strategy_sk(key),
                             f"strategy {key!r} of project {project!r}")
    stored = versioned(item)
    return view(key, stored.body, stored.version, stored.updated_at)


def list_strategies(ctx: Ctx, project: str) -> dict[str, Any]:
    """Every strategy of a project, in key order."""
    base.project_item(ctx, project)
    items, _ = ctx.repo.query(keys.project_pk(project), keys.STRATEGY_SK_PREFIX)
    return {"items": [view(str(i["strategy"]), versioned(i).body, int(i["version"]),
                           str(i.get("updated_at", ""))) for i in items]}


def delete_strategy(ctx: Ctx, call: Call, project: str, key: str, if_match: int
                    ) -> dict[str, Any]:
    """Delete a strategy (If-Match). Running rollouts keep the copy they started with."""
    pk, sk = keys.project_pk(project), keys.strategy_sk(key)
    item = base.require_item(ctx, pk, sk, f"strategy {key!r} of project {project!r}")
    base.match(item, if_match, f"strategy {key!r}")
    stored = versioned(item)
    base.commit(ctx, call, steps=[delete(pk, sk, "version = :v", v=if_match)],
                on_conflict=lambda: base.stale(ctx, pk, sk, f"strategy {key!r}"),
                entries=[Entry(Chain.global_chain(), "strategy.delete",
                               f"projects/{project}/strategies/{key}", stored.body, None)])
    return {"key": key, "deleted": True, "version": if_match}
