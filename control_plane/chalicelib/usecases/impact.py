"""Dry-run impact: what a proposed flag configuration would serve to a sample of contexts.

``impact(ctx, project, environment, request)`` reads the environment once, compiles it as it
is and with the proposed configuration in place — both with the readers' own strict compiler
(:func:`chalicelib.envdoc.check`), so a proposal that would not compile is a 400 naming the
field, exactly as the write would be — then evaluates every sample context against both and
counts, per variation, how many contexts are served it before and after. Contexts whose
variation changes are listed (up to ``max_changed``) with the reason and rule that decided.

Nothing is written. The sample is bounded (``MAX_UPLOADED`` contexts uploaded — the body
limit of 256 KB binds first for large contexts — or ``MAX_GENERATED`` generated) and so is
the time spent evaluating (``TIME_BUDGET_SECONDS``): past either the answer is a 413 JSON
error, never a partial count presented as whole.

Generated samples are deterministic for a given ``seed``: targeting keys ``<prefix><i>`` and
attributes drawn from the documented distributions (docs/console.md):

* ``{"values": [...], "weights": [...]}`` — one of the values, weights optional (equal);
* ``{"min": a, "max": b}`` — a uniform integer in ``[a, b]``;
* ``{"value": v}`` — always ``v``.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.envdoc import EnvState, Versioned, check, details, load_state
from chalicelib.errors import BadRequest, Detail, NotFound, PayloadTooLarge
from chalicelib.usecases import base
from chalicelib.usecases.base import Ctx
from edge_reader.engine import CompiledEnvironment, EvaluationDetail, fields

MAX_UPLOADED = 5_000
MAX_GENERATED = 10_000
MAX_CHANGED = 1_000
DEFAULT_CHANGED = 100
TIME_BUDGET_SECONDS = 5.0
# The label counted for a context served no variation (an error: the caller's default).
NO_VARIATION = "(default value)"


def impact(ctx: Ctx, project: str, environment: str, request: Mapping[str, Any],
           *, monotonic: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """Counts per variation before/after ``request["config"]`` replaces the flag's
    configuration, and the contexts that change; never writes.

    400 when the proposal does not compile (details name the field, relative to the config)
    or a distribution is malformed; 404 for an unknown environment or flag; 413 for a sample
    over the limits or an evaluation past ``TIME_BUDGET_SECONDS``.
    """
    base.environment_item(ctx, project, environment)
    flag = str(request["flag"])
    contexts = _sample_contexts(request["sample"])
    state = load_state(ctx.repo, project, environment)
    if flag not in state.definitions:
        raise NotFound(f"flag {flag!r} of project {project!r} does not exist")
    current = state.configs.get(flag)
    focus = f"flags.{flag}"
    before = check(state, focus=focus, clock=ctx.now) if current else None
    proposed = EnvState(project, environment, state.definitions, dict(state.configs),
                        state.segments)
    proposed.configs[flag] = Versioned(base.pick(request["config"], fields.CONFIG_FIELDS),
                                       (current.version if current else 0) + 1)
    after = check(proposed, focus=focus, clock=ctx.now)
    limit = int(request.get("max_changed", DEFAULT_CHANGED))
    counts, changed, total_changed = _compare(flag, contexts, before, after, limit,
                                              monotonic)
    warnings = [p for p in after.warnings if p.path == focus or p.path.startswith(focus + ".")]
    return {
        "project": project, "environment": environment, "flag": flag,
        "base_version": current.version if current else 0,
        "sample_size": len(contexts),
        "before": dict(counts[0]), "after": dict(counts[1]),
        "changed_count": total_changed, "changed": changed,
        "changed_truncated": total_changed > len(changed),
        "warnings": [d.to_json() for d in details(warnings, proposed, focus)],
    }


def _compare(flag: str, contexts: list[dict[str, Any]], before: CompiledEnvironment | None,
             after: CompiledEnvironment, limit: int, monotonic: Callable[[], float],
             ) -> tuple[tuple[Counter[str], Counter[str]], list[dict[str, Any]], int]:
    """Evaluate every context twice; stop with 413 once the time budget is spent."""
    deadline = monotonic() + TIME_BUDGET_SECONDS
    counts: tuple[Counter[str], Counter[str]] = (Counter(), Counter())
    changed: list[dict[str, Any]] = []
    total = 0
    for i, context in enumerate(contexts):
        # Checked every 256 contexts: the clock call costs more than an evaluation.
        if i % 256 == 255 and monotonic() > deadline:
            raise PayloadTooLarge(
                f"the sample took longer than {TIME_BUDGET_SECONDS:g} s to evaluate "
                f"({i} of {len(contexts)} contexts done); send a smaller sample")
        old = before.evaluate(flag, context) if before else None
        new = after.evaluate(flag, context)
        counts[0][_label(old)] += 1
        counts[1][_label(new)] += 1
        if _label(old) != _label(new):
            total += 1
            if len(changed) < limit:
                changed.append({"context": context, "before": _decision(old),
                                "after": _decision(new)})
    return counts, changed, total


def _label(detail: EvaluationDetail | None) -> str:
    if detail is None or detail.variant is None:
        return NO_VARIATION
    return detail.variant


def _decision(detail: EvaluationDetail | None) -> dict[str, Any]:
    """What was served and what decided it: the reason, and the rule when one matched."""
    if detail is None:
        return {"variant": None, "reason": "NOT_CONFIGURED", "rule_index": None,
                "rule_id": None}
    return {"variant": detail.variant, "reason": str(detail.reason),
            "rule_index": detail.rule_index, "rule_id": detail.rule_id,
            "error_code": str(detail.error_code) if detail.error_code else None}


def _sample_contexts(sample: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The sample's contexts: the uploaded list, or ``generate`` synthetic ones (seeded)."""
    if "contexts" in sample:
        contexts = list(sample["contexts"])
        if len(contexts) > MAX_UPLOADED:
            raise PayloadTooLarge(f"sample.contexts has {len(contexts)} contexts; "
                                  f"the limit is {MAX_UPLOADED}")
        return contexts
    n = int(sample["generate"])
    if n > MAX_GENERATED:
        raise PayloadTooLarge(f"sample.generate is {n}; the limit is {MAX_GENERATED}")
    draws = {name: _distribution(name, spec)
             for name, spec in dict(sample.get("attributes") or {}).items()}
    # Seeded, not secret: the same request must give the same sample (S311 is about crypto).
    rng = random.Random(int(sample.get("seed", 0)))  # noqa: S311
    prefix = str(sample.get("key_prefix", "user-"))
    kind = str(sample.get("kind", "user"))
    out: list[dict[str, Any]] = []
    for i in range(n):
        context: dict[str, Any] = {"kind": kind, "targetingKey": f"{prefix}{i}"}
        for name, draw in draws.items():
            context[name] = draw(rng)
        out.append(context)
    return out


def _distribution(name: str, spec: Mapping[str, Any]) -> Callable[[random.Random], Any]:
    """A function drawing one value of attribute ``name``; 400 naming it when malformed."""
    path = f"sample.attributes.{name}"
    if "value" in spec:
        value = spec["value"]
        return lambda _rng: value
    if "values" in spec:
        values = list(spec["values"])
        weights = spec.get("weights")
        if not values:
            raise BadRequest("bad distribution", [Detail(path + ".values", "is empty")])
        if weights is not None and (len(weights) != len(values) or sum(weights) <= 0):
            raise BadRequest("bad distribution", [Detail(
                path + ".weights", "needs one non-negative weight per value, not all zero")])
        return lambda rng: rng.choices(values, weights)[0]
    low, high = int(spec["min"]), int(spec["max"])
    if low > high:
        raise BadRequest("bad distribution", [Detail(path, f"min {low} exceeds max {high}")])
    return lambda rng: rng.randint(low, high)
