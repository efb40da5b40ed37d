"""Pure part of the publisher: snapshot → one environment document per scope.

No I/O here. A scope is ``server`` (every flag), ``client`` (flags with
``client_visible: true``) or ``key-<keyid>`` (flags matching a scoped SDK key's tags or
key prefixes). Each scoped document also carries the prerequisites of its flags and the
segments they reference (both transitively), so it compiles and evaluates exactly like the
server document for the flags it holds. Never tokens or SDK keys: only flags and segments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.publish.snapshot import EnvironmentSnapshot, SdkKeyRecord
from edge_reader.bundle import CLIENT_SCOPE, SERVER_SCOPE, SdkKey
from edge_reader.engine.fields import segment_keys

DOCUMENT_FORMAT = 1

FlagFilter = Callable[[str, Mapping[str, Any]], bool]


@dataclass(frozen=True, slots=True)
class ScopeBuild:
    """The plaintext document of one scope and the SDK keys that may open it."""

    scope: str
    document: dict[str, Any]
    sdk_keys: tuple[SdkKey, ...]


def _segment_refs(clauses: Iterable[Any]) -> set[str]:
    return set(segment_keys(clauses))  # inside clause groups too


def _rule_clauses(rules: Any) -> Iterable[Any]:
    for rule in rules or ():
        if isinstance(rule, Mapping):
            yield from rule.get("clauses") or ()


def _closure(
    flags: Mapping[str, Mapping[str, Any]],
    segments: Mapping[str, Mapping[str, Any]],
    selected: set[str],
) -> tuple[set[str], set[str]]:
    """Selected flags plus their prerequisites, and every segment they reach."""
    flag_set: set[str] = set()
    todo = list(selected)
    while todo:
        name = todo.pop()
        if name in flag_set or name not in flags:
            continue
        flag_set.add(name)
        for prereq in flags[name].get("prerequisites") or ():
            if isinstance(prereq, Mapping) and isinstance(prereq.get("flag"), str):
                todo.append(prereq["flag"])
    segment_set: set[str] = set()
    seg_todo: list[str] = []
    for name in flag_set:
        seg_todo.extend(_segment_refs(_rule_clauses(flags[name].get("rules"))))
    while seg_todo:
        name = seg_todo.pop()
        if name in segment_set or name not in segments:
            continue
        segment_set.add(name)
        seg_todo.extend(_segment_refs(_rule_clauses(segments[name].get("rules"))))
    return flag_set, segment_set


def _tag_or_prefix(record: SdkKeyRecord) -> FlagFilter:
    tags = frozenset(record.tags)
    prefixes = tuple(record.prefixes)
    client_only = record.kind == "client"

    def accept(name: str, flag: Mapping[str, Any]) -> bool:
        if client_only and flag.get("client_visible") is not True:
            return False
        flag_tags = flag.get("tags") or ()
        return bool(tags.intersection(flag_tags)) or name.startswith(prefixes)

    return accept


def _client_visible(_name: str, flag: Mapping[str, Any]) -> bool:
    return flag.get("client_visible") is True


def document_for(
    snapshot: EnvironmentSnapshot, scope: str, accept: FlagFilter | None, engine: str
) -> dict[str, Any]:
    """The environment document of one scope (``accept=None``: every flag and segment)."""
    if accept is None:
        flag_names, segment_names = set(snapshot.flags), set(snapshot.segments)
    else:
        chosen = {n for n, f in snapshot.flags.items() if accept(n, f)}
        flag_names, segment_names = _closure(snapshot.flags, snapshot.segments, chosen)
    return {
        "format": DOCUMENT_FORMAT,
        "engine": engine,
        "project": snapshot.project,
        "environment": snapshot.environment,
        "scope": scope,
        "revision": snapshot.revision,
        # Derived from the environment item, not the wall clock, so identical state (e.g. a
        # restore, or a replayed publish) produces byte-identical bundles.
        "generated_at": snapshot.updated_at,
        "audit_head": snapshot.audit_head,
        "flags": {n: snapshot.flags[n] for n in sorted(flag_names)},
        "segments": {n: snapshot.segments[n] for n in sorted(segment_names)},
    }


def build_scopes(snapshot: EnvironmentSnapshot, *, engine: str) -> list[ScopeBuild]:
    """Every scope of the environment, server first, with the SDK keys of each.

    ``server`` and ``client`` are always built (KMS can always open them); one
    ``key-<keyid>`` scope per scoped, non-revoked key (revoked keys never reach here).
    """
    unscoped_server = tuple(
        r.key for r in snapshot.sdk_keys if r.kind == "server" and not r.scoped
    )
    unscoped_client = tuple(
        r.key for r in snapshot.sdk_keys if r.kind == "client" and not r.scoped
    )
    builds = [
        ScopeBuild(SERVER_SCOPE, document_for(snapshot, SERVER_SCOPE, None, engine),
                   unscoped_server),
        ScopeBuild(CLIENT_SCOPE, document_for(snapshot, CLIENT_SCOPE, _client_visible, engine),
                   unscoped_client),
    ]
    for record in snapshot.sdk_keys:
        if record.scoped:
            scope = record.key.scope_name
            builds.append(
                ScopeBuild(
                    scope,
                    document_for(snapshot, scope, _tag_or_prefix(record), engine),
                    (record.key,),
                )
            )
    return builds


def carries_lists(build: ScopeBuild) -> bool:
    """Does this scope's document carry list references? Only server-side scopes do:
    a client bundle is opened by code shipped to browsers and phones, so it never holds
    a list's secret or shards' whereabouts (the OFREP edge evaluates those contexts)."""
    if build.scope == SERVER_SCOPE:
        return True
    return bool(build.sdk_keys) and all(k.kind == "srv" for k in build.sdk_keys)


def with_lists(build: ScopeBuild, refs: Mapping[str, Mapping[str, Any]]) -> ScopeBuild:
    """``build`` with each list segment it holds given its published ``list`` reference
    (new segment dicts: the snapshot's are shared by every scope)."""
    segments = build.document["segments"]
    if not carries_lists(build) or not any(name in segments for name in refs):
        return build
    document = {**build.document, "segments": {
        name: ({**seg, "list": dict(refs[name])}
               if name in refs and seg.get("type") == "list" else seg)
        for name, seg in segments.items()}}
    return ScopeBuild(build.scope, document, build.sdk_keys)
