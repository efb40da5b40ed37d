"""Evaluation insights: the readers' summaries in (``ingest``), stale flags out (``stale``),
and code references (``put_code_refs``, ``code_refs``). docs/insights.md.

Ingest is authenticated by an SDK key, not an API token: the reader presents the key it
already holds (``Authorization: Bearer vxl_srv_…``). The key's record lives in the
environment's partition, so a key is checked against the record of the environment the
summary names — a key of another environment (or project) finds no record there and is
refused (403), whatever its secret. The check is a constant-time compare with the record's
``verifier`` (``sdk_key_record.verifier``): no KMS call, so the API role needs no decrypt
right on SDK-key secrets.

Storage: one item per (environment, flag, UTC day) with ``ADD`` counters (``total``,
``v:<variant>``, ``nv`` for the caller's default, ``xv`` for variants the flag does not have,
``r:<REASON>``), ``last_seen`` and an ``insights_ttl`` (DynamoDB TTL, ``RETENTION_DAYS``);
and one item per (environment, day) with the SDKs seen, the counters readers had to drop and
the evaluations of flags the environment does not have. Days follow the server's clock, not
the reader's: a reader with a wrong clock cannot write into the past or the future.

Only flags the environment has get an item, and only their variations an attribute
(:func:`known_flags`): the flag keys and variant names come from the body, and a client SDK
key ships in browsers — counting whatever it names would buy 5,000 writes per POST and grow a
flag's item to DynamoDB's 400 KB limit. Everything else is summed into bounded counters of
the day's summary item, so a misconfigured SDK is visible, not silent.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Final

from chalicelib import keys
from chalicelib.canonical import iso
from chalicelib.envdoc import load_definitions, versioned
from chalicelib.errors import BadRequest, Detail, Forbidden, Unauthorized
from chalicelib.usecases import base
from chalicelib.usecases.base import Call, Ctx

RETENTION_DAYS: Final = 90
MAX_STALE_DAYS: Final = RETENTION_DAYS
DEFAULT_STALE_DAYS: Final = 30
MAX_COUNTERS: Final = 5000
"""Counters in one summary (the reader sends bigger windows in several POSTs)."""
NO_VARIANT_ATTR: Final = "nv"
UNKNOWN_VARIANT_ATTR: Final = "xv"
"""Evaluations of a known flag naming a variation it does not have (one attribute, bounded)."""
UNKNOWN_VARIANT_LABEL: Final = "(unknown)"
"""How the stale view names them (no variation name has parentheses)."""
UNKNOWN_FLAGS_ATTR: Final = "unknown_flags"
UNKNOWN_VARIANTS_ATTR: Final = "unknown_variants"
UNKNOWN_SAMPLE_PREFIX: Final = "unknown:"
"""``unknown:<key id>``: the last unknown flag (or ``flag/variant``) a key reported."""
MAX_CACHED_ENVIRONMENTS: Final = 256
REASONS: Final = ("STATIC", "DEFAULT", "TARGETING_MATCH", "SPLIT", "CACHED", "DISABLED",
                  "UNKNOWN", "STALE", "ERROR")
EXPIRY_KEYS: Final = ("expires", "temporary")


def _day_of(ts: float) -> str:
    """The UTC day (``YYYY-MM-DD``) of an epoch instant."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")


# --- ingest --------------------------------------------------------------------------------


def authenticate_sdk_key(ctx: Ctx, authorization: str | None, project: str,
                         environment: str) -> str:
    """The key id of the live SDK key presented for ``project``/``environment``.

    401: no key, a malformed one, or a wrong secret; 403: the key is not one of this
    environment's, is revoked, or predates insights (no verifier: create a new key).
    """
    from chalicelib import sdk_key_record  # noqa: PLC0415
    from edge_reader.bundle.errors import SdkKeyFormatError  # noqa: PLC0415
    from edge_reader.bundle.sdk_key import parse_sdk_key  # noqa: PLC0415

    scheme, _, text = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not text.strip():
        raise Unauthorized("send the SDK key as 'Authorization: Bearer vxl_…'")
    try:
        key = parse_sdk_key(text.strip())
    except SdkKeyFormatError:
        raise Unauthorized("the Authorization header does not hold an SDK key") from None
    item = ctx.repo.get(keys.env_pk(project, environment), keys.sdk_key_sk(key.key_id))
    if item is None:
        raise Forbidden(f"SDK key {key.key_id} is not a key of {project}/{environment}")
    if not item.get("verifier"):
        raise Forbidden(f"SDK key {key.key_id} predates evaluation insights: create a new key")
    if not sdk_key_record.verifies(item, key):
        raise Unauthorized(f"wrong secret for SDK key {key.key_id}")
    if sdk_key_record.is_revoked(item):
        raise Forbidden(f"SDK key {key.key_id} is revoked")
    return key.key_id


