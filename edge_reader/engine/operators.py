"""Clause operators: a table of compile-time factories.

Each factory receives the clause's ``values`` (and a place to report problems), parses
every literal once, and returns a test ``context_value -> bool`` for ONE scalar context
value. The compiler handles the parts common to all operators (missing attribute → no
match, arrays → any element, ``negate``). A value of the wrong type simply does not match;
no test raises for any input.

Semantics follow LaunchDarkly's operators (docs/flag-format.md has the table):
``in`` is JSON equality with no type coercion; string operators need strings; numeric
operators need numbers (never booleans); semver and date operators parse both sides.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import math
import operator
from collections.abc import Callable
from typing import Any

from ._validate import json_problem
from .dates import to_epoch_ms, to_epoch_ms_cached
from .errors import Problems
from .semver import CACHE as SEMVER_CACHE
from .semver import parse_semver, parse_semver_cached

Test = Callable[[Any], bool]
Factory = Callable[[list[Any], str, Problems], Test]

MAX_PATTERN_LENGTH = 1024  # characters in a `matches` pattern
MAX_MATCH_INPUT = 8192  # context strings longer than this never match `matches`
@functools.cache
def _re2_compile() -> Callable[[str], Any]:
    """``re2.compile`` with our options, importing re2 on first use: only bundles with a
    ``matches`` clause pay for it (2.6 MB of RSS once imported)."""
    import re2  # noqa: PLC0415

    options = re2.Options()
    options.log_errors = False  # a bad pattern is a compile error, not a line on stderr
    return functools.partial(re2.compile, options=options)


def _never(_: Any) -> bool:
    return False


def _is_number(v: Any) -> bool:
    return (v.__class__ is int or v.__class__ is float or isinstance(v, int | float)) and not (
        v is True or v is False
    )


def _canonical(v: Any) -> str:
    """A canonical text for deep JSON equality of objects/arrays.

    Numbers compare as numbers at every depth, as at the top level: an integral float is
    written as the integer it equals (``{"a": 1.0}`` equals ``{"a": 1}``); booleans stay
    booleans (``true`` never equals ``1``).
    """
    return json.dumps(_integral(v), sort_keys=True, separators=(",", ":"), default=repr)


def _integral(v: Any) -> Any:
    """``v`` with every integral float replaced by its int (a new value; ``v`` untouched)."""
    c = v.__class__
    if c is float:
        return int(v) if v.is_integer() else v
    if c is dict or isinstance(v, dict):
        return {k: _integral(x) for k, x in v.items()}
    if c is list or c is tuple or isinstance(v, list):
        return [_integral(x) for x in v]
    return v


# --- equality ----------------------------------------------------------------------------


def op_in(values: list[Any], path: str, problems: Problems) -> Test:
    """Equal (JSON equality, no coercion: ``true`` never equals ``1``) to any value."""
    strs: set[str] = set()
    nums: set[float] = set()
    bools: set[bool] = set()
    deep: set[str] = set()
    for i, v in enumerate(values):
        if v is None:
            problems.warn(f"{path}[{i}]", "null never matches (a null attribute is absent)",
                          "null_value")
        elif v is True or v is False:
            bools.add(v)
        elif isinstance(v, str):
            strs.add(v)
        elif _is_number(v):
            if isinstance(v, float) and not math.isfinite(v):
                problems.error(f"{path}[{i}]", f"{v!r} is not a JSON number", "invalid_value")
            else:
                nums.add(v)
        elif isinstance(v, dict | list):
            problem = json_problem(v)
            if problem is not None:
                problems.error(f"{path}[{i}]", problem, "invalid_value")
            else:
                deep.add(_canonical(v))
        else:
            problems.error(f"{path}[{i}]", f"{v!r} is not a JSON value", "invalid_value")
    fstrs, fnums = frozenset(strs), frozenset(nums)
    fbools, fdeep = frozenset(bools), frozenset(deep)
    if fstrs and not (fnums or fbools or fdeep):

        def in_strings(v: Any) -> bool:
            return isinstance(v, str) and v in fstrs

        in_strings.strings = fstrs  # type: ignore[attr-defined]  # lets the clause inline it
        return in_strings

    def in_any(v: Any) -> bool:
        if isinstance(v, str):
            return v in fstrs
        if v is True or v is False:
            return v in fbools
        if isinstance(v, int | float):
            return v in fnums
        if isinstance(v, dict | list) and fdeep:
            return _canonical(v) in fdeep
        return False

    return in_any


# --- strings -----------------------------------------------------------------------------


def _strings(values: list[Any], path: str, problems: Problems, op: str) -> list[str]:
    out: list[str] = []
    for i, v in enumerate(values):
        if isinstance(v, str):
            out.append(v)
        else:
            problems.warn(f"{path}[{i}]", f"{op} compares strings; {v!r} never matches",
                          "non_string_value")
    return out


def op_starts_with(values: list[Any], path: str, problems: Problems) -> Test:
    """A string context value starting with any string value."""
    prefixes = tuple(_strings(values, path, problems, "starts_with"))
    if not prefixes:
        return _never

    def starts_with(v: Any) -> bool:
        return isinstance(v, str) and v.startswith(prefixes)

    return starts_with


def op_ends_with(values: list[Any], path: str, problems: Problems) -> Test:
    """A string context value ending with any string value."""
    suffixes = tuple(_strings(values, path, problems, "ends_with"))
    if not suffixes:
        return _never

    def ends_with(v: Any) -> bool:
        return isinstance(v, str) and v.endswith(suffixes)

    return ends_with


def op_contains(values: list[Any], path: str, problems: Problems) -> Test:
    """A string context value containing any string value as a substring."""
    needles = tuple(_strings(values, path, problems, "contains"))
    if not needles:
        return _never

    def contains(v: Any) -> bool:
        if not isinstance(v, str):
            return False
        return any(n in v for n in needles)

    return contains


def op_matches(values: list[Any], path: str, problems: Problems, *,
               ignore_case: bool = False) -> Test:
    """A string context value in which any RE2 pattern finds a match (search, not fullmatch).

    ``ignore_case`` compiles every pattern case-insensitively (RE2's ``(?i)`` flag).
    """
    patterns: list[Any] = []
    for i, v in enumerate(values):
        where = f"{path}[{i}]"
        if not isinstance(v, str):
            problems.error(where, f"a pattern must be a string, got {v!r}", "invalid_value")
        elif len(v) > MAX_PATTERN_LENGTH:
            problems.error(where, f"pattern longer than {MAX_PATTERN_LENGTH} characters",
                           "pattern_too_long")
        else:
            try:
                patterns.append(_re2_compile()(f"(?i){v}" if ignore_case else v))
            except Exception as exc:  # re2 raises its own error type for bad syntax
                reason = exc.args[0] if exc.args else exc
                if isinstance(reason, bytes):
                    reason = reason.decode("utf-8", "replace")
                problems.error(where, f"{v!r} is not an RE2 regular expression: {reason}",
                               "invalid_regex")
    if not patterns:
        return _never
    compiled = tuple(patterns)

    def matches(v: Any) -> bool:
        if not isinstance(v, str) or len(v) > MAX_MATCH_INPUT:
            return False
        return any(p.search(v) is not None for p in compiled)

    return matches


# --- numbers -----------------------------------------------------------------------------


def _numbers(values: list[Any], path: str, problems: Problems, op: str) -> list[float]:
    out: list[float] = []
    for i, v in enumerate(values):
        if _is_number(v) and math.isfinite(v):
            out.append(v)
        else:
            problems.warn(f"{path}[{i}]", f"{op} compares numbers; {v!r} never matches",
                          "non_numeric_value")
    return out


def _numeric(op: str, cmp: Callable[[Any, Any], bool], extreme: Callable[..., Any]) -> Factory:
    def factory(values: list[Any], path: str, problems: Problems) -> Test:
        nums = _numbers(values, path, problems, op)
        if not nums:
            return _never
        # "any value satisfies v OP x" equals "v OP (the most permissive x)".
        bound = extreme(nums)

        def numeric(v: Any) -> bool:
            if v.__class__ is int or v.__class__ is float:
                return cmp(v, bound)
            return _is_number(v) and cmp(v, bound)

        return numeric

    factory.__doc__ = f"A number (not a boolean) {op} any numeric value."
    return factory


# --- semantic versions ------------------------------------------------------------------


def _versions(values: list[Any], path: str, problems: Problems) -> list[Any]:
    out = []
    for i, v in enumerate(values):
        parsed = parse_semver(v)
        if parsed is None:
            problems.error(f"{path}[{i}]", f"{v!r} is not a semantic version", "invalid_semver")
        else:
            out.append(parsed)
    return out


def op_semver_eq(values: list[Any], path: str, problems: Problems) -> Test:
    """A version string equal in precedence to any version value (build metadata ignored)."""
    wanted = frozenset(_versions(values, path, problems))
    if not wanted:
        return _never

    def semver_eq(v: Any) -> bool:
        parsed = parse_semver_cached(v)
        return parsed is not None and parsed in wanted

    return semver_eq


def _semver_cmp(cmp: Callable[[Any, Any], bool], extreme: Callable[..., Any], op: str) -> Factory:
    def factory(values: list[Any], path: str, problems: Problems) -> Test:
        versions = _versions(values, path, problems)
        if not versions:
            return _never
        bound = extreme(versions)

        def semver(v: Any) -> bool:
            try:  # the cache dict directly: one call less on the hot path
                parsed = SEMVER_CACHE[v]
            except (KeyError, TypeError):
                parsed = parse_semver_cached(v)
            return parsed is not None and cmp(parsed, bound)

        return semver

    factory.__doc__ = f"A version string {op} any version value by SemVer precedence."
    return factory


# --- dates -------------------------------------------------------------------------------


def _instants(values: list[Any], path: str, problems: Problems) -> list[float]:
    out = []
    for i, v in enumerate(values):
        ms = to_epoch_ms(v)
        if ms is None or not math.isfinite(ms):
            problems.error(f"{path}[{i}]",
                           f"{v!r} is not an RFC 3339 date-time or epoch milliseconds",
                           "invalid_date")
        else:
            out.append(ms)
    return out


def _date_cmp(cmp: Callable[[Any, Any], bool], extreme: Callable[..., Any], op: str) -> Factory:
    def factory(values: list[Any], path: str, problems: Problems) -> Test:
        instants = _instants(values, path, problems)
        if not instants:
            return _never
        bound = extreme(instants)

        def date(v: Any) -> bool:
            ms = to_epoch_ms_cached(v)
            return ms is not None and cmp(ms, bound)

        return date

    factory.__doc__ = f"An instant (RFC 3339 string or epoch ms) {op} any instant value."
    return factory


# --- networks ----------------------------------------------------------------------------

_IP_CACHE: dict[str, Any] = {}
_IP_CACHE_MAX = 4096


def _parse_ip(v: str) -> Any:
    try:
        return _IP_CACHE[v]
    except KeyError:
        pass
    try:
        addr: Any = ipaddress.ip_address(v) if len(v) <= 64 else None
    except ValueError:
        addr = None
    if len(_IP_CACHE) >= _IP_CACHE_MAX:
        _IP_CACHE.clear()
    _IP_CACHE[v] = addr
    return addr


def op_ip_in_cidr(values: list[Any], path: str, problems: Problems) -> Test:
    """An IPv4/IPv6 address string inside any CIDR network value (host bits allowed)."""
    nets: list[Any] = []
    for i, v in enumerate(values):
        try:
            if not isinstance(v, str):
                raise ValueError
            nets.append(ipaddress.ip_network(v, strict=False))
        except ValueError:
            problems.error(f"{path}[{i}]", f"{v!r} is not a CIDR network", "invalid_cidr")
    if not nets:
        return _never
    networks = tuple(nets)

    def ip_in_cidr(v: Any) -> bool:
        if not isinstance(v, str):
            return False
        addr = _parse_ip(v)
        if addr is None:
            return False
        return any(addr.version == n.version and addr in n for n in networks)

    return ip_in_cidr


_lt, _lte, _gt, _gte = operator.lt, operator.le, operator.gt, operator.ge


# Value-testing operators. `not_in` is `in` with negate flipped, `exists` and
# `segment_match` are handled by the compiler (they do not test one value).
FACTORIES: dict[str, Factory] = {
    "in": op_in,
    "equals": op_in,
    "starts_with": op_starts_with,
    "ends_with": op_ends_with,
    "contains": op_contains,
    "matches": op_matches,
    "lt": _numeric("<", _lt, max),
    "lte": _numeric("<=", _lte, max),
    "gt": _numeric(">", _gt, min),
    "gte": _numeric(">=", _gte, min),
    "semver_eq": op_semver_eq,
    "semver_lt": _semver_cmp(_lt, max, "<"),
    "semver_lte": _semver_cmp(_lte, max, "<="),
    "semver_gt": _semver_cmp(_gt, min, ">"),
    "semver_gte": _semver_cmp(_gte, min, ">="),
    "before": _date_cmp(_lt, max, "before"),
    "after": _date_cmp(_gt, min, "after"),
    "ip_in_cidr": op_ip_in_cidr,
}
SPECIAL = frozenset({"not_in", "exists", "segment_match", "in_bucket"})
NUMERIC = frozenset({"lt", "lte", "gt", "gte"})

# LaunchDarkly's names, accepted as aliases.
ALIASES: dict[str, str] = {
    "startsWith": "starts_with",
    "endsWith": "ends_with",
    "lessThan": "lt",
    "lessThanOrEqual": "lte",
    "greaterThan": "gt",
    "greaterThanOrEqual": "gte",
    "semVerEqual": "semver_eq",
    "semVerLessThan": "semver_lt",
    "semVerGreaterThan": "semver_gt",
    "semVerLessThanOrEqual": "semver_lte",
    "semVerGreaterThanOrEqual": "semver_gte",
    "segmentMatch": "segment_match",
    "notIn": "not_in",
    "ipInCidr": "ip_in_cidr",
}
OPERATORS = frozenset(FACTORIES) | SPECIAL


def canonical_operator(name: object) -> str | None:
    """The canonical operator name for ``name`` (aliases resolved), or None if unknown."""
    if not isinstance(name, str):
        return None
    name = ALIASES.get(name, name)
    return name if name in OPERATORS else None
