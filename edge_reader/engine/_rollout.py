"""Weighted rollouts (with optional scheduled ramps), compiled into ``kinds -> detail``.

Entries occupy consecutive bucket ranges in list order (see docs/bucketing.md). When the
weights sum to less than ``buckets`` (100000 unless ``bucketing.buckets`` says otherwise)
the remaining buckets fall to the last entry; when they sum to more, the ranges past
``buckets`` are never reached (both are lint warnings). An entry without a ``variation``
is a gap: a context bucketed into it is not served by the rollout (the run returns the
``gap`` it was built with: None in a rule, meaning "try the next rule"; the caller's
default in the flag's ``default``). ``missing: "skip"`` treats a context without a
bucketing value the same way. The bucket function is chosen here, at compile time
(``bucketing.hash``), so Vexil's own hash keeps its unrolled fast path.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import mmh3

from ._fresh import Fresh
from ._validate import (
    KIND_RE,
    check_fields,
    did_you_mean,
    get_int,
    get_list,
    get_mapping,
    get_str,
    is_object,
    type_name,
)
from .bucketing import (
    BUCKETS,
    DEFAULT_HASH,
    HASHES,
    MAX_BUCKETS,
    SEEDED_HASHES,
    BucketFn,
    ValueFn,
    bucket_function,
    bucketable,
    value_function,
)
from .context import Kinds, make_getter, parse_attribute
from .dates import parse_rfc3339_ms
from .detail import EvaluationDetail
from .errors import Problems

Clock = Callable[[], float]
Serve = Callable[[Kinds], EvaluationDetail | None]  # None: a gap in a rule's rollout

_ROLLOUT_FIELDS = frozenset({"variations", "bucket_by", "context_kind", "salt", "schedule",
                             "bucketing", "missing"})
_WEIGHTED_FIELDS = frozenset({"variation", "weight"})
_STEP_FIELDS = frozenset({"at", "weights"})
_BUCKETING_FIELDS = frozenset({"hash", "seed", "buckets"})
_MISSING = ("default", "skip")
# The seed each seeded hash accepts: LaunchDarkly's is a 64-bit integer, Unleash's the
# unsigned 32-bit murmur3 seed.
_SEED_RANGE = {"launchdarkly": (-(2**63), 2**63 - 1), "unleash": (0, 2**32 - 1)}


@dataclass(frozen=True, slots=True)
class Bucketing:
    """A rollout's ``bucketing``: which hash, its seed, and how many buckets weights count."""

    hash: str
    seed: int | None
    buckets: int


@dataclass(frozen=True, slots=True)
class RolloutPlan:
    """A validated rollout: everything needed to build its closure."""

    variations: tuple[str | None, ...]  # None: a gap (an entry without a variation)
    weights: tuple[int, ...]
    steps: tuple[tuple[float, tuple[int, ...]], ...]  # (at epoch ms, weights), ascending
    context_kind: str
    bucket_path: tuple[str, ...]
    salt: str
    bucketing: Bucketing = field(default_factory=lambda: Bucketing(DEFAULT_HASH, None, BUCKETS))
    skip_missing: bool = False  # missing: "skip"

    def always_serves(self) -> bool:
        """Does the rollout serve a variation (or an error) to every context? False when a gap
        can be reached — a gap with weight at some point, a gap last (past the weights'
        end) — or when ``missing: "skip"`` lets contexts without a value through."""
        if self.skip_missing or self.variations[-1] is None:
            return False
        tables = (self.weights, *(w for _, w in self.steps))
        return not any(name is None and weights[i] > 0
                       for weights in tables for i, name in enumerate(self.variations))

    def served(self) -> set[str]:
        """Variations that receive a non-zero weight at some point."""
        out = {v for v, w in zip(self.variations, self.weights, strict=True)
               if w > 0 and v is not None}
        for _, weights in self.steps:
            out.update(v for v, w in zip(self.variations, weights, strict=True)
                       if w > 0 and v is not None)
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
    bucketing = _bucketing(raw, path, problems, fresh)
    names, weights = _weighted_variations(raw, path, variations, bucketing.buckets, problems)
    kind = get_str(raw, "context_kind", path, problems, pattern=KIND_RE) or "user"
    salt = get_str(raw, "salt", path, problems, max_length=256)
    parts = _bucket_by(raw, path, problems)
    steps = _schedule(raw, path, names, bucketing.buckets, problems)
    missing = get_str(raw, "missing", path, problems) or "default"
    if missing not in _MISSING:
        problems.error(f"{path}.missing", f"must be one of {', '.join(map(repr, _MISSING))}, "
                       f"got {missing!r}{did_you_mean(missing, _MISSING)}", "invalid_missing")
    if len(problems.errors) > before or parts is None:
        return None
    return RolloutPlan(tuple(None if n is None else fresh.text(n) for n in names),
                       tuple(weights), tuple(steps), fresh.text(kind), fresh.texts(parts),
                       flag_key if salt is None else fresh.text(salt), bucketing,
                       missing == "skip")


