"""Clauses, rule conditions and segments, compiled into ``kinds -> bool`` closures.

Common clause semantics (LaunchDarkly's): the clause reads one attribute of one context
kind (default ``user``). If that kind is absent, or the attribute is absent or null, the
clause does not match and ``negate`` is NOT applied. If the attribute is an array, the
clause matches when any element matches. Otherwise the operator's test decides, and
``negate`` inverts the result. ``exists`` and ``segment_match`` are the documented
exceptions (they apply ``negate`` to their own answer).

Additions (issue 17, each an engine feature, each compiled only where written so a plain
clause keeps its closure): groups ``{"any": [...]}``, ``{"all": [...]}``, ``{"not": C}``
nest anywhere a clause stands; ``case_insensitive`` folds strings with ``str.lower()``;
``when_absent`` gives the result for a missing kind/attribute (no ``negate`` on top);
``now`` tests the compiler clock's instant (epoch ms) instead of an attribute; ``semver``
names another version syntax for the semver operators (``flagd``); ``in_bucket`` tests the
context's bucket under a peer's hash (bucketing.py). In a lenient
(reader) compilation a clause using something only a newer engine knows never matches and
is reported once (``_degrade``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from ._fresh import Fresh
from ._rollout import Clock
from ._rollout import _bucketing as rollout_bucketing  # one reader of `bucketing` objects
from ._validate import (
    KEY_RE,
    KIND_RE,
    check_fields,
    did_you_mean,
    get_bool,
    get_int,
    get_list,
    get_str,
    get_str_list,
    type_name,
)
from .bucketing import HASHES, bucket_function, value_function
from .context import Kinds, make_getter, parse_attribute
from .errors import Problems
from .fields import GROUP_KEYS, SEGMENT_DOCUMENT_FIELDS
from .lists import LIST_TYPE, ListSlot, compile_list_segment, list_matcher
from .operators import (
    ALIASES,
    FACTORIES,
    NUMERIC,
    OPERATORS,
    Test,
    canonical_operator,
    op_matches,
)
from .semver import DIALECTS, flagd_text

Match = Callable[[Kinds], bool]
SegmentResolver = Callable[[str, str], Match | None]

_CLAUSE_FIELDS = frozenset({"context_kind", "attribute", "op", "values", "negate",
                            "case_insensitive", "when_absent", "now", "semver",
                            "bucketing", "salt"})
_BUCKET_FIELDS = frozenset({"bucketing", "salt"})  # in_bucket's own fields
_BASE_CLAUSE_FIELDS = frozenset({"context_kind", "attribute", "op", "values", "negate"})
_SEGMENT_FIELDS = SEGMENT_DOCUMENT_FIELDS
_SEGMENT_RULE_FIELDS = frozenset({"id", "description", "clauses"})
MAX_CLAUSE_VALUES = 100_000
MAX_GROUP_DEPTH = 16
# Operators that compare strings, so ``case_insensitive`` means something for them.
_FOLDABLE = frozenset({"in", "not_in", "equals", "starts_with", "ends_with", "contains",
                       "matches"})
# Operators a ``now`` clause may use: the instant is a number of epoch milliseconds.
_NOW_OPS = frozenset({"before", "after", "lt", "lte", "gt", "gte"})
# Operators a ``semver`` dialect applies to.
_SEMVER_OPS = frozenset({"semver_eq", "semver_lt", "semver_lte", "semver_gt", "semver_gte"})
# What a newer engine may write that this one cannot read: in a reader (lenient mode) such
# a clause degrades to "never matches" instead of failing its whole flag.
UNSUPPORTED_CODES = frozenset({"unknown_operator", "unknown_field", "invalid_value",
                               "invalid_regex", "pattern_too_long", "invalid_semver",
                               "invalid_date", "invalid_cidr", "unknown_hash"})


def always(_: Kinds) -> bool:
    """The condition of a rule with no clauses."""
    return True


def never(_: Kinds) -> bool:
    """A condition that cannot hold (used where compilation failed)."""
    return False


class _Scope(NamedTuple):
    """What every clause of one compilation is compiled with."""

    problems: Problems
    segments: SegmentResolver
    fresh: Fresh
    cache: dict[Any, Match]
    clock: Clock | None


def compile_clause(
    raw: object, path: str, problems: Problems, segments: SegmentResolver, fresh: Fresh,
    *, cache: dict[Any, Match] | None = None, clock: Clock | None = None,
) -> Match:
    """Compile one clause or clause group; report problems at ``path``; return its condition.

    Strings and numbers the condition keeps are copies from ``fresh`` (see _fresh.py). In a
    lenient compilation a clause using something this engine does not know never matches
    and is reported once as ``unsupported_clause`` (see :func:`_degrade`).
    """
    return _clause(raw, path, _Scope(problems, segments, fresh,
                                     {} if cache is None else cache, clock), 0)


def _clause(raw: object, path: str, scope: _Scope, depth: int) -> Match:
    problems = scope.problems
    mark = len(problems.errors)
    if isinstance(raw, Mapping) and not raw.keys().isdisjoint(GROUP_KEYS):
        match = _group(raw, path, scope, depth)
    else:
        match = _plain_clause(raw, path, scope)
    if len(problems.errors) > mark and problems.lenient and _degrade(problems, path, mark):
        return never
    return match


def _degrade(problems: Problems, path: str, mark: int) -> bool:
    """Turn the errors of the clause at ``path`` (reported since ``mark``) into one
    ``unsupported_clause`` warning if any of them is something a newer engine may write.

    A clause with an error of another kind (a wrong type, an unknown segment, a cycle) is
    not newer but broken: its errors stay errors and its flag fails, as before. (A missing
    ``op`` or ``attribute`` goes with an unknown field: a newer group key or a newer form
    of clause.) Returns True when the clause was degraded.
    """
    new = problems.errors[mark:]
    mine = [p for p in new if p.path == path or p.path.startswith((f"{path}.", f"{path}["))]
    codes = {p.code for p in mine}
    if not codes & UNSUPPORTED_CODES or not codes <= UNSUPPORTED_CODES | {"required"}:
        return False
    problems.errors[mark:] = [p for p in new if all(p is not m for m in mine)]
    why = "; ".join(p.message for p in mine)
    problems.warn(path, f"not supported by this reader ({why}): the clause never matches",
                  "unsupported_clause")
    problems.notes.append(f"{path}: unsupported clause ({why}), treated as not matching")
    return True


def _group(raw: Mapping[str, Any], path: str, scope: _Scope, depth: int) -> Match:
    """``{"any": [...]}`` (OR), ``{"all": [...]}`` (AND) or ``{"not": CLAUSE}`` (NOT)."""
    problems = scope.problems
    name = next(k for k in GROUP_KEYS if k in raw)
    for other in raw:
        if other != name:
            problems.error(f"{path}.{other}", f"unknown field {other!r}: a clause group has "
                           f"exactly one key ({name!r})", "unknown_field")
    problems.features.add("clause_groups")
    if depth >= MAX_GROUP_DEPTH:
        problems.error(path, f"clause groups nested deeper than {MAX_GROUP_DEPTH}", "too_deep")
        return never
    where = f"{path}.{name}"
    body = raw[name]
    if name == "not":
        inner = _clause(body, where, scope, depth + 1)

        def not_clause(kinds: Kinds) -> bool:
            return not inner(kinds)

        return not_clause
    if not isinstance(body, list):
        problems.error(where, f"must be an array, got {type_name(body)}", "type")
        return never
    if not body:
        problems.warn(where, f"an empty {name!r} group " + (
            "never matches" if name == "any" else "matches every context"), "empty_group")
        return never if name == "any" else always
    children = tuple(_clause(c, f"{where}[{i}]", scope, depth + 1) for i, c in enumerate(body))
    return _combine(children)[0] if name == "all" else _any_of(children)


def _any_of(clauses: tuple[Match, ...]) -> Match:
    if len(clauses) == 1:
        return clauses[0]

    def any_of(kinds: Kinds) -> bool:
        for clause in clauses:  # noqa: SIM110 (hot path: cheaper than any(generator))
            if clause(kinds):
                return True
        return False

    return any_of


class _Options(NamedTuple):
    """A plain clause's optional modifiers (each one an engine feature)."""

    fold: bool  # case_insensitive
    absent: bool  # when_absent: the result for a missing kind/attribute
    instant: bool  # `now`: test the evaluation instant instead of an attribute
    dialect: str | None = None  # `semver`: the version syntax of semver operators


