"""GrowthBook SDK payload (``features``, ``savedGroups``) → a Vexil environment document.

Promises (docs/migrating.md, "GrowthBook", says the same for people):

* Each feature becomes one flag whose variations are the values it can serve
  (``defaultValue``, force values, experiment variations: variation *i* of an experiment
  is named after its ``meta[i].key``, else ``"i"``). The kind follows the values (all
  booleans → ``boolean``, strings → ``string``, numbers → ``number``, else ``json``). A
  feature without ``defaultValue`` serves the caller's default (GrowthBook's ``null``).
* Rules keep their order and ids. Conditions keep GrowthBook's (JavaScript's) semantics
  exactly — ``String(v) === "5"``, ``v * 1 === 5``, missing attributes as ``null``, string
  ordering, ``paddedVersionString`` — by comparing the JavaScript views of each attribute
  that :func:`context` adds (``gb:derived``). Coverage, ranges and experiment splits use
  GrowthBook's own hashes (``growthbook-v1``/``-v2``) and bucket boundaries, so every
  context lands where GrowthBook puts it; partial coverage falls through to the next rule.
* Feature-level prerequisites (leading ``parentConditions`` gates) become prerequisites.
* What cannot be reproduced (sticky
  bucketing, forced variations, an unknown operator, a JavaScript regex RE2 reads
  differently, a rule-level prerequisite...) is reported ``faithful: False`` with the path
  ``features.<key>`` (or ``savedGroups.<id>``).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Mapping
from typing import Any

from edge_reader.engine.bucketing import bucket_cut
from vexil.importers import _javascript as js
from vexil.importers._check import finish
from vexil.importers._conversion import (
    Conversion,
    PathNotes,
    map_keys,
    note_renamed_keys,
    variant_name,
)
from vexil.importers._regex import translate_js_regex

DERIVED = "gb:derived"  # the context attribute holding the JavaScript views of attributes
VIEWS = ("type", "string", "number", "truthy", "json", "version", "length")
_RESERVED = {"key", "targetingKey", "kind", DERIVED}
_MAX_DEPTH = 16
_BUCKETS = {1: 1000, 2: 10000}  # GrowthBook hash versions: n = k / size

NEVER: dict[str, Any] = {"any": []}
ALWAYS: dict[str, Any] = {"all": []}
Clause = dict[str, Any]


class GrowthBookFormatError(ValueError):
    """The input is not a GrowthBook SDK payload."""


# ---------------------------------------------------------------------------------------
# context()
# ---------------------------------------------------------------------------------------

def _top_name(name: str) -> str:
    """The Vexil attribute a top-level GrowthBook attribute is stored under (names Vexil
    reserves, or that start with ``/``, get an ``attr:`` prefix)."""
    return f"attr:{name}" if name in _RESERVED or name.startswith("/") else name


def _record(path: str, value: Any, views: dict[str, dict[str, Any]]) -> None:
    views["type"][path] = js.js_type(value)
    views["string"][path] = js.js_string(value)
    number = js.js_number(value)
    if number is not None:
        views["number"][path] = int(number) if number.is_integer() else number
    if value is not None:
        views["truthy"][path] = js.js_truthy(value)
    if isinstance(value, (list, dict)):
        views["json"][path] = js.js_json(value)
    views["version"][path] = js.padded_version(value)
    if isinstance(value, list):
        views["length"][path] = len(value)


def _walk(obj: Mapping[str, Any], prefix: str, views: dict[str, dict[str, Any]],
          depth: int) -> None:
    for name, value in obj.items():
        if not isinstance(name, str) or "." in name:
            continue  # GrowthBook splits paths on ".": such a key is unreachable
        _record(prefix + name, value, views)
        if isinstance(value, dict) and depth < _MAX_DEPTH:
            _walk(value, f"{prefix}{name}.", views, depth + 1)


def context(peer_context: Mapping[str, Any]) -> dict[str, Any]:
    """The Vexil context for a GrowthBook attributes object: every attribute is kept under
    its own name (``key``, ``kind``, ``targetingKey`` become ``attr:<name>``); a non-empty
    string ``id`` is also the targeting key; ``gb:derived`` holds, per dotted path, the
    JavaScript views GrowthBook's conditions compare (type, ``String(v)``, ``Number(v)``,
    truthiness, ``JSON.stringify(v)``, padded version, array length)."""
    if not isinstance(peer_context, Mapping):
        raise GrowthBookFormatError("GrowthBook attributes must be an object")
    out: dict[str, Any] = {_top_name(k): v for k, v in peer_context.items()
                           if isinstance(k, str)}
    if isinstance(peer_context.get("id"), str) and peer_context["id"]:
        out["targetingKey"] = peer_context["id"]
    views: dict[str, dict[str, Any]] = {view: {} for view in VIEWS}
    _walk(peer_context, "", views, 0)
    out[DERIVED] = views
    return out


# ---------------------------------------------------------------------------------------
# Clause builders
# ---------------------------------------------------------------------------------------

def _pointer_part(text: str) -> str:
    return text.replace("~", "~0").replace("/", "~1")


def _raw(path: str) -> str:
    """The Vexil attribute reference of a GrowthBook dotted path."""
    parts = path.split(".")
    first = _top_name(parts[0])
    if len(parts) == 1 and first == parts[0]:
        return path
    return "/" + "/".join(_pointer_part(p) for p in [first, *parts[1:]])


def _view(view: str, path: str) -> str:
    return f"/{_pointer_part(DERIVED)}/{view}/{_pointer_part(path)}"


def _any(*clauses: Clause | None) -> Clause:
    kept = [c for c in clauses if c is not None and c != NEVER]
    if any(c == ALWAYS for c in kept):
        return ALWAYS
    return NEVER if not kept else kept[0] if len(kept) == 1 else {"any": kept}


def _all(*clauses: Clause | None) -> Clause:
    kept = [c for c in clauses if c is not None and c != ALWAYS]
    if any(c == NEVER for c in kept):
        return NEVER
    return ALWAYS if not kept else kept[0] if len(kept) == 1 else {"all": kept}


def _not(clause: Clause) -> Clause:
    if clause == NEVER:
        return ALWAYS
    if clause == ALWAYS:
        return NEVER
    return {"not": clause}


def _in(attr: str, values: list[Any], *, ci: bool = False) -> Clause:
    if not values:
        return NEVER
    clause: Clause = {"attribute": attr, "op": "in", "values": values}
    return {**clause, "case_insensitive": True} if ci else clause


def _op(attr: str, op: str, values: list[Any], **extra: Any) -> Clause:
    return {"attribute": attr, "op": op, "values": values, **extra}


def _nullish(path: str) -> Clause:
    """GrowthBook's value is null: the attribute is missing or null."""
    return {"attribute": _raw(path), "op": "exists", "values": [], "negate": True}


