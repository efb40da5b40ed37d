"""Builders for flag documents and contexts, so each test states only what it is about."""

from __future__ import annotations

from typing import Any

from edge_reader.engine import CompiledEnvironment, Context, compile_environment

BOOL = {"on": True, "off": False}


def clause(attribute: str, op: str, *values: Any, negate: bool = False,
           kind: str | None = None) -> dict[str, Any]:
    """One clause; ``kind`` sets context_kind."""
    c: dict[str, Any] = {"attribute": attribute, "op": op, "values": list(values)}
    if negate:
        c["negate"] = True
    if kind is not None:
        c["context_kind"] = kind
    return c


def rule(*clauses: dict[str, Any], serve: str = "on", rule_id: str | None = None,
         rollout: dict[str, Any] | None = None) -> dict[str, Any]:
    """A rule serving a variation (or a rollout)."""
    r: dict[str, Any] = {"clauses": list(clauses),
                         "serve": {"rollout": rollout} if rollout else {"variation": serve}}
    if rule_id is not None:
        r["id"] = rule_id
    return r


def flag(*rules: dict[str, Any], kind: str = "boolean", variations: dict[str, Any] | None = None,
         default: str = "off", **extra: Any) -> dict[str, Any]:
    """A flag (boolean on/off unless told otherwise) with ``rules`` and a fixed default."""
    f: dict[str, Any] = {"kind": kind, "variations": dict(variations or BOOL),
                         "default": {"variation": default}}
    if rules:
        f["rules"] = list(rules)
    f.update(extra)
    return f


def doc(flags: dict[str, Any], segments: dict[str, Any] | None = None,
        **top: Any) -> dict[str, Any]:
    """An environment document."""
    d: dict[str, Any] = {"flags": flags, "segments": segments or {}}
    d.update(top)
    return d


def compile_one(f: dict[str, Any], segments: dict[str, Any] | None = None,
                **kwargs: Any) -> CompiledEnvironment:
    """Compile a document holding one flag, ``f``, under the key ``f``."""
    return compile_environment(doc({"f": f}, segments), **kwargs)


def matches(c: dict[str, Any], ctx: dict[str, Any], segments: dict[str, Any] | None = None,
            ) -> bool:
    """Does a rule with the single clause ``c`` match ``ctx``?"""
    env = compile_one(flag(rule(c)), segments, strict=False)
    d = env.evaluate("f", Context.from_mapping(ctx), None)
    assert d.error_code is None, d
    return d.variant == "on"


def user(key: str | None = "u-1", **attrs: Any) -> dict[str, Any]:
    """A single-kind user context."""
    c: dict[str, Any] = dict(attrs)
    if key is not None:
        c["targetingKey"] = key
    return c