_PLAIN = _Options(False, False, False)


def _options(raw: Mapping[str, Any], path: str, op: str | None, problems: Problems) -> _Options:
    """Read ``case_insensitive``, ``when_absent``, ``now`` and ``semver``; report where they
    cannot apply."""
    if "case_insensitive" not in raw and "when_absent" not in raw and "now" not in raw \
            and "semver" not in raw:
        return _PLAIN  # the common clause: nothing to read (compiling 10,000 flags notices)
    opts = _Options(get_bool(raw, "case_insensitive", path, problems, False),
                    get_bool(raw, "when_absent", path, problems, False),
                    get_bool(raw, "now", path, problems, False),
                    _dialect(raw, path, op, problems))
    for field, feature in (("case_insensitive", "case_insensitive"),
                           ("when_absent", "when_absent"), ("now", "now_clause"),
                           ("semver", "semver_dialect")):
        if field in raw:
            problems.features.add(feature)
    if op is None:
        return opts
    if opts.fold and op not in _FOLDABLE:
        problems.error(f"{path}.case_insensitive", f"{op} does not compare strings: "
                       f"case_insensitive applies to {', '.join(sorted(_FOLDABLE))}",
                       "invalid_option")
    if opts.absent and op in ("exists", "segment_match"):
        problems.error(f"{path}.when_absent", f"{op} already decides what absence means",
                       "invalid_option")
    if opts.instant:
        for other in ("attribute", "context_kind", "when_absent"):
            if other in raw:
                problems.error(f"{path}.{other}", f"a 'now' clause tests the evaluation "
                               f"instant: {other!r} does not apply", "invalid_option")
        if op not in _NOW_OPS:
            problems.error(f"{path}.op", f"a 'now' clause compares instants: use one of "
                           f"{', '.join(sorted(_NOW_OPS))}", "invalid_option")
    return opts


