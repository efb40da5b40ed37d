"""Unleash client features (``GET /api/client/features``) → a Vexil environment document.

Promises (docs/migrating.md, "Unleash", says the same for people):

* A feature without variants (neither feature variants nor strategy variants) becomes a
  ``boolean`` flag whose value answers ``isEnabled``; a feature with variants becomes a
  ``json`` flag whose value is what ``getVariant`` returns: ``{"name", "payload",
  "enabled": true, "feature_enabled": true}``, or Unleash's disabled variant
  ``{"name": "disabled", "payload": null, "enabled": false, "feature_enabled": <isEnabled>}``.
* Strategies are ORed: each becomes one or more ordered rules. Constraints, segments and
  dependencies keep Unleash's semantics (a missing context field fails ``IN`` and passes
  ``NOT_IN``; ``inverted`` is the exact negation). Bucketing uses Unleash's own hash
  (MurmurHash3 of ``groupId:value``), so every context lands where Unleash puts it.
* Whatever cannot be reproduced exactly (custom strategies, ``applicationHostname``, an
  unknown operator, a regular expression whose meaning differs between dialects...) is
  reported with
  ``faithful: False`` and the peer path (``features.<name>`` or ``segments.<id>``).

``context()`` maps an Unleash context to the Vexil context the translated flags expect.
"""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edge_reader.engine.dates import parse_rfc3339_ms
from vexil.importers._check import finish
from vexil.importers._conversion import (
    Conversion,
    PathNotes,
    map_keys,
    note_renamed_keys,
    variant_name,
)

# Context attributes the translated flags read (one owner: context() and convert() both use
# these names).
RANDOM_ATTRIBUTE = "unleash_random"  # a fresh random value per context(): Unleash's "random"
NUMBER_SUFFIX = "#number"  # the numeric reading of a string field, for NUM_* constraints
SEMVER_SUFFIX = "#semver"  # a field that is a strict version, for SEMVER_* constraints
_BUILTIN = {"userId": "key", "sessionId": "sessionId", "remoteAddress": "remoteAddress",
            "environment": "environment", "appName": "appName", "currentTime": "currentTime"}
_RESERVED = {"key", "targetingKey", "kind", RANDOM_ATTRIBUTE}

STRATEGY_SEED = 0  # Unleash hashes strategy percentages with seed 0 ...
VARIANT_SEED = 86028157  # ... and variants with this one (its VARIANT_NORMALIZATION_SEED)

NEVER: dict[str, Any] = {"any": []}
ALWAYS: dict[str, Any] = {"all": []}

