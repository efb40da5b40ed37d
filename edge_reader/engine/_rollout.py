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
from ._validate import (
    KIND_RE,
    check_fields,
    did_you_mean,
    get_int,
    get_list,
    get_str,
    is_object,
    type_name,
)
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
    """Validate and normalise a ROLLOUT object; report every problem; None if it is unusable.

    Nothing here builds a run: :func:`build_rollout` turns the plan into one. The kind and
    attribute path the plan keeps are copies from ``fresh`` (_fresh.py).
    """
    if not isinstance(raw, Mapping):
        problems.error(path, f"a rollout must be an object, got {type_name(raw)}", "type")
        return None
    before = len(problems.errors)
    check_fields(raw, path, _ROLLOUT_FIELDS, ("variations",), problems)
    names, weights = _weighted_variations(raw, path, variations, problems)
    kind = get_str(raw, "context_kind", path, problems, pattern=KIND_RE) or "user"
    salt = get_str(raw, "salt", path, problems, max_length=256)
    parts = _bucket_by(raw, path, problems)
    steps = _schedule(raw, path, len(names), problems)
    if len(problems.errors) > before or parts is None:
        return None
    return RolloutPlan(tuple(names), tuple(weights), tuple(steps), fresh.text(kind),
                       fresh.texts(parts), salt if salt is not None else flag_key)


def _weighted_variations(
    raw: Mapping[str, Any], path: str, variations: Mapping[str, Any], problems: Problems,
) -> tuple[list[str], list[int]]:
    """The rollout's variation names and weights, in order (a broken entry keeps its place)."""
    names: list[str] = []
    weights: list[int] = []
    for i, item in enumerate(get_list(raw, "variations", path, problems)):
        where = f"{path}.variations[{i}]"
        if not is_object(item, where, problems, _WEIGHTED_FIELDS, ("variation", "weight")):
            continue
        name = get_str(item, "variation", where, problems)
        if name is not None and name not in variations:
            problems.error(f"{where}.variation",
                           f"unknown variation {name!r}{did_you_mean(name, variations)}",
                           "unknown_variation")
        weight = get_int(item, "weight", where, problems, maximum=BUCKETS)
        names.append(name or "")
        weights.append(weight or 0)
    if "variations" in raw and not names and isinstance(raw.get("variations"), list):
        problems.error(f"{path}.variations", "a rollout needs at least one variation", "empty")
    _check_sum(weights, f"{path}.variations", problems)
    return names, weights


def _bucket_by(raw: Mapping[str, Any], path: str, problems: Problems) -> tuple[str, ...] | None:
    """The attribute path the rollout buckets by (the targeting key unless told); None if bad."""
    bucket_by = get_str(raw, "bucket_by", path, problems, max_length=1024)
    if bucket_by is None:
        return ("key",)
    parts, problem = parse_attribute(bucket_by)
    if problem is not None:
        problems.error(f"{path}.bucket_by", problem, "invalid_attribute")
    return parts


def _schedule(raw: Mapping[str, Any], path: str, n_variations: int,
              problems: Problems) -> list[tuple[float, tuple[int, ...]]]:
    """The ramp's steps as (epoch ms, weights), each later than the one before."""
    steps: list[tuple[float, tuple[int, ...]]] = []
    for i, step in enumerate(get_list(raw, "schedule", path, problems)):
        where = f"{path}.schedule[{i}]"
        if not is_object(step, where, problems, _STEP_FIELDS, ("at", "weights")):
            continue
        at_text = get_str(step, "at", where, problems, max_length=64)
        at = parse_rfc3339_ms(at_text) if at_text is not None else None
        if at_text is not None and at is None:
            problems.error(f"{where}.at", f"{at_text!r} is not an RFC 3339 date-time",
                           "invalid_date")
        weights = _step_weights(step, where, n_variations, problems)
        if at is not None:
            if steps and at <= steps[-1][0]:
                problems.error(f"{where}.at", "schedule steps must be in increasing time order",
                               "schedule_order")
            steps.append((at, weights))
    return steps


def _step_weights(step: Mapping[str, Any], where: str, n_variations: int,
                  problems: Problems) -> tuple[int, ...]:
    """A schedule step's weights: one per rollout variation, each in [0, BUCKETS]."""
    weights: list[int] = []
    for j, w in enumerate(get_list(step, "weights", where, problems)):
        if isinstance(w, bool) or not isinstance(w, int) or not 0 <= w <= BUCKETS:
            problems.error(f"{where}.weights[{j}]",
                           f"a weight must be an integer in [0, {BUCKETS}], got {w!r}", "range")
            weights.append(0)
        else:
            weights.append(w)
    if isinstance(step.get("weights"), list) and len(weights) != n_variations:
        problems.error(f"{where}.weights",
                       f"has {len(weights)} weights for {n_variations} variations",
                       "weights_length")
    _check_sum(weights, f"{where}.weights", problems)
    return tuple(weights)