def _dialect(raw: Mapping[str, Any], path: str, op: str | None, problems: Problems) -> str | None:
    """The clause's ``semver`` option: a known version syntax, on a semver operator."""
    if "semver" not in raw:
        return None
    name = get_str(raw, "semver", path, problems)
    if name is None:
        return None
    if name not in DIALECTS:
        problems.error(f"{path}.semver", f"unknown semver syntax {name!r}"
                       f"{did_you_mean(name, DIALECTS)}", "invalid_value")
        return None
    if op is not None and op not in _SEMVER_OPS:
        problems.error(f"{path}.semver", f"{op} does not compare versions: semver applies to "
                       f"{', '.join(sorted(_SEMVER_OPS))}", "invalid_option")
    return name


def _plain_clause(raw: object, path: str, scope: _Scope) -> Match:
    """One ``{"attribute", "op", "values", ...}`` clause."""
    problems, fresh = scope.problems, scope.fresh
    if not isinstance(raw, Mapping):
        problems.error(path, f"a clause must be an object, got {type_name(raw)}", "type")
        return never
    op = canonical_operator(raw.get("op"))
    opts = _options(raw, path, op, problems)
    check_fields(raw, path, _CLAUSE_FIELDS, ("op",) if op == "segment_match" or opts.instant else
                 ("attribute", "op"), problems)
    if op is None and "op" in raw:
        name = raw.get("op")
        hint = did_you_mean(name, OPERATORS | set(ALIASES))
        problems.error(f"{path}.op", f"unknown operator {name!r}{hint}", "unknown_operator")
    kind = fresh.text(get_str(raw, "context_kind", path, problems, pattern=KIND_RE) or "user")
    negate = get_bool(raw, "negate", path, problems, False)
    values = get_list(raw, "values", path, problems)
    if len(values) > MAX_CLAUSE_VALUES:
        problems.error(f"{path}.values", f"more than {MAX_CLAUSE_VALUES} values", "too_many")
        values = []
    if op is None:
        return never
    if op == "segment_match":
        return _segment_clause(values, f"{path}.values", negate, problems, scope.segments)
    if opts.instant:
        return _now_clause(op, values, path, negate, scope)
    attribute = get_str(raw, "attribute", path, problems, max_length=1024)
    parts, problem = parse_attribute(attribute) if attribute is not None else (None, None)
    if problem is not None:
        problems.error(f"{path}.attribute", problem, "invalid_attribute")
    if parts is None:
        return never
    parts = fresh.texts(parts)
    if attribute is not None and not attribute.startswith("/"):
        problems.attribute(kind, parts[0], f"{path}.attribute")
    if op == "exists":
        return _exists_clause(kind, parts, negate)
    if op == "in_bucket":
        return _bucket_clause(raw, (kind, parts), values, negate, opts.absent, path, scope)
    if not raw.keys().isdisjoint(_BUCKET_FIELDS):
        for name in sorted(_BUCKET_FIELDS & raw.keys()):
            problems.error(f"{path}.{name}", f"{name!r} belongs to in_bucket clauses",
                           "invalid_option")
    if op == "not_in":
        op, negate = "in", not negate
    if opts.dialect is not None:
        values = _flagd_literals(values, f"{path}.values", problems)
    test = _test(op, values, path, opts.fold, problems, fresh)
    if opts.dialect is not None:
        test = _flagd_versions(test)
    if parts == ("kind",):
        return _kind_clause(test, negate)
    if opts.absent:
        return _absent_clause(kind, parts, test, negate)
    strings = getattr(test, "strings", None)
    # ("key",) reads through its getter (context.key_in: a plain view keeps the key under
    # "targetingKey"), never inline.
    if strings is not None and len(parts) == 1 and parts != ("key",) and not negate:
        return _in_strings_clause(kind, parts[0], strings, test)
    return _value_clause(kind, parts, test, negate)