def _type(path: str, *types: str) -> Clause:
    return _in(_view("type", path), list(types))


def _not_array(path: str) -> Clause:
    # Passes when the context has no views (a context built by hand): plain typed semantics.
    return _not(_type(path, "array"))


def _no_views(path: str) -> Clause:
    """The context carries no JavaScript views of ``path`` (built without context())."""
    return {"attribute": _view("type", path), "op": "exists", "values": [], "negate": True}


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not (
        isinstance(value, float) and not math.isfinite(value))


# ---------------------------------------------------------------------------------------
# String ordering (JavaScript compares UTF-16 code units) as RE2 patterns
# ---------------------------------------------------------------------------------------

_RE_SPECIAL = set("\\.^$|?*+()[]{}")


def _re_char(ch: str) -> str:
    if ch in _RE_SPECIAL:
        return "\\" + ch
    return ch if " " <= ch <= "~" else f"\\x{{{ord(ch):x}}}"


def _below_pattern(bound: str, *, inclusive: bool) -> str | None:
    """A pattern matching exactly the strings ``< bound`` (``<=`` when inclusive), or None
    when it cannot be written exactly (code units past U+D7FF, or too long). Nested, so
    its size grows linearly: at each position the string may end, hold a smaller code
    unit, or hold the same one and go on."""
    if any(ord(ch) >= 0xD800 for ch in bound):
        return None
    pattern = "$" if inclusive else "[^\\x{0}-\\x{10ffff}]"  # equal so far: <= ends here
    for ch in reversed(bound):
        smaller = f"|[\\x{{0}}-\\x{{{ord(ch) - 1:x}}}]" if ord(ch) else ""
        pattern = f"(?:${smaller}|{_re_char(ch)}{pattern})"
    pattern = "^" + pattern
    return pattern if len(pattern) <= 1024 else None


_PY_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "$lt": lambda a, b: a < b, "$lte": lambda a, b: a <= b,
    "$gt": lambda a, b: a > b, "$gte": lambda a, b: a >= b,
}
_VEXIL_OPS = {"$lt": "lt", "$lte": "lte", "$gt": "gt", "$gte": "gte"}


def _string_order(attr: str, op: str, bound: str) -> Clause | None:
    """``value OP bound`` for a string value read from ``attr`` (None: not expressible).
    The caller guarantees the value is a string."""
    if op in {"$lt", "$lte"}:
        pattern = _below_pattern(bound, inclusive=op == "$lte")
        if pattern is None:
            return NEVER if op == "$lt" and bound == "" else None
        return _op(attr, "matches", [pattern])
    below = _below_pattern(bound, inclusive=op == "$gt")
    if below is None:
        return ALWAYS if op == "$gte" and bound == "" else None
    return _not(_op(attr, "matches", [below]))


# ---------------------------------------------------------------------------------------
# Conditions (GrowthBook's mongrule) → clauses
# ---------------------------------------------------------------------------------------

