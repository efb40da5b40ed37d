"""flagd flag definitions → a Vexil environment document.

Input: a flagd flag definition document (``{"flags": {...}, "$evaluators": {...}}``, the file
flagd and its in-process providers read). Output (``convert``): a ``Conversion`` whose
document ``compile_environment`` accepts; every flag flagd could evaluate differently is
reported ``faithful: False`` under ``flags.<key>`` (a problem inside a shared evaluator is
reported under the flag using it, naming ``$evaluators.<name>``).

How flagd's concepts land (docs/migrating.md has the full table):

* ``state: DISABLED`` → ``enabled: false`` with no off variation (the caller's default,
  reason ``DISABLED``); ``variants`` → variations (names kept when Vexil accepts them);
  ``defaultVariant`` → ``default``, and no ``defaultVariant`` (absent or ``null``) → a flag
  without a default (the caller's default, reason ``DEFAULT``).
* ``targeting`` (JsonLogic): an ``if`` chain becomes ordered rules; a result naming a
  variant serves it (``TARGETING_MATCH``), ``true``/``false`` name the variants ``"true"``/
  ``"false"`` (as flagd does), ``null`` or no result serves the default (``DEFAULT``).
  Conditions: ``==``/``===``/``!=``/``!==``, ``in``, ``<``/``<=``/``>``/``>=`` (also the
  three-argument "between" form), ``and``/``or``/``!``, ``starts_with``/``ends_with``;
  ``$flagd.timestamp`` becomes a ``now`` clause and ``$flagd.flagKey`` the flag's key.
  ``fractional`` becomes a rollout with flagd's own hash (``bucketing.hash: flagd``).
  ``sem_ver`` becomes semver clauses in flagd's syntax (``semver: flagd``).
  Everything else (arithmetic, ``cat`` outside ``fractional``, ``var`` with a
  default, truthiness of a bare ``var``...) is reported.
* An operator error (``starts_with`` on a non-string, ``sem_ver`` on a value that is not a
  version, wrong arguments) makes flagd serve the default variant: the translation requires
  a string (a version) on every later rule, so the same contexts fall to the default.

``context`` maps an OpenFeature evaluation context (``targetingKey`` + attributes).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edge_reader.engine.bucketing import bucket_function
from edge_reader.engine.semver import Version, flagd_text, parse_semver
from vexil.importers._check import finish
from vexil.importers._conversion import (
    Conversion,
    flag_kind,
    map_keys,
    note_renamed_keys,
    variant_name,
)


class FlagdFormatError(ValueError):
    """The input is not a flagd flag definition document (the message says what is wrong)."""


class _Unfaithful(Exception):
    """Raised inside a flag's targeting translation: the flag cannot be translated exactly."""


