"""Scheduled ramps follow the injected clock; the engine never reads the wall clock."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from edge_reader.engine import Context, Reason, compile_environment
from edge_reader.engine.dates import to_epoch_ms

from .builders import BOOL, doc

STEPS = ["2026-12-01T00:00:00Z", "2026-12-08T00:00:00Z", "2026-12-15T00:00:00Z"]
WEIGHTS = [5_000, 25_000, 100_000]


class FakeClock:
    """A settable clock in seconds since the epoch."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _ramp_env(clock: FakeClock) -> object:
    rollout = {"variations": [{"variation": "on", "weight": 0},
                              {"variation": "off", "weight": 100_000}],
               "schedule": [{"at": at, "weights": [w, 100_000 - w]}
                            for at, w in zip(STEPS, WEIGHTS, strict=True)]}
    return compile_environment(doc({"f": {"kind": "boolean", "variations": dict(BOOL),
                                          "off_variation": "off",
                                          "default": {"rollout": rollout}}}), clock=clock)


def _sec(text: str) -> float:
    ms = to_epoch_ms(text)
    assert ms is not None
    return ms / 1000.0


def _share(env: object, n: int = 2000) -> float:
    on = sum(env.get_boolean("f", Context.from_mapping({"targetingKey": f"u-{i}"}), False)  # type: ignore[attr-defined]
             for i in range(n))
    return on / n


def test_steps_apply_from_their_instant() -> None:
    clock = FakeClock(_sec(STEPS[0]) - 1)
    env = _ramp_env(clock)
    assert _share(env) == 0.0
    clock.now = _sec(STEPS[0])  # inclusive: the step applies at its instant
    assert 0.02 < _share(env) < 0.08
    clock.now = _sec(STEPS[1]) + 3600
    assert 0.20 < _share(env) < 0.30
    clock.now = _sec(STEPS[2]) + 86400 * 365
    assert _share(env) == 1.0
    d = env.evaluate("f", {"targetingKey": "u-1"}, None)  # type: ignore[attr-defined]
    assert d.reason is Reason.SPLIT


@settings(max_examples=50)
@given(st.lists(st.floats(_sec("2026-11-01T00:00:00Z"), _sec("2027-01-01T00:00:00Z")),
                min_size=2, max_size=6), st.text(min_size=1, max_size=20))
def test_ramps_are_monotonic(times: list[float], key: str) -> None:
    """Once a context is in, it stays in as the clock moves forward."""
    clock = FakeClock(0)
    env = _ramp_env(clock)
    seen_in = False
    for t in sorted(times):
        clock.now = t
        now_in = env.get_boolean("f", {"targetingKey": key}, False)  # type: ignore[attr-defined]
        assert now_in or not seen_in
        seen_in = now_in


def test_without_a_clock_schedules_are_ignored_with_a_warning() -> None:
    rollout = {"variations": [{"variation": "on", "weight": 0},
                              {"variation": "off", "weight": 100_000}],
               "schedule": [{"at": "2000-01-01T00:00:00Z", "weights": [100_000, 0]}]}
    flag = {"kind": "boolean", "variations": dict(BOOL), "off_variation": "off",
            "rules": [{"clauses": [], "serve": {"rollout": rollout}}],
            "default": {"rollout": rollout}}
    env = compile_environment(doc({"f": flag}))
    assert [(w.path, w.code) for w in env.warnings] == [
        ("flags.f.rules[0].serve.rollout.schedule", "no_clock"),
        ("flags.f.default", "unreachable_default"),
        ("flags.f.default.rollout.schedule", "no_clock"),
    ]
    assert not env.get_boolean("f", {"targetingKey": "u"}, True)  # base weights: 0 % on