@dataclass(frozen=True, slots=True)
class _Known:
    """The flags an environment has at one revision, each with its variation names."""

    revision: int
    variations: Mapping[str, frozenset[str]]


_KNOWN: OrderedDict[tuple[str, str, str], _Known] = OrderedDict()  # per container, LRU
_KNOWN_LOCK = threading.Lock()  # `chalice local` serves requests on threads


def known_flags(ctx: Ctx, project: str, environment: str) -> Mapping[str, frozenset[str]]:
    """The flags ``environment`` has (configured there, with a definition: what its bundle
    carries), each with its variation names.

    Cached per container and keyed by the environment's ``revision``, which every write
    changing bundle content bumps (a new flag, a definition's variations): so the cost per
    summary is one small read of the environment item, a new flag is counted from its first
    summary, and the definitions are re-read only after a change. At most
    :data:`MAX_CACHED_ENVIRONMENTS` environments are held (least recently used dropped).
    """
    env = ctx.repo.get(keys.project_pk(project), keys.environment_sk(environment))
    revision = int(env.get("revision", 0)) if env else -1
    cache_key = (str(getattr(ctx.repo, "table_name", "")), project, environment)
    with _KNOWN_LOCK:
        hit = _KNOWN.get(cache_key)
        if hit is not None and hit.revision == revision:
            _KNOWN.move_to_end(cache_key)
            return hit.variations
    definitions = load_definitions(ctx.repo, project)
    config_items, _ = ctx.repo.query(keys.env_pk(project, environment), keys.FLAG_SK_PREFIX)
    variations: dict[str, frozenset[str]] = {}
    for item in config_items:
        flag = str(item["sk"])[len(keys.FLAG_SK_PREFIX):]
        definition = definitions.get(flag)
        if definition is not None:
            declared = definition.body.get("variations")
            variations[flag] = frozenset(declared if isinstance(declared, Mapping) else ())
    with _KNOWN_LOCK:
        _KNOWN[cache_key] = _Known(revision, variations)
        _KNOWN.move_to_end(cache_key)
        while len(_KNOWN) > MAX_CACHED_ENVIRONMENTS:
            _KNOWN.popitem(last=False)
    return variations


@dataclass
class _Unknown:
    """What a summary named that the environment does not have: evaluations and names."""

    flag_evaluations: int = 0
    variant_evaluations: int = 0
    flags: set[str] = field(default_factory=set)
    variants: set[tuple[str, str]] = field(default_factory=set)

    def sample(self) -> str | None:
        """One of the names (the smallest), to show which SDK reports what."""
        names = sorted(self.flags) or sorted(f"{f}/{v}" for f, v in self.variants)
        return names[0] if names else None

    def view(self) -> dict[str, Any]:
        """The ingest answer's ``unknown`` object."""
        return {"flags": len(self.flags), "variants": len(self.variants),
                "evaluations": self.flag_evaluations + self.variant_evaluations,
                "examples": sorted(self.flags)[:5]
                + sorted(f"{f}/{v}" for f, v in self.variants)[:5]}


