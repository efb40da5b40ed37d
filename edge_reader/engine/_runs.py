"""The shapes a compiled flag takes: ``kinds -> EvaluationDetail`` callables.

Each shape is a small slotted object and the compiled flag is its bound ``run`` method,
rather than a closure. In CPython 3.11 both call as fast (measured: a bound method call is
specialised like a function call, and a slot read costs what a cell read does), but a
closure over n values is a function, n cells and a tuple (192 + 48n bytes, n + 2 objects
for the garbage collector) where a bound method and its object are 96 + 8n bytes, 2 objects. With
10,000 flags this is megabytes, and the collector's first pass after compiling walks
fewer objects.

Every ``run`` returns a prebuilt detail; none allocates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .context import Kinds
from .detail import EvaluationDetail, Reason

Run = Callable[[Kinds], EvaluationDetail]
Match = Callable[[Kinds], bool]
RuleRun = Callable[[Kinds], EvaluationDetail | None]  # a rule's rollout: None for a gap


# eq=False on every shape: a run is compared (and hashed) by identity, like a closure.
@dataclass(slots=True, eq=False)
class Constant:
    """A flag without targeting, or disabled: always the same detail."""

    detail: EvaluationDetail

    def run(self, _: Kinds) -> EvaluationDetail:
        """The detail."""
        return self.detail


@dataclass(slots=True, eq=False)
class OneRule:
    """The commonest targeted flag: one rule serving a fixed variation, a fixed default."""

    cond: Match
    hit: EvaluationDetail
    default: EvaluationDetail

    def run(self, kinds: Kinds) -> EvaluationDetail:
        """``hit`` if the rule matches, else ``default``."""
        return self.hit if self.cond(kinds) else self.default


@dataclass(slots=True, eq=False)
class FixedRules:
    """Rules serving fixed variations and a fixed default (no targets, no prerequisites)."""

    rules: tuple[tuple[Match, EvaluationDetail], ...]
    default: EvaluationDetail

    def run(self, kinds: Kinds) -> EvaluationDetail:
        """The first matching rule's detail, else ``default``."""
        for cond, hit in self.rules:
            if cond(kinds):
                return hit
        return self.default


@dataclass(slots=True, eq=False)
class PrerequisiteTest:
    """A prerequisite other than "serves variation V": any of several variations, or "is
    off" (``variants`` None: the flag evaluates with reason DISABLED), maybe negated."""

    variants: frozenset[str] | None
    negate: bool

    def holds(self, detail: EvaluationDetail) -> bool:
        """Does the prerequisite flag's ``detail`` satisfy this prerequisite?"""
        if self.variants is None:
            return (detail.reason is Reason.DISABLED) is not self.negate
        return (detail.variant in self.variants) is not self.negate


@dataclass(slots=True, eq=False)
class Noted:
    """A flag with clauses this engine could not read (they never match): every detail it
    serves says so in ``error_message`` (reason unchanged)."""

    inner: Run
    message: str
    cache: dict[int, tuple[EvaluationDetail, EvaluationDetail]]  # id(detail) -> (it, noted)

    def run(self, kinds: Kinds) -> EvaluationDetail:
        """The inner run's detail, with the note (built once per detail, then reused)."""
        detail = self.inner(kinds)
        got = self.cache.get(id(detail))
        if got is None or got[0] is not detail:
            message = (self.message if detail.error_message is None
                       else f"{detail.error_message}; {self.message}")
            got = (detail, EvaluationDetail(detail.value, detail.variant, detail.reason,
                                            detail.error_code, message, detail.rule_index,
                                            detail.rule_id, detail.flag_metadata))
            self.cache[id(detail)] = got  # keeps `detail` alive: its id stays unique
        return got[1]


@dataclass(slots=True, eq=False)
class Flag:
    """The general shape: prerequisites → targets → rules → default."""

    runs: Mapping[str, Run]  # filled once the whole document is compiled
    prereqs: tuple[tuple[str, str | PrerequisiteTest], ...]
    targets: tuple[tuple[str, Mapping[str, EvaluationDetail]], ...]
    rules: tuple[tuple[Match, EvaluationDetail | None, RuleRun | None], ...]
    default_run: Run
    off_detail: EvaluationDetail | None

    def run(self, kinds: Kinds) -> EvaluationDetail:
        """Evaluate in LaunchDarkly's order; every exit is a prebuilt detail."""
        if self.prereqs:
            runs = self.runs
            for other, wanted in self.prereqs:
                # `runs` is filled once the whole document is compiled; a broken or cyclic
                # prerequisite serves variant None (reason ERROR), so the prerequisite
                # simply fails (a negated one holds).
                detail = runs[other](kinds)
                if wanted.__class__ is str:
                    if detail.variant != wanted:
                        return self.off_detail  # type: ignore[return-value]  # set with prereqs
                elif not wanted.holds(detail):  # type: ignore[union-attr]
                    return self.off_detail  # type: ignore[return-value]
        for target_kind, table in self.targets:
            attrs = kinds.get(target_kind)
            if attrs is not None:
                # context.KEY_READ: a plain view keeps the key under "targetingKey"
                hit = table.get(attrs.get("key") or attrs.get("targetingKey") or None)  # type: ignore[arg-type]
                if hit is not None:
                    return hit
        for cond, hit, rollout in self.rules:
            if cond(kinds):
                if rollout is None:
                    return hit  # type: ignore[return-value]  # set when there is no rollout
                served = rollout(kinds)
                if served is not None:  # None: a gap of the rollout, try the next rule
                    return served
        return self.default_run(kinds)
