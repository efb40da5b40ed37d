"""Clauses, rule conditions and segments, compiled into ``kinds -> bool`` closures.

Common clause semantics (LaunchDarkly's): the clause reads one attribute of one context
kind (default ``user``). If that kind is absent, or the attribute is absent or null, the
clause does not match and ``negate`` is NOT applied. If the attribute is an array, the
clause matches when any element matches. Otherwise the operator's test decides, and
``negate`` inverts the result. ``exists`` and ``segment_match`` are the documented
exceptions (they apply ``negate`` to their own answer).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._fresh import Fresh
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
from .context import Kinds, make_getter, parse_attribute
from .errors import Problems
from .fields import SEGMENT_DOCUMENT_FIELDS
from .lists import LIST_TYPE, ListSlot, compile_list_segment, list_matcher
from .operators import ALIASES, FACTORIES, NUMERIC, OPERATORS, Test, canonical_operator

Match = Callable[[Kinds], bool]
SegmentResolver = Callable[[str, str], Match | None]

_CLAUSE_FIELDS = frozenset({"context_kind", "attribute", "op", "values", "negate"})
_SEGMENT_FIELDS = SEGMENT_DOCUMENT_FIELDS
_SEGMENT_RULE_FIELDS = frozenset({"id", "description", "clauses"})
MAX_CLAUSE_VALUES = 100_000


def always(_: Kinds) -> bool:
    """The condition of a rule with no clauses."""
    return True


def never(_: Kinds) -> bool:
    """A condition that cannot hold (used where compilation failed)."""
    return False


def compile_clause(
    raw: object, path: str, problems: Problems, segments: SegmentResolver, fresh: Fresh,
) -> Match:
    """Compile one clause; report problems at ``path``; return its condition.

    Strings and numbers the condition keeps are copies from ``fresh`` (see _fresh.py).
    """
    if not isinstance(raw, Mapping):
        problems.error(path, f"a clause must be an object, got {type_name(raw)}", "type")
        return never
    op = canonical_operator(raw.get("op"))
    check_fields(raw, path, _CLAUSE_FIELDS, ("op",) if op == "segment_match" else
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
        return _segment_clause(values, f"{path}.values", negate, problems, segments)

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
    if not values:
        problems.warn(f"{path}.values", "no values: this clause never matches", "empty_values")
    if op == "not_in":
        op, negate = "in", not negate
    values = fresh.values(values)  # operators keep (sets of) these scalars
    test = FACTORIES[op](values, f"{path}.values", problems)
    if op in NUMERIC and not any(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    ) and values:
        problems.warn(f"{path}.op", f"{op} with no numeric value never matches", "numeric_op")
    if parts == ("kind",):
        return _kind_clause(test, negate)
    strings = getattr(test, "strings", None)
    if strings is not None and len(parts) == 1 and not negate:
        return _in_strings_clause(kind, parts[0], strings, test)
    return _value_clause(kind, parts, test, negate)


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
    if len(parts) == 1:
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
                return attrs is not None and attrs.get("key") in included

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
    if len(raw) > 5 or values.__class__ is not list:
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
    cache: dict[Any, Match] | None = None,
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
            hit = compile_clause(c, f"{path}[{i}]", problems, segments, fresh)
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

    def __init__(self, raw_segments: Mapping[str, Any], problems: Problems, fresh: Fresh) -> None:
        self._raw = raw_segments
        self._problems = problems
        self._fresh = fresh
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
        self._stack.append(key)
        try:
            matcher = self._build(key, self._raw[key], path)
        finally:
            self._stack.pop()
        if len(self._problems.errors) > before:
            self._failed.add(key)
            return never
        self._done[key] = matcher
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
                                         self.resolve, fresh, self.clause_cache)
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
            key = attrs.get("key")
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