def _test(op: str, values: list[Any], path: str, fold: bool, problems: Problems,
          fresh: Fresh) -> Test:
    """The operator's test of one context value (folding case when asked)."""
    if not values:
        problems.warn(f"{path}.values", "no values: this clause never matches", "empty_values")
    values = fresh.values(values)  # operators keep (sets of) these scalars
    if fold and op == "matches":
        return op_matches(values, f"{path}.values", problems, ignore_case=True)
    if fold:
        values = [v.lower() if isinstance(v, str) else v for v in values]
    test = FACTORIES[op](values, f"{path}.values", problems)
    if op in NUMERIC and not any(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    ) and values:
        problems.warn(f"{path}.op", f"{op} with no numeric value never matches", "numeric_op")
    return _folded(test) if fold else test


def _flagd_literals(values: list[Any], path: str, problems: Problems) -> list[Any]:
    """The clause's literals in flagd's syntax too (``"v1.0"``, ``1``); one flagd refuses is
    an error (``invalid_semver``, as the default syntax reports its own)."""
    out = []
    for i, v in enumerate(values):
        text = flagd_text(v)
        if text is None:
            problems.error(f"{path}[{i}]", f"{v!r} is not a version in flagd's syntax",
                           "invalid_semver")
        else:
            out.append(text)
    return out


def _flagd_versions(test: Test) -> Test:
    """``test`` applied to the version text flagd reads from a context value (a leading
    ``v``/``V`` dropped, a number as its text); a value flagd refuses never matches."""

    def flagd_version(v: Any) -> bool:
        text = flagd_text(v)
        return text is not None and test(text)

    return flagd_version


def _folded(test: Test) -> Test:
    """``test`` applied to the lower-cased form of a string context value."""

    def folded(v: Any) -> bool:
        return test(v.lower()) if v.__class__ is str else test(v)

    return folded


def _now_clause(op: str, values: list[Any], path: str, negate: bool, scope: _Scope) -> Match:
    """The evaluation instant (epoch ms from the compiler's clock) tested by ``op``."""
    problems = scope.problems
    if op not in _NOW_OPS:
        return never  # reported by _options
    test = _test(op, values, path, False, problems, scope.fresh)
    clock = scope.clock
    if clock is None:
        problems.warn(f"{path}.now", "no clock given to the compiler: this clause never "
                      "matches", "no_clock")
        return never

    def now_clause(_: Kinds) -> bool:
        return test(clock() * 1000.0) is not negate

    return now_clause