class _Conditions:
    """Translates GrowthBook conditions for one feature; problems go to ``notes``."""

    def __init__(self, notes: PathNotes, saved_groups: Mapping[str, Any]) -> None:
        self.notes = notes
        self.saved_groups = saved_groups
        self.visiting: set[str] = set()

    def condition(self, cond: Any) -> Clause:
        """``evalCondition(attributes, cond)``: every entry must pass."""
        if not isinstance(cond, Mapping):
            self.notes.bad(f"condition {cond!r} is not an object")
            return NEVER
        return _all(*[self.entry(key, value) for key, value in cond.items()])

    def entry(self, key: str, value: Any) -> Clause:
        if key in {"$or", "$nor", "$and"}:
            if not isinstance(value, list) or not all(isinstance(c, Mapping) for c in value):
                self.notes.bad(f"{key} needs a list of conditions")
                return NEVER
            parts = [self.condition(c) for c in value]
            if key == "$and":
                return _all(*parts)
            either = _any(*parts) if parts else ALWAYS  # an empty $or passes
            return either if key == "$or" else _not(either)
        if key == "$not":
            return _not(self.condition(value))
        if key == "$savedGroup":
            return self.saved_group_reference(value)
        return self.value(value, key)  # any other key, "$groups" too, is an attribute path

    def value(self, cond: Any, path: str) -> Clause:
        """``evalConditionValue(cond, getPath(attributes, path))``."""
        parts = path.split(".")
        if any(p.isdigit() or p == "length" for p in parts[1:]):
            self.notes.bad(f"path {path!r} indexes an array or string: Vexil's attribute "
                           "pointers read objects only")
        if isinstance(cond, bool):
            truthy = _op(_view("truthy", path), "in", [cond])
            return _any(_all(_in(_raw(path), [cond]), _not_array(path)), truthy)
        if isinstance(cond, str):
            return self.string_equals(cond, path)
        if isinstance(cond, (int, float)):
            return _any(_all(_in(_raw(path), [cond]), _not_array(path)),
                        _in(_view("number", path), [cond]),
                        _nullish(path) if cond == 0 else None)
        if cond is None:
            return _nullish(path)
        if isinstance(cond, Mapping) and cond and all(
                isinstance(k, str) and k.startswith("$") for k in cond):
            return _all(*[self.operator(op, arg, path) for op, arg in cond.items()])
        return _in(_view("json", path), [js.js_json(cond)])

    def string_equals(self, text: str, path: str) -> Clause:
        """``String(value) === text`` (a missing value is ``"null"``)."""
        return _any(_all(_in(_raw(path), [text]), _not_array(path)),
                    _in(_view("string", path), [text]),
                    _nullish(path) if text == "null" else None)

    def operator(self, op: str, arg: Any, path: str) -> Clause:
        """One ``$operator`` of an operator object."""
        handler = _OPERATORS.get(op)
        if handler is None:
            self.notes.bad(f"unknown operator {op!r}: GrowthBook SDKs that know it evaluate "
                           "it; Vexil treats it as never matching")
            return NEVER
        return handler(self, op, arg, path)

    def equals(self, _op_name: str, arg: Any, path: str) -> Clause:
        """``actual === arg``."""
        if arg is None:
            return _nullish(path)
        if isinstance(arg, (bool, str)) or _scalar(arg):
            return _all(_in(_raw(path), [arg]), _not_array(path))
        return NEVER  # an array or object literal is never === the attribute

    def not_equals(self, op: str, arg: Any, path: str) -> Clause:
        return _not(self.equals(op, arg, path))

    def exists(self, _op_name: str, arg: Any, path: str) -> Clause:
        return _not(_nullish(path)) if js.js_truthy(arg) else _nullish(path)

    def is_in(self, op: str, arg: Any, path: str) -> Clause:
        """``$in``/``$nin``/``$ini``/``$nini``: strict membership (an array attribute:
        any element); a non-array argument never passes."""
        if not isinstance(arg, list):
            return NEVER
        clause = self.membership(arg, path, ci=op in {"$ini", "$nini"})
        return _not(clause) if op in {"$nin", "$nini"} else clause

    def membership(self, values: list[Any], path: str, *, ci: bool = False) -> Clause:
        scalars = [v for v in values if isinstance(v, bool) or _scalar(v)]
        if None in values:
            self.notes.bad("null in a membership list: an array attribute holding null "
                           "passes in GrowthBook, not in Vexil")
        return _any(_in(_raw(path), scalars, ci=ci), _nullish(path) if None in values else None)

    def in_group(self, op: str, arg: Any, path: str) -> Clause:
        values = self.group_values(arg)
        if values is None:
            return NEVER
        clause = self.membership(values, path)
        return clause if op == "$inGroup" else _not(clause)

    def group_values(self, group: Any) -> list[Any] | None:
        """The values of a saved group ([] for an unknown id; None for a group that is not
        a list, which matches nobody)."""
        if not isinstance(group, str):
            return None
        entry = self.saved_groups.get(group)
        if entry is None:
            return []
        if isinstance(entry, list):
            return entry
        if isinstance(entry, Mapping) and entry.get("type") == "list":
            values = entry.get("values")
            return values if isinstance(values, list) else None
        return None

    def saved_group_reference(self, ref: Any) -> Clause:
        """``$savedGroup: {"id", "attributeKey"?}`` (a list group or a condition group)."""
        if not isinstance(ref, Mapping) or not isinstance(ref.get("id"), str) \
                or ref["id"] in self.visiting:
            return NEVER
        entry = self.saved_groups.get(ref["id"])
        if not isinstance(entry, Mapping):
            return NEVER
        if entry.get("type") == "list":
            key = ref.get("attributeKey", entry.get("attributeKey"))
            values = entry.get("values")
            if not isinstance(key, str) or not isinstance(values, list):
                return NEVER
            return self.membership(values, key)
        if entry.get("type") == "condition" and isinstance(entry.get("condition"), Mapping):
            self.visiting.add(ref["id"])
            try:
                return self.condition(entry["condition"])
            finally:
                self.visiting.discard(ref["id"])
        return NEVER

    def negation(self, _op_name: str, arg: Any, path: str) -> Clause:
        return _not(self.value(arg, path))

    def relational(self, op: str, arg: Any, path: str) -> Clause:
        """``actual < arg`` etc. with JavaScript's coercions: strings (and arrays, objects,
        through ``String()``) compare as strings with a string argument, everything else
        as numbers (``null`` is 0, a missing attribute too)."""
        if isinstance(arg, (list, dict)):
            self.notes.bad(f"{op} against an array or object")
            return NEVER
        compare = _PY_OPS[op]
        if not isinstance(arg, str):
            number = js.js_number(arg)
            if number is None:
                return NEVER
            return _any(_all(_op(_raw(path), _VEXIL_OPS[op], [number]), _not_array(path)),
                        _op(_view("number", path), _VEXIL_OPS[op], [number]),
                        _nullish(path) if compare(0, number) else None)
        as_string = _string_order(_view("string", path), op, arg)
        if as_string is None:
            self.notes.bad(f"{op} {arg!r}: this string comparison cannot be written exactly")
            return NEVER
        number = js.js_number(arg)
        numeric = None if number is None else _any(
            _all(_type(path, "number", "boolean", "null"),
                 _op(_view("number", path), _VEXIL_OPS[op], [number])),
            _nullish(path) if compare(0, number) else None)
        return _any(_all(_type(path, "string", "array"), as_string),
                    _type(path, "object") if compare("[object Object]", arg) else None,
                    numeric)

    def size(self, _op_name: str, arg: Any, path: str) -> Clause:
        """``$size``: an array whose length passes ``arg`` (a number or numeric operators)."""
        length = _view("length", path)
        if isinstance(arg, (int, float)) and not isinstance(arg, bool):
            return _in(length, [arg])
        ops = {"$eq": "in", "$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte"}
        if isinstance(arg, Mapping) and arg and all(
                k in ops or k == "$ne" for k in arg) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in arg.values()):
            return _all(_type(path, "array"), *[
                _not(_in(length, [v])) if k == "$ne" else _op(length, ops[k], [v])
                for k, v in arg.items()])
        self.notes.bad(f"$size {arg!r} is not translated")
        return NEVER

    def elem_match(self, _op_name: str, arg: Any, path: str) -> Clause:
        """``$elemMatch`` with one ``$eq``/``$in`` on the elements (Vexil clauses test array
        elements one by one; other element conditions are not expressible)."""
        if isinstance(arg, Mapping) and len(arg) == 1:
            (op, value), = arg.items()
            if op == "$eq" and (isinstance(value, bool) or _scalar(value)):
                return _all(_type(path, "array"), _in(_raw(path), [value]))
            if op == "$in" and isinstance(value, list):
                scalars = [v for v in value if isinstance(v, bool) or _scalar(v)]
                return _all(_type(path, "array"), _in(_raw(path), scalars))
        self.notes.bad(f"$elemMatch {arg!r} is not translated")
        return NEVER

    def all_of(self, op: str, arg: Any, path: str) -> Clause:
        """``$all``/``$alli``: every listed string is ``String(element)`` of some element."""
        if not isinstance(arg, list):
            return NEVER
        parts = []
        for expected in arg:
            if not isinstance(expected, str):
                self.notes.bad(f"{op} with a non-string value {expected!r}: JavaScript's "
                               "coercion of the elements is not reproduced")
                return NEVER
            forms: list[Any] = [expected]
            number = js.js_number(expected) if expected.strip() == expected else None
            if number is not None and js.number_string(number) == expected:
                forms.append(int(number) if number.is_integer() else number)
            if expected in {"true", "false"}:
                forms.append(expected == "true")
            parts.append(_in(_raw(path), forms, ci=op == "$alli"))
        return _all(_type(path, "array"), *parts)

    def regex(self, op: str, arg: Any, path: str) -> Clause:
        """``$regex`` & co: ``RegExp(arg).test(String(value))`` (a missing value is
        ``"null"``; a pattern JavaScript cannot compile never passes)."""
        if not isinstance(arg, str):
            return NEVER
        if op in {"$notRegex", "$notRegexi"}:
            # The spec (cases.json) and the Python SDK negate $regex; so does Vexil. Only the
            # JavaScript SDK 1.8.0 does not know the operator (never passes): said, not counted.
            self.notes.info(f"{op}: negates $regex as GrowthBook's spec cases and newer SDKs do "
                            "(its JavaScript SDK 1.8.0 does not know it and never passes)")
        pattern, problem = translate_js_regex(arg)
        if problem:
            self.notes.bad(problem)
        if pattern is None:
            if op not in {"$regex", "$regexi"}:
                self.notes.bad(f"{op} with a pattern JavaScript cannot compile")
            return NEVER
        ci = op.endswith("i")
        extra = {"case_insensitive": True} if ci else {}
        # The views decide for a context built by context(); the plain attribute only for
        # one built without them (RE2 searches cost microseconds: one per evaluation).
        positive = _any(
            _op(_view("string", path), "matches", [pattern], **extra),
            _nullish(path) if _searches(pattern, "null", ci=ci) else None,
            _all(_no_views(path), _not_array(path),
                 _op(_raw(path), "matches", [pattern], **extra)))
        return positive if op in {"$regex", "$regexi"} else _not(positive)

    def of_type(self, _op_name: str, arg: Any, path: str) -> Clause:
        if arg == "null":
            return _nullish(path)
        if arg in {"string", "number", "boolean", "object", "array"}:
            return _type(path, arg)
        return NEVER

    def version(self, op: str, arg: Any, path: str) -> Clause:
        """``$veq`` & co: ``paddedVersionString`` of both sides compared as strings."""
        bound = js.padded_version(arg)
        missing = js.padded_version(None)
        attr = _view("version", path)
        if op in {"$veq", "$vne"}:
            equal = _any(_in(attr, [bound]), _nullish(path) if missing == bound else None)
            return equal if op == "$veq" else _not(equal)
        cmp = "$" + op[2:]
        clause = _string_order(attr, cmp, bound)
        if clause is None:
            self.notes.bad(f"{op} {arg!r}: this version comparison cannot be written exactly")
            return NEVER
        return _any(_all({"attribute": attr, "op": "exists", "values": []}, clause),
                    _nullish(path) if _PY_OPS[cmp](missing, bound) else None)