def _bucketing(raw: Mapping[str, Any], path: str, problems: Problems,
               fresh: Fresh) -> Bucketing:
    """The rollout's ``bucketing`` (Vexil's hash, 100000 buckets when absent), with every
    value the runs keep copied out of the document (_fresh.py)."""
    where = f"{path}.bucketing"
    spec = get_mapping(raw, "bucketing", path, problems) or {}
    check_fields(spec, where, _BUCKETING_FIELDS, (), problems)
    name = get_str(spec, "hash", where, problems, max_length=64) or DEFAULT_HASH
    if name not in HASHES:
        # A reader that meets a newer hash cannot place anyone: the flag serves the
        # caller's default with PARSE_ERROR (docs/flag-format.md, forward compatibility).
        problems.error(f"{where}.hash", f"unknown hash {name!r}{did_you_mean(name, HASHES)}; "
                       f"one of {', '.join(HASHES)}", "unknown_hash")
    low, high = _SEED_RANGE.get(name, (0, None))
    seed = get_int(spec, "seed", where, problems, minimum=low, maximum=high)
    if "seed" in spec and name not in SEEDED_HASHES and name in HASHES:
        problems.error(f"{where}.seed", f"hash {name!r} takes no seed (only "
                       f"{', '.join(sorted(SEEDED_HASHES))} do): use 'salt'", "seed_unused")
    buckets = get_int(spec, "buckets", where, problems, minimum=1, maximum=MAX_BUCKETS)
    return Bucketing(fresh.text(name), None if seed is None else fresh.integer(seed),
                     BUCKETS if buckets is None else fresh.integer(buckets))


def _weighted_variations(
    raw: Mapping[str, Any], path: str, variations: Mapping[str, Any], buckets: int,
    problems: Problems,
) -> tuple[list[str | None], list[int]]:
    """The rollout's entries (variation name, None for a gap) and weights, in order.

    A broken entry keeps its place (as ``""``), so later paths keep their indexes.
    """
    names: list[str | None] = []
    weights: list[int] = []
    for i, item in enumerate(get_list(raw, "variations", path, problems)):
        where = f"{path}.variations[{i}]"
        if not is_object(item, where, problems, _WEIGHTED_FIELDS, ("weight",)):
            continue
        name = get_str(item, "variation", where, problems)
        if name is not None and name not in variations:
            problems.error(f"{where}.variation",
                           f"unknown variation {name!r}{did_you_mean(name, variations)}",
                           "unknown_variation")
        weight = get_int(item, "weight", where, problems, maximum=buckets)
        names.append(None if "variation" not in item else (name or ""))
        weights.append(weight or 0)
    if "variations" in raw and not names and isinstance(raw.get("variations"), list):
        problems.error(f"{path}.variations", "a rollout needs at least one variation", "empty")
    _check_sum(weights, f"{path}.variations", buckets, names, problems)
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