def _absent_clause(kind: str, parts: tuple[str, ...], test: Test, negate: bool) -> Match:
    """A clause with ``when_absent: true``: a missing kind or attribute matches (no negate)."""
    getter = make_getter(parts)

    def absent_clause(kinds: Kinds) -> bool:
        attrs = kinds.get(kind)
        if attrs is None:
            return True
        v = getter(attrs)
        if v is None:
            return True
        if v.__class__ is list or v.__class__ is tuple:
            for item in v:
                if test(item):
                    return not negate
            return negate
        return test(v) is not negate

    return absent_clause


def _in_strings_clause(kind: str, name: str, strings: frozenset[str], test: Test) -> Match:
    """``in`` over string values: the hottest clause shape, with the set test inlined."""

    def in_strings(kinds: Kinds) -> bool:
        attrs = kinds.get(kind)
        if attrs is None:
            return False
        v = attrs.get(name)
        if v.__class__ is str:
            return v in strings
        if v is None:
            return False
        if v.__class__ is list or v.__class__ is tuple:
            return any(test(item) for item in v)
        return test(v)

    return in_strings


def _value_clause(kind: str, parts: tuple[str, ...], test: Test, negate: bool) -> Match:
    # Two near-identical closures on purpose: the top-level one reads the attribute inline
    # instead of calling a getter, saving a Python call on the commonest clause shape.
    if len(parts) == 1 and parts != ("key",):  # the key: context.key_in (plain views)
        name = parts[0]

        def clause(kinds: Kinds) -> bool:
            attrs = kinds.get(kind)
            if attrs is None:
                return False
            v = attrs.get(name)
            if v is None:
                return False
            if v.__class__ is list or v.__class__ is tuple:
                for item in v:
                    if test(item):
                        return not negate
                return negate
            return test(v) is not negate

        return clause

    getter = make_getter(parts)

    def nested_clause(kinds: Kinds) -> bool:
        attrs = kinds.get(kind)
        if attrs is None:
            return False
        v = getter(attrs)
        if v is None:
            return False
        if v.__class__ is list or v.__class__ is tuple:
            for item in v:
                if test(item):
                    return not negate
            return negate
        return test(v) is not negate

    return nested_clause


def _kind_clause(test: Test, negate: bool) -> Match:
    """``attribute: kind`` tests the context's kinds (any kind of a multi context)."""

    def kind_clause(kinds: Kinds) -> bool:
        for name in kinds:
            if test(name):
                return not negate
        return negate

    return kind_clause


def _bucket_clause(raw: Mapping[str, Any], where: tuple[str, tuple[str, ...]], values: list[Any],
                   negate: bool, absent: bool, path: str, scope: _Scope) -> Match:
    """``in_bucket``: the context's bucket — its attribute hashed as ``bucketing.hash`` does,
    with ``salt`` (and ``seed``) — lies in one of the ``values`` ranges ``[start, end)``.
    No bucketing value (kind or attribute absent, or a value that hash cannot bucket) gives
    ``when_absent``'s result, with no ``negate`` on top."""
    problems = scope.problems
    problems.features.add("bucket_clause")
    bucketing = rollout_bucketing(raw, path, problems, scope.fresh)
    if "salt" not in raw:
        problems.error(f"{path}.salt", "required: the salt the peer hashes with", "required")
    salt = scope.fresh.text(get_str(raw, "salt", path, problems, max_length=256) or "")
    ranges = _bucket_ranges(values, f"{path}.values", bucketing.buckets, problems, scope.fresh)
    if bucketing.hash not in HASHES:
        return never  # reported by the bucketing reader
    text = value_function(bucketing.hash)
    bucket = bucket_function(bucketing.hash, salt, bucketing.seed, bucketing.buckets)
    kind, getter = where[0], make_getter(where[1])

    def in_bucket(kinds: Kinds) -> bool:
        attrs = kinds.get(kind)
        v = None if attrs is None else text(getter(attrs))
        if v is None:
            return absent
        b = bucket(v)
        for low, high in ranges:
            if low <= b < high:
                return not negate
        return negate

    return in_bucket