def _searches(pattern: str, text: str, *, ci: bool) -> bool:
    import re2  # noqa: PLC0415

    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = not ci
    return re2.compile(pattern, options=options).search(text) is not None


_Handler = Callable[[_Conditions, str, Any, str], Clause]
_OPERATORS: dict[str, _Handler] = {
    "$eq": _Conditions.equals, "$ne": _Conditions.not_equals,
    "$lt": _Conditions.relational, "$lte": _Conditions.relational,
    "$gt": _Conditions.relational, "$gte": _Conditions.relational,
    "$exists": _Conditions.exists,
    "$in": _Conditions.is_in, "$nin": _Conditions.is_in,
    "$ini": _Conditions.is_in, "$nini": _Conditions.is_in,
    "$inGroup": _Conditions.in_group, "$notInGroup": _Conditions.in_group,
    "$not": _Conditions.negation, "$size": _Conditions.size,
    "$elemMatch": _Conditions.elem_match, "$all": _Conditions.all_of,
    "$alli": _Conditions.all_of,
    "$regex": _Conditions.regex, "$regexi": _Conditions.regex,
    "$notRegex": _Conditions.regex, "$notRegexi": _Conditions.regex,
    "$type": _Conditions.of_type,
    "$veq": _Conditions.version, "$vne": _Conditions.version, "$vgt": _Conditions.version,
    "$vgte": _Conditions.version, "$vlt": _Conditions.version, "$vlte": _Conditions.version,
}