_ERROR = "error"  # a condition that always errors: flagd serves the default variant
_STATES = {"ENABLED": True, "DISABLED": False}
_COMPARE = {"<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
_RESERVED_ATTRS = ("kind", "key")  # Vexil's context kind and key: not plain attributes
_NO_KEY = {"attribute": "key", "op": "exists", "negate": True}


@dataclass
class _Flag:
    """Translation state of one flag's targeting."""

    key: str
    variants: dict[str, str]
    rules: list[dict[str, Any]] = field(default_factory=list)
    guards: list[dict[str, Any]] = field(default_factory=list)
    stopped: bool = False  # every context reaching here is decided: nothing after is reachable

    def variation(self, result: object) -> str:
        """The Vexil variation for a targeting result (a variant name; booleans name
        ``"true"``/``"false"`` as in flagd)."""
        name = ("true" if result else "false") if isinstance(result, bool) else result
        if not isinstance(name, str) or name not in self.variants:
            raise _Unfaithful(f"targeting result {result!r} is not a variant of the flag "
                              "(flagd reports an error)")
        return self.variants[name]

    def emit(self, conds: list[dict[str, Any]], serve: dict[str, Any]) -> None:
        """Append a rule (after everything reachable so far) unless nothing can reach it."""
        if not self.stopped:
            self.rules.append({"clauses": [*conds, *self.guards], "serve": serve})
            if not conds:
                self.stopped = True


def convert(document: object) -> Conversion:
    """Translate a flagd flag definition document into a Vexil environment document.

    Never claims a faithful translation it cannot make. Raises ``FlagdFormatError`` when
    ``document`` is not a flagd document (no ``flags`` object, a flag without variants)."""
    flags, evaluators, shared_meta = _split(document)
    keys = map_keys(flags)
    conv = Conversion(document={"format": 1, "flags": {}}, keys=dict(keys))
    note_renamed_keys(conv, "flags", keys)
    uses: dict[str, set[str]] = {}
    for key, flag in sorted(flags.items()):
        conv.document["flags"][keys[key]] = _flag(conv, key, flag, evaluators, shared_meta, uses)
    finish(conv, keys, {}, uses)
    return conv


def _split(document: object) -> tuple[dict[str, Mapping[str, Any]], Mapping[str, Any],
                                      Mapping[str, Any]]:
    if not isinstance(document, Mapping) or not isinstance(document.get("flags"), Mapping):
        raise FlagdFormatError("a flagd document must be a JSON object with a 'flags' object")
    evaluators = document.get("$evaluators") or {}
    meta = document.get("metadata") or {}
    if not isinstance(evaluators, Mapping):
        raise FlagdFormatError("'$evaluators' must be an object of name → JsonLogic rule")
    for key, flag in document["flags"].items():
        if not isinstance(flag, Mapping) or not isinstance(flag.get("variants"), Mapping) \
                or not flag["variants"]:
            raise FlagdFormatError(f"flags.{key}: a flagd flag needs a non-empty 'variants' object")
    return dict(document["flags"]), evaluators, meta if isinstance(meta, Mapping) else {}


def _flag(conv: Conversion, key: str, flag: Mapping[str, Any], evaluators: Mapping[str, Any],
          shared_meta: Mapping[str, Any], uses: dict[str, set[str]]) -> dict[str, Any]:
    """One flagd flag; its targeting is translated into rules or reported."""
    path = f"flags.{key}"
    variants = {name: variant_name(name) for name in flag["variants"]}
    values = list(flag["variants"].values())
    out: dict[str, Any] = {
        "kind": flag_kind(values),
        "variations": {variants[n]: v for n, v in flag["variants"].items()},
        "enabled": flag.get("state") == "ENABLED",
    }
    if not isinstance(flag.get("state"), str) or flag["state"] not in _STATES:
        conv.note(path, f"state {flag.get('state')!r} is neither ENABLED nor DISABLED: "
                        "imported as disabled", faithful=False)
    # A DISABLED flag serves the caller's default whatever the rest says: what cannot be
    # translated there changes nothing served today (kept as a note).
    matters = flag.get("state") != "DISABLED"
    default = flag.get("defaultVariant")
    if default is not None:
        if isinstance(default, str) and default in variants:
            out["default"] = {"variation": variants[default]}
        else:
            conv.note(path, f"defaultVariant {default!r} is not a variant (flagd refuses the "
                            "flag): imported without a default", faithful=not matters)
    own = flag.get("metadata") or {}
    if not isinstance(own, Mapping):
        conv.note(path, "metadata is not an object: not imported", faithful=True)
        own = {}
    metadata = _metadata(conv, path, {**shared_meta, **own})
    if metadata:
        out["metadata"] = metadata
    targeting = flag.get("targeting")
    if targeting not in (None, {}):
        state = _Flag(key, variants)
        try:
            resolved = _resolve_refs(targeting, evaluators, uses.setdefault(path, set()), 0)
            _branch(resolved, [], state, top=True)
            # Targeting that exists but decided nothing answers DEFAULT in flagd, not STATIC:
            # a rule that never matches keeps Vexil's reason the same.
            out["rules"] = state.rules or [{"clauses": [{"any": []}],
                                            "serve": {"variation": next(iter(out["variations"]))}}]
        except _Unfaithful as exc:
            conv.note(path, f"targeting not translated: {exc}", faithful=not matters)
    return out


def _metadata(conv: Conversion, path: str, meta: Mapping[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in meta.items()
            if isinstance(k, str) and isinstance(v, str | int | float | bool)}
    for name in sorted(set(meta) - set(kept), key=str):
        conv.note(path, f"metadata {name!r} is not a string, number or boolean: not imported",
                  faithful=True)
    return kept


def _resolve_refs(node: object, evaluators: Mapping[str, Any], used: set[str],
                  depth: int) -> object:
    """The targeting with every ``{"$ref": name}`` replaced by that shared evaluator."""
    if depth > 32:
        raise _Unfaithful("evaluator references nest deeper than 32 (a cycle?)")
    if isinstance(node, list):
        return [_resolve_refs(n, evaluators, used, depth) for n in node]
    if not isinstance(node, Mapping):
        return node
    if set(node) == {"$ref"}:
        name = node["$ref"]
        if not isinstance(name, str) or name not in evaluators:
            raise _Unfaithful(f"$ref to unknown evaluator {name!r} (flagd: PARSE_ERROR)")
        used.add(f"$evaluators.{name}")
        return _resolve_refs(evaluators[name], evaluators, used, depth + 1)
    return {k: _resolve_refs(v, evaluators, used, depth) for k, v in node.items()}


# --- targeting results -----------------------------------------------------------------------


def _branch(expr: object, conds: list[dict[str, Any]], st: _Flag, *, top: bool) -> bool:
    """Emit the rules for a targeting (sub-)expression reached when ``conds`` hold. Returns
    whether every such context is decided by an emitted rule (False: some get the default)."""
    if st.stopped:
        return True
    if expr is None:
        if not conds:
            st.stopped = True
        return False
    if isinstance(expr, str | bool):
        st.emit(conds, {"variation": st.variation(expr)})
        return True
    if isinstance(expr, Mapping) and len(expr) == 1:
        op, args = next(iter(expr.items()))
        if op == "if" and isinstance(args, list):
            return _if(args, conds, st, top=top)
        if op == "fractional":
            for extra, serve, keyless in _fractional(args, st):
                if keyless is not None:  # default bucketing, no targeting key: flagd hashes
                    st.emit([*conds, *extra, _NO_KEY], {"variation": keyless})  # the key alone
                if serve is not None:  # None: all weights zero, flagd serves the default variant
                    st.emit([*conds, *extra], serve)
            st.stopped = st.stopped or not conds  # a context it skips gets the default
            return False
    raise _Unfaithful(f"targeting result {_short(expr)} is not a variant name, if or fractional")


def _if(args: list[Any], conds: list[dict[str, Any]], st: _Flag, *, top: bool) -> bool:
    """An ``if`` chain: each condition's branch, then the else branch, in order. A context
    that a branch leaves undecided must not reach later branches: they require ``not`` it."""
    negs: list[dict[str, Any]] = []
    for i in range(0, len(args) - 1, 2):
        cond = _cond(args[i], st, guard_ok=top)
        if cond is _ERROR:
            if conds or negs:
                raise _Unfaithful("an operator error inside a condition reached only by some "
                                  "contexts")
            st.stopped = True  # flagd: every context reaching this errors → default
            return True
        if cond is False:
            continue
        if cond is True:
            return _branch(args[i + 1], conds + negs, st, top=top)
        assert isinstance(cond, dict)
        if not _branch(args[i + 1], [*conds, *negs, cond], st, top=False):
            negs.append({"not": cond})
        if st.stopped:
            return True
    if len(args) % 2 == 1:
        return _branch(args[-1], conds + negs, st, top=top)
    if not conds and not negs:
        st.stopped = True
    return False


Clause = dict[str, Any]
Split = tuple[list[Clause], dict[str, Any] | None, str | None]
_MAX_SPLIT_CONDITIONS = 3


def _fractional(args: object, st: _Flag) -> list[Split]:
    """``fractional`` → [(conditions, a rollout with flagd's hash over ``salt + value``, the
    variation a context without a targeting key gets)]. The bucketing string is the
    expression's constant prefix and its one attribute; a context without that attribute is
    skipped (flagd serves the default variant). By default it is the flag key + the
    targeting key, and without a targeting key flagd hashes the flag key alone: that
    variation is computed here. A bucket whose variant or weight is an ``if`` gives one
    rollout per combination of those conditions."""
    if not isinstance(args, list) or not args:
        raise _Unfaithful("fractional needs bucket entries")
    salt, attr, default_bucketing = st.key, "key", True
    if not isinstance(args[0], list):
        default_bucketing = False
        salt, attr = _bucket_by(args[0], st)
        args = args[1:]
    for entry in args:
        if not isinstance(entry, list) or not 1 <= len(entry) <= 2:
            raise _Unfaithful(f"fractional bucket {_short(entry)} is not [variant, weight]")
    conditions = _split_conditions(args, st)
    out: list[Split] = []
    for bits in itertools.product((True, False), repeat=len(conditions)):
        chosen = dict(zip((key for key, _ in conditions), bits, strict=True))
        extra = [c if bit else {"not": c} for (_, c), bit in zip(conditions, bits, strict=True)]
        entries: list[dict[str, Any]] = [{"variation": st.variation(_pick(e[0], chosen)),
                    "weight": max(_weight(_pick(e[1], chosen) if len(e) == 2 else 1), 0)}
                   for e in args]
        total = sum(e["weight"] for e in entries)
        if total == 0:
            out.append((extra, None, None))
            continue
        rollout = {"rollout": {"variations": entries, "bucket_by": attr, "salt": salt,
                               "missing": "skip",
                               "bucketing": {"hash": "flagd", "buckets": total}}}
        keyless = _keyless(entries, salt, total) if default_bucketing else None
        out.append((extra, rollout, keyless))
    return out


def _split_conditions(entries: list[Any], st: _Flag) -> list[tuple[str, Clause]]:
    """The distinct conditions of ``if`` variant names and weights in fractional buckets."""
    found: dict[str, Clause] = {}
    for entry in entries:
        for part in entry:
            if isinstance(part, Mapping) and set(part) == {"if"}:
                branch = part["if"]
                if not isinstance(branch, list) or len(branch) != 3:
                    raise _Unfaithful(f"fractional bucket {_short(part)}: only if [c, a, b]")
                cond = _cond(branch[0], st, guard_ok=False)
                if not isinstance(cond, dict):
                    raise _Unfaithful(f"fractional bucket {_short(part)}: a constant or "
                                      "erroring condition")
                found.setdefault(json.dumps(branch[0], sort_keys=True), cond)
    if len(found) > _MAX_SPLIT_CONDITIONS:
        raise _Unfaithful("fractional buckets depend on more than 3 conditions")
    return list(found.items())


def _pick(expr: object, chosen: Mapping[str, bool]) -> object:
    """A bucket's variant name or weight under one combination of its ``if`` conditions."""
    if isinstance(expr, Mapping) and set(expr) == {"if"}:
        cond, then, other = expr["if"]
        return then if chosen[json.dumps(cond, sort_keys=True)] else other
    return expr


def _weight(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Unfaithful(f"fractional weight {_short(value)} is not an integer")
    return value


def _keyless(entries: list[dict[str, Any]], salt: str, total: int) -> str | None:
    """The variation flagd picks when the bucketing string is the flag key alone."""
    bucket, end = bucket_function("flagd", salt, None, total)(""), 0
    for entry in entries:
        end += entry["weight"]
        if bucket < end:
            return str(entry["variation"])
    return None


def _bucket_by(expr: object, st: _Flag) -> tuple[str, str]:
    """(salt, attribute) for a bucketing expression: a ``var``, or ``cat`` of constants
    followed by one ``var``."""
    parts = expr["cat"] if isinstance(expr, Mapping) and set(expr) == {"cat"} else [expr]
    if not isinstance(parts, list) or not parts:
        raise _Unfaithful(f"bucketing expression {_short(expr)} is not a var or cat")
    prefix = ""
    for part in parts[:-1]:
        value = _operand(part, st)
        if not isinstance(value, _Const) or not isinstance(value.value, str):
            raise _Unfaithful(f"bucketing expression {_short(expr)}: only its last part may "
                              "read the context")
        prefix += value.value
    last = _operand(parts[-1], st)
    if not isinstance(last, _Attr) or last.now:
        raise _Unfaithful(f"bucketing expression {_short(expr)} must end with a context var")
    return prefix, last.name


# --- conditions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Attr:
    name: str
    now: bool = False


@dataclass(frozen=True)
class _Const:
    value: object


def _operand(expr: object, st: _Flag) -> _Attr | _Const:
    """A comparison operand: a context attribute, the evaluation time, or a constant."""
    if not isinstance(expr, Mapping):
        return _Const(expr)
    if set(expr) != {"var"}:
        raise _Unfaithful(f"operand {_short(expr)} is neither a var nor a literal")
    ref = expr["var"]
    if isinstance(ref, list):
        if (len(ref) == 2 and ref[1] is not None) or not 1 <= len(ref) <= 2:
            raise _Unfaithful(f"var {ref!r} with a default value")
        ref = ref[0]
    if not isinstance(ref, str) or not ref:
        raise _Unfaithful(f"var {ref!r} is not an attribute path")
    if ref == "$flagd.flagKey":
        return _Const(st.key)
    if ref == "$flagd.timestamp":
        return _Attr("", now=True)
    if ref == "targetingKey":
        return _Attr("key")
    steps = ref.split(".")
    if ref.startswith("$") or ref in _RESERVED_ATTRS or any(not s or s.isdigit() for s in steps):
        raise _Unfaithful(f"var {ref!r}: not an attribute Vexil reads the same way")
    if len(steps) == 1 and not ref.startswith("/"):
        return _Attr(ref)
    return _Attr("".join("/" + s.replace("~", "~0").replace("/", "~1") for s in steps))


def _cond(expr: object, st: _Flag, *, guard_ok: bool) -> dict[str, Any] | bool | str:
    """A JsonLogic condition as one Vexil clause (or group), a constant, or ``_ERROR``."""
    if expr is None or isinstance(expr, bool | int | float | str):
        return bool(expr)
    if not isinstance(expr, Mapping) or len(expr) != 1:
        raise _Unfaithful(f"condition {_short(expr)} is not one JsonLogic operation")
    op, args = next(iter(expr.items()))
    if op in ("==", "===", "!=", "!=="):
        return _equality(op, args, st)
    if op == "in":
        return _membership(args, st)
    if op in _COMPARE:
        return _comparison(op, args, st)
    if op in ("starts_with", "ends_with"):
        return _affix(op, args, st, guard_ok=guard_ok)
    if op in ("and", "or"):
        return _junction(op, args, st, guard_ok=guard_ok)
    if op == "sem_ver":
        return _semver(args, st, guard_ok=guard_ok)
    if op == "fractional":
        return _fractional_condition(args, st, guard_ok=guard_ok)
    if op == "!":
        # Not the whole condition any more: where flagd's operator error would surface
        # there is not settled (abort vs. a null operand), so no guard is claimed.
        inner = _cond(args[0] if isinstance(args, list) and len(args) == 1 else args, st,
                      guard_ok=False)
        return inner if inner is _ERROR else (not inner if isinstance(inner, bool)
                                              else {"not": inner})
    raise _Unfaithful(f"operator {op!r} has no exact Vexil equivalent")


_SEMVER_OPS = ("=", "!=", "<", "<=", ">", ">=", "^", "~")
_SEMVER_CLAUSE = {"=": "semver_eq", "<": "semver_lt", "<=": "semver_lte", ">": "semver_gt",
                  ">=": "semver_gte"}
_SEMVER_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
# Every version in flagd's syntax is >= the lowest one there is: the "is a version" test.
_ANY_VERSION = {"op": "semver_gte", "values": ["0.0.0-0"], "semver": "flagd"}


def _semver(args: object, st: _Flag, *, guard_ok: bool) -> dict[str, Any] | bool | str:
    """``sem_ver`` with Vexil's ``semver: flagd`` syntax (a leading ``v``/``V``, numbers,
    padded partial versions). flagd errors (→ the default variant) on wrong arguments, an
    unknown comparison and a value that is not a version: the first two hold for every
    context; for the last, later rules require a version (as for ``starts_with``)."""
    if not isinstance(args, list) or len(args) != 3 or args[1] not in _SEMVER_OPS:
        return _ERROR
    a, cmp, b = _operand(args[0], st), args[1], _operand(args[2], st)
    if isinstance(a, _Const) and isinstance(b, _Const):
        return _semver_constant(a.value, cmp, b.value)
    if isinstance(a, _Const):
        a, b, cmp = b, a, _SEMVER_FLIP.get(cmp, cmp)
    if not isinstance(a, _Attr) or not isinstance(b, _Const) or a.now:
        raise _Unfaithful(f"sem_ver {_short(args)}: only a context value against a version "
                          "translates")
    target = parse_semver(flagd_text(b.value))
    if target is None:
        return _ERROR  # flagd: the target is not a version, whatever the context
    if not guard_ok:
        raise _Unfaithful("sem_ver inside a branch, and, or or !: flagd's error for a value "
                          "that is not a version cannot be reproduced there")
    guard = {"attribute": a.name, **_ANY_VERSION}
    if guard not in st.guards:
        st.guards.append(guard)
    return _semver_clause(a.name, cmp, target)


def _semver_clause(name: str, cmp: str, target: Version) -> dict[str, Any]:
    """The clause(s) testing a version attribute against ``target`` the way ``cmp`` does.
    ``^``/``~`` (same major / same major.minor, as Go's ``semver.Major``/``MajorMinor``)
    are the ranges from the lowest version of that major (minor) to the next one's."""
    def clause(op: str, text: str) -> dict[str, Any]:
        return {"attribute": name, "op": op, "values": [text], "semver": "flagd"}

    major, minor = target[0], target[1]
    if cmp in ("^", "~"):
        low, high = (f"{major}.0.0-0", f"{major + 1}.0.0-0") if cmp == "^" else (
            f"{major}.{minor}.0-0", f"{major}.{minor + 1}.0-0")
        return {"all": [clause("semver_gte", low), clause("semver_lt", high)]}
    text = _version_text(target)
    if cmp == "!=":
        return {"not": clause("semver_eq", text)}
    return clause(_SEMVER_CLAUSE[cmp], text)


def _version_text(v: Version) -> str:
    """A version's canonical text (build metadata, which never counts, left out)."""
    core = f"{v[0]}.{v[1]}.{v[2]}"
    return core if v[3] else core + "-" + ".".join(str(part) for _, part in v[4])


def _semver_constant(left: object, cmp: str, right: object) -> bool | str:
    """``sem_ver`` between two literals: decided at import (or an error for every context)."""
    a, b = parse_semver(flagd_text(left)), parse_semver(flagd_text(right))
    if a is None or b is None:
        return _ERROR
    if cmp == "^":
        return a[0] == b[0]
    if cmp == "~":
        return a[:2] == b[:2]
    return {"=": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[cmp]


def _fractional_condition(args: object, st: _Flag, *, guard_ok: bool) -> bool | str:
    """``fractional`` used as a condition: exact only when the bucket cannot change the
    answer (all weights zero: an error; one entry with weight under the default bucketing:
    that entry's value, read as JsonLogic truthiness; a bare ``var`` bucketing expression
    whose weighted entries are all truthy or all falsy: that truthiness for a string value,
    flagd's error — the default variant — for any other, reproduced with a guard)."""
    if not isinstance(args, list) or not args:
        raise _Unfaithful("fractional needs bucket entries")
    explicit = not isinstance(args[0], list)  # a bucketing expression comes first
    entries = args[1:] if explicit else args
    if not all(isinstance(e, list) and 1 <= len(e) <= 2 for e in entries):
        raise _Unfaithful("fractional as a condition with computed buckets")
    weights = [e[1] if len(e) == 2 else 1 for e in entries]
    if not all(isinstance(w, int) and not isinstance(w, bool) for w in weights):
        raise _Unfaithful("fractional as a condition with computed weights")
    if not any(w > 0 for w in weights):
        return _ERROR  # no bucket can be chosen, whatever the context
    live = [e[0] for e, w in zip(entries, weights, strict=True) if w > 0]
    if explicit:
        return _bucketed_condition(args[0], live, st, guard_ok=guard_ok)
    if not live:
        return _ERROR
    if len(live) > 1:
        raise _Unfaithful("fractional as a condition")
    value = live[0]
    return bool(value) if isinstance(value, bool | int | float | str) or value is None else \
        _truthy_container(value)


def _bucketed_condition(expr: object, live: list[Any], st: _Flag, *,
                        guard_ok: bool) -> bool:
    """A ``fractional`` condition bucketing by a bare ``var``: constant when every weighted
    entry has the same truthiness; a context without a string value errors (→ default)."""
    truths = {_truthy(value) for value in live}
    operand = _operand(expr, st)
    if len(truths) != 1 or not isinstance(operand, _Attr) or operand.now or not guard_ok:
        raise _Unfaithful("fractional as a condition whose bucket decides, or with a "
                          "bucketing expression other than a var")
    guard = {"attribute": operand.name, "op": "matches", "values": [""]}  # "is a string"
    if guard not in st.guards:
        st.guards.append(guard)
    return truths.pop()


def _truthy(value: object) -> bool:
    return bool(value) if isinstance(value, bool | int | float | str) or value is None else \
        _truthy_container(value)


def _truthy_container(value: object) -> bool:
    if isinstance(value, list):
        return bool(value)  # JsonLogic: an empty array is false
    raise _Unfaithful(f"fractional condition value {_short(value)}")


def _pair(args: object, st: _Flag) -> tuple[_Attr | _Const, _Attr | _Const]:
    if not isinstance(args, list) or len(args) != 2:
        raise _Unfaithful(f"arguments {_short(args)}: expected two")
    return _operand(args[0], st), _operand(args[1], st)


def _equality(op: str, args: object, st: _Flag) -> dict[str, Any] | bool:
    """``===``/``!==`` compare typed; ``==``/``!=`` coerce in JsonLogic, so only a literal
    that no other type can equal loosely (a non-numeric, non-blank string) is exact."""
    a, b = _pair(args, st)
    if isinstance(a, _Const) and isinstance(b, _Const):
        return (a.value == b.value) == (op in ("==", "==="))
    attr, lit = (a, b) if isinstance(a, _Attr) else (b, a)
    if not isinstance(attr, _Attr) or not isinstance(lit, _Const) or attr.now:
        raise _Unfaithful(f"{op} between two context values")
    value = lit.value
    exact = isinstance(value, str | int | float) and not (
        op in ("==", "!=") and not (isinstance(value, str) and not _js_numeric(value)))
    if not exact:
        raise _Unfaithful(f"{op} {value!r}: JsonLogic's loose equality coerces types, "
                          "Vexil does not")
    clause = {"attribute": attr.name, "op": "in", "values": [value]}
    return clause if op in ("==", "===") else {"not": clause}


def _js_numeric(text: str) -> bool:
    """Whether JavaScript's ``Number(text)`` is a number (so ``text == n`` may hold)."""
    stripped = text.strip()
    if not stripped:
        return True
    try:
        float(stripped)
    except ValueError:
        return stripped.lower().startswith(("0x", "0o", "0b", "infinity", "+infinity",
                                            "-infinity"))
    return True


def _membership(args: object, st: _Flag) -> dict[str, Any] | bool:
    """``in``: a var in a literal list (strict equality), or a literal string in a var
    (substring)."""
    a, b = _pair(args, st)
    if isinstance(a, _Attr) and not a.now and isinstance(b, _Const) and isinstance(b.value, list) \
            and all(isinstance(v, str | int | float) for v in b.value):
        return {"attribute": a.name, "op": "in", "values": list(b.value)}
    if isinstance(a, _Const) and isinstance(a.value, str) and isinstance(b, _Attr) and not b.now:
        return {"attribute": b.name, "op": "contains", "values": [a.value]}
    if isinstance(a, _Const) and isinstance(b, _Const):
        if isinstance(b.value, list):
            return a.value in b.value
        if isinstance(a.value, str) and isinstance(b.value, str):
            return a.value in b.value
    raise _Unfaithful(f"in {_short(args)}: only var-in-list and string-in-var translate")


def _comparison(op: str, args: object, st: _Flag) -> dict[str, Any] | bool:
    """``<``…``>=`` between a var (or ``$flagd.timestamp``) and a number, or the
    three-argument form ``a < var < b``."""
    if isinstance(args, list) and len(args) == 3:
        first = _comparison(op, [args[0], args[1]], st)
        second = _comparison(op, [args[1], args[2]], st)
        return {"all": [c for c in (first, second) if isinstance(c, dict)]} \
            if first is not False and second is not False else False
    a, b = _pair(args, st)
    if isinstance(b, _Attr) and isinstance(a, _Const):
        a, b, op = b, a, _FLIP[op]
    if not isinstance(a, _Attr) or not isinstance(b, _Const) or not _is_number(b.value):
        raise _Unfaithful(f"{op} {_short(args)}: only a context value against a number translates")
    limit = b.value
    assert isinstance(limit, int | float)
    if a.now:
        return _now_clause(op, limit)
    if _js_compare(0, op, limit):  # JsonLogic reads an absent value as 0 here; Vexil never matches
        raise _Unfaithful(f"{op} {limit!r} holds for an absent attribute in JsonLogic (null is 0)")
    return {"attribute": a.name, "op": _COMPARE[op], "values": [limit]}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _js_compare(left: float, op: str, right: float) -> bool:
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]


def _now_clause(op: str, seconds: float) -> dict[str, Any]:
    """``$flagd.timestamp`` is whole seconds; Vexil's ``now`` is milliseconds: ``ts > L``
    holds from second ⌊L⌋+1 on, i.e. ``now >= (⌊L⌋+1)·1000``, and likewise for the others."""
    after_whole = op in (">", "<=")
    edge = (math.floor(seconds) + 1) * 1000 if after_whole else math.ceil(seconds) * 1000
    return {"now": True, "op": "gte" if op in (">", ">=") else "lt", "values": [edge]}


def _affix(op: str, args: object, st: _Flag, *, guard_ok: bool) -> dict[str, Any] | bool | str:
    """``starts_with``/``ends_with``: flagd errors (→ default variant) on a non-string or
    missing value; later rules then require a string so those contexts get the default."""
    if not isinstance(args, list) or len(args) != 2:
        return _ERROR
    a, b = _operand(args[0], st), _operand(args[1], st)
    if not isinstance(b, _Const) or not isinstance(b.value, str):
        return _ERROR
    if isinstance(a, _Const):
        if not isinstance(a.value, str):
            return _ERROR
        return a.value.startswith(b.value) if op == "starts_with" else a.value.endswith(b.value)
    if a.now:
        return _ERROR
    if not guard_ok:
        raise _Unfaithful(f"{op} inside a branch, and, or or !: flagd's error for a "
                          "non-string value cannot be reproduced there")
    guard = {"attribute": a.name, "op": "matches", "values": [""]}
    if guard not in st.guards:
        st.guards.append(guard)
    return {"attribute": a.name, "op": op, "values": [b.value]}


def _junction(op: str, args: object, st: _Flag, *, guard_ok: bool) -> dict[str, Any] | bool | str:
    """``and``/``or`` over conditions. An operator that can error is reported inside them:
    flagd implementations differ on whether the error aborts the evaluation (default
    variant) or is a null operand (the other operands decide)."""
    if not isinstance(args, list) or not args:
        raise _Unfaithful(f"{op} needs a list of conditions")
    parts = []
    for arg in args:
        part = _cond(arg, st, guard_ok=False)
        if part is _ERROR:
            raise _Unfaithful(f"an operator that always errors inside {op}")
        if isinstance(part, bool):
            if part == (op == "or"):
                return part  # decided: true for or, false for and
            continue
        parts.append(part)
    if not parts:
        return op == "and"
    return parts[0] if len(parts) == 1 else {"all" if op == "and" else "any": parts}


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# --- contexts --------------------------------------------------------------------------------


def context(peer_context: object) -> dict[str, Any]:
    """An OpenFeature evaluation context (what flagd evaluates) as a Vexil context: the
    ``targetingKey`` stays the key, every other attribute is kept as it is (nested objects
    are read with ``a.b`` paths, which the importer turns into ``/a/b``). ``kind`` and
    ``key`` are dropped: Vexil reads them as the context's kind and key (a flag testing
    them is reported by ``convert``)."""
    if not isinstance(peer_context, Mapping):
        raise FlagdFormatError("an evaluation context must be a JSON object")
    out = {k: v for k, v in peer_context.items() if k not in _RESERVED_ATTRS}
    if out.get("targetingKey") is None:
        out.pop("targetingKey", None)
    return out