def _bucket_ranges(values: list[Any], path: str, buckets: int, problems: Problems,
                   fresh: Fresh) -> tuple[tuple[int, int], ...]:
    """``[[start, end], ...]``: integers with ``0 <= start <= end <= buckets``."""
    out = []
    for i, v in enumerate(values):
        if not (isinstance(v, list) and len(v) == 2 and all(
                isinstance(x, int) and not isinstance(x, bool) for x in v)
                and 0 <= v[0] <= v[1] <= buckets):
            problems.error(f"{path}[{i}]", f"a bucket range is [start, end] with integers "
                           f"0 <= start <= end <= {buckets}, got {v!r}", "invalid_value")
            continue
        out.append((fresh.integer(v[0]), fresh.integer(v[1])))
    if not values:
        problems.warn(path, "no ranges: this clause never matches", "empty_values")
    return tuple(out)


def _exists_clause(kind: str, parts: tuple[str, ...], negate: bool) -> Match:
    """``exists``: the attribute is present and not null; ``negate`` means "is absent"."""
    getter = make_getter(parts)

    def exists(kinds: Kinds) -> bool:
        attrs = kinds.get(kind)
        present = attrs is not None and getter(attrs) is not None
        return present is not negate

    return exists


def _segment_clause(
    values: list[Any], path: str, negate: bool, problems: Problems, segments: SegmentResolver,
) -> Match:
    matchers: list[Match] = []
    for i, v in enumerate(values):
        where = f"{path}[{i}]"
        if not isinstance(v, str):
            problems.error(where, f"a segment key must be a string, got {type_name(v)}", "type")
            continue
        matcher = segments(v, where)
        if matcher is not None:
            matchers.append(matcher)
    if not values:
        problems.warn(path, "no segments: this clause never matches", "empty_values")
    found = tuple(matchers)
    if len(found) == 1:
        only = found[0]
        lists_only = getattr(only, "lists_only", None)
        if lists_only is not None and not negate:
            kind, included = lists_only

            def in_key_list(kinds: Kinds) -> bool:
                # A segment without rules is its included list: one set lookup, no call.
                attrs = kinds.get(kind)
                return attrs is not None and (  # context.KEY_READ
                    attrs.get("key") or attrs.get("targetingKey") or None) in included

            return in_key_list

        def one_segment(kinds: Kinds) -> bool:
            return only(kinds) is not negate

        return one_segment

    def segment_match(kinds: Kinds) -> bool:
        for seg in found:
            if seg(kinds):
                return not negate
        return negate

    return segment_match


def _clause_key(raw: object) -> tuple[Any, ...] | None:
    """A hashable identity for a clause made of scalars, or None (then it is not shared)."""
    if raw.__class__ is not dict:
        return None
    assert isinstance(raw, dict)
    values = raw.get("values", ())
    # Only the base fields: a clause with an option (or an unknown field) is never shared,
    # so it cannot borrow the closure of a plain clause that looks the same.
    if values.__class__ is not list or not raw.keys() <= _BASE_CLAUSE_FIELDS:
        return None
    fields = (raw.get("context_kind"), raw.get("attribute"), raw.get("op"), raw.get("negate"))
    for v in fields:
        if not (v is None or v.__class__ is str or v.__class__ is bool):
            return None
    typed = []
    for v in values:
        c = v.__class__
        if c is not str and c is not int and c is not float and c is not bool:
            return None
        typed.append((c, v))  # the class keeps True and 1 (equal in Python) apart
    return (*fields, tuple(typed))