# ---------------------------------------------------------------------------------------
# Values → variations
# ---------------------------------------------------------------------------------------

class _Variations:
    """The variations of one flag: a name per served value (experiment variations keep
    their own names, so one value may have several)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    @staticmethod
    def _same(a: Any, b: Any) -> bool:
        return js.js_type(a) == js.js_type(b) and js.js_json(a) == js.js_json(b)

    def named(self, preferred: str, value: Any) -> str:
        """A variation called ``preferred`` (or a suffixed name) serving ``value``."""
        base = variant_name(preferred)
        name, n = base, 1
        while name in self.values and not self._same(self.values[name], value):
            n += 1
            name = f"{base}-{n}"
        self.values[name] = value
        return name

    def of_value(self, value: Any) -> str:
        """The variation serving ``value``, named after it (reused when it exists)."""
        for name, existing in self.values.items():
            if self._same(existing, value):
                return name
        if isinstance(value, (bool, int, float)) or value is None:
            label = js.js_json(value)
        elif isinstance(value, str) and 0 < len(value) <= 64:
            label = value
        else:
            label = "value"
        return self.named(label, value)

    def kind(self) -> str:
        types = {js.js_type(v) for v in self.values.values()}
        if types == {"boolean"}:
            return "boolean"
        if types == {"string"}:
            return "string"
        return "number" if types == {"number"} else "json"


# ---------------------------------------------------------------------------------------
# Hashing: coverage, ranges and experiments as rollouts
# ---------------------------------------------------------------------------------------

def _bucket_ranges(count: int, coverage: Any, weights: Any) -> list[tuple[float, float]]:
    """GrowthBook's ``getBucketRanges``, with its float arithmetic in the same order."""
    cover = 0.0 if coverage is None else float(coverage)
    cover = min(max(cover, 0.0), 1.0)
    equal = [1 / count] * count
    chosen = weights if isinstance(weights, list) and len(weights) == count and all(
        isinstance(w, (int, float)) and not isinstance(w, bool) for w in weights) else equal
    total = 0.0
    for w in chosen:
        total = w + total
    if total < 0.99 or total > 1.01:
        chosen = equal
    ranges, cumulative = [], 0.0
    for w in chosen:
        start = cumulative
        cumulative += w
        ranges.append((start, start + cover * w))
    return ranges


def _partition(ranges: list[tuple[float, float]], names: list[str | None],
               buckets: int) -> list[dict[str, Any]]:
    """Rollout entries (variations and gaps) for ``chooseVariation``: a bucket k goes to
    the first range holding k / buckets; buckets in no range are a gap."""
    cuts = [(bucket_cut(a, buckets), bucket_cut(b, buckets)) for a, b in ranges]
    edges = sorted({0, buckets, *[c for pair in cuts for c in pair]})
    entries: list[dict[str, Any]] = []
    for lo, hi in itertools.pairwise(edges):
        owner = next((names[i] for i, (s, e) in enumerate(cuts) if s <= lo < e), None)
        if entries and entries[-1].get("variation") == owner:
            entries[-1]["weight"] += hi - lo
        else:
            entries.append({"weight": hi - lo} if owner is None
                           else {"variation": owner, "weight": hi - lo})
    return entries


def _numbers(pair: Any) -> tuple[float, float] | None:
    if isinstance(pair, list) and len(pair) == 2 and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
            for x in pair):
        return float(pair[0]), float(pair[1])
    return None


def _rollout(entries: list[dict[str, Any]], version: int, seed: str, hash_attribute: str,
             notes: PathNotes) -> dict[str, Any] | None:
    if len(seed) > 256:
        notes.bad("a seed longer than Vexil's 256-character salt")
        return None
    if all("variation" not in e for e in entries):
        return None  # nobody is served
    return {"rollout": {
        "variations": entries, "bucket_by": _top_name(hash_attribute), "salt": seed,
        "missing": "skip",
        "bucketing": {"hash": f"growthbook-v{version}", "buckets": _BUCKETS[version]}}}


# ---------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------

def _hash_version(rule: Mapping[str, Any]) -> int | None:
    version = rule.get("hashVersion") or 1
    return version if version in _BUCKETS else None  # another version: the rule never applies


