"""LaunchDarkly server-side flag data → a Vexil environment document.

Input: what LaunchDarkly's server SDKs receive (``{"flags": {...}, "segments": {...}}``, the
shape of the streaming ``put`` event and of the SDKs' file data source), or a flags-only
mapping of flag key to flag. Output (``convert``): a ``Conversion`` whose document
``compile_environment`` accepts, with every translation LaunchDarkly would evaluate
differently reported ``faithful: False`` under the peer path (``flags.<key>`` or
``segments.<key>``; a flag using an unfaithful segment or prerequisite is reported too).

Result shapes (what a migrated application can rely on):

* variation *i* of a LaunchDarkly flag is the *i*-th Vexil variation, named ``"0"``,
  ``"1"``, … (so a detail's ``variant`` is LaunchDarkly's ``variationIndex`` as a string);
* rule ids are kept; targets, rules and the fallthrough keep their order;
* rollouts bucket with LaunchDarkly's own hash (``bucketing.hash: launchdarkly``, salt
  ``<flagKey>.<salt>`` or the rollout's ``seed``), so contexts keep their variation;
* reasons: ``OFF`` and ``PREREQUISITE_FAILED`` → ``DISABLED``; ``TARGET_MATCH`` and
  ``RULE_MATCH`` → ``TARGETING_MATCH`` (``SPLIT`` when a rollout decided); ``FALLTHROUGH`` →
  ``DEFAULT`` (``STATIC`` for a flag without prerequisites, targets and rules, ``SPLIT`` for a
  rollout).

``context`` maps LaunchDarkly contexts (single-kind, multi-kind, and the older user format
``{"key": ..., "custom": {...}}``) to Vexil contexts. docs/migrating.md has the details.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edge_reader.engine.dates import to_epoch_ms
from edge_reader.engine.semver import parse_semver
from vexil.importers._check import finish
from vexil.importers._conversion import Conversion, flag_kind, map_keys, note_renamed_keys


class LaunchDarklyFormatError(ValueError):
    """The input is not LaunchDarkly server-side flag data (the message says what is wrong)."""


# LaunchDarkly operator → Vexil operator, and how each operator's values are checked.
_OPS = {
    "in": "in", "startsWith": "starts_with", "endsWith": "ends_with", "contains": "contains",
    "matches": "matches", "lessThan": "lt", "lessThanOrEqual": "lte", "greaterThan": "gt",
    "greaterThanOrEqual": "gte", "before": "before", "after": "after",
    "semVerEqual": "semver_eq", "semVerLessThan": "semver_lt", "semVerGreaterThan": "semver_gt",
}
_SEMVER_OPS = {"semVerEqual", "semVerLessThan", "semVerGreaterThan"}
_DATE_OPS = {"before", "after"}
_FULL_WEIGHT = 100000
_LEGACY_USER_ATTRS = ("key", "ip", "email", "name", "avatar", "firstName", "lastName",
                      "country", "anonymous")
# Regex constructs whose meaning differs between RE2 (Vexil) and the engines LaunchDarkly's
# SDKs use (Java, JavaScript, .NET, Python re, Ruby...): lookaround, backreferences,
# inline flags, Unicode classes, possessive quantifiers, anchors only some engines know.
_REGEX_RISKY = re.compile(r"\(\?|\\[1-9kpPbBAzZGQEhHRXKuUxcN]|[*+?}]\+|\[\[:|\\0")


def _kind_of(item: Mapping[str, Any]) -> str | None:
    """The context kind a clause, target or key list names (``contextKind``; some exports,
    among them LaunchDarkly's own test data, spell it ``kind``); anything but a string is
    passed on as an invalid kind, which the compiler refuses (and the flag is reported)."""
    kind = item.get("contextKind", item.get("kind"))
    return kind if kind is None or isinstance(kind, str) else "?"


def _items(value: object) -> list[Any]:
    """A list field of the peer data (anything else counts as empty)."""
    return value if isinstance(value, list) else []


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class _Import:
    """What translating one document needs to know about all of it."""

    conv: Conversion
    flags: Mapping[str, Any]
    segments: Mapping[str, Any]
    flag_keys: dict[str, str]
    segment_keys: dict[str, str]
    # peer path (flags.<key>, segments.<key>) → the peer paths it uses
    uses: dict[str, set[str]] = field(default_factory=dict)

    def unfaithful(self, path: str, reason: str) -> None:
        self.conv.note(path, reason, faithful=False)


def convert(document: object) -> Conversion:
    """Translate LaunchDarkly flag data into a Vexil environment document.

    Never claims a faithful translation it cannot make: anything LaunchDarkly would
    evaluate differently is a ``faithful: False`` report item naming the flag or segment.
    Raises ``LaunchDarklyFormatError`` when ``document`` is not LaunchDarkly flag data."""
    flags, segments = _split(document)
    live = {k: f for k, f in flags.items() if not f.get("deleted")}
    live_segments = {k: s for k, s in segments.items() if not s.get("deleted")}
    imp = _Import(Conversion(document={"format": 1, "flags": {}, "segments": {}}),
                  live, live_segments, map_keys(live), map_keys(live_segments))
    imp.conv.keys = dict(imp.flag_keys)
    note_renamed_keys(imp.conv, "flags", imp.flag_keys)
    note_renamed_keys(imp.conv, "segments", imp.segment_keys)
    for key in sorted(set(flags) - set(live)):
        imp.conv.note(f"flags.{key}", "deleted flag (a tombstone): not imported", faithful=True)
    for key, seg in sorted(live_segments.items()):
        imp.conv.document["segments"][imp.segment_keys[key]] = _segment(imp, key, seg)
    for key, flag in sorted(live.items()):
        imp.conv.document["flags"][imp.flag_keys[key]] = _flag(imp, key, flag)
    finish(imp.conv, imp.flag_keys, imp.segment_keys, imp.uses)
    return imp.conv


def _split(document: object) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """(flags, segments) of a ``{"flags", "segments"}`` document or a flags-only mapping."""
    if not isinstance(document, Mapping):
        raise LaunchDarklyFormatError(
            "LaunchDarkly data must be a JSON object: {\"flags\": {...}, \"segments\": {...}}")
    if "flags" in document and isinstance(document["flags"], Mapping):
        flags, segments = document["flags"], document.get("segments") or {}
    else:
        flags, segments = document, {}
    if not isinstance(segments, Mapping):
        raise LaunchDarklyFormatError("'segments' must be an object of segment key → segment")
    for where, items in (("flags", flags), ("segments", segments)):
        for key, item in items.items():
            if not isinstance(item, Mapping):
                raise LaunchDarklyFormatError(
                    f"{where}.{key}: must be an object (is this LaunchDarkly flag data?)")
    for key, flag in flags.items():
        if not flag.get("deleted") and not isinstance(flag.get("variations"), list):
            raise LaunchDarklyFormatError(
                f"flags.{key}.variations: a LaunchDarkly flag needs a 'variations' list")
    return dict(flags), dict(segments)


# --- flags -----------------------------------------------------------------------------------


def _flag(imp: _Import, key: str, flag: Mapping[str, Any]) -> dict[str, Any]:
    """One LaunchDarkly flag as a Vexil flag: off, prerequisites, targets, rules, fallthrough."""
    path = f"flags.{key}"
    variations = list(_items(flag.get("variations")))
    if not variations:
        imp.unfaithful(path, "a flag without variations serves errors in LaunchDarkly; "
                             "imported as a boolean flag that is off")
        return {"kind": "boolean", "variations": {"0": False}, "enabled": False,
                "default": {"variation": "0"}}
    out: dict[str, Any] = {
        "kind": flag_kind(variations),
        "variations": {str(i): v for i, v in enumerate(variations)},
        "enabled": bool(flag.get("on", False)),
    }
    available = flag.get("clientSideAvailability")
    if flag.get("clientSide") or (isinstance(available, Mapping)
                                  and available.get("usingEnvironmentId")):
        out["client_visible"] = True
    off = flag.get("offVariation")
    if off is not None:
        if _index_ok(off, variations):
            out["off_variation"] = str(off)
        else:
            imp.unfaithful(path, f"offVariation {off!r} is not a variation index "
                                 "(LaunchDarkly reports MALFORMED_FLAG)")
    first_item = len(imp.conv.report)
    _prerequisites(imp, key, flag, out)
    out["targets"] = _targets(imp, path, flag, variations)
    out["rules"] = _rules(imp, key, flag, variations)
    default = _serve(imp, key, flag, flag.get("fallthrough"), f"{path}.fallthrough", variations)
    out["default"] = default or {"variation": out.get("off_variation", "0")}
    if not flag.get("on", False):
        _only_off_matters(imp, path, first_item)
    return {k: v for k, v in out.items() if v != []}


def _only_off_matters(imp: _Import, path: str, first_item: int) -> None:
    """A flag that is off serves its off variation whatever its prerequisites, targets,
    rules and fallthrough say: what could not be translated there changes nothing served
    today (it is kept as a note for the day the flag is turned on)."""
    for item in imp.conv.report[first_item:]:
        if item["path"] == path and not item["faithful"]:
            item["faithful"] = True
            item["reason"] = f"(serves nothing while the flag is off) {item['reason']}"
    imp.uses.pop(path, None)


def _index_ok(index: object, variations: list[Any]) -> bool:
    return isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(variations)


def _prerequisites(imp: _Import, key: str, flag: Mapping[str, Any], out: dict[str, Any]) -> None:
    """Prerequisites; one that can never hold (unknown flag, no such variation) turns the
    flag off, which serves exactly what LaunchDarkly serves (off variation, DISABLED)."""
    prereqs: list[dict[str, Any]] = []
    for i, pre in enumerate(_items(flag.get("prerequisites"))):
        pkey = pre.get("key") if isinstance(pre, Mapping) else None
        target = imp.flags.get(pkey) if isinstance(pkey, str) else None
        if target is None or not _index_ok(pre.get("variation"), _items(target.get("variations"))):
            imp.conv.note(f"flags.{key}", f"prerequisites[{i}] can never hold (unknown flag or "
                          "variation): the flag always serves its off variation, so it is "
                          "imported as off", faithful=True)
            out["enabled"] = False
            continue
        imp.uses.setdefault(f"flags.{key}", set()).add(f"flags.{pkey}")
        prereqs.append({"flag": imp.flag_keys[str(pkey)], "variation": str(pre["variation"])})
    if prereqs:
        out["prerequisites"] = prereqs


def _targets(imp: _Import, path: str, flag: Mapping[str, Any],
             variations: list[Any]) -> list[dict[str, Any]]:
    """``contextTargets`` in order (a user-kind entry with no values stands for the ``targets``
    entry of the same variation), or ``targets`` when there are no context targets."""
    user_targets = [t for t in _items(flag.get("targets")) if isinstance(t, Mapping)]
    context_targets = [t for t in _items(flag.get("contextTargets")) if isinstance(t, Mapping)]
    out: list[dict[str, Any]] = []
    if context_targets:
        for t in context_targets:
            kind = _kind_of(t) or "user"
            values = list(_items(t.get("values")))
            if kind == "user" and not values:
                values = [v for u in user_targets if u.get("variation") == t.get("variation")
                          for v in _items(u.get("values"))]
            out.append({"context_kind": kind, "values": values, "variation": t.get("variation")})
    else:
        out = [{"context_kind": "user", "values": list(_items(t.get("values"))),
                "variation": t.get("variation")} for t in user_targets]
    kept = []
    for i, t in enumerate(out):
        if not _index_ok(t["variation"], variations):
            imp.unfaithful(path, f"target {i} names variation {t['variation']!r}, not an index "
                                 "(LaunchDarkly reports MALFORMED_FLAG)")
            continue
        t["values"] = [v for v in t["values"] if isinstance(v, str)]
        t["variation"] = str(t["variation"])
        if t["context_kind"] == "user":
            del t["context_kind"]
        if t["values"]:
            kept.append(t)
    return kept


def _rules(imp: _Import, key: str, flag: Mapping[str, Any],
           variations: list[Any]) -> list[dict[str, Any]]:
    """Rules in order, ids kept, clauses ANDed."""
    out: list[dict[str, Any]] = []
    seen_ids: set[str] = set()
    for i, rule in enumerate(_items(flag.get("rules"))):
        path = f"flags.{key}.rules[{i}]"
        if not isinstance(rule, Mapping):
            imp.unfaithful(f"flags.{key}", f"rules[{i}] is not an object: dropped")
            continue
        serve = _serve(imp, key, flag, rule, path, variations)
        if serve is None:
            continue
        clauses = [_clause(imp, f"flags.{key}", c, f"{path}.clauses[{j}]")
                   for j, c in enumerate(_items(rule.get("clauses")))]
        item: dict[str, Any] = {"clauses": clauses, "serve": serve}
        rid = rule.get("id")
        if isinstance(rid, str) and rid and rid not in seen_ids and len(rid) <= 256:
            item = {"id": rid, **item}
            seen_ids.add(rid)
        out.append(item)
    return out


def _serve(imp: _Import, key: str, flag: Mapping[str, Any], vr: object, path: str,
           variations: list[Any]) -> dict[str, Any] | None:
    """A rule's or the fallthrough's ``variation``/``rollout`` as a Vexil ``serve``."""
    where = f"flags.{key}"
    if not isinstance(vr, Mapping):
        imp.unfaithful(where, f"{path}: no variation or rollout (LaunchDarkly reports "
                              "MALFORMED_FLAG)")
        return None
    if vr.get("variation") is not None:
        if _index_ok(vr["variation"], variations):
            return {"variation": str(vr["variation"])}
        imp.unfaithful(where, f"{path}.variation {vr['variation']!r} is not a variation index")
        return None
    rollout = vr.get("rollout")
    if isinstance(rollout, Mapping):
        return _rollout(imp, key, flag, rollout, f"{path}.rollout", variations)
    imp.unfaithful(where, f"{path}: no variation or rollout (LaunchDarkly reports MALFORMED_FLAG)")
    return None


def _rollout(imp: _Import, key: str, flag: Mapping[str, Any], rollout: Mapping[str, Any],
             path: str, variations: list[Any]) -> dict[str, Any] | None:
    """A percentage rollout or experiment, bucketed with LaunchDarkly's own hash."""
    where = f"flags.{key}"
    entries = [e for e in _items(rollout.get("variations")) if isinstance(e, Mapping)]
    if not entries or not all(_index_ok(e.get("variation"), variations) and _is_int(e.get("weight"))
                              and e["weight"] >= 0 for e in entries):
        imp.unfaithful(where, f"{path}: a rollout needs variation indexes and non-negative "
                              "integer weights (LaunchDarkly reports MALFORMED_FLAG)")
        return None
    kind = rollout.get("contextKind")
    experiment = rollout.get("kind") == "experiment"
    bucket_by = rollout.get("bucketBy")
    # Experiments always bucket by key (LaunchDarkly ignores bucketBy there); `untracked`
    # only changes analytics events, never the variation served.
    attr = "key" if experiment or not bucket_by else _attribute(bucket_by, kind is not None)
    if attr is None:
        imp.unfaithful(where, f"{path}.bucketBy {bucket_by!r} is not a valid attribute reference")
        return None
    seed = rollout.get("seed")
    bucketing: dict[str, Any] = {"hash": "launchdarkly"}
    salt = f"{key}.{flag.get('salt') or ''}"
    if _is_int(seed):
        bucketing["seed"] = seed
    out: dict[str, Any] = {
        "variations": [{"variation": str(e["variation"]), "weight": e["weight"]} for e in entries],
        "bucket_by": attr, "salt": salt, "bucketing": bucketing,
    }
    if kind and kind != "user":
        out["context_kind"] = kind
    if len(salt) > 256:
        imp.unfaithful(where, f"{path}: flag key and salt longer than Vexil's 256-character salt")
        return None
    return {"rollout": out}


# --- clauses ---------------------------------------------------------------------------------


def _attribute(ref: object, is_ref: bool) -> str | None:
    """A Vexil attribute for a LaunchDarkly attribute: a reference (``/a/b`` or a plain name)
    when the clause names a context kind, else a literal attribute name (old data)."""
    if not isinstance(ref, str) or not ref:
        return None
    if is_ref:
        if ref == "/" or ref.endswith("/") or "//" in ref:
            return None
        return ref
    if ref.startswith("/"):  # a literal name starting with '/': one pointer step, escaped
        return "/" + ref.replace("~", "~0").replace("/", "~1")
    return ref


def _clause(imp: _Import, where: str, clause: object, path: str) -> dict[str, Any]:
    """One clause of the flag or segment at peer path ``where``; what cannot be translated
    is reported and becomes a clause that never matches (so the rest still compiles)."""
    never: dict[str, Any] = {"any": []}
    if not isinstance(clause, Mapping):
        imp.unfaithful(where, f"{path}: not an object")
        return never
    op, negate = clause.get("op"), bool(clause.get("negate", False))
    values = list(_items(clause.get("values")))
    if op == "segmentMatch":
        return _segment_clause(imp, where, values, negate)
    if not isinstance(op, str) or op not in _OPS:
        # LaunchDarkly's rule: an unknown operator is a clause that does not match (the rest
        # of the flag still evaluates). Whether `negate` then applies differs between SDKs.
        if negate:
            imp.unfaithful(where, f"{path}: unknown operator {op!r} with negate")
        else:
            imp.conv.note(where, f"{path}: unknown operator {op!r}: a clause that never "
                                 "matches, as in LaunchDarkly", faithful=True)
        return never
    kind = _kind_of(clause)
    attr = _attribute(clause.get("attribute"), kind is not None)
    if attr is None:
        imp.unfaithful(where, f"{path}.attribute {clause.get('attribute')!r} is not a valid "
                              "attribute reference (LaunchDarkly reports MALFORMED_FLAG)")
        return never
    kept = _clause_values(imp, where, path, op, values)
    out: dict[str, Any] = {"attribute": attr, "op": _OPS[op], "values": kept}
    if kind and kind != "user":
        out["context_kind"] = kind
    if negate:
        out["negate"] = True
    if attr == "anonymous":
        return _anonymous(out, op, kept, negate, kind or "user")
    return out


def _clause_values(imp: _Import, where: str, path: str, op: str, values: list[Any]) -> list[Any]:
    """The clause values Vexil accepts. LaunchDarkly skips a value it cannot parse (that
    value never matches), so dropping it is faithful; a regex RE2 may read differently from
    the SDKs' engines is reported."""
    if op in _SEMVER_OPS:
        return [v for v in values if parse_semver(v) is not None]
    if op in _DATE_OPS:  # RFC 3339 with date, time and offset, or epoch ms (LaunchDarkly's spec)
        return [v for v in values if to_epoch_ms(v) is not None]
    if op == "matches":
        kept = []
        for v in values:
            if not isinstance(v, str):
                continue
            if _REGEX_RISKY.search(v) or len(v) > 1024 or not _re2_ok(v):
                imp.unfaithful(where, f"{path}: regular expression {v!r} may mean something "
                                      "else in RE2 than in LaunchDarkly's SDKs' regex engines")
                continue
            kept.append(v)
        return kept
    return values


def _re2_ok(pattern: str) -> bool:
    """Whether RE2 (Vexil's regex engine) compiles ``pattern``."""
    import re2  # noqa: PLC0415 - only imported when a flag uses `matches`

    try:
        re2.compile(pattern)
    except Exception:  # re2 raises its own error type for a bad pattern
        return False
    return True


def _anonymous(clause: dict[str, Any], op: str, values: list[Any], negate: bool,
               kind: str) -> dict[str, Any]:
    """LaunchDarkly's built-in ``anonymous`` is ``false`` when absent: the clause's result
    for an absent value is its result for ``false`` (``when_absent``) — but only when the
    context has the clause's kind (a missing kind never matches)."""
    absent_result = (op == "in" and any(v is False for v in values)) != negate
    if not absent_result:
        return clause
    return {"all": [{"attribute": "kind", "op": "in", "values": [kind]},
                    {**clause, "when_absent": True}]}


def _segment_clause(imp: _Import, where: str, values: list[Any], negate: bool) -> dict[str, Any]:
    """``segmentMatch``: an unknown segment key never matches in LaunchDarkly, so it is dropped."""
    known = [v for v in values if isinstance(v, str) and v in imp.segments]
    imp.uses.setdefault(where, set()).update(f"segments.{v}" for v in known)
    out: dict[str, Any] = {"op": "segment_match",
                           "values": [imp.segment_keys[v] for v in known]}
    if not known:  # Vexil needs a segment to name; "in no segment" is a clause never matching
        out = {"any": []}
        return {"not": out} if negate else out
    if negate:
        out["negate"] = True
    return out


# --- segments --------------------------------------------------------------------------------


def _segment(imp: _Import, key: str, seg: Mapping[str, Any]) -> dict[str, Any]:
    """A segment: key lists (per kind), then rules (a weighted rule ends with an
    ``in_bucket`` clause); big segments are reported (their members live elsewhere)."""
    path = f"segments.{key}"
    if seg.get("unbounded"):
        imp.unfaithful(path, "a big (unbounded) segment's members are not in the SDK data: "
                             "imported as an empty segment")
        return {}
    lists = _key_lists(seg)
    kinds = {k for k, _ in lists["included"]} | {k for k, _ in lists["excluded"]}
    rules = _segment_rules(imp, key, seg)
    out: dict[str, Any] = {}
    if len(kinds) <= 1:
        kind = next(iter(kinds), "user")
        if kind != "user":
            out["context_kind"] = kind
        out["included"] = [v for _, vs in lists["included"] for v in vs]
        out["excluded"] = [v for _, vs in lists["excluded"] for v in vs]
    else:
        # Several kinds: included contexts first, then rules that also require "not
        # excluded" (LaunchDarkly's order: included, excluded, rules).
        excluded = [{"context_kind": k, "attribute": "key", "op": "in", "values": vs}
                    for k, vs in lists["excluded"]]
        for rule in rules:
            rule["clauses"] = [{"not": {"any": excluded}}, *rule["clauses"]]
        rules.insert(0, {"clauses": [{"any": [
            {"context_kind": k, "attribute": "key", "op": "in", "values": vs}
            for k, vs in lists["included"]]}]})
    out["rules"] = rules
    return {k: v for k, v in out.items() if v != []}


def _key_lists(seg: Mapping[str, Any]) -> dict[str, list[tuple[str, list[str]]]]:
    """Included / excluded keys as (kind, keys) in LaunchDarkly's order."""
    out: dict[str, list[tuple[str, list[str]]]] = {}
    for name in ("included", "excluded"):
        pairs = []
        plain = [v for v in _items(seg.get(name)) if isinstance(v, str)]
        if plain:
            pairs.append(("user", plain))
        for ctx in _items(seg.get(f"{name}Contexts")):
            if isinstance(ctx, Mapping):
                vs = [v for v in _items(ctx.get("values")) if isinstance(v, str)]
                if vs:
                    pairs.append((_kind_of(ctx) or "user", vs))
        out[name] = pairs
    return out


def _segment_rules(imp: _Import, key: str, seg: Mapping[str, Any]) -> list[dict[str, Any]]:
    path = f"segments.{key}"
    out: list[dict[str, Any]] = []
    for i, rule in enumerate(_items(seg.get("rules"))):
        if not isinstance(rule, Mapping):
            continue
        weight = rule.get("weight")
        if weight is not None and _is_int(weight) and weight <= 0:
            continue  # LaunchDarkly: bucket < 0 never holds, the rule never matches
        clauses = [_clause(imp, path, c, f"{path}.rules[{i}].clauses[{j}]")
                   for j, c in enumerate(_items(rule.get("clauses")))]
        if weight is not None and not (_is_int(weight) and weight >= _FULL_WEIGHT):
            bucket = _segment_bucket(imp, key, seg, rule, f"{path}.rules[{i}]")
            if bucket is None:
                continue
            clauses.append(bucket)
        item: dict[str, Any] = {"clauses": clauses}
        if isinstance(rule.get("id"), str) and rule["id"]:
            item = {"id": rule["id"], **item}
        out.append(item)
    return out


def _segment_bucket(imp: _Import, key: str, seg: Mapping[str, Any], rule: Mapping[str, Any],
                    path: str) -> dict[str, Any] | None:
    """A percentage segment rule's "the context buckets in": LaunchDarkly hashes the
    ``bucketBy`` attribute (default ``key``) of the ``rolloutContextKind`` context (default
    ``user``) with prefix ``<segmentKey>.<segmentSalt>`` and includes it when the bucket is
    below ``weight / 100000``. A context without that kind is not included; one without a
    bucketable value is in bucket 0 (so included: the weight is positive here)."""
    weight = rule.get("weight")
    kind = rule.get("rolloutContextKind")
    bucket_by = rule.get("bucketBy")
    attr = "key" if not bucket_by else _attribute(bucket_by, kind is not None)
    salt = f"{key}.{seg.get('salt') or ''}"
    if not _is_int(weight) or attr is None or (kind is not None and not isinstance(kind, str)):
        imp.unfaithful(f"segments.{key}", f"{path}: weight {weight!r}, bucketBy {bucket_by!r} or "
                       f"rolloutContextKind {kind!r} is malformed (LaunchDarkly reports an error)")
        return None
    if len(salt) > 256:
        imp.unfaithful(f"segments.{key}", f"{path}: segment key and salt longer than Vexil's "
                       "256-character salt")
        return None
    clause: dict[str, Any] = {
        "attribute": attr, "op": "in_bucket", "salt": salt, "when_absent": True,
        "bucketing": {"hash": "launchdarkly", "buckets": _FULL_WEIGHT}, "values": [[0, weight]]}
    if kind and kind != "user":
        clause["context_kind"] = kind
    # LaunchDarkly: "the context lacks the desired kind" is a non-match, unlike the other
    # bucketing failures (bucket 0).
    return {"all": [{"attribute": "kind", "op": "in", "values": [kind or "user"]}, clause]}


# --- contexts --------------------------------------------------------------------------------


def context(peer_context: object) -> dict[str, Any]:
    """A LaunchDarkly context as a Vexil context: single-kind ``{"kind", "key", ...}`` and
    multi-kind ``{"kind": "multi", "<kind>": {...}}`` keep their shape; ``_meta`` (private
    attributes) is dropped; an old-style user ``{"key", "custom": {...}, ...}`` becomes a
    ``user`` context with the built-in and custom attributes at the top level."""
    if not isinstance(peer_context, Mapping):
        raise LaunchDarklyFormatError("a LaunchDarkly context must be a JSON object")
    if "kind" not in peer_context:
        return _legacy_user(peer_context)
    if peer_context["kind"] == "multi":
        out: dict[str, Any] = {"kind": "multi"}
        for kind, sub in peer_context.items():
            if kind != "kind":
                if not isinstance(sub, Mapping):
                    raise LaunchDarklyFormatError(f"context kind {kind!r} must be an object")
                out[kind] = {k: v for k, v in sub.items() if k not in ("_meta", "kind")}
        return out
    return {k: v for k, v in peer_context.items() if k != "_meta"}


def _legacy_user(user: Mapping[str, Any]) -> dict[str, Any]:
    """The pre-context user format: built-ins at the top, the rest under ``custom``."""
    out: dict[str, Any] = {"kind": "user"}
    custom = user.get("custom")
    if isinstance(custom, Mapping):
        out.update({k: v for k, v in custom.items() if k not in ("kind", "key")})
    for name in _LEGACY_USER_ATTRS:
        if name in user and user[name] is not None:
            out[name] = user[name]
    return out