def ingest(ctx: Ctx, authorization: str | None, body: Mapping[str, Any]) -> dict[str, Any]:
    """Add one reader summary to the environment's counters; returns what was counted.

    The body has been checked against the ``EvaluationSummary`` schema (sizes, types,
    keys); here: the SDK key, the reasons, and one counter per (flag, variant, reason) for
    the flags and variations the environment has (:func:`known_flags`); the rest is summed
    into the day's ``unknown_flags``/``unknown_variants`` and answered under ``unknown``.
    """
    project, environment = str(body["project"]), str(body["environment"])
    key_id = authenticate_sdk_key(ctx, authorization, project, environment)
    unknown = _Unknown()
    per_flag = _group(body["counters"], known_flags(ctx, project, environment), unknown)
    now = ctx.now()
    day = _day_of(now)
    ttl = int(now) + RETENTION_DAYS * 86400
    pk = keys.insights_pk(project, environment)
    seen = iso(now)
    for flag, adds in per_flag.items():
        ctx.repo.add_counters(pk, keys.insights_day_sk(day, flag), adds,
                              {"flag": flag, "day": day, "last_seen": seen,
                               keys.INSIGHTS_TTL_ATTRIBUTE: ttl})
    sdk = body.get("sdk") or {}
    sdk_text = f"{sdk.get('name', 'unknown')}/{sdk.get('version', '?')}"
    # The SDK is SET per key (the last one seen with it), not ADDed to a set: names come from
    # the body, and a set would grow with every made-up name to DynamoDB's 400 KB item
    # limit, after which every summary of the environment fails for the rest of the day.
    sets: dict[str, Any] = {"day": day, "last_seen": seen, keys.INSIGHTS_TTL_ATTRIBUTE: ttl,
                            f"sdk:{key_id}": sdk_text}
    sample = unknown.sample()
    if sample is not None:
        # One per key, like the SDK: which key's readers report flags the environment lacks.
        sets[f"{UNKNOWN_SAMPLE_PREFIX}{key_id}"] = sample
    ctx.repo.add_counters(pk, keys.insights_summary_sk(day),
                          {"payloads": 1, "dropped": int(body.get("dropped", 0)),
                           UNKNOWN_FLAGS_ATTR: unknown.flag_evaluations,
                           UNKNOWN_VARIANTS_ATTR: unknown.variant_evaluations,
                           "key_ids": {key_id}}, sets)
    return {"accepted": len(body["counters"]), "flags": len(per_flag), "day": day,
            "unknown": unknown.view()}


def _group(counters: list[Mapping[str, Any]], known: Mapping[str, frozenset[str]],
           unknown: _Unknown) -> dict[str, dict[str, int]]:
    """Counters by known flag: ``total``, ``v:<variant>`` (``nv``: no variant, ``xv``: a
    variant the flag does not have) and ``r:<REASON>``; the rest is tallied in ``unknown``."""
    out: dict[str, dict[str, int]] = {}
    bad: list[Detail] = []
    for i, counter in enumerate(counters):
        reason = str(counter["reason"])
        if reason not in REASONS:
            bad.append(Detail(f"counters[{i}].reason", f"unknown reason {reason!r}"))
            continue
        flag, n, variant = str(counter["flag"]), int(counter["count"]), counter.get("variant")
        variations = known.get(flag)
        if variations is None:
            unknown.flag_evaluations += n
            unknown.flags.add(flag)
            continue
        if variant is None:
            attr = NO_VARIANT_ATTR
        elif variant in variations:
            attr = f"v:{variant}"
        else:
            # Still an evaluation of the flag (an old bundle's variation): counted in total.
            attr = UNKNOWN_VARIANT_ATTR
            unknown.variant_evaluations += n
            unknown.variants.add((flag, str(variant)))
        adds = out.setdefault(flag, {})
        for name in ("total", attr, f"r:{reason}"):
            adds[name] = adds.get(name, 0) + n
    if bad:
        raise BadRequest("invalid evaluation summary; nothing was counted", bad)
    return out


# --- stale flags ---------------------------------------------------------------------------