class _Feature:
    """Builds one Vexil flag from one GrowthBook feature definition."""

    def __init__(self, key: str, definition: Mapping[str, Any], build: _Build) -> None:
        self.key = key
        self.definition = definition
        self.build = build
        self.notes = PathNotes(build.conv, f"features.{key}")
        self.conditions = _Conditions(self.notes, build.saved_groups)
        self.variations = _Variations()
        self.rule_ids: set[str] = set()
        self.flag: dict[str, Any] = {}
        self.parents: Clause = ALWAYS  # the current rule's inlined rule-level prerequisites
        self.parent_ids: set[str] = set()  # every feature whose value this one depends on

    def filters(self, rule: Mapping[str, Any], *, experiment: bool) -> Clause:
        """``filters`` (and, for experiments without filters, ``namespace``): each one an
        ``in_bucket`` clause under its own hash (GrowthBook's ``isFilteredOut``: no hash
        value or a bucket outside every range skips the rule; ``inNamespace``: hash v1
        with seed ``"__" + id``); one covering every bucket only needs a hash value."""
        filters = rule.get("filters")
        if isinstance(filters, list) and filters:
            parts = []
            for f in filters:
                attr = f.get("attribute") or "id" if isinstance(f, Mapping) else None
                ranges = [_numbers(r) for r in f.get("ranges") or []] if attr else []
                if not isinstance(attr, str) or (f.get("hashVersion") or 2) not in _BUCKETS:
                    parts.append(NEVER)
                elif any(r is not None and r[0] <= 0 and r[1] >= 1 for r in ranges):
                    parts.append(_in(_view("truthy", attr), [True]))
                else:
                    parts.append(self.hash_ranges(attr, f.get("hashVersion") or 2,
                                                  f.get("seed"), ranges))
            return _all(*parts)
        namespace = rule.get("namespace")
        if experiment and isinstance(namespace, list) and len(namespace) == 3 and not (
                isinstance(namespace[1], (int, float)) and namespace[1] <= 0
                and isinstance(namespace[2], (int, float)) and namespace[2] >= 1):
            attr = rule.get("hashAttribute") or "id"
            return self.hash_ranges(str(attr), 1, f"__{namespace[0]}",
                                    [_numbers(namespace[1:])])
        return ALWAYS

    def hash_ranges(self, attr: str, version: int, seed: object,
                    ranges: list[tuple[float, float] | None]) -> Clause:
        """An ``in_bucket`` clause: ``attr``'s GrowthBook hash (``version``, ``seed``) ``n``
        has ``start <= n < end`` for a range, over the same integer buckets GrowthBook's
        float ``n = k / size`` falls in (:func:`bucket_cut` divides as GrowthBook does)."""
        # A seed that is not a string: JavaScript's `value + seed` may add numbers, not
        # concatenate text (true + 7 is 8), and GrowthBook then hashes no text at all.
        if not isinstance(seed, str) or len(seed) > 256 or any(r is None for r in ranges):
            self.notes.bad(f"a filter or namespace with seed {seed!r} and ranges {ranges!r}")
            return NEVER
        size = _BUCKETS[version]
        cuts = [[bucket_cut(r[0], size), bucket_cut(r[1], size)] for r in ranges if r]
        cuts = [c for c in cuts if c[0] < c[1]]
        if not cuts:
            return NEVER  # no bucket is in any range: GrowthBook skips the rule for everyone
        return {"attribute": _top_name(attr), "op": "in_bucket", "salt": seed,
                "bucketing": {"hash": f"growthbook-v{version}", "buckets": size},
                "values": cuts}

    def condition(self, rule: Mapping[str, Any]) -> Clause:
        cond = rule.get("condition")
        own = ALWAYS if cond is None else self.conditions.condition(cond)
        return _all(own, self.parents)

    def inline_parents(self, parents: Any) -> Clause:
        """A rule-level prerequisite (a parent's value must pass a condition, else the rule
        is skipped) as clauses: expressible when the parent's value follows from its force
        rules' conditions alone (no rollout, no prerequisite of its own)."""
        if not isinstance(parents, list) or any(
                not isinstance(p, Mapping) or p.get("gate") for p in parents):
            self.notes.bad("a gate (parentConditions with gate) after another rule cannot be "
                           "expressed in Vexil; it is ignored")
            return ALWAYS
        return _all(*[self.inline_parent(p) for p in parents])

    def inline_parent(self, parent: Mapping[str, Any]) -> Clause:
        holds = _gate_evaluator(_Conditions(self.notes, self.build.saved_groups).condition(
            parent.get("condition") or {}))
        parent_id = parent.get("id")
        definition = self.build.definitions.get(parent_id) if isinstance(parent_id, str) else None
        if definition is None:
            return ALWAYS if holds(None) else NEVER
        rules = definition.get("rules") or []
        plain = isinstance(rules, list) and all(
            isinstance(r, Mapping) and not r.get("parentConditions") and (
                "force" not in r or not any(k in r for k in ("coverage", "range", "filters")))
            and "variations" not in r for r in rules)
        if not plain:
            self.notes.bad(f"rule-level prerequisite on {parent.get('id')!r}, whose value "
                           "depends on a rollout or its own prerequisites: not expressible")
            return ALWAYS
        branches: list[Clause] = []
        earlier: list[Clause] = []
        for r in rules:
            if "force" not in r:
                continue
            cond = r.get("condition")
            clause = ALWAYS if cond is None else self.conditions.condition(cond)
            if holds(r["force"]):
                branches.append(_all(clause, *[_not(e) for e in earlier]))
            earlier.append(clause)
        if holds(definition.get("defaultValue")):
            branches.append(_all(*[_not(e) for e in earlier]))
        return _any(*branches)

    def rule(self, rule: Mapping[str, Any], clauses: Clause,
             serve: dict[str, Any] | None) -> dict[str, Any] | None:
        if serve is None or clauses == NEVER:
            return None
        flat = clauses["all"] if "all" in clauses and len(clauses) == 1 else (
            [] if clauses == ALWAYS else [clauses])
        out: dict[str, Any] = {"clauses": flat, "serve": serve}
        rid = rule.get("id")
        if isinstance(rid, str) and rid and rid not in self.rule_ids and len(rid) <= 256:
            self.rule_ids.add(rid)
            out["id"] = rid
        return out

    def force(self, rule: Mapping[str, Any]) -> dict[str, Any] | None:
        """A force rule: its value, if the condition passes and the context is in the
        rule's range or coverage (GrowthBook's ``isIncludedInRollout``)."""
        name = self.variations.of_value(rule["force"])
        clauses = _all(self.filters(rule, experiment=False), self.condition(rule))
        span, coverage = _numbers(rule.get("range")), rule.get("coverage")
        if span is None and coverage is None:
            return self.rule(rule, clauses, {"variation": name})
        if span is None and coverage == 0:
            return None
        version = _hash_version(rule)
        if version is None:
            return None
        buckets = _BUCKETS[version]
        if span is not None:
            entries = _partition([span], [name], buckets)
        elif isinstance(coverage, (int, float)) and not isinstance(coverage, bool):
            covered = bucket_cut(float(coverage), buckets, inclusive=True)
            entries = [{"variation": name, "weight": covered},
                       {"weight": buckets - covered}]
            entries = [e for e in entries if e["weight"] > 0]
        else:
            self.notes.bad(f"coverage {coverage!r} is not a number")
            return None
        seed = rule.get("seed") or self.key
        serve = _rollout(entries, version, str(seed), str(rule.get("hashAttribute") or "id"),
                         self.notes)
        return self.rule(rule, clauses, serve)

    def experiment(self, rule: Mapping[str, Any]) -> dict[str, Any] | None:
        """An experiment rule: its variations split by GrowthBook's hash; a context outside
        every range (or in a passthrough variation) falls through to the next rule."""
        values = rule.get("variations")
        if rule.get("contextualBanditRef") or "contextualVariations" in rule:
            self.notes.bad("a contextual bandit picks variations from a model at run time")
        if not isinstance(values, list) or len(values) < 2:
            return None  # an invalid experiment: GrowthBook skips the rule
        version = _hash_version(rule)
        if version is None:
            return None
        key = str(rule.get("key") or self.key)
        raw_meta = rule.get("meta")
        meta: list[Any] = raw_meta if isinstance(raw_meta, list) else []
        names: list[str | None] = []
        for i, value in enumerate(values):
            m = meta[i] if i < len(meta) and isinstance(meta[i], Mapping) else {}
            label = str(m["key"]) if isinstance(m.get("key"), str) and m["key"] else str(i)
            names.append(None if m.get("passthrough") else self.variations.named(label, value))
        ranges = self.ranges(rule, len(values))
        if ranges is None:
            return None
        entries = _partition(ranges, names, _BUCKETS[version])
        seed = str(rule.get("seed") or key)
        serve = _rollout(entries, version, seed, str(rule.get("hashAttribute") or "id"),
                         self.notes)
        clauses = _all(self.filters(rule, experiment=True), self.condition(rule))
        return self.rule(rule, clauses, serve)

    def ranges(self, rule: Mapping[str, Any], count: int) -> list[tuple[float, float]] | None:
        raw = rule.get("ranges")
        if raw is None:
            return _bucket_ranges(count, rule.get("coverage", 1), rule.get("weights"))
        ranges = [_numbers(r) for r in raw] if isinstance(raw, list) else [None]
        if any(r is None for r in ranges):
            self.notes.bad("experiment ranges must be [start, end] pairs")
            return None
        return [r for r in ranges if r is not None][:count]

    def rules(self) -> tuple[list[dict[str, Any]], list[Any]]:
        """The Vexil rules, and the leading gates (parentConditions with ``gate``) that
        become the flag's prerequisites."""
        raw = self.definition.get("rules") or []
        if not isinstance(raw, list):
            self.notes.bad("rules must be a list")
            raw = []
        rules: list[dict[str, Any]] = []
        gates: list[Any] = []
        leading = True
        for rule in raw:
            if not isinstance(rule, Mapping):
                self.notes.bad("a rule that is not an object")
                continue
            self.note_sdk_features(rule)
            parents = rule.get("parentConditions")
            self.parents = ALWAYS
            if isinstance(parents, list):
                self.parent_ids |= {p["id"] for p in parents
                                    if isinstance(p, Mapping) and isinstance(p.get("id"), str)}
            if parents:
                if leading and isinstance(parents, list) and all(
                        isinstance(p, Mapping) and p.get("gate") for p in parents):
                    gates += parents
                else:
                    self.parents = self.inline_parents(parents)
            if "force" in rule:
                leading = False
                translated = self.force(rule)
            elif rule.get("variations") is not None or "contextualVariations" in rule:
                leading = False
                translated = self.experiment(rule)
            else:
                translated = None  # GrowthBook skips a rule with neither
            if translated is not None:
                rules.append(translated)
        return rules, gates

    def note_sdk_features(self, rule: Mapping[str, Any]) -> None:
        """Report what a rule asks of the SDK beyond the payload (sticky bucketing, URL
        targeting, experiment status, forced variations)."""
        if rule.get("fallbackAttribute"):
            self.notes.bad("fallbackAttribute is used with sticky bucketing, which Vexil "
                           "does not have")
        elif rule.get("bucketVersion") is not None or rule.get("minBucketVersion") is not None:
            self.notes.info("bucketVersion applies only with sticky bucketing")
        sdk_only = sorted(k for k in _SDK_ONLY_FIELDS if k in rule)
        if sdk_only:
            self.notes.bad(f"rule fields evaluated by the SDK ({', '.join(sdk_only)}): "
                           "URL targeting, groups, include functions and experiment status "
                           "have no Vexil equivalent")
        if "variations" in rule and (self.build.experiments_off or (
                str(rule.get("key") or self.key) in self.build.forced_variations)):
            self.notes.bad("the SDK context forces or disables experiments (forcedVariations, "
                           "qaMode, enabled: false)")