def compile_conditions(
    raw: object, path: str, problems: Problems, segments: SegmentResolver, fresh: Fresh,
    cache: dict[Any, Match] | None = None, clock: Clock | None = None,
) -> tuple[Match, bool]:
    """Compile a rule's ``clauses`` (ANDed). Returns the condition and "is unconditional".

    With a ``cache`` (one per compilation), identical clean clauses — and identical clean
    clause lists — share one closure: less memory, and many flags with the same rule stay
    in the CPU cache together. Only clauses that reported no problem are shared, so every
    path still gets its own errors and warnings.
    """
    if raw is None:
        return always, True
    if not isinstance(raw, list):
        problems.error(path, f"must be an array, got {type_name(raw)}", "type")
        return never, False
    if cache is None:
        cache = {}
    keys = tuple(_clause_key(c) for c in raw)
    whole = ("all", keys) if None not in keys else None
    if whole is not None and whole in cache:
        return cache[whole], not raw
    before = (len(problems.errors), len(problems.warnings))
    compiled = []
    for i, (c, key) in enumerate(zip(raw, keys, strict=True)):
        hit = cache.get(key) if key is not None else None
        if hit is None:
            mark = (len(problems.errors), len(problems.warnings))
            hit = compile_clause(c, f"{path}[{i}]", problems, segments, fresh, cache=cache,
                                 clock=clock)
            if key is not None and (len(problems.errors), len(problems.warnings)) == mark:
                cache[key] = hit
        compiled.append(hit)
    cond, unconditional = _combine(tuple(compiled))
    if whole is not None and (len(problems.errors), len(problems.warnings)) == before:
        cache[whole] = cond
    return cond, unconditional


def _combine(clauses: tuple[Match, ...]) -> tuple[Match, bool]:
    if not clauses:
        return always, True
    if len(clauses) == 1:
        return clauses[0], False
    if len(clauses) == 2:
        first, second = clauses

        def both(kinds: Kinds) -> bool:
            return first(kinds) and second(kinds)

        return both, False
    if len(clauses) == 3:
        one, two, three = clauses

        def three_of(kinds: Kinds) -> bool:
            return one(kinds) and two(kinds) and three(kinds)

        return three_of, False

    def all_of(kinds: Kinds) -> bool:
        # an explicit loop: measurably cheaper than all() over a generator on the hot path
        for clause in clauses:  # noqa: SIM110
            if not clause(kinds):
                return False
        return True

    return all_of, False


class SegmentCompiler:
    """Compiles segments on first reference, detecting reference cycles."""

    def __init__(self, raw_segments: Mapping[str, Any], problems: Problems, fresh: Fresh,
                 clock: Clock | None = None) -> None:
        self._raw = raw_segments
        self._problems = problems
        self._fresh = fresh
        self.clock = clock  # for `now` clauses
        self._notes: dict[str, list[str]] = {}  # key -> why clauses of it were degraded
        self._done: dict[str, Match] = {}
        self._failed: set[str] = set()
        self._stack: list[str] = []
        self.clause_cache: dict[Any, Match] = {}  # shared with flag rules (one compilation)
        self.list_slots: dict[str, ListSlot] = {}  # list segments (engine/lists.py)

    def compile_all(self) -> None:
        """Compile every segment (so unreferenced segments are checked too)."""
        for key in self._raw:
            if isinstance(key, str) and key not in self._done and key not in self._failed:
                self._compile(key)

    def resolve(self, key: str, path: str) -> Match | None:
        """The matcher of segment ``key``; reports unknown segments and cycles at ``path``."""
        if key in self._done:
            # A flag using a segment with degraded clauses inherits their notes.
            self._problems.notes.extend(self._notes.get(key, ()))
            return self._done[key]
        if key not in self._raw:
            self._problems.error(path, f"unknown segment {key!r}{did_you_mean(key, self._raw)}",
                                 "unknown_segment")
            return None
        if key in self._stack:
            cycle = [*self._stack[self._stack.index(key):], key]
            self._problems.error(path, "segment cycle: " + " -> ".join(cycle), "segment_cycle")
            return None
        if key in self._failed:
            self._problems.error(path, f"segment {key!r} does not compile", "invalid_segment")
            return None
        return self._compile(key)

    def _compile(self, key: str) -> Match:
        path = f"segments.{key}"
        before = len(self._problems.errors)
        notes = len(self._problems.notes)
        self._stack.append(key)
        try:
            matcher = self._build(key, self._raw[key], path)
        finally:
            self._stack.pop()
        if len(self._problems.errors) > before:
            self._failed.add(key)
            return never
        self._done[key] = matcher
        if len(self._problems.notes) > notes:
            self._notes[key] = self._problems.notes[notes:]
        return matcher

    def _build(self, key: str, raw: object, path: str) -> Match:
        problems = self._problems
        if not KEY_RE.match(key):
            problems.error(path, f"segment key {key!r} does not match {KEY_RE.pattern}",
                           "invalid_key")
        if not isinstance(raw, Mapping):
            problems.error(path, f"a segment must be an object, got {type_name(raw)}", "type")
            return never
        check_fields(raw, path, _SEGMENT_FIELDS, (), problems)
        fresh = self._fresh
        kind = fresh.text(get_str(raw, "context_kind", path, problems, pattern=KIND_RE) or "user")
        included = frozenset(map(fresh.copy, _keys(raw, "included", path, problems)))
        excluded = frozenset(map(fresh.copy, _keys(raw, "excluded", path, problems)))
        get_str(raw, "description", path, problems)
        get_str_list(raw, "tags", path, problems)
        get_int(raw, "version", path, problems)
        seg_type = get_str(raw, "type", path, problems)
        if seg_type == LIST_TYPE:
            slot = compile_list_segment(fresh.copy(key), raw, path, problems, kind)
            self.list_slots[slot.segment] = slot
            return list_matcher(slot)
        if seg_type not in (None, "rules"):
            problems.error(f"{path}.type", f"unknown segment type {seg_type!r} "
                           "(expected 'rules' or 'list')", "invalid_type")
        elif "list" in raw:
            problems.error(f"{path}.list", "only a segment of type 'list' has a list",
                           "list_segment")
        rules: list[Match] = []
        for i, rule in enumerate(get_list(raw, "rules", path, problems)):
            where = f"{path}.rules[{i}]"
            if not isinstance(rule, Mapping):
                problems.error(where, f"a rule must be an object, got {type_name(rule)}", "type")
                continue
            check_fields(rule, where, _SEGMENT_RULE_FIELDS, (), problems)
            get_str(rule, "id", where, problems)
            cond, _ = compile_conditions(rule.get("clauses"), f"{where}.clauses", problems,
                                         self.resolve, fresh, self.clause_cache, self.clock)
            rules.append(cond)
        return _segment_matcher(kind, included, excluded, tuple(rules))