def stale(ctx: Ctx, project: str, environment: str, query: Mapping[str, str]
          ) -> dict[str, Any]:
    """Flags of an environment that look removable, each with the reasons why.

    ``query``: ``days`` (default 30, 1..90; 400 naming it otherwise).

    * ``not_evaluated``: no reader reported an evaluation in the last ``days`` days;
    * ``single_variation``: every evaluation in those days served one variation, and the
      configuration did not change in that time (a finished rollout: remove the flag);
    * ``expired``: the definition's ``metadata.expires`` (or ``temporary``) date has passed;
    * ``no_code_references``: the project has code references and none names the flag.

    ``unknown``: evaluations readers reported in those days of flags (``flag_evaluations``)
    or variations (``variant_evaluations``) the environment does not have, and per SDK key
    the last such name (``by_key``): a reader on the wrong environment, or a typo.
    """
    days = _days(query)
    base.environment_item(ctx, project, environment)
    now = ctx.now()
    since = now - days * 86400
    definitions = load_definitions(ctx.repo, project)
    config_items, _ = ctx.repo.query(keys.env_pk(project, environment), keys.FLAG_SK_PREFIX)
    configs = {str(i["sk"])[len(keys.FLAG_SK_PREFIX):]: versioned(i) for i in config_items}
    usage = _usage(ctx, project, environment, _day_of(since))
    refs = _referenced_flags(ctx, project)
    flags = []
    for flag in sorted(configs):
        definition = definitions.get(flag)
        entry = _flag_entry(flag, usage.get(flag), configs[flag].updated_at, since, now,
                            definition.body.get("metadata") if definition else None, refs)
        if entry["reasons"]:
            flags.append(entry)
    return {
        "project": project, "environment": environment, "days": days,
        "generated_at": iso(now), "since": iso(since),
        "code_references": None if refs is None else {
            "flags": sum(1 for n in refs.values() if n)},
        "flags_total": len(configs), "items": flags,
        "unknown": _unknown_usage(ctx, project, environment, _day_of(since)),
    }


def _usage(ctx: Ctx, project: str, environment: str, first_day: str
           ) -> dict[str, dict[str, Any]]:
    """Per flag, from ``first_day`` on: total, last_seen, counts by variant (None: default)."""
    items, _ = ctx.repo.query(keys.insights_pk(project, environment),
                              keys.INSIGHTS_DAY_SK_PREFIX,
                              start_sk=f"{keys.INSIGHTS_DAY_SK_PREFIX}{first_day}")
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        u = out.setdefault(str(item["flag"]), {"total": 0, "last_seen": "", "variants": {}})
        u["total"] += int(item.get("total", 0))
        u["last_seen"] = max(u["last_seen"], str(item.get("last_seen", "")))
        for name, value in item.items():
            if name.startswith("v:") or name in (NO_VARIANT_ATTR, UNKNOWN_VARIANT_ATTR):
                variant = {NO_VARIANT_ATTR: None,
                           UNKNOWN_VARIANT_ATTR: UNKNOWN_VARIANT_LABEL}.get(name, name[2:])
                u["variants"][variant] = u["variants"].get(variant, 0) + int(value)
    return out


def _unknown_usage(ctx: Ctx, project: str, environment: str, first_day: str
                   ) -> dict[str, Any]:
    """From ``first_day`` on: evaluations readers reported of flags (and variations) the
    environment does not have, and per SDK key the last such name it reported."""
    items, _ = ctx.repo.query(keys.insights_pk(project, environment),
                              keys.INSIGHTS_SUMMARY_SK_PREFIX)
    out: dict[str, Any] = {"flag_evaluations": 0, "variant_evaluations": 0, "by_key": {}}
    for item in sorted(items, key=lambda i: str(i["sk"])):
        if str(item.get("day", "")) < first_day:
            continue
        out["flag_evaluations"] += int(item.get(UNKNOWN_FLAGS_ATTR, 0))
        out["variant_evaluations"] += int(item.get(UNKNOWN_VARIANTS_ATTR, 0))
        for name, value in item.items():
            if name.startswith(UNKNOWN_SAMPLE_PREFIX):
                out["by_key"][name[len(UNKNOWN_SAMPLE_PREFIX):]] = value
    return out


