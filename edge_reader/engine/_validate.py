"""Small field readers that report a Problem (with its path) instead of raising."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeGuard

from .errors import Problems
from .keys import KEY_RE, KIND_RE, VARIANT_RE
from .limits import MAX_JSON_DEPTH

# Re-exported: the compiler and clause parsers import them from here.
__all__ = ["KEY_RE", "KIND_RE", "MAX_JSON_DEPTH", "VARIANT_RE"]


def type_name(v: object) -> str:
    """The JSON name of ``v``'s type, for messages."""
    if v is None:
        return "null"
    if v is True or v is False:
        return "boolean"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, Mapping):
        return "object"
    return type(v).__name__


def did_you_mean(word: object, choices: Iterable[object]) -> str:
    """`` (did you mean 'x'?)`` naming the closest of ``choices`` to ``word``, or ``""``.

    The one owner of suggestions in compile messages, so the API's 400 answers and
    ``vexil plan`` suggest the same names. Only close matches are offered (difflib's ratio
    ≥ 0.75, plus a case-insensitive exact match) — a wrong guess is worse than none.
    """
    if not isinstance(word, str) or not word:
        return ""
    names = sorted({c for c in choices if isinstance(c, str) and c != word})
    folded = [c for c in names if c.lower() == word.lower()]
    close = folded or difflib.get_close_matches(word, names, n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_fields(
    obj: Mapping[Any, Any], path: str, allowed: frozenset[str], required: tuple[str, ...],
    problems: Problems,
) -> None:
    """Report every unknown field and every missing required field of ``obj``."""
    for name in obj:
        if name not in allowed:
            problems.error(_join(path, name),
                           f"unknown field {name!r}{did_you_mean(name, allowed)}",
                           "unknown_field")
    for name in required:
        if name not in obj:
            problems.error(_join(path, name), "is required", "required")


def _join(path: str, name: object) -> str:
    return f"{path}.{name}" if path else str(name)


def get_mapping(
    obj: Mapping[str, Any], name: str, path: str, problems: Problems,
) -> Mapping[str, Any] | None:
    """``obj[name]`` if it is an object, else None (reporting a wrong type)."""
    v = obj.get(name)
    if v is None:
        return None
    if not isinstance(v, Mapping):
        problems.error(_join(path, name), f"must be an object, got {type_name(v)}", "type")
        return None
    return v


def get_list(obj: Mapping[str, Any], name: str, path: str, problems: Problems) -> list[Any]:
    """``obj[name]`` if it is an array, else [] (reporting a wrong type)."""
    v = obj.get(name)
    if v is None:
        return []
    if not isinstance(v, list):
        problems.error(_join(path, name), f"must be an array, got {type_name(v)}", "type")
        return []
    return v


def get_str(
    obj: Mapping[str, Any], name: str, path: str, problems: Problems, *,
    pattern: re.Pattern[str] | None = None, max_length: int = 4096,
) -> str | None:
    """``obj[name]`` if it is a string (matching ``pattern``), else None (reporting why)."""
    v = obj.get(name)
    if v is None:
        return None
    where = _join(path, name)
    if not isinstance(v, str):
        problems.error(where, f"must be a string, got {type_name(v)}", "type")
        return None
    if len(v) > max_length:
        problems.error(where, f"longer than {max_length} characters", "too_long")
        return None
    if pattern is not None and not pattern.fullmatch(v):
        problems.error(where, f"{v!r} does not match {pattern.pattern}", "pattern")
        return None
    return v


def get_bool(obj: Mapping[str, Any], name: str, path: str, problems: Problems,
             default: bool) -> bool:
    """``obj[name]`` if it is a boolean, else ``default`` (reporting a wrong type)."""
    v = obj.get(name)
    if v is None:
        return default
    if v is not True and v is not False:
        problems.error(_join(path, name), f"must be a boolean, got {type_name(v)}", "type")
        return default
    return bool(v)


def get_int(obj: Mapping[str, Any], name: str, path: str, problems: Problems, *,
            minimum: int = 0, maximum: int | None = None) -> int | None:
    """``obj[name]`` if it is an integer in range, else None (reporting why)."""
    v = obj.get(name)
    if v is None:
        return None
    where = _join(path, name)
    if isinstance(v, bool) or not isinstance(v, int):
        problems.error(where, f"must be an integer, got {type_name(v)}", "type")
        return None
    if v < minimum or (maximum is not None and v > maximum):
        upper = "" if maximum is None else f" and <= {maximum}"
        problems.error(where, f"must be >= {minimum}{upper}, got {v}", "range")
        return None
    return v


def get_str_list(obj: Mapping[str, Any], name: str, path: str, problems: Problems) -> list[str]:
    """``obj[name]`` as a list of strings; wrong elements are reported and dropped."""
    out: list[str] = []
    for i, v in enumerate(get_list(obj, name, path, problems)):
        if isinstance(v, str):
            out.append(v)
        else:
            problems.error(f"{_join(path, name)}[{i}]", f"must be a string, got {type_name(v)}",
                           "type")
    return out


def is_object(
    item: object, where: str, problems: Problems, allowed: frozenset[str],
    required: tuple[str, ...],
) -> TypeGuard[Mapping[str, Any]]:
    """Is ``item`` (an array element at ``where``) an object? Reports it if not, and its
    unknown and missing fields if so."""
    if not isinstance(item, Mapping):
        problems.error(where, f"must be an object, got {type_name(item)}", "type")
        return False
    check_fields(item, where, allowed, required, problems)
    return True


def json_problem(v: object, depth: int = 0) -> str | None:
    """Why ``v`` is not a plain JSON value (None if it is)."""
    if depth > MAX_JSON_DEPTH:
        return f"nested deeper than {MAX_JSON_DEPTH} levels"
    if v is None or v is True or v is False or isinstance(v, str):
        return None
    if isinstance(v, int | float):
        return None if math.isfinite(v) else f"{v!r} is not a JSON number"
    if isinstance(v, list):
        for item in v:
            problem = json_problem(item, depth + 1)
            if problem is not None:
                return problem
        return None
    if isinstance(v, Mapping):
        for k, item in v.items():
            if not isinstance(k, str):
                return f"object key {k!r} is not a string"
            problem = json_problem(item, depth + 1)
            if problem is not None:
                return problem
        return None
    return f"{type(v).__name__} is not a JSON type"
