"""Weighted rollouts (with optional scheduled ramps), compiled into ``kinds -> detail``.

Variations occupy consecutive bucket ranges in list order (see docs/bucketing.md). When
the weights sum to less than 100000 the remaining buckets fall to the last variation;
when they sum to more, the ranges past 100000 are never reached (both are lint warnings).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import mmh3

from ._fresh import Fresh
from ._validate import KIND_RE, check_fields, get_int, get_list, get_str, type_name
from .bucketing import BUCKETS, bucketable
from .context import Kinds, make_getter, parse_attribute
from .dates import parse_rfc3339_ms
from .detail import EvaluationDetail
from .errors import Problems

Clock = Callable[[], float]
Serve = Callable[[Kinds], EvaluationDetail]

_ROLLOUT_FIELDS = frozenset({"variations", "bucket_by", "context_kind", "salt", "schedule"})
_WEIGHTED_FIELDS = frozenset({"variation", "weight"})
_STEP_FIELDS = frozenset({"at", "weights"})


@dataclass(frozen=True, slots=True)
class RolloutPlan:
    """A validated rollout: everything needed to build its closure."""

    variations: tuple[str, ...]
    weights: tuple[int, ...]
    steps: tuple[tuple[float, tuple[int, ...]], ...]  # (at epoch ms, weights), ascending
    context_kind: str
    bucket_path: tuple[str, ...]
    salt: str

    def served(self) -> set[str]:
        """Variations that receive a non-zero weight at some point."""
        out = {v for v, w in zip(self.variations, self.weights, strict=True) if w > 0}
        for _, weights in self.steps:
            out.update(v for v, w in zip(self.variations, weights, strict=True) if w > 0)
        return out


def parse_rollout(
    raw: object, path: str, flag_key: str, variations: Mapping[str, Any], problems: Problems,
    fresh: Fresh,
) -> RolloutPlan | None:
    """Validate a ROLLOUT object; report every problem; None if it is unusable.

    The kind and attribute path the rollout keeps are copies from ``fresh`` (_fresh.py).
    """
    if not isinstance(raw, Mapping):
        problems.error(path, f"a rollout must be an object, got {type_name(raw)}", "type")
        return None
    before = len(problems.errors)
    check_fields(raw, path, _ROLLOUT_FIELDS, ("variations",), problems)
    names: list[str] = []
    weights: list[int] = []
    for i, item in enumerate(get_list(raw, "variations", path, problems)):
        where = f"{path}.variations[{i}]"
        if not isinstance(item, Mapping):
            problems.error(where, f"must be an object, got {type_name(item)}", "type")
            continue
        check_fields(item, where, _WEIGHTED_FIELDS, ("variation", "weight"), problems)
        name = get_str(item, "variation", where, problems)
        if name is not None and name not in variations:
            problems.error(f"{where}.variation", f"unknown variation {name!r}",
                           "unknown_variation")
        weight = get_int(item, "weight", where, problems, maximum=BUCKETS)
        names.append(name or "")
        weights.append(weight or 0)
    if "variations" in raw and not names and isinstance(raw.get("variations"), list):
        problems.error(f"{path}.variations", "a rollout needs at least one variation", "empty")
    _check_sum(weights, f"{path}.variations", problems)
    kind = get_str(raw, "context_kind", path, problems, pattern=KIND_RE) or "user"
    salt = get_str(raw, "salt", path, problems, max_length=256)
    bucket_by = get_str(raw, "bucket_by", path, problems, max_length=1024)
    parts: tuple[str, ...] | None = ("key",)
    if bucket_by is not None:
        parts, problem = parse_attribute(bucket_by)
        if problem is not None:
            problems.error(f"{path}.bucket_by", problem, "invalid_attribute")
    steps: list[tuple[float, tuple[int, ...]]] = []
    for i, step in enumerate(get_list(raw, "schedule", path, problems)):
        where = f"{path}.schedule[{i}]"
        if not isinstance(step, Mapping):
            problems.error(where, f"must be an object, got {type_name(step)}", "type")
            continue
        check_fields(step, where, _STEP_FIELDS, ("at", "weights"), problems)
        at_text = get_str(step, "at", where, problems, max_length=64)
        at = parse_rfc3339_ms(at_text) if at_text is not None else None
        if at_text is not None and at is None:
            problems.error(f"{where}.at", f"{at_text!r} is not an RFC 3339 date-time",
                           "invalid_date")
        step_weights: list[int] = []
        for j, w in enumerate(get_list(step, "weights", where, problems)):
            if isinstance(w, bool) or not isinstance(w, int) or not 0 <= w <= BUCKETS:
                problems.error(f"{where}.weights[{j}]",
                               f"a weight must be an integer in [0, {BUCKETS}], got {w!r}",
                               "range")
                step_weights.append(0)
            else:
                step_weights.append(w)
        if isinstance(step.get("weights"), list) and len(step_weights) != len(names):
            problems.error(f"{where}.weights",
                           f"has {len(step_weights)} weights for {len(names)} variations",
                           "weights_length")
        _check_sum(step_weights, f"{where}.weights", problems)
        if at is not None:
            if steps and at <= steps[-1][0]:
                problems.error(f"{where}.at", "schedule steps must be in increasing time order",
                               "schedule_order")
            steps.append((at, tuple(step_weights)))
    if len(problems.errors) > before or parts is None:
        return None
    return RolloutPlan(tuple(names), tuple(weights), tuple(steps), fresh.text(kind),
                       fresh.texts(parts), salt if salt is not None else flag_key)


def _check_sum(weights: list[int], path: str, problems: Problems) -> None:
    total = sum(weights)
    if weights and total != BUCKETS:
        effect = ("the rest falls to the last variation" if total < BUCKETS
                  else "the excess is never served")
        problems.warn(path, f"weights sum to {total}, not {BUCKETS} ({effect})", "weights_sum")


def _table(
    names: tuple[str, ...], weights: tuple[int, ...], details: Mapping[str, EvaluationDetail],
) -> tuple[tuple[tuple[int, EvaluationDetail], ...], EvaluationDetail]:
    """(upper bound, detail) pairs for non-empty ranges, and the detail past the end."""
    pairs: list[tuple[int, EvaluationDetail]] = []
    upper = 0
    for name, weight in zip(names, weights, strict=True):
        if weight > 0:
            upper += weight
            pairs.append((upper, details[name]))
    return tuple(pairs), details[names[-1]]


def build_rollout(
    plan: RolloutPlan, details: Mapping[str, EvaluationDetail],
    missing_key: EvaluationDetail, clock: Clock | None,
) -> Serve:
    """The closure serving ``plan``: bucket the context, pick the range's prebuilt detail."""
    base = _table(plan.variations, plan.weights, details)
    kind = plan.context_kind
    prefix = plan.salt + ":"
    by_key = plan.bucket_path == ("key",)
    getter = make_getter(plan.bucket_path)
    hash32 = mmh3.hash
    if plan.steps and clock is not None:
        times = tuple(at for at, _ in plan.steps)
        tables = (base, *(_table(plan.variations, w, details) for _, w in plan.steps))
        now: Clock = clock

        def current() -> tuple[tuple[tuple[int, EvaluationDetail], ...], EvaluationDetail]:
            # bisect_right: a step applies from its instant `at` onwards (inclusive).
            return tables[bisect_right(times, now() * 1000.0)]
    else:
        current = None  # type: ignore[assignment]

    if by_key and current is None:
        return _by_key(kind, prefix, base, missing_key)

    def rollout(kinds: Kinds) -> EvaluationDetail:
        attrs = kinds.get(kind)
        if attrs is None:
            if by_key:
                return missing_key
            b = 0
        else:
            v = getter(attrs)
            if v.__class__ is not str:
                v = bucketable(v)
            if v is None:
                if by_key:
                    return missing_key
                b = 0  # an unbucketable attribute lands in bucket 0, as in LaunchDarkly
            else:
                b = (hash32(prefix + v, 0, False) * BUCKETS) >> 32
        pairs, last = base if current is None else current()
        for upper, detail in pairs:
            if b < upper:
                return detail
        return last

    return rollout


def _by_key(
    kind: str, prefix: str,
    table: tuple[tuple[tuple[int, EvaluationDetail], ...], EvaluationDetail],
    missing_key: EvaluationDetail,
) -> Serve:
    """The common rollout (by targeting key, no schedule), with the range walk unrolled."""
    hash32 = mmh3.hash
    pairs, last = table
    if len(pairs) == 2:
        (first_upper, first), (second_upper, second) = pairs
    else:
        first_upper, first, second_upper, second = -1, last, -1, last

    def by_key(kinds: Kinds) -> EvaluationDetail:
        attrs = kinds.get(kind)
        if attrs is None:
            return missing_key
        v = attrs.get("key")
        if v is None:
            return missing_key
        # mmh3.hash is signed; masking gives the unsigned value of the same 32 bits.
        b = ((hash32(prefix + v) & 0xFFFFFFFF) * BUCKETS) >> 32
        if first_upper >= 0:
            return first if b < first_upper else (second if b < second_upper else last)
        for upper, detail in pairs:
            if b < upper:
                return detail
        return last

    return by_key
