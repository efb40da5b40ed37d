"""Deferred (lazy) compilation answers exactly as eager compilation, flag by flag.

``compile_environment(doc, strict=False, lazy=True)`` compiles a flag on its first use
(engine/_lazy.py). Property: for every document of the differential corpus (valid and
broken), the demo, the golden environment and the benchmark's, and for every flag and
corpus context, in a shuffled order, the lazy environment gives the eager one's details,
typed values, flag infos, errors, warnings and metadata — and keeps nothing of the document.
"""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from edge_reader.bundle import decode_bundle_document, encode_bundle_document
from edge_reader.engine import CompiledEnvironment, CompileError, compile_environment
from edge_reader.engine._lazy import LazyEnvironment
from loadtests import bench_eval
from vexil.devstack.demo import demo_file

from .corpus import CLOCK, contexts, read
from .graph import kept_from
from .test_memory import EVERYTHING, GOLDEN

CORPUS = [line["doc"] for line in read()]
NAMED: dict[str, Any] = {
    "demo": demo_file("production").to_document(),
    "golden": GOLDEN["environment"],
    "every-operator": EVERYTHING,
    "bench": bench_eval.build_document(random.Random(3), [f"u{i}" for i in range(100)], 20),
}
GETTERS = (("get_boolean", False), ("get_string", "d"), ("get_integer", -1),
           ("get_float", -0.5), ("get_object", {"d": 1}))


def _parsed(doc: Any) -> Any:
    """The document as a reader gets it (canonical JSON, decoded); junk stays junk."""
    try:
        return decode_bundle_document(encode_bundle_document(doc))
    except Exception:
        return doc


def _compile(doc: Any, lazy: bool, clock: Any) -> CompiledEnvironment | str:
    try:
        return compile_environment(_parsed(doc), strict=False, clock=clock, lazy=lazy)
    except CompileError as exc:
        return str(exc)


def _observe(env: CompiledEnvironment, order: list[str]) -> dict[str, Any]:
    """Everything a caller can see, asking for the flags in ``order``."""
    seen: dict[str, Any] = {}
    for key in order:
        for ctx in contexts():
            seen[f"{key} {ctx}"] = env.evaluate(key, ctx, "DFLT")
            for name, default in GETTERS:
                seen[f"{key} {ctx} {name}"] = getattr(env, name)(key, ctx, default)
        seen[f"{key} info"] = env.flag_info(key)
    seen["keys"] = env.flag_keys
    seen["metadata"] = dict(env.metadata)
    seen["errors"] = env.errors
    seen["warnings"] = env.warnings
    return seen


def _check(doc: Any, seed: int) -> None:
    for clock in (lambda: CLOCK, None):
        eager, lazy = _compile(doc, False, clock), _compile(doc, True, clock)
        if isinstance(eager, str) or isinstance(lazy, str):
            assert lazy == eager
            continue
        order = sorted(eager.flag_keys)
        random.Random(seed).shuffle(order)
        assert _observe(lazy, [*order, "missing"]) == _observe(eager, [*order, "missing"])


@pytest.mark.parametrize("index", range(0, len(CORPUS)))
def test_lazy_compilation_answers_as_eager_on_the_corpus(index: int) -> None:
    _check(CORPUS[index], index)


@pytest.mark.parametrize("name", sorted(NAMED))
def test_lazy_compilation_answers_as_eager_on_real_documents(name: str) -> None:
    _check(NAMED[name], 1)


def test_flags_compile_on_first_use_only() -> None:
    env = compile_environment(_parsed(NAMED["bench"]), strict=False, lazy=True)
    assert isinstance(env, LazyEnvironment)
    total = env.deferred_flags
    assert total == len(env.flag_keys)
    assert env.get_boolean("w2", {"targetingKey": "u", "country": "DE"}, False) is True
    assert env.deferred_flags == total - 1
    assert env.get_boolean("w2", {"targetingKey": "u", "country": "US"}, True) is False
    assert env.deferred_flags == total - 1
    assert env.flag_info("w3") is not None
    assert env.deferred_flags == total - 2
    assert env.errors == []
    assert env.deferred_flags == total - 2  # errors come from a separate compilation


def test_flags_with_prerequisites_compile_at_load() -> None:
    doc = _parsed(NAMED["golden"])
    env = compile_environment(doc, strict=False, lazy=True)
    assert isinstance(env, LazyEnvironment)
    with_prereqs = {k for k, f in doc["flags"].items() if f.get("prerequisites")}
    assert with_prereqs
    assert env.deferred_flags == len(env.flag_keys) - len(with_prereqs)


def test_strict_and_python_only_documents_compile_eagerly() -> None:
    doc = _parsed(NAMED["bench"])
    assert not isinstance(compile_environment(doc, strict=True, lazy=True), LazyEnvironment)
    doc["flags"]["w1"]["tags"] = ("a", "b")  # a tuple: marshal keeps it, JSON never has one
    env = compile_environment(doc, strict=False, lazy=True)
    assert isinstance(env, LazyEnvironment)
    doc["flags"]["w1"]["tags"] = {"a"}.__class__(["a"])
    doc["flags"]["w1"]["description"] = type("S", (str,), {})("a str subclass")
    env = compile_environment(doc, strict=False, lazy=True)
    assert not isinstance(env, LazyEnvironment)  # marshal refuses it: compiled eagerly
    assert env.flag_info("w1") is not None


@pytest.mark.parametrize("name", ["every-operator", "golden"])
def test_a_lazy_environment_keeps_no_object_of_the_document(name: str) -> None:
    parsed = _parsed(NAMED[name])
    env = compile_environment(parsed, strict=False, clock=lambda: CLOCK, lazy=True)
    assert kept_from(parsed, env) == []
    for key in env.flag_keys:  # compiled on first use: still nothing of the document
        env.evaluate(key, contexts()[0], None)
    assert kept_from(parsed, env) == []


def _evaluate_all(env: CompiledEnvironment, barrier: threading.Barrier,
                  out: list[dict[tuple[str, int], Any]]) -> None:
    barrier.wait()  # every thread asks for the same uncompiled flags at the same moment
    out.append({(k, i): env.evaluate(k, c, "D") for k in sorted(env.flag_keys)
                for i, c in enumerate(contexts())})


def test_threads_compiling_the_same_flags_all_get_the_right_answer() -> None:
    doc = _parsed(NAMED["every-operator"])
    eager = compile_environment(doc, strict=False, clock=lambda: CLOCK)
    want = {(k, i): eager.evaluate(k, c, "D") for k in eager.flag_keys
            for i, c in enumerate(contexts())}
    for _ in range(20):
        lazy = compile_environment(_parsed(doc), strict=False, clock=lambda: CLOCK, lazy=True)
        barrier = threading.Barrier(6)
        got: list[dict[tuple[str, int], Any]] = []
        threads = [threading.Thread(target=_evaluate_all, args=(lazy, barrier, got))
                   for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(got) == 6
        assert all(g == want for g in got)
