"""The public surface of edge_reader.engine is small and pinned."""

from __future__ import annotations

from edge_reader import engine
from edge_reader.engine import ENGINE_VERSION, FORMAT_VERSION, compile_environment

from .builders import BOOL, doc, flag


def test_public_names_are_pinned() -> None:
    assert sorted(engine.__all__) == sorted([
        "ENGINE_VERSION", "FORMAT_VERSION", "CompileError", "CompiledEnvironment", "Context",
        "ErrorCode", "EvaluationDetail", "FlagInfo", "Problem", "Reason", "compile_environment",
    ])
    for name in engine.__all__:
        assert hasattr(engine, name)


def test_versions() -> None:
    assert ENGINE_VERSION == "1"
    assert FORMAT_VERSION == 1


def test_environment_exposes_metadata_keys_and_info() -> None:
    d = doc({"a": flag(description="A", tags=["x"], client_visible=True, version=3),
             "b": flag()},
            format=1, project="shop", environment="prod", revision=42, scope="server")
    env = compile_environment(d)
    assert env.metadata == {"format": 1, "project": "shop", "environment": "prod",
                            "revision": 42, "scope": "server"}
    assert env.flag_keys == frozenset({"a", "b"})
    info = env.flag_info("a")
    assert info is not None
    assert (info.kind, info.tags, info.client_visible, info.version, info.description) == (
        "boolean", ("x",), True, 3, "A")
    assert env.flag_info("missing") is None
    assert env.errors == []


def test_details_are_frozen_and_prebuilt() -> None:
    env = compile_environment(doc({"a": flag(variations=BOOL, default="on")}))
    first = env.evaluate("a", {"targetingKey": "u"}, False)
    second = env.evaluate("a", {"targetingKey": "v"}, False)
    assert first is second  # no allocation on the success path
    try:
        first.value = 3  # type: ignore[misc]
    except AttributeError:
        pass
    else:
        raise AssertionError("EvaluationDetail must be frozen")
