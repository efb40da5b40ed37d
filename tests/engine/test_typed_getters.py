"""Typed getters check the served value's type and fall back to the caller's default."""

from __future__ import annotations

from edge_reader.engine import ErrorCode, Reason

from .builders import compile_one, flag, user


def _num(value: object) -> object:
    return compile_one(flag(kind="number", variations={"v": value}, default="v"))


def test_boolean() -> None:
    env = compile_one(flag(default="on"))
    assert env.get_boolean("f", user(), False) is True
    assert env.get_string("f", user(), "s") == "s"
    d = env.get_string_details("f", user(), "s")
    assert (d.value, d.variant, d.reason, d.error_code) == ("s", None, Reason.ERROR,
                                                            ErrorCode.TYPE_MISMATCH)
    assert env.get_boolean("missing", user(), True) is True


def test_integer_rejects_bool_and_non_integral_floats() -> None:
    assert compile_one(flag(kind="number", variations={"v": 3}, default="v")).get_integer(
        "f", user(), 0) == 3
    env = compile_one(flag(kind="number", variations={"v": 3.0}, default="v"))
    assert env.get_integer("f", user(), 0) == 3
    assert type(env.get_integer("f", user(), 0)) is int
    assert compile_one(flag(kind="number", variations={"v": 3.5}, default="v")).get_integer(
        "f", user(), 0) == 0
    env = compile_one(flag(default="on"))
    assert env.get_integer("f", user(), 0) == 0
    assert env.get_integer_details("f", user(), 0).error_code is ErrorCode.TYPE_MISMATCH


def test_float_accepts_int() -> None:
    env = compile_one(flag(kind="number", variations={"v": 2}, default="v"))
    assert env.get_float("f", user(), 0.5) == 2.0
    assert type(env.get_float("f", user(), 0.5)) is float
    d = env.get_float_details("f", user(), 0.5)
    assert (d.value, d.variant) == (2.0, "v")
    assert compile_one(flag(default="on")).get_float("f", user(), 0.5) == 0.5


def test_string() -> None:
    env = compile_one(flag(kind="string", variations={"a": "alpha"}, default="a"))
    assert env.get_string("f", user(), "z") == "alpha"
    assert env.get_boolean("f", user(), False) is False


def test_object_is_a_private_copy() -> None:
    env = compile_one(flag(kind="json", variations={"a": {"limits": [1, 2]}}, default="a"))
    got = env.get_object("f", user(), {})
    assert got == {"limits": [1, 2]}
    got["limits"].append(3)
    assert env.get_object("f", user(), {}) == {"limits": [1, 2]}
    scalar = compile_one(flag(kind="json", variations={"a": 5}, default="a"))
    assert scalar.get_object("f", user(), {"d": 1}) == {"d": 1}
    assert scalar.get_object_details("f", user(), None).error_code is ErrorCode.TYPE_MISMATCH


def test_error_details_keep_the_callers_default() -> None:
    env = compile_one(flag(default="on"))
    d = env.get_boolean_details("nope", user(), True)
    assert (d.value, d.error_code) == (True, ErrorCode.FLAG_NOT_FOUND)
    d = env.get_boolean_details("f", 42, False)  # type: ignore[arg-type]
    assert (d.value, d.error_code) == (False, ErrorCode.INVALID_CONTEXT)