def _flag_entry(flag: str, usage: dict[str, Any] | None, updated_at: str, since: float,
                now: float, metadata: Any, refs: dict[str, int] | None) -> dict[str, Any]:
    reasons: list[str] = []
    entry: dict[str, Any] = {"key": flag, "evaluations": 0, "last_evaluated": None,
                             "variations": {}, "configuration_updated_at": updated_at or None}
    if usage is None or not usage["total"]:
        reasons.append("not_evaluated")
    else:
        variants = usage["variants"]
        entry.update(evaluations=usage["total"], last_evaluated=usage["last_seen"] or None,
                     variations={"(default)" if v is None else v: n
                                 for v, n in sorted(variants.items(), key=_variant_order)})
        unchanged = not updated_at or updated_at < iso(since)
        if (len(variants) == 1 and None not in variants
                and UNKNOWN_VARIANT_LABEL not in variants and unchanged):
            reasons.append("single_variation")
            entry["serving"] = next(iter(variants))
    expires = _expiry(metadata)
    if expires is not None:
        entry["expires"] = expires
        if expires <= iso(now):
            reasons.append("expired")
    if refs is not None:
        entry["code_references"] = refs.get(flag, 0)
        if not refs.get(flag):
            reasons.append("no_code_references")
    entry["reasons"] = reasons
    return entry


def _variant_order(item: tuple[str | None, int]) -> str:
    return "" if item[0] is None else item[0]


def _expiry(metadata: Any) -> str | None:
    """The first parsable ``expires``/``temporary`` date of a flag's metadata, as RFC 3339."""
    if not isinstance(metadata, Mapping):
        return None
    for name in EXPIRY_KEYS:
        value = metadata.get(name)
        if not isinstance(value, str):
            continue
        try:
            when = (datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value
                    else datetime.combine(date.fromisoformat(value), datetime.min.time()))
        except ValueError:
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return iso(when.timestamp())
    return None


# --- code references -----------------------------------------------------------------------


def put_code_refs(ctx: Ctx, call: Call, project: str, repository: str,
                  body: Mapping[str, Any]) -> dict[str, Any]:
    """Replace one repository's code references (the latest scan wins; not audited: it
    describes code, not flag state)."""
    base.project_item(ctx, project)
    # JSON Schema's "integer" admits 12.0; DynamoDB refuses floats: store the line as an int.
    refs = {flag: [{"path": r["path"], "line": int(r["line"])} for r in found]
            for flag, found in body["flags"].items()}
    item = {"pk": keys.code_refs_pk(project), "sk": keys.code_refs_sk(repository),
            "repository": repository, "revision": body.get("revision"),
            "branch": body.get("branch"), "uploaded_at": iso(ctx.now()),
            "uploaded_by": call.principal.actor, "flags": refs}
    from chalicelib.repository import put  # noqa: PLC0415

    ctx.repo.transact([put({k: v for k, v in item.items() if v is not None})])
    return _refs_view(item)


def code_refs(ctx: Ctx, project: str) -> list[dict[str, Any]]:
    """Every repository's latest code references of a project."""
    base.project_item(ctx, project)
    items, _ = ctx.repo.query(keys.code_refs_pk(project), keys.CODE_REFS_SK_PREFIX)
    return [_refs_view(i) for i in items]


def _refs_view(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: item.get(k) for k in ("repository", "revision", "branch", "uploaded_at",
                                     "uploaded_by", "flags")}


def _referenced_flags(ctx: Ctx, project: str) -> dict[str, int] | None:
    """Flag key → number of references over every repository; None when none was uploaded."""
    items, _ = ctx.repo.query(keys.code_refs_pk(project), keys.CODE_REFS_SK_PREFIX)
    if not items:
        return None
    counts: dict[str, int] = {}
    for item in items:
        for flag, hits in (item.get("flags") or {}).items():
            counts[flag] = counts.get(flag, 0) + len(hits)
    return counts


def _days(query: Mapping[str, str]) -> int:
    """The ``days`` query parameter (default 30, 1..90); 400 naming it otherwise."""
    text = query.get("days")
    if text is None:
        return DEFAULT_STALE_DAYS
    if not text.isdigit() or not 1 <= int(text) <= MAX_STALE_DAYS:
        raise BadRequest("invalid query parameter",
                         [Detail("days", f"must be an integer from 1 to {MAX_STALE_DAYS}")])
    return int(text)