_SDK_ONLY_FIELDS = frozenset({"active", "status", "url", "urlPatterns", "groups", "include",
                              "tracks"})


class _Build:
    """Document-wide state of one conversion."""

    def __init__(self, document: Mapping[str, Any], conv: Conversion) -> None:
        self.conv = conv
        self.definitions: Mapping[str, Any] = document["features"]
        groups = document.get("savedGroups")
        groups = {} if groups is None else groups
        if not isinstance(groups, Mapping):
            raise GrowthBookFormatError("'savedGroups' must be an object")
        self.saved_groups: Mapping[str, Any] = groups
        forced = document.get("forcedVariations") or {}
        self.forced_variations = set(forced) if isinstance(forced, Mapping) else set()
        self.experiments_off = document.get("enabled") is False or bool(document.get("qaMode"))
        overrides = document.get("forcedFeatures") or {}
        self.overridden = set(overrides) if isinstance(overrides, Mapping) else set()


def _gate_evaluator(clause: Clause) -> Callable[[Any], bool | None]:
    """Evaluates a translated parent condition on ``{"value": v}`` with Vexil's engine (so
    a prerequisite holds for exactly the parent variations the translation accepts)."""
    from edge_reader.engine import Context, compile_environment  # noqa: PLC0415

    doc = {"flags": {"gate": {
        "kind": "boolean", "variations": {"yes": True, "no": False},
        "rules": [{"clauses": [clause], "serve": {"variation": "yes"}}],
        "default": {"variation": "no"}}}}
    env = compile_environment(doc, strict=False)

    def holds(value: Any) -> bool | None:
        detail = env.evaluate("gate", Context.from_mapping(context({"value": value})), None)
        return None if detail.error_code else bool(detail.value)
    return holds