# Rust's f64 parse (what Unleash's engine uses for NUM_* fields), minus inf/NaN.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# A strict SemVer 2.0.0 version: what Unleash's SEMVER_* accept (no "v", no partial versions).
_N = r"(?:0|[1-9][0-9]*)"
_ID = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_STRICT_SEMVER = re.compile(rf"{_N}\.{_N}\.{_N}(?:-{_ID}(?:\.{_ID})*)?"
                            r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?", re.ASCII)


class UnleashFormatError(ValueError):
    """The input is not an Unleash client features document."""


# ---------------------------------------------------------------------------------------
# context()
# ---------------------------------------------------------------------------------------

def attribute(context_name: str) -> str:
    """The Vexil attribute an Unleash context field is read from: ``userId`` is the key,
    the other built-in fields keep their names, custom fields (``properties``) are
    top-level attributes; a property whose name Vexil reserves (``key``, ``kind``, ...) or
    that starts with ``/`` (a JSON pointer in Vexil) is kept as ``property:<name>``."""
    if context_name in _BUILTIN:
        return _BUILTIN[context_name]
    if context_name in _RESERVED or context_name.startswith("/"):
        return f"property:{context_name}"
    return context_name


def _js_string(value: Any) -> str | None:
    """The string Unleash's SDKs see for a context value (they are strings on the wire)."""
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def context(peer_context: Mapping[str, Any]) -> dict[str, Any]:
    """The Vexil context for an Unleash context: ``userId`` is the targeting key;
    ``sessionId``, ``remoteAddress``, ``environment``, ``appName``, ``currentTime`` and
    every ``properties`` entry are attributes (a top-level field wins over a property of
    the same name; values become strings, as Unleash sees them; ``null`` is absent). Every
    string that reads as a number also appears as a number under ``<name>#number`` (for
    ``NUM_*`` constraints), every strict version under ``<name>#semver`` (for ``SEMVER_*``),
    and ``unleash_random`` holds a fresh random value: Unleash's
    ``random`` stickiness, drawn once per call."""
    if not isinstance(peer_context, Mapping):
        raise UnleashFormatError("an Unleash context must be an object")
    props = peer_context.get("properties") or {}
    if not isinstance(props, Mapping):
        raise UnleashFormatError("context.properties must be an object")
    out: dict[str, Any] = {}
    for name, value in props.items():
        text = _js_string(value)
        if isinstance(name, str) and text is not None:
            out[attribute(name)] = text
    for name in _BUILTIN:
        text = _js_string(peer_context.get(name))
        if text is not None:
            out[attribute(name)] = text
    for name, text in list(out.items()):
        if _NUMBER.fullmatch(text):
            out[name + NUMBER_SUFFIX] = float(text)
        if _STRICT_SEMVER.fullmatch(text):
            out[name + SEMVER_SUFFIX] = text
    if "key" in out:
        out["targetingKey"] = out.pop("key")
    out[RANDOM_ATTRIBUTE] = secrets.token_hex(8)
    return out


# ---------------------------------------------------------------------------------------
# convert(): the shapes of one feature
# ---------------------------------------------------------------------------------------

@dataclass
class _Shape:
    """What other features need to know about one feature's translation."""

    kind: str  # "boolean" | "json"
    names: dict[tuple[str, str], str] = field(default_factory=dict)  # (peer name, payload) →
    off: str = "false"  # served when the feature is off for the context
    on_no_variant: str | None = None  # json: enabled, but no variant resolved

    def by_peer_name(self, peer: str) -> list[str]:
        """Every Vexil variation of the peer variant named ``peer``."""
        return [v for (name, _), v in self.names.items() if name == peer]

    def enabled_variations(self) -> list[str]:
        """The Vexil variations served exactly when the feature is enabled."""
        if self.kind == "boolean":
            return ["true"]
        extra = [self.on_no_variant] if self.on_no_variant else []
        return list(self.names.values()) + extra


def _variant_lists(feature: Mapping[str, Any]) -> list[list[Any]]:
    lists = [feature.get("variants") or []]
    lists += [s.get("variants") or [] for s in _strategies(feature)]
    return [v for v in lists if isinstance(v, list)]


def _payload_key(variant: Mapping[str, Any]) -> str:
    return json.dumps(variant.get("payload"), sort_keys=True)


def _shape(feature: Mapping[str, Any]) -> _Shape:
    """Decide the flag kind and the Vexil variation name of every distinct peer variant."""
    variants = [v for vs in _variant_lists(feature) for v in vs
                if isinstance(v, Mapping) and isinstance(v.get("name"), str)]
    if not variants:
        return _Shape("boolean")
    shape = _Shape("json")
    taken: set[str] = set()
    for v in variants:
        ident = (v["name"], _payload_key(v))
        if ident in shape.names:
            continue
        name = variant_name(v["name"])
        if name in taken:
            name = variant_name(f"{v['name']}#{ident[1]}")
        shape.names[ident] = name
        taken.add(name)
    shape.off = _free("disabled", taken)
    taken.add(shape.off)
    if _may_enable_without_variant(feature):
        shape.on_no_variant = _free("disabled-feature-enabled", taken)
    return shape


def _free(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}-{n}"
    return candidate


def _may_enable_without_variant(feature: Mapping[str, Any]) -> bool:
    """Whether an enabling strategy can leave Unleash with no variant (disabled variant,
    ``feature_enabled: true``)."""
    if feature.get("variants"):
        return False
    strategies = _strategies(feature)
    return not strategies or any(not s.get("variants") for s in strategies)


def _strategies(feature: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    strategies = feature.get("strategies") or []
    return [s for s in strategies if isinstance(s, Mapping)] if isinstance(strategies, list) else []


def _variation_values(shape: _Shape, feature: Mapping[str, Any]) -> dict[str, Any]:
    if shape.kind == "boolean":
        return {"true": True, "false": False}
    values: dict[str, Any] = {}
    payloads = {(v["name"], _payload_key(v)): v.get("payload")
                for vs in _variant_lists(feature) for v in vs
                if isinstance(v, Mapping) and isinstance(v.get("name"), str)}
    for ident, name in shape.names.items():
        values[name] = {"name": ident[0], "payload": payloads[ident], "enabled": True,
                        "feature_enabled": True}
    values[shape.off] = {"name": "disabled", "payload": None, "enabled": False,
                         "feature_enabled": False}
    if shape.on_no_variant:
        values[shape.on_no_variant] = {"name": "disabled", "payload": None, "enabled": False,
                                       "feature_enabled": True}
    return values


# ---------------------------------------------------------------------------------------
# convert(): constraints
# ---------------------------------------------------------------------------------------

class _FalseConstraint(Exception):
    """Unleash evaluates this constraint to false, whatever ``inverted`` says."""


def _plain(attr: str, op: str, values: list[Any], **extra: Any) -> dict[str, Any]:
    return {"attribute": attr, "op": op, "values": values, **extra}


def _exists(attr: str, *, present: bool = True) -> dict[str, Any]:
    clause = _plain(attr, "exists", [])
    return clause if present else {**clause, "negate": True}


def _strings(c: Mapping[str, Any], notes: PathNotes) -> list[str]:
    values = c.get("values")
    if values is None and isinstance(c.get("value"), str):
        values = [c["value"]]
    if not isinstance(values, list):
        notes.bad(f"constraint on {c.get('contextName')!r} without a values list")
        return []
    if not all(isinstance(v, str) for v in values):
        notes.bad("constraint values must be strings; non-strings were dropped")
    return [v for v in values if isinstance(v, str)]


def _list_op(op: str) -> Any:
    def build(name: str, c: Mapping[str, Any], ci: bool, notes: PathNotes) -> dict[str, Any]:
        extra: dict[str, Any] = {"case_insensitive": True} if ci else {}
        if op == "not_in":
            extra["when_absent"] = True  # Unleash: a missing field is "not in" the list
        return _plain(attribute(name), op, _strings(c, notes), **extra)
    return build


def _number_op(op: str) -> Any:
    def build(name: str, c: Mapping[str, Any], _ci: bool, notes: PathNotes) -> dict[str, Any]:
        raw = c.get("value")
        if not isinstance(raw, str) or not _NUMBER.fullmatch(raw.strip()):
            notes.bad(f"numeric constraint value {raw!r} is not a number: Unleash's engine "
                      "turns the whole feature off; Vexil only this constraint")
            raise _FalseConstraint
        number = float(raw)
        values: list[Any] = [int(number) if number.is_integer() else number]
        return _plain(attribute(name) + NUMBER_SUFFIX, op, values)
    return build


def _date_op(op: str) -> Any:
    def build(name: str, c: Mapping[str, Any], _ci: bool, notes: PathNotes) -> dict[str, Any]:
        raw = c.get("value")
        if not isinstance(raw, str) or parse_rfc3339_ms(raw) is None:
            notes.bad(f"date constraint value {raw!r} is not an RFC 3339 instant with offset")
            raise _FalseConstraint
        clause = _plain(attribute(name), op, [raw])
        if name != "currentTime":
            return clause
        # Unleash reads currentTime from the context, or the evaluation instant without one.
        now = {"now": True, "op": op, "values": [raw]}
        return {"any": [clause, {"all": [_exists(attribute(name), present=False), now]}]}
    return build


def _semver_op(op: str) -> Any:
    def build(name: str, c: Mapping[str, Any], _ci: bool, notes: PathNotes) -> dict[str, Any]:
        raw = c.get("value")
        if isinstance(raw, str) and raw.startswith("v"):
            raise _FalseConstraint  # Unleash: a "v"-prefixed version never matches
        if not isinstance(raw, str) or not _STRICT_SEMVER.fullmatch(raw):
            notes.bad(f"semver constraint value {raw!r} is not a version: Unleash's engine "
                      "turns the whole feature off")
            raise _FalseConstraint
        # Vexil also reads "1.2" as 1.2.0; Unleash does not: only strict versions compare,
        # and context() copies exactly those under <field>#semver.
        return _plain(attribute(name) + SEMVER_SUFFIX, op, [raw])
    return build


def _regex(name: str, c: Mapping[str, Any], ci: bool, notes: PathNotes) -> dict[str, Any]:
    from vexil.importers._regex import translate_rust_regex  # noqa: PLC0415

    raw = c.get("value")
    if not isinstance(raw, str):
        notes.bad("REGEX constraint without a pattern")
        raise _FalseConstraint
    pattern, problem = translate_rust_regex(raw)
    if problem:
        notes.bad(problem)
    if pattern is None:
        raise _FalseConstraint  # Unleash: an invalid pattern never matches
    extra: dict[str, Any] = {"case_insensitive": True} if ci else {}
    return _plain(attribute(name), "matches", [pattern], **extra)


def _cidr(name: str, c: Mapping[str, Any], _ci: bool, notes: PathNotes) -> dict[str, Any]:
    return _plain(attribute(name), "ip_in_cidr", _networks(_strings(c, notes)))


def _networks(values: list[str]) -> list[str]:
    """The valid addresses/networks of ``values`` as CIDR networks (Unleash skips the rest)."""
    nets = []
    for value in values:
        try:
            nets.append(str(ipaddress.ip_network(value.strip(), strict=False)))
        except ValueError:
            continue
    return nets


_OPERATORS: dict[str, Any] = {
    "IN": _list_op("in"), "NOT_IN": _list_op("not_in"),
    "STR_STARTS_WITH": _list_op("starts_with"), "STR_ENDS_WITH": _list_op("ends_with"),
    "STR_CONTAINS": _list_op("contains"),
    "NUM_EQ": _number_op("in"), "NUM_GT": _number_op("gt"), "NUM_GTE": _number_op("gte"),
    "NUM_LT": _number_op("lt"), "NUM_LTE": _number_op("lte"),
    "DATE_AFTER": _date_op("after"), "DATE_BEFORE": _date_op("before"),
    "SEMVER_EQ": _semver_op("semver_eq"), "SEMVER_GT": _semver_op("semver_gt"),
    "SEMVER_GTE": _semver_op("semver_gte"), "SEMVER_LT": _semver_op("semver_lt"),
    "SEMVER_LTE": _semver_op("semver_lte"),
    "REGEX": _regex, "IN_CIDR": _cidr,
}


def _constraint(c: Any, notes: PathNotes) -> dict[str, Any]:
    """One Unleash constraint as one Vexil clause (or clause group)."""
    if not isinstance(c, Mapping) or not isinstance(c.get("contextName"), str):
        notes.bad("a constraint without a contextName")
        return NEVER
    op = c.get("operator")
    build = _OPERATORS.get(op) if isinstance(op, str) else None
    if build is None:
        notes.bad(f"unknown constraint operator {op!r}: Unleash SDKs that know it evaluate "
                  "it; Vexil treats the constraint as never matching")
        return NEVER
    ci = bool(c.get("caseInsensitive"))
    if ci and op not in {"IN", "NOT_IN", "STR_STARTS_WITH", "STR_ENDS_WITH", "STR_CONTAINS",
                         "REGEX"}:
        ci = False  # Unleash ignores the flag on other operators
    try:
        clause: dict[str, Any] = build(c["contextName"], c, ci, notes)
    except _FalseConstraint:
        return NEVER
    return {"not": clause} if c.get("inverted") else clause


def _constraints(items: Any, notes: PathNotes) -> list[dict[str, Any]]:
    if items is None:
        return []
    if not isinstance(items, list):
        notes.bad("constraints must be a list")
        return [NEVER]
    return [_constraint(c, notes) for c in items]


# ---------------------------------------------------------------------------------------
# convert(): strategies → (clauses, percentage) branches
# ---------------------------------------------------------------------------------------

@dataclass
class _Split:
    """A percentage of contexts, bucketed by ``attr`` with Unleash's strategy hash."""

    attr: str
    salt: str
    weight: int  # of ``buckets``
    buckets: int = 100


_Branch = tuple[list[dict[str, Any]], "_Split | None"]


def _stickiness_branches(stickiness: str) -> list[tuple[list[dict[str, Any]], str]]:
    """(guard clauses, attribute to bucket by) for each way Unleash resolves stickiness:
    ``default`` is userId, else sessionId, else a random value."""
    if stickiness == "default":
        key, session = attribute("userId"), attribute("sessionId")
        return [([_exists(key)], key),
                ([_exists(key, present=False), _exists(session)], session),
                ([_exists(key, present=False), _exists(session, present=False)],
                 RANDOM_ATTRIBUTE)]
    if stickiness == "random":
        return [([], RANDOM_ATTRIBUTE)]
    return [([], attribute(stickiness))]


def _percentage(raw: Any) -> int | None:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw if raw >= 0 else None
    if isinstance(raw, str) and raw.isdigit():
        return int(raw)
    return None


def _rollout_branches(percent: int, stickiness: str, salt: str) -> list[_Branch]:
    if percent <= 0:
        return [([NEVER], None)]
    if percent >= 100:  # everyone with a stickiness value (default/random: everyone)
        if stickiness in {"default", "random"}:
            return [([], None)]
        return [([_exists(attribute(stickiness))], None)]
    return [(guard, _Split(attr, salt, percent))
            for guard, attr in _stickiness_branches(stickiness)]


def _strategy_branches(s: Mapping[str, Any], feature: str, notes: PathNotes) -> list[_Branch]:
    """The clauses (beyond constraints and segments) and the percentage split of one
    strategy, as alternatives (their union is the strategy)."""
    name = s.get("name")
    params = s.get("parameters") if isinstance(s.get("parameters"), Mapping) else {}
    assert isinstance(params, Mapping)
    if name == "default":
        return [([], None)]
    if name == "userWithId":
        ids = params.get("userIds")
        if not isinstance(ids, str):
            return [([NEVER], None)]
        return [([_plain(attribute("userId"), "in", [i.strip() for i in ids.split(",")])], None)]
    if name == "remoteAddress":
        ips = params.get("IPs")
        if not isinstance(ips, str):
            return [([NEVER], None)]
        nets = _networks(ips.split(","))
        return [([_plain(attribute("remoteAddress"), "ip_in_cidr", nets)], None)]
    if name in {"flexibleRollout", "gradualRolloutUserId", "gradualRolloutSessionId"}:
        return _percent_strategy(name, params, feature, notes)
    if name == "gradualRolloutRandom":
        percent = _percentage(params.get("percentage"))
        if percent is None:
            return [([NEVER], None)]
        if percent >= 100:
            return [([], None)]
        # Unleash: a random integer in 1..99 below the percentage, i.e. (p-1) in 99.
        if percent <= 1:
            return [([NEVER], None)]
        notes.info(_RANDOM_NOTE)
        return [([], _Split(RANDOM_ATTRIBUTE, feature, percent - 1, 99))]
    if name == "applicationHostname":
        hosts = params.get("hostNames")
        names = [h.strip().lower() for h in hosts.split(",")] if isinstance(hosts, str) else []
        notes.bad("applicationHostname: Unleash reads the process's host name; Vexil reads "
                  "the context attribute 'hostname' (set it in every context)")
        return [([_plain("hostname", "in", names, case_insensitive=True)], None)]
    notes.bad(f"custom strategy {name!r}: its code runs in the Unleash SDK; never matches "
              "in Vexil")
    return [([NEVER], None)]


def _percent_strategy(name: str, params: Mapping[str, Any], feature: str,
                      notes: PathNotes) -> list[_Branch]:
    if name == "flexibleRollout":
        raw, stickiness = params.get("rollout"), params.get("stickiness") or "default"
        group = params.get("groupId") or feature
    else:
        raw, group = params.get("percentage"), params.get("groupId")
        stickiness = "userId" if name == "gradualRolloutUserId" else "sessionId"
        if not isinstance(group, str):
            return [([NEVER], None)]  # Unleash needs a groupId for these
    percent = _percentage(raw)
    if percent is None:
        if raw is not None:
            notes.bad(f"{name}: percentage {raw!r} is not an integer")
        return [([NEVER], None)]
    if percent > 255:
        notes.bad(f"{name}: percentage {percent} makes Unleash's engine turn the feature off")
        return [([NEVER], None)]
    if not isinstance(stickiness, str) or not isinstance(group, str) or len(group) > 256:
        notes.bad(f"{name}: unusable stickiness or groupId")
        return [([NEVER], None)]
    branches = _rollout_branches(percent, stickiness, group)
    if any(split is not None and split.attr == RANDOM_ATTRIBUTE for _, split in branches):
        notes.info(_RANDOM_NOTE)
    return branches


_RANDOM_NOTE = ("Unleash picks at random for a context without the stickiness field: so does "
                f"the translation, by the random '{RANDOM_ATTRIBUTE}' that context() draws "
                "(a context built without context() is not in that split)")


def _segment_clauses(s: Mapping[str, Any], segments: Mapping[int, str], notes: PathNotes,
                     conv: Conversion) -> list[dict[str, Any]] | None:
    """One ``segment_match`` clause per segment id; None when one is missing (Unleash then
    evaluates the whole strategy as false)."""
    ids = s.get("segments") or []
    if not isinstance(ids, list):
        notes.bad("strategy segments must be a list of ids")
        return None
    clauses = []
    for seg_id in ids:
        key = segments.get(seg_id) if isinstance(seg_id, int) else None
        if key is None:
            return None
        clauses.append({"op": "segment_match", "values": [key]})
    return clauses


# ---------------------------------------------------------------------------------------
# convert(): variants
# ---------------------------------------------------------------------------------------

_Serve = dict[str, Any]
_Choice = tuple[list[dict[str, Any]], _Serve]


def _variant_choices(variants: list[Any], shape: _Shape, stickiness: str, group: str,
                     notes: PathNotes, *, overrides: bool) -> list[_Choice]:
    """How Unleash picks one of ``variants``: overrides first (feature variants only), then
    the weighted split by stickiness (a random value when the stickiness field is absent)."""
    usable = [v for v in variants if isinstance(v, Mapping) and isinstance(v.get("name"), str)]
    names = [shape.names[(v["name"], _payload_key(v))] for v in usable]
    weights = [_weight(v.get("weight")) for v in usable]
    choices: list[_Choice] = []
    if overrides:
        for v, vname in zip(usable, names, strict=True):
            for o in v.get("overrides") or []:
                if isinstance(o, Mapping) and isinstance(o.get("contextName"), str):
                    values = [x for x in o.get("values") or [] if isinstance(x, str)]
                    choices.append(([_plain(attribute(o["contextName"]), "in", values)],
                                    {"variation": vname}))
    total = sum(w for w in weights if w > 0)
    if total <= 0:
        notes.bad("variants whose weights sum to 0: Unleash cannot pick one")
        return [*choices, ([], {"variation": names[0]})]
    split = [{"variation": n, "weight": max(w, 0)} for n, w in zip(names, weights, strict=True)]
    if len([w for w in weights if w > 0]) == 1:
        return [*choices, ([], {"variation": names[weights.index(total)]})]
    notes.info(_RANDOM_NOTE)
    for guard, attr in _variant_stickiness(stickiness):
        rollout = {"variations": split, "bucket_by": attr, "salt": group, "missing": "skip",
                   "bucketing": {"hash": "unleash", "seed": VARIANT_SEED, "buckets": total}}
        choices.append((guard, {"rollout": rollout}))
    return choices


def _weight(raw: Any) -> int:
    return raw if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0 else 0


def _variant_stickiness(stickiness: str) -> list[tuple[list[dict[str, Any]], str]]:
    """Variants fall back to a random value whenever the stickiness field is absent."""
    if stickiness in {"default", "random"}:
        return _stickiness_branches(stickiness)
    attr = attribute(stickiness)
    return [([_exists(attr)], attr), ([_exists(attr, present=False)], RANDOM_ATTRIBUTE)]


# ---------------------------------------------------------------------------------------
# convert(): one feature
# ---------------------------------------------------------------------------------------

def _split_serve(split: _Split, variation: str) -> _Serve:
    """Serve ``variation`` to the split's percentage; the rest falls through (a gap)."""
    return {"rollout": {
        "variations": [{"variation": variation, "weight": split.weight},
                       {"weight": split.buckets - split.weight}],
        "bucket_by": split.attr, "salt": split.salt, "missing": "skip",
        "bucketing": {"hash": "unleash", "seed": STRATEGY_SEED, "buckets": split.buckets}}}


def _split_clause(split: _Split) -> dict[str, Any]:
    """The split's percentage as a condition: Unleash's strategy hash
    (seed 0) over ``buckets``, buckets ``[0, weight)``; a context without the value is not."""
    return {"attribute": split.attr, "op": "in_bucket", "salt": split.salt,
            "bucketing": {"hash": "unleash", "seed": STRATEGY_SEED, "buckets": split.buckets},
            "values": [[0, split.weight]]}


def _feature_choices(feature: Mapping[str, Any], shape: _Shape, notes: PathNotes) -> list[_Choice]:
    """How an enabled feature picks its variant when no strategy variants apply."""
    variants = feature.get("variants") or []
    if not isinstance(variants, list) or not variants:
        assert shape.on_no_variant is not None
        return [([], {"variation": shape.on_no_variant})]
    first = variants[0] if isinstance(variants[0], Mapping) else {}
    stickiness = first.get("stickiness") or "default"
    return _variant_choices(variants, shape, str(stickiness), str(feature["name"]), notes,
                            overrides=True)


def _strategy_choices(s: Mapping[str, Any], feature: Mapping[str, Any], shape: _Shape,
                      notes: PathNotes) -> list[_Choice]:
    if shape.kind == "boolean":
        return [([], {"variation": "true"})]
    variants = s.get("variants")
    if not isinstance(variants, list) or not variants:
        return _feature_choices(feature, shape, notes)
    params = s.get("parameters") if isinstance(s.get("parameters"), Mapping) else {}
    assert isinstance(params, Mapping)
    stickiness = str(params.get("stickiness") or "default")
    group = str(params.get("groupId") or feature["name"])
    return _variant_choices(variants, shape, stickiness, group, notes, overrides=False)


def _strategy_rules(s: Mapping[str, Any], feature: Mapping[str, Any], shape: _Shape,
                    segments: Mapping[int, str], notes: PathNotes) -> list[dict[str, Any]]:
    """The ordered Vexil rules of one strategy (their union is where it enables the
    feature; each serves the variant Unleash would pick there)."""
    seg = _segment_clauses(s, segments, notes, notes.conv)
    if seg is None:
        return []  # a missing segment: Unleash evaluates the strategy as false
    base = _constraints(s.get("constraints"), notes) + seg
    choices = _strategy_choices(s, feature, shape, notes)
    rules = []
    for extra, split in _strategy_branches(s, str(feature["name"]), notes):
        if split is None:
            rules += [{"clauses": base + extra + guard, "serve": serve}
                      for guard, serve in choices]
            continue
        plain = len(choices) == 1 and not choices[0][0] and "variation" in choices[0][1]
        if plain:
            rules.append({"clauses": base + extra,
                          "serve": _split_serve(split, choices[0][1]["variation"])})
            continue
        # The strategy's percentage and the variant split are two independent hashes:
        # the percentage becomes a condition (in_bucket), the variants the rollout.
        rules += [{"clauses": [*base, *extra, _split_clause(split), *guard], "serve": serve}
                  for guard, serve in choices]
    return rules


def _rules(feature: Mapping[str, Any], shape: _Shape, segments: Mapping[int, str],
           notes: PathNotes) -> list[dict[str, Any]]:
    strategies = _strategies(feature)
    # Unleash picks variants from the first matching strategy that *has* a variants list,
    # so those strategies go first; the order of the rest does not change isEnabled.
    numbered = list(enumerate(strategies))
    ordered = ([(i, s) for i, s in numbered if isinstance(s.get("variants"), list)]
               + [(i, s) for i, s in numbered if not isinstance(s.get("variants"), list)])
    rules: list[dict[str, Any]] = []
    for index, s in ordered:
        these = _strategy_rules(s, feature, shape, segments, notes)
        for n, rule in enumerate(these):
            rule["id"] = f"strategy-{index}" if len(these) == 1 else f"strategy-{index}.{n}"
            rule["description"] = f"Unleash strategy {s.get('name')!r}" + (
                f" (id {s['id']})" if isinstance(s.get("id"), str) else "")
        rules += these
    return rules


def _prerequisites(feature: Mapping[str, Any], shapes: Mapping[str, _Shape],
                   features: Mapping[str, Mapping[str, Any]], keys: Mapping[str, str],
                   notes: PathNotes) -> list[dict[str, Any]] | None:
    """Vexil prerequisites for Unleash dependencies; None when one can never hold (a
    missing parent, or a parent with dependencies of its own: Unleash then never enables
    the child)."""
    deps = feature.get("dependencies") or []
    prereqs: list[dict[str, Any]] = []
    for dep in deps if isinstance(deps, list) else []:
        parent = dep.get("feature") if isinstance(dep, Mapping) else None
        if not isinstance(parent, str) or parent not in features or features[parent].get(
                "dependencies"):
            notes.info(f"depends on {parent!r}, which is missing or has dependencies of its "
                       "own: Unleash never enables it, so it is imported disabled")
            return None
        shape, wanted = shapes[parent], dep.get("variants") or []
        if dep.get("enabled") is False:
            if wanted:
                notes.bad(f"dependency on {parent!r} both disabled and with variants")
            prereqs.append(_prereq(keys[parent], shape.enabled_variations(), negate=True))
            continue
        if not wanted or shape.kind == "boolean":
            if wanted and "disabled" not in wanted:
                notes.bad(f"dependency on variants of {parent!r}, which has none: Unleash "
                          "SDKs disagree on this")
            prereqs.append(_prereq(keys[parent], shape.enabled_variations()))
            continue
        names = [n for w in wanted if isinstance(w, str) for n in shape.by_peer_name(w)]
        if shape.on_no_variant:
            names.append(shape.on_no_variant)  # Unleash: no variant resolved passes the check
        if not names:
            notes.info(f"depends on variants {wanted!r} that {parent!r} does not have: "
                       "Unleash never enables it, so it is imported disabled")
            return None
        prereqs.append(_prereq(keys[parent], names))
    return prereqs


def _prereq(flag: str, variations: list[str], *, negate: bool = False) -> dict[str, Any]:
    item: dict[str, Any] = ({"flag": flag, "variation": variations[0]} if len(variations) == 1
                            else {"flag": flag, "variations": variations})
    if negate:
        item["negate"] = True
    return item


def _flag(feature: Mapping[str, Any], shapes: Mapping[str, _Shape],
          features: Mapping[str, Mapping[str, Any]], keys: Mapping[str, str],
          segments: Mapping[int, str], conv: Conversion) -> dict[str, Any]:
    """One Unleash feature as one Vexil flag."""
    name = str(feature["name"])
    notes = PathNotes(conv, f"features.{name}")
    shape = shapes[name]
    prereqs = _prerequisites(feature, shapes, features, keys, notes)
    flag: dict[str, Any] = {
        "kind": shape.kind,
        "variations": _variation_values(shape, feature),
        "enabled": feature.get("enabled") is True and prereqs is not None,
        "off_variation": shape.off,
    }
    if isinstance(feature.get("description"), str) and feature["description"]:
        flag["description"] = feature["description"]
    if feature.get("stale") is True:
        flag["deprecated"] = True
    meta = {k: feature[k] for k in ("type", "project") if isinstance(feature.get(k), str)}
    if meta:
        flag["metadata"] = meta
    if prereqs:
        flag["prerequisites"] = prereqs
    if not _strategies(feature) and not isinstance(feature.get("strategies"), list) \
            and feature.get("strategies") is not None:
        notes.bad("strategies must be a list")
    rules = _rules(feature, shape, segments, notes) if _strategies(feature) else []
    if _strategies(feature):
        flag["default"] = {"variation": shape.off}
    else:  # no strategies: Unleash enables the feature for everyone
        choices = _strategy_choices({}, feature, shape, notes)
        if len(choices) == 1 and not choices[0][0]:
            flag["default"] = choices[0][1]
        else:
            rules = [{"id": f"variants.{n}", "clauses": guard, "serve": serve}
                     for n, (guard, serve) in enumerate(choices)]
            flag["default"] = {"variation": shape.off}
    if rules:
        flag["rules"] = rules
    return flag


def _segments(document: Mapping[str, Any], conv: Conversion) -> dict[int, str]:
    """Translate Unleash segments to Vexil segments ``segment-<id>``; returns id → key."""
    raw = document.get("segments") or []
    if not isinstance(raw, list):
        raise UnleashFormatError("'segments' must be a list")
    keys: dict[int, str] = {}
    out: dict[str, Any] = conv.document["segments"]
    for seg in raw:
        if not isinstance(seg, Mapping) or not isinstance(seg.get("id"), int) \
                or isinstance(seg.get("id"), bool):
            raise UnleashFormatError("every segment needs an integer 'id'")
        notes = PathNotes(conv, f"segments.{seg['id']}")
        key = f"segment-{seg['id']}"
        out[key] = {"rules": [{"clauses": _constraints(seg.get("constraints"), notes)}]}
        if isinstance(seg.get("name"), str):
            out[key]["description"] = seg["name"]
        keys[seg["id"]] = key
    return keys


def _replay_events(document: Mapping[str, Any]) -> dict[str, Any]:
    """The client features state a delta API event stream (``{"events": [...]}``) leads to:
    a hydration replaces everything, the other events update or remove one item."""
    features: dict[Any, Any] = {}
    segments: dict[Any, Any] = {}
    for event in document["events"]:
        kind = event.get("type") if isinstance(event, Mapping) else None
        if kind == "hydration":
            features = {f.get("name"): f for f in event.get("features") or []
                        if isinstance(f, Mapping)}
            segments = {g.get("id"): g for g in event.get("segments") or []
                        if isinstance(g, Mapping)}
        elif kind == "feature-updated" and isinstance(event.get("feature"), Mapping):
            features[event["feature"].get("name")] = event["feature"]
        elif kind == "feature-removed":
            features.pop(event.get("featureName"), None)
        elif kind == "segment-updated" and isinstance(event.get("segment"), Mapping):
            segments[event["segment"].get("id")] = event["segment"]
        elif kind == "segment-removed":
            segments.pop(event.get("segmentId"), None)
        else:
            raise UnleashFormatError(f"unknown delta event {kind!r}")
    return {"features": list(features.values()), "segments": list(segments.values())}


def _features(document: Any) -> dict[str, Mapping[str, Any]]:
    if not isinstance(document, Mapping) or not isinstance(document.get("features"), list):
        raise UnleashFormatError(
            "not an Unleash client features document: expected an object with a "
            "'features' list (GET /api/client/features)")
    features: dict[str, Mapping[str, Any]] = {}
    for i, feature in enumerate(document["features"]):
        if not isinstance(feature, Mapping) or not isinstance(feature.get("name"), str) \
                or not feature["name"]:
            raise UnleashFormatError(f"features[{i}] has no name")
        features[feature["name"]] = feature  # a repeated name: the last wins, as in Unleash
    return features


def convert(document: Any) -> Conversion:
    """Translate an Unleash client features document (``{"features": [...], "segments":
    [...]}``, or a delta API event stream ``{"events": [...]}``, replayed) into a Vexil
    environment document. Raises :class:`UnleashFormatError` (a
    ``ValueError``) for anything that is not that shape."""
    if isinstance(document, Mapping) and isinstance(document.get("events"), list):
        document = _replay_events(document)
    features = _features(document)
    conv = Conversion(document={"format": 1, "flags": {}, "segments": {}})
    keys = map_keys(features)
    conv.keys = keys
    note_renamed_keys(conv, "features", keys)
    segments = _segments(document, conv)
    shapes = {name: _shape(f) for name, f in features.items()}
    for name, feature in features.items():
        conv.document["flags"][keys[name]] = _flag(feature, shapes, features, keys, segments,
                                                   conv)
    if not conv.document["segments"]:
        del conv.document["segments"]
    finish(conv, keys, {str(i): k for i, k in segments.items()}, _uses(features))
    return conv


def _uses(features: Mapping[str, Mapping[str, Any]]) -> dict[str, set[str]]:
    """Peer path of each feature → the peer paths it uses (parents and segments)."""
    uses: dict[str, set[str]] = {}
    for name, feature in features.items():
        deps = feature.get("dependencies")
        used = {f"features.{d['feature']}" for d in (deps if isinstance(deps, list) else [])
                if isinstance(d, Mapping) and isinstance(d.get("feature"), str)}
        for s in _strategies(feature):
            ids = s.get("segments")
            used |= {f"segments.{i}" for i in (ids if isinstance(ids, list) else [])}
        uses[f"features.{name}"] = used
    return uses