def _keys(raw: Mapping[str, Any], name: str, path: str, problems: Problems) -> list[str]:
    out: list[str] = []
    for i, v in enumerate(get_list(raw, name, path, problems)):
        if isinstance(v, str):
            out.append(v)
        else:
            problems.error(f"{path}.{name}[{i}]", f"a key must be a string, got {type_name(v)}",
                           "type")
    return out


def _segment_matcher(
    kind: str, included: frozenset[str], excluded: frozenset[str], rules: tuple[Match, ...],
) -> Match:
    """included → in; else excluded → out; else any rule matching → in."""

    def segment(kinds: Kinds) -> bool:
        attrs = kinds.get(kind)
        if attrs is not None:
            key = attrs.get("key") or attrs.get("targetingKey") or None  # context.KEY_READ
            if key is not None:
                if key in included:
                    return True
                if key in excluded:
                    return False
        for rule in rules:  # noqa: SIM110 (hot path: cheaper than any(generator))
            if rule(kinds):
                return True
        return False

    if not rules:
        segment.lists_only = (kind, included)  # type: ignore[attr-defined]
    return segment


def lint_attributes(problems: Problems) -> None:
    """Warn about an attribute that is most likely a misspelling of another one.

    Context attributes are free-form, so "unknown" is knowable only by comparison: within
    one context kind, an attribute that differs from another only in case, or that one
    clause tests while a close spelling (difflib ratio ≥ 0.75) is tested by two or more,
    never matches what its author meant. Nested references (``/a/b``) are left alone.
    """
    by_kind: dict[str, dict[str, list[str]]] = {}
    for (kind, name), paths in problems.attributes.items():
        by_kind.setdefault(kind, {})[name] = paths
    for names in by_kind.values():
        for name, paths in names.items():
            common = {other for other, used in names.items() if other != name and (
                len(used) >= 2 > len(paths)
                or (other.lower() == name.lower() and len(used) >= len(paths)))}
            hint = did_you_mean(name, common)
            if hint:
                for path in paths:
                    problems.warn(path, f"attribute {name!r} looks like a misspelling{hint}: "
                                  "attributes are case-sensitive and matched exactly",
                                  "attribute_typo")