def _cyclic(parents: Mapping[str, set[str]]) -> set[str]:
    """Features whose prerequisite chain reaches a cycle (GrowthBook: cyclicPrerequisite,
    which every dependant inherits)."""
    @functools.cache
    def reaches_cycle(key: str, path: frozenset[str]) -> bool:
        if key in path:
            return True
        return any(reaches_cycle(p, path | {key}) for p in parents.get(key, ()))
    return {k for k in parents if reaches_cycle(k, frozenset())}


# ---------------------------------------------------------------------------------------
# convert()
# ---------------------------------------------------------------------------------------

def _prerequisites(feature: _Feature, gates: list[Any], features: Mapping[str, _Feature],
                   keys: Mapping[str, str]) -> list[dict[str, Any]] | None:
    """Vexil prerequisites for the leading gates; None when a gate can never pass (the
    feature then always answers "prerequisite": off, the caller's default)."""
    prereqs = []
    for gate in gates:
        parent = gate.get("id")
        clause = _Conditions(feature.notes, feature.build.saved_groups).condition(
            gate.get("condition") or {})
        holds = _gate_evaluator(clause)
        if not isinstance(parent, str) or parent not in features:
            if holds(None) is False:
                return None
            continue  # an unknown parent is null, and this gate accepts null
        owner = features[parent]
        passing = [n for n, v in owner.variations.values.items() if holds(v)]
        may_be_null = "default" not in owner.flag or bool(owner.flag.get("prerequisites"))
        if may_be_null and holds(None):
            feature.notes.bad(f"prerequisite {parent!r} passes when it is null, which Vexil "
                              "cannot test (a prerequisite holds only for served variations)")
        if not passing:
            return None
        prereqs.append({"flag": keys[parent], "variation": passing[0]} if len(passing) == 1
                       else {"flag": keys[parent], "variations": passing})
    return prereqs


def _features(document: Any) -> Mapping[str, Any]:
    if not isinstance(document, Mapping):
        raise GrowthBookFormatError("a GrowthBook SDK payload must be an object")
    if "features" not in document and "encryptedFeatures" in document:
        raise GrowthBookFormatError("the payload is encrypted: decrypt 'encryptedFeatures' "
                                    "with the SDK key's decryption key first")
    features = document.get("features")
    if not isinstance(features, Mapping):
        raise GrowthBookFormatError(
            "not a GrowthBook SDK payload: expected an object with a 'features' object")
    for key, definition in features.items():
        if not isinstance(key, str) or not key or not isinstance(definition, Mapping):
            raise GrowthBookFormatError(f"feature {key!r} must be an object")
    return features


def convert(document: Any) -> Conversion:
    """Translate a GrowthBook SDK payload (``{"features": {...}, "savedGroups": {...}}``)
    into a Vexil environment document. Raises :class:`GrowthBookFormatError` (a
    ``ValueError``) for anything that is not that shape. SDK-side settings found beside the
    features (``forcedVariations``, ``forcedFeatures``, ``qaMode``, ``enabled: false``,
    sticky bucket documents) make the features they touch unfaithful."""
    definitions = _features(document)
    conv = Conversion(document={"format": 1, "flags": {}})
    keys = map_keys(definitions)
    conv.keys = keys
    note_renamed_keys(conv, "features", keys)
    build = _Build(document, conv)
    features = {k: _Feature(k, d, build) for k, d in definitions.items()}
    gates: dict[str, list[Any]] = {}
    for key, feature in features.items():
        default = feature.definition.get("defaultValue")
        feature.flag = {}
        if default is not None:
            feature.flag["default"] = {"variation": feature.variations.of_value(default)}
        rules, gates[key] = feature.rules()
        if rules:
            feature.flag["rules"] = rules
        if gates[key]:
            feature.flag["prerequisites"] = gates[key]  # placeholder until all are built
        if key in build.overridden:
            feature.notes.bad("forcedFeatures overrides this feature in the SDK")
    cyclic = _cyclic({k: {g.get("id") for g in v if isinstance(g.get("id"), str)}
                      for k, v in gates.items()})
    for key, feature in features.items():
        prereqs = None if key in cyclic else _prerequisites(feature, gates[key], features, keys)
        if not feature.variations.values:
            feature.variations.named("null", None)
        flag = {"kind": feature.variations.kind(), "variations": feature.variations.values,
                "enabled": prereqs is not None, **feature.flag}
        flag.pop("prerequisites", None)
        if prereqs:
            flag["prerequisites"] = prereqs
        conv.document["flags"][keys[key]] = flag
    finish(conv, keys, {}, {f"features.{k}": {f"features.{p}" for p in f.parent_ids}
                            for k, f in features.items()})
    return conv