def _check_sum(weights: list[int], path: str, problems: Problems) -> None:
    total = sum(weights)
    if weights and total == 100:
        # 25/75 meant as percent reads as 0.025 % / 0.075 %: almost everyone gets the last
        # variation. Say so loudly, with the numbers the author most likely meant.
        scale = BUCKETS // 100
        read = " / ".join(f"{w / scale:g} %" for w in weights)
        meant = ", ".join(str(w * scale) for w in weights)
        problems.warn(path, f"weights sum to 100, not {BUCKETS}: read as {read} (the other "
                      f"{100 - 100 / scale:g} % fall to the last variation). They look like "
                      f"percentages: for {' / '.join(f'{w} %' for w in weights)} write weights "
                      f"{meant}", "weights_percent")
        return
    if weights and total != BUCKETS:
        effect = ("the rest falls to the last variation" if total < BUCKETS
                  else "the excess is never served")
        problems.warn(path, f"weights sum to {total}, not {BUCKETS} ({effect})", "weights_sum")


def _table(
    names: tuple[str, ...], weights: tuple[int, ...], details: Mapping[str, EvaluationDetail],
    fresh: Fresh,
) -> tuple[tuple[tuple[int, EvaluationDetail], ...], EvaluationDetail]:
    """(upper bound, detail) pairs for non-empty ranges, and the detail past the end."""
    pairs: list[tuple[int, EvaluationDetail]] = []
    upper = 0
    for name, weight in zip(names, weights, strict=True):
        if weight > 0:
            upper += weight
            # One int object per bound for all rollouts (50000 is not a cached small int).
            pairs.append((fresh.integer(upper), details[name]))
    return tuple(pairs), details[names[-1]]


Table = tuple[tuple[tuple[int, EvaluationDetail], ...], EvaluationDetail]


def build_rollout(
    plan: RolloutPlan, details: Mapping[str, EvaluationDetail],
    missing_key: EvaluationDetail, clock: Clock | None, fresh: Fresh,
) -> Serve:
    """The run serving ``plan``: bucket the context, pick the range's prebuilt detail.

    Like flag runs (see _runs.py), a bound method of a slotted object, not a closure: as
    fast, and a quarter of the memory for the ten values a rollout keeps.
    """
    base = _table(plan.variations, plan.weights, details, fresh)
    prefix = plan.salt + ":"
    by_key = plan.bucket_path == ("key",)
    if plan.steps and clock is not None:
        times = tuple(at for at, _ in plan.steps)
        tables = (base, *(_table(plan.variations, w, details, fresh) for _, w in plan.steps))
        return _Rollout(plan.context_kind, prefix, by_key, make_getter(plan.bucket_path),
                        base, missing_key, _Schedule(times, tables, clock)).run
    if by_key:
        return _ByKey(plan.context_kind, prefix, base, missing_key).run
    return _Rollout(plan.context_kind, prefix, by_key, make_getter(plan.bucket_path), base,
                    missing_key, None).run


@dataclass(slots=True, eq=False)
class _Schedule:
    """The weights table in force at the clock's current instant."""

    times: tuple[float, ...]
    tables: tuple[Table, ...]
    clock: Clock

    def current(self) -> Table:
        """bisect_right: a step applies from its instant ``at`` onwards (inclusive)."""
        return self.tables[bisect_right(self.times, self.clock() * 1000.0)]


@dataclass(slots=True, eq=False)
class _Rollout:
    """Any rollout: by any attribute, with or without a schedule."""

    kind: str
    prefix: str
    by_key: bool
    getter: Callable[[dict[str, Any]], Any]
    base: Table
    missing_key: EvaluationDetail
    schedule: _Schedule | None

    def run(self, kinds: Kinds) -> EvaluationDetail:
        """The detail of the bucket range the context falls in."""
        attrs = kinds.get(self.kind)
        if attrs is None:
            if self.by_key:
                return self.missing_key
            b = 0
        else:
            v = self.getter(attrs)
            if v.__class__ is not str:
                v = bucketable(v)
            if v is None:
                if self.by_key:
                    return self.missing_key
                b = 0  # an unbucketable attribute lands in bucket 0, as in LaunchDarkly
            else:
                b = (_hash32(self.prefix + v, 0, False) * BUCKETS) >> 32
        pairs, last = self.base if self.schedule is None else self.schedule.current()
        for upper, detail in pairs:
            if b < upper:
                return detail
        return last


class _ByKey:
    """The common rollout (by targeting key, no schedule), with the range walk unrolled."""

    __slots__ = ("first", "first_upper", "kind", "last", "missing_key", "pairs", "prefix",
                 "second", "second_upper")

    def __init__(self, kind: str, prefix: str, table: Table,
                 missing_key: EvaluationDetail) -> None:
        self.kind = kind
        self.prefix = prefix
        self.missing_key = missing_key
        pairs, last = table
        self.last = last
        if len(pairs) == 2:
            (self.first_upper, self.first), (self.second_upper, self.second) = pairs
            self.pairs: tuple[tuple[int, EvaluationDetail], ...] = ()  # unrolled: not needed
        else:
            self.first_upper, self.first, self.second_upper, self.second = -1, last, -1, last
            self.pairs = pairs

    def run(self, kinds: Kinds) -> EvaluationDetail:
        """The detail of the bucket range the targeting key falls in."""
        attrs = kinds.get(self.kind)
        if attrs is None:
            return self.missing_key
        v = attrs.get("key")
        if v is None:
            return self.missing_key
        # mmh3.hash is signed; masking gives the unsigned value of the same 32 bits.
        b = ((_hash32(self.prefix + v) & 0xFFFFFFFF) * BUCKETS) >> 32
        if self.first_upper >= 0:
            return self.first if b < self.first_upper else (
                self.second if b < self.second_upper else self.last)
        for upper, detail in self.pairs:
            if b < upper:
                return detail
        return self.last


_hash32 = mmh3.hash