def _schedule(raw: Mapping[str, Any], path: str, names: list[str | None], buckets: int,
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
        weights = _step_weights(step, where, names, buckets, problems)
        if at is not None:
            if steps and at <= steps[-1][0]:
                problems.error(f"{where}.at", "schedule steps must be in increasing time order",
                               "schedule_order")
            steps.append((at, weights))
    return steps


def _step_weights(step: Mapping[str, Any], where: str, names: list[str | None], buckets: int,
                  problems: Problems) -> tuple[int, ...]:
    """A schedule step's weights: one per rollout entry, each in [0, buckets]."""
    weights: list[int] = []
    for j, w in enumerate(get_list(step, "weights", where, problems)):
        if isinstance(w, bool) or not isinstance(w, int) or not 0 <= w <= buckets:
            problems.error(f"{where}.weights[{j}]",
                           f"a weight must be an integer in [0, {buckets}], got {w!r}", "range")
            weights.append(0)
        else:
            weights.append(w)
    if isinstance(step.get("weights"), list) and len(weights) != len(names):
        problems.error(f"{where}.weights",
                       f"has {len(weights)} weights for {len(names)} variations",
                       "weights_length")
    _check_sum(weights, f"{where}.weights", buckets, names, problems)
    return tuple(weights)


def _check_sum(weights: list[int], path: str, buckets: int, names: list[str | None],
               problems: Problems) -> None:
    """Lint weights that do not sum to the rollout's ``buckets``."""
    total = sum(weights)
    if weights and total == 100 and buckets > 100 and buckets % 100 == 0:
        # 25/75 meant as percent reads as 0.025 % / 0.075 %: almost everyone gets the last
        # variation. Say so loudly, with the numbers the author most likely meant.
        scale = buckets // 100
        read = " / ".join(f"{w / scale:g} %" for w in weights)
        meant = ", ".join(str(w * scale) for w in weights)
        problems.warn(path, f"weights sum to 100, not {buckets}: read as {read} (the other "
                      f"{100 - 100 / scale:g} % fall to the last variation). They look like "
                      f"percentages: for {' / '.join(f'{w} %' for w in weights)} write weights "
                      f"{meant}", "weights_percent")
        return
    if weights and total != buckets:
        last = ("the last entry, a gap (not served)" if names and names[-1] is None
                else "the last variation")
        effect = f"the rest falls to {last}" if total < buckets else "the excess is never served"
        problems.warn(path, f"weights sum to {total}, not {buckets} ({effect})", "weights_sum")


Served = EvaluationDetail | None  # None: not served here (a gap in a rule's rollout)
Table = tuple[tuple[tuple[int, Served], ...], Served]


def _table(
    names: tuple[str | None, ...], weights: tuple[int, ...],
    details: Mapping[str, EvaluationDetail], gap: Served, fresh: Fresh,
) -> Table:
    """(upper bound, detail) pairs for non-empty ranges, and the detail past the end.

    A gap's range serves ``gap``; so does the past-the-end range when the last entry is one.
    """
    pairs: list[tuple[int, Served]] = []
    upper = 0
    for name, weight in zip(names, weights, strict=True):
        if weight > 0:
            upper += weight
            # One int object per bound for all rollouts (50000 is not a cached small int).
            pairs.append((fresh.integer(upper), gap if name is None else details[name]))
    last = names[-1]
    return tuple(pairs), gap if last is None else details[last]


def build_rollout(
    plan: RolloutPlan, details: Mapping[str, EvaluationDetail],
    missing_key: EvaluationDetail, gap: Served, clock: Clock | None, fresh: Fresh,
) -> Serve:
    """The run serving ``plan``: bucket the context, pick the range's prebuilt detail.

    ``gap`` is what a gap (and, with ``missing: "skip"``, a context without a bucketing
    value) serves: None in a rule (the flag goes on to the next rule), the caller's
    default in the flag's ``default``. Like flag runs (see _runs.py), a run is a bound
    method of a slotted object, not a closure: as fast, and a quarter of the memory.
    """
    b = plan.bucketing
    base = _table(plan.variations, plan.weights, details, gap, fresh)
    by_key = plan.bucket_path == ("key",)
    schedule = None
    if plan.steps and clock is not None:
        times = tuple(at for at, _ in plan.steps)
        tables = (base, *(_table(plan.variations, w, details, gap, fresh) for _, w in plan.steps))
        schedule = _Schedule(times, tables, clock)
    # What a context without a bucketing value gets: skipped, TARGETING_KEY_MISSING (no
    # targeting key), or bucket 0 (another attribute; LaunchDarkly's rule).
    on_missing = gap if plan.skip_missing else missing_key
    zero = not plan.skip_missing and not by_key
    getter = make_getter(plan.bucket_path)
    if b.hash != DEFAULT_HASH:
        # LaunchDarkly places a context without the rollout's kind in bucket 0 (its Go, Java
        # and .NET evaluators; Python's -1 differs only for a first entry of weight 0).
        kind_zero = zero or (b.hash == "launchdarkly" and not plan.skip_missing)
        return _PeerRollout(plan.context_kind, getter, value_function(b.hash),
                            bucket_function(b.hash, plan.salt, b.seed, b.buckets), base,
                            on_missing, zero, kind_zero, schedule).run
    prefix = plan.salt + ":"
    if by_key and schedule is None:
        return _ByKey(plan.context_kind, prefix, b.buckets, base, on_missing).run
    return _Rollout(plan.context_kind, prefix, b.buckets, getter, base, on_missing, zero,
                    schedule).run


@dataclass(slots=True, eq=False)
class _Schedule:
    """The weights table in force at the clock's current instant."""

    times: tuple[float, ...]
    tables: tuple[Table, ...]
    clock: Clock

    def current(self) -> Table:
        """bisect_right: a step applies from its instant ``at`` onwards (inclusive)."""
        return self.tables[bisect_right(self.times, self.clock() * 1000.0)]


def _pick(b: int, table: Table) -> Served:
    """The detail of the range holding bucket ``b``."""
    pairs, last = table
    for upper, detail in pairs:
        if b < upper:
            return detail
    return last


@dataclass(slots=True, eq=False)
class _Rollout:
    """Vexil's hash, by any attribute, with or without a schedule."""

    kind: str
    prefix: str
    buckets: int
    getter: Callable[[dict[str, Any]], Any]
    base: Table
    on_missing: Served  # no bucketing value, unless `zero`
    zero: bool  # no bucketing value → bucket 0
    schedule: _Schedule | None

    def run(self, kinds: Kinds) -> Served:
        """The detail of the bucket range the context falls in."""
        attrs = kinds.get(self.kind)
        v = None if attrs is None else self.getter(attrs)
        if v.__class__ is not str:
            v = bucketable(v)
        if v is None:
            if not self.zero:
                return self.on_missing
            b = 0  # an unbucketable attribute lands in bucket 0, as in LaunchDarkly
        else:
            b = (_hash32(self.prefix + v, 0, False) * self.buckets) >> 32
        pairs, last = self.base if self.schedule is None else self.schedule.current()
        for upper, detail in pairs:  # inline, not _pick(): this is the hot path
            if b < upper:
                return detail
        return last


@dataclass(slots=True, eq=False)
class _PeerRollout:
    """A peer system's hash (bucketing.hash), chosen at compile time: see bucketing.py."""

    kind: str
    getter: Callable[[dict[str, Any]], Any]
    text: ValueFn
    bucket: BucketFn
    base: Table
    on_missing: Served  # no bucketing value, unless `zero` (`kind_zero` without the kind)
    zero: bool
    kind_zero: bool
    schedule: _Schedule | None

    def run(self, kinds: Kinds) -> Served:
        """The detail of the bucket range the context falls in, as the peer would place it."""
        attrs = kinds.get(self.kind)
        if attrs is None:
            if not self.kind_zero:
                return self.on_missing
            b = 0
        else:
            v = self.text(self.getter(attrs))
            if v is not None:
                b = self.bucket(v)
            elif self.zero:
                b = 0
            else:
                return self.on_missing
        return _pick(b, self.base if self.schedule is None else self.schedule.current())


class _ByKey:
    """The common rollout (Vexil's hash, by targeting key, no schedule), the walk unrolled."""

    __slots__ = ("buckets", "first", "first_upper", "kind", "last", "missing_key", "pairs",
                 "prefix", "second", "second_upper")

    def __init__(self, kind: str, prefix: str, buckets: int, table: Table,
                 missing_key: Served) -> None:
        self.kind = kind
        self.prefix = prefix
        self.buckets = buckets
        self.missing_key = missing_key
        pairs, last = table
        self.last = last
        if len(pairs) == 2:
            (self.first_upper, self.first), (self.second_upper, self.second) = pairs
            self.pairs: tuple[tuple[int, Served], ...] = ()  # unrolled: not needed
        else:
            self.first_upper, self.first, self.second_upper, self.second = -1, last, -1, last
            self.pairs = pairs

    def run(self, kinds: Kinds) -> Served:
        """The detail of the bucket range the targeting key falls in."""
        attrs = kinds.get(self.kind)
        if attrs is None:
            return self.missing_key
        v = attrs.get("key") or attrs.get("targetingKey") or None  # context.KEY_READ
        if v is None:
            return self.missing_key
        # mmh3.hash is signed; masking gives the unsigned value of the same 32 bits.
        b = ((_hash32(self.prefix + v) & 0xFFFFFFFF) * self.buckets) >> 32
        if self.first_upper >= 0:
            return self.first if b < self.first_upper else (
                self.second if b < self.second_upper else self.last)
        for upper, detail in self.pairs:
            if b < upper:
                return detail
        return self.last


_hash32 = mmh3.hash
