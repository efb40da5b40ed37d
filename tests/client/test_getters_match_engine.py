"""FlagClient's getters return exactly what the engine's getters return.

The client calls the served snapshot's compiled getters directly (one frame, see
``_client._getter``) and hands a plain dict context to the engine as it is; these tests pin
that nothing is lost on the way: value, variant, reason, error code and message, metadata —
for the benchmark's workloads W1–W6, for every flag kind, and for invalid contexts.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from edge_reader.bundle import encode_bundle_document
from edge_reader.client import FlagClient
from edge_reader.engine import CompiledEnvironment, Context, ErrorCode
from loadtests import bench_eval

KINDS: dict[str, dict[str, Any]] = {
    "string": {"a": "alpha", "b": "beta"}, "number": {"i": 3, "f": 2.5},
    "json": {"o": {"limits": [1, 2]}, "l": [1, "x"]}}
INVALID: list[Any] = [{"targetingKey": 3}, {"key": "a", "targetingKey": "b"}, {"kind": ""},
                      {"kind": "multi"}, {1: "x"}, {"targetingKey": "u", 2.5: 1}, [], "ctx", 42]
GETTERS = ["boolean", "string", "integer", "float", "object"]
DEFAULTS: dict[str, Any] = {"boolean": False, "string": "d", "integer": -1, "float": -0.5,
                            "object": {"d": 1}}


def _document(rng: random.Random, keys: list[str]) -> dict[str, Any]:
    doc = bench_eval.build_document(rng, keys, segment_size=50)
    for kind, variations in KINDS.items():
        names = list(variations)
        doc["flags"][f"k-{kind}"] = {
            "kind": kind, "variations": variations, "metadata": {"team": kind},
            "rules": [{"id": "de", "clauses": [
                {"attribute": "country", "op": "in", "values": ["DE"]}],
                "serve": {"variation": names[0]}}],
            "default": {"rollout": {"variations": [{"variation": n, "weight": 50_000}
                                                   for n in names]}}}
    doc["flags"]["disabled"] = {"kind": "boolean", "variations": {"on": True}, "enabled": False,
                                "default": {"variation": "on"}}
    return doc


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[tuple[FlagClient, CompiledEnvironment, list[dict[str, Any]]]]:
    rng = random.Random(7)
    mappings = bench_eval.build_mappings(rng, 300)
    mappings += [{"country": "DE"}, {"targetingKey": "", "country": "DE"}, {}]
    doc = _document(rng, [m["targetingKey"] for m in mappings[:300]])
    path = Path(tmp_path_factory.mktemp("boot")) / "doc.json"
    path.write_bytes(encode_bundle_document(doc))
    with FlagClient(project="shop", environment="prod", mode="offline",
                    bootstrap_file=path) as client:
        snap = client.snapshot()
        assert snap is not None
        yield client, snap.env, mappings


def _flags(env: CompiledEnvironment) -> list[str]:
    return ["w1", "w2", "w3", "w4", "w5", "w6-17", *sorted(k for k in env.flag_keys
                                                          if not k.startswith("w")), "nope"]


def test_every_getter_answers_as_the_engine(
        served: tuple[FlagClient, CompiledEnvironment, list[dict[str, Any]]]) -> None:
    client, env, mappings = served
    for key in _flags(env):
        for mapping in mappings:
            ctx = Context.from_mapping(MappingProxyType(mapping))  # the full normalisation
            for name in GETTERS:
                default = DEFAULTS[name]
                want = getattr(env, f"get_{name}_details")(key, ctx, default)
                got = getattr(client, f"get_{name}_details")(key, dict(mapping), default)
                assert got == want, (key, mapping, name)
                value = getattr(client, f"get_{name}")(key, dict(mapping), default)
                assert value == getattr(env, f"get_{name}")(key, ctx, default) == want.value
                assert type(value) is type(want.value)


def test_invalid_contexts_answer_as_the_engine(
        served: tuple[FlagClient, CompiledEnvironment, list[dict[str, Any]]]) -> None:
    client, env, _ = served
    for key in _flags(env):
        for bad in INVALID:
            for name in GETTERS:
                default = DEFAULTS[name]
                want = getattr(env, f"get_{name}_details")(key, bad, default)
                got = getattr(client, f"get_{name}_details")(key, bad, default)
                assert got == want, (key, bad, name)
                if key != "nope":
                    assert got.error_code is ErrorCode.INVALID_CONTEXT
                assert getattr(client, f"get_{name}")(key, bad, default) == default


def test_a_missing_context_is_the_empty_context(
        served: tuple[FlagClient, CompiledEnvironment, list[dict[str, Any]]]) -> None:
    client, env, _ = served
    for key in _flags(env):
        assert client.get_boolean_details(key, None, True) == env.get_boolean_details(
            key, {}, True)
        assert client.get_string(key, None, "d") == env.get_string(key, {}, "d")


def test_not_ready_getters_serve_the_default(tmp_path: Path) -> None:
    with FlagClient(project="shop", environment="prod", mode="offline",
                    bootstrap_file=tmp_path / "missing.json") as client:
        assert client.get_boolean("w1", {"targetingKey": "u"}, True) is True
        assert client.get_object("w1", None, {"d": 1}) == {"d": 1}
        d = client.get_string_details("w1", {}, "x")
        assert (d.value, d.error_code) == ("x", ErrorCode.PROVIDER_NOT_READY)


def test_with_insights_on_value_getters_answer_and_count_as_details_getters(
        served: tuple[FlagClient, CompiledEnvironment, list[dict[str, Any]]]) -> None:
    """With summaries on, a value getter takes the compiled run's detail (``detail_of``) and
    derives the value itself: the same value as the engine's value getter, and the same
    (flag, variant, reason) counts as the details getters — type mismatches, missing flags,
    invalid contexts and disabled flags included."""
    from edge_reader.client._insights import Insights

    client, env, mappings = served
    tables = [Insights(url="http://127.0.0.1:9/x", sdk_key_text="k", project="p",
                       environment="e") for _ in range(2)]
    contexts: list[Any] = [*mappings[::7], *INVALID, None]
    try:
        for table, suffix in zip(tables, ("", "_details"), strict=True):
            client._insights = table
            for key in _flags(env):
                for ctx in contexts:
                    for name in GETTERS:
                        default = DEFAULTS[name]
                        got = getattr(client, f"get_{name}{suffix}")(key, ctx, default)
                        want = getattr(env, f"get_{name}{suffix}")(
                            key, {} if ctx is None else ctx, default)
                        assert got == want, (key, ctx, name, suffix)
                        if not suffix:
                            assert type(got) is type(want)
    finally:
        client._insights = None
    by_value, by_detail = (t.take_window().counters() for t in tables)
    assert by_value == by_detail
    reasons = {reason for (_, _, reason) in by_value}
    assert {"ERROR", "DISABLED", "SPLIT", "TARGETING_MATCH", "STATIC"} <= reasons
    assert sum(by_value.values()) == len(_flags(env)) * len(contexts) * len(GETTERS)
