"""Changesets: many changes to one environment, applied as one revision or not at all.

``apply_changeset`` reads the project once, checks every item's base version (412 naming
EVERY conflicting item), compiles every environment the set changes with the readers'
compiler (400 naming the item and path), files ONE change request when a protected
environment is affected, and otherwise writes through the lock/journal protocol of
:mod:`chalicelib.changesets`, ending in ONE ``commit``: per affected environment one revision
bump and one audit record whose ``after`` names the changeset, its size and the SHA-256 of its
manifest (every change with the hash of its content; stored in ``M#`` items of the changeset's
partition, since 10,000 entries do not fit one 400 KB item).

Semantics per item (``base_version`` 0 = must not exist):

* ``definition`` put/delete — the flag's shared definition. A new definition also gets the
  default (disabled) configuration in every unprotected environment the set does not configure
  it in (as ``POST /flags`` does); a deleted one loses its configuration everywhere. Every
  environment whose bundle changes is locked, bumped and audited.
* ``config`` put/delete — the flag's configuration in this environment.
* ``segment`` put/delete — a segment of this environment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

import orjson

from chalicelib import changesets as storage
from chalicelib import keys
from chalicelib.audit import Chain, Entry
from chalicelib.canonical import canonical, iso, sha256_hex
from chalicelib.envdoc import EnvState, check, versioned
from chalicelib.errors import BadRequest, ChangesetConflict, Conflict, Detail, NotFound
from chalicelib.rbac import Perm, Principal
from chalicelib.repository import Item, Step, TransactionCancelled, delete, put
from chalicelib.requests import problems as schema_problems
from chalicelib.schemas import CHANGE_BODIES
from chalicelib.usecases import base
from chalicelib.usecases.base import Approved, Call, Ctx, NeedsApproval
from chalicelib.usecases.flag_configs import config_steps, default_config
from edge_reader.engine import fields

MANIFEST_PART = 1000  # manifest entries per M# item (~150 bytes each: far below 400 KB)
INLINE_MANIFEST = 50  # sets this small carry their manifest in the audit record itself
_FIELDS = {"definition": fields.DEFINITION_FIELDS, "config": fields.CONFIG_FIELDS,
           "segment": fields.SEGMENT_FIELDS}


@dataclass(frozen=True)
class Change:
    """One validated item of the set (``index`` = its position in the request)."""

    index: int
    kind: str
    key: str
    action: str
    base_version: int
    body: dict[str, Any] | None

    def wire(self) -> dict[str, Any]:
        """The item as stored in a change request (what approvals are bound to)."""
        out: dict[str, Any] = {"kind": self.kind, "key": self.key, "action": self.action,
                               "base_version": self.base_version}
        if self.body is not None:
            out["body"] = self.body
        return out

    def manifest(self) -> dict[str, Any]:
        """The manifest entry: the change and the SHA-256 of its content."""
        digest = sha256_hex(canonical(self.body)) if self.body is not None else None
        return {**{k: v for k, v in self.wire().items() if k != "body"},
                "version": None if self.body is None else self.base_version + 1,
                "sha256": digest}


@dataclass
class World:
    """The project as read once: raw items, so a write can keep exact before-images."""

    envs: dict[str, Item]
    definitions: dict[str, Item]
    configs: dict[str, dict[str, Item]] = field(default_factory=dict)
    segments: dict[str, dict[str, Item]] = field(default_factory=dict)


def authorize(principal: Principal, project: str, environment: str,
              changes: Sequence[Mapping[str, Any]]) -> None:
    """Write in the environment; definition changes reach every environment, so they need
    write on all of them (as ``PUT /flags/{flag}`` does)."""
    principal.require(Perm.WRITE, project, environment)
    if any(c.get("kind") == "definition" for c in changes):
        principal.require(Perm.WRITE, project, None, all_environments=True)


def _parse(raw: Sequence[Mapping[str, Any]]) -> list[Change]:
    """Items of a request whose envelope is schema-valid as :class:`Change` objects; 400
    naming every problem: a body not valid for its kind (the single-item routes' schemas), a
    key twice, a delete with a body or base version 0, a flag both deleted and configured."""
    out: list[Change] = []
    seen: dict[tuple[str, str], int] = {}
    problems: list[Detail] = []
    for i, item in enumerate(raw):
        kind, key, action = str(item["kind"]), str(item["key"]), str(item["action"])
        where = f"changes[{i}]"
        if action == "put" and "body" not in item:
            problems.append(Detail(f"{where}.body", "is required"))
            continue
        if action == "put":
            problems += schema_problems(CHANGE_BODIES[kind], item["body"], f"{where}.body")
        if (kind, key) in seen:
            problems.append(Detail(f"{where}.key", f"{kind} {key!r} is already changed by "
                                                   f"changes[{seen[(kind, key)]}]"))
        seen[(kind, key)] = i
        if action == "delete" and "body" in item:
            problems.append(Detail(f"{where}.body", "a delete carries no body"))
        if action == "delete" and int(item["base_version"]) < 1:
            problems.append(Detail(f"{where}.base_version",
                                   "a delete needs the current version (>= 1)"))
        body = base.pick(item["body"], _FIELDS[kind]) if action == "put" else None
        out.append(Change(i, kind, key, action, int(item["base_version"]), body))
    for c in out:
        if c.kind == "config" and ("definition", c.key) in seen:
            d = out[seen[("definition", c.key)]]
            if d.action == "delete":
                problems.append(Detail(f"changes[{c.index}]",
                                       f"flag {c.key!r} is deleted by changes[{d.index}]"))
    if problems:
        raise BadRequest("the changeset is invalid", problems)
    return out


def _read(ctx: Ctx, project: str) -> World:
    envs = {str(e["environment"]): e for e in base.environments(ctx, project)}
    items, _ = ctx.repo.query(keys.project_pk(project), keys.FLAGDEF_SK_PREFIX)
    return World(envs, {str(i["sk"])[len(keys.FLAGDEF_SK_PREFIX):]: i for i in items})


def _load_env(ctx: Ctx, project: str, world: World, environment: str) -> None:
    if environment in world.configs:
        return
    pk = keys.env_pk(project, environment)
    flags, _ = ctx.repo.query(pk, keys.FLAG_SK_PREFIX)
    segs, _ = ctx.repo.query(pk, keys.SEGMENT_SK_PREFIX)
    world.configs[environment] = {str(i["sk"])[len(keys.FLAG_SK_PREFIX):]: i for i in flags}
    world.segments[environment] = {str(i["sk"])[len(keys.SEGMENT_SK_PREFIX):]: i for i in segs}


def _current(world: World, environment: str, c: Change) -> Item | None:
    if c.kind == "definition":
        return world.definitions.get(c.key)
    table = world.configs if c.kind == "config" else world.segments
    return table[environment].get(c.key)


def _undefined(world: World, changes: Sequence[Change]) -> None:
    """400 for a configuration of a flag that has no definition after the set (a stored
    configuration without definition is no flag: it would be written and never served)."""
    created = {c.key for c in changes if c.kind == "definition" and c.body is not None}
    deleted = {c.key for c in changes if c.kind == "definition" and c.body is None}
    bad = [Detail(f"changes[{c.index}].key", f"flag {c.key!r} has no definition: add a "
                  "definition item for it")
           for c in changes if c.kind == "config" and c.body is not None
           and (c.key in deleted or (c.key not in created and c.key not in world.definitions))]
    if bad:
        raise BadRequest("the changeset is invalid", bad)


def _conflicts(world: World, environment: str, changes: Sequence[Change]) -> None:
    """412 naming every item whose base version is not the stored one (0: absent)."""
    out = []
    for c in changes:
        item = _current(world, environment, c)
        version = int(item["version"]) if item is not None else 0
        if version != c.base_version:
            out.append({"index": c.index, "kind": c.kind, "key": c.key,
                        "base_version": c.base_version, "current_version": version})
    if out:
        raise ChangesetConflict(out)


@dataclass
class Effect:
    """What the set does to each environment: the resulting states and the writes."""

    states: dict[str, EnvState] = field(default_factory=dict)
    writes: list[storage.Write] = field(default_factory=list)

    def add(self, step: Step, before: Item | None) -> None:
        """One written item (its key read from the step) and its before-image."""
        ((_kind, body),) = step.items()
        item = body.get("Item") or body["Key"]
        size = storage.item_size(body["Item"]) if "Item" in body else 128
        self.writes.append(storage.Write(step, str(item["pk"]), str(item["sk"]), before,
                                         size + (storage.item_size(before) if before else 0)))


def _state(project: str, environment: str, world: World) -> EnvState:
    return EnvState(project, environment,
                    {k: versioned(v) for k, v in world.definitions.items()},
                    {k: versioned(v) for k, v in world.configs[environment].items()},
                    {k: versioned(v) for k, v in world.segments[environment].items()})


def _versioned_flag(effect: Effect, env: str, flag: str, body: dict[str, Any] | None,
                    version: int) -> None:
    state = effect.states[env]
    if body is None:
        state.configs.pop(flag, None)
    else:
        state.configs[flag] = versioned({"body": canonical(body), "version": version})


def _definition_effects(ctx: Ctx, call: Call, project: str, environment: str, world: World,
                        changes: Sequence[Change], effect: Effect, at: str) -> None:
    """Definition items, the default configurations a new flag gets in other unprotected
    environments, and the configurations a deleted flag loses everywhere."""
    configured_here = {c.key for c in changes if c.kind == "config" and c.action == "put"}
    for c in changes:
        if c.kind != "definition":
            continue
        pk, sk = keys.project_pk(project), keys.flag_definition_sk(c.key)
        before = world.definitions.get(c.key)
        cond = "attribute_not_exists(pk)" if c.base_version == 0 else "version = :v"
        values = {} if c.base_version == 0 else {"v": c.base_version}
        if c.body is None:
            effect.add(delete(pk, sk, cond, **values), before)
        else:
            effect.add(put({"pk": pk, "sk": sk, "flag": c.key, "body": canonical(c.body),
                            "tags": list(c.body.get("tags", [])),
                            "version": c.base_version + 1, "updated_at": at}, cond, **values),
                       before)
        for env, env_item in world.envs.items():
            if env not in effect.states:
                _load_env(ctx, project, world, env)
                effect.states[env] = _state(project, env, world)
            state = effect.states[env]
            if c.body is None:
                state.definitions.pop(c.key, None)
            else:
                state.definitions[c.key] = versioned({"body": canonical(c.body),
                                                      "version": c.base_version + 1})
            config = world.configs[env].get(c.key)
            if c.body is None and config is not None:
                effect.add(delete(keys.env_pk(project, env), keys.flag_config_sk(c.key),
                                  "version = :v", v=int(config["version"])), config)
                state.configs.pop(c.key, None)
            elif (c.base_version == 0 and c.body is not None and not env_item.get("protected")
                  and not (env == environment and c.key in configured_here)):
                default = default_config(c.body)
                for step in config_steps(project, env, c.key, default, 1, at, call,
                                         "flag.create"):
                    effect.add(step, None)
                _versioned_flag(effect, env, c.key, default, 1)


def _local_effects(ctx: Ctx, call: Call, project: str, environment: str, world: World,
                   changes: Sequence[Change], effect: Effect, at: str) -> None:
    """Configuration and segment items of the target environment."""
    if environment not in effect.states:
        effect.states[environment] = _state(project, environment, world)
    state = effect.states[environment]
    pk = keys.env_pk(project, environment)
    for c in changes:
        before = _current(world, environment, c)
        values = {} if c.base_version == 0 else {"v": c.base_version}
        cond = "attribute_not_exists(pk)" if c.base_version == 0 else "version = :v"
        if c.kind == "config" and c.body is not None:
            steps = config_steps(project, environment, c.key, c.body, c.base_version + 1, at,
                                 call, "changeset")
            effect.add(steps[0], before)
            effect.add(steps[1], None)
            _versioned_flag(effect, environment, c.key, c.body, c.base_version + 1)
        elif c.kind == "config":
            effect.add(delete(pk, keys.flag_config_sk(c.key), cond, **values), before)
            _versioned_flag(effect, environment, c.key, None, 0)
        elif c.kind == "segment" and c.body is not None:
            effect.add(put({"pk": pk, "sk": keys.segment_sk(c.key), "segment": c.key,
                            "body": canonical(c.body), "version": c.base_version + 1,
                            "updated_at": at}, cond, **values), before)
            state.segments[c.key] = versioned({"body": canonical(c.body),
                                               "version": c.base_version + 1})
        elif c.kind == "segment":
            effect.add(delete(pk, keys.segment_sk(c.key), cond, **values), before)
            state.segments.pop(c.key, None)


def _changed(effect: Effect, world: World, environment: str) -> list[str]:
    """The environments whose bundle the set changes (the target first, always)."""
    out = [environment]
    for env, state in effect.states.items():
        if env == environment:
            continue
        before = _state(state.project, env, world)
        if before.document() != state.document():
            out.append(env)
    return out


def _compile(ctx: Ctx, effect: Effect, envs: Sequence[str], environment: str,
             changes: Sequence[Change]) -> None:
    """Compile every changed environment strictly; 400 naming the item and path."""
    problems: list[Detail] = []
    for env in envs:
        try:
            check(effect.states[env], focus=None, clock=ctx.now)
        except BadRequest as exc:
            label = "" if env == environment else f" (in environment {env!r})"
            problems += [Detail(_locate(d.path, changes), d.message + label)
                         for d in exc.details]
    if problems:
        raise BadRequest("the changeset does not compile", problems)


def _locate(path: str, changes: Sequence[Change]) -> str:
    """A document path (``flags.k.rules[0]``) as the item that wrote it (``changes[3].body.
    rules[0]``); the document path when no item of the set wrote that entity."""
    for c in changes:
        root = ("segments." if c.kind == "segment" else "flags.") + c.key
        if path != root and not path.startswith((root + ".", root + "[")):
            continue
        rest = path[len(root) + 1:]
        name = rest.split(".")[0].split("[")[0]
        if c.kind == "segment" or not name or name in _FIELDS[c.kind]:
            return f"changes[{c.index}].body" + (f".{rest}" if rest else "")
    return path


def _manifest(project: str, environment: str, changeset_id: str, changes: Sequence[Change]
              ) -> tuple[list[dict[str, Any]], str, list[Item]]:
    entries = [c.manifest() for c in changes]
    items = [{"pk": keys.changeset_pk(project, changeset_id),
              "sk": keys.changeset_manifest_sk(n // MANIFEST_PART), "environment": environment,
              "manifest": canonical(entries[n:n + MANIFEST_PART])}
             for n in range(0, len(entries), MANIFEST_PART)]
    return entries, sha256_hex(canonical(entries)), items


def get_changeset(ctx: Ctx, project: str, environment: str, changeset_id: str
                  ) -> dict[str, Any]:
    """An applied changeset's manifest: every change with its content hash, and the SHA-256
    of the whole list (the ``manifest_sha256`` its audit record holds, so an auditor can
    check one against the other)."""
    base.environment_item(ctx, project, environment)
    pk = keys.changeset_pk(project, changeset_id) if storage.is_changeset_id(changeset_id) else ""
    parts, _ = ctx.repo.query(pk, keys.CHANGESET_MANIFEST_SK_PREFIX) if pk else ([], None)
    if not parts or any(p.get("environment") != environment for p in parts):
        raise NotFound(f"changeset {changeset_id!r} of environment {environment!r} "
                       "does not exist")
    if ctx.repo.get(pk, keys.CHANGESET_HEAD_SK) is not None:
        raise NotFound(f"changeset {changeset_id!r} is not applied (in progress or "
                       "rolled back)")
    entries = [e for p in parts for e in orjson.loads(p["manifest"])]
    return {"changeset": changeset_id, "project": project, "environment": environment,
            "count": len(entries), "manifest_sha256": sha256_hex(canonical(entries)),
            "changes": entries}



def apply_changeset(ctx: Ctx, call: Call, project: str, environment: str,
                    raw: Sequence[Mapping[str, Any]], approved: Approved | None = None
                    ) -> dict[str, Any]:
    """Apply every change of ``raw`` to ``environment`` as one revision, or none of them.

    Raises 400 (invalid or does not compile), 404, 409 (environment locked or changed
    meanwhile), 412 :class:`ChangesetConflict` (every stale item), or
    :class:`NeedsApproval` (ONE change request for the whole set) when a protected
    environment is affected and this is not the apply of an approved request.
    """
    authorize(call.principal, project, environment, raw)
    changes = _parse(raw)
    base.project_item(ctx, project)
    base.environment_item(ctx, project, environment)
    world = _read(ctx, project)
    _load_env(ctx, project, world, environment)
    _conflicts(world, environment, changes)
    _undefined(world, changes)
    at = iso(ctx.now())
    effect = Effect()
    _definition_effects(ctx, call, project, environment, world, changes, effect, at)
    _local_effects(ctx, call, project, environment, world, changes, effect, at)
    envs = _changed(effect, world, environment)
    _compile(ctx, effect, envs, environment, changes)
    protected = [e for e in envs if world.envs[e].get("protected")]
    if protected and approved is None:
        review = environment if environment in protected else protected[0]
        raise NeedsApproval(project, review, {"type": "changeset", "environment": environment,
                                              "changes": [c.wire() for c in changes]})
    return _write(ctx, call, project, environment, world, changes, effect, envs, approved)


def _write(ctx: Ctx, call: Call, project: str, environment: str, world: World,
           changes: Sequence[Change], effect: Effect, envs: Sequence[str],
           approved: Approved | None) -> dict[str, Any]:
    changeset_id = storage.new_changeset_id(ctx.now())
    entries, digest, parts = _manifest(project, environment, changeset_id, changes)
    for part in parts:
        effect.add(put(part, "attribute_not_exists(pk)"), None)
    revisions = {e: int(world.envs[e].get("revision", 0)) for e in envs}
    lease = storage.acquire(ctx.repo, project, changeset_id, revisions, ctx.now())
    after = {"changeset": changeset_id, "environment": environment, "count": len(changes),
             "manifest_sha256": digest, "manifest_items": len(parts),
             **({"changes": entries} if len(entries) <= INLINE_MANIFEST else {})}
    resource = f"projects/{project}/environments/{environment}/changesets/{changeset_id}"
    try:
        storage.write_chunks(ctx.repo, lease, effect.writes, ctx.now)
        base.commit(ctx, call, steps=[approved.step] if approved else [], bump=[
            (project, e) for e in envs], holding=lease.token, on_conflict=_cr_moved(approved),
            entries=[Entry(Chain.for_environment(project, e), "changeset.apply", resource,
                           None, after) for e in envs])
    except BaseException as exc:
        # Anything but a dead process: put every before-image back and release the lock.
        # (A killed process leaves an expired lock: the next writer rolls it back.)
        if isinstance(exc, Exception):
            storage.rollback(ctx.repo, lease)
        if isinstance(exc, TransactionCancelled):
            raise Conflict("a changed item or a storage fault stopped the changeset; "
                           "nothing was changed — re-read and retry") from exc
        raise
    storage.forget(ctx.repo, lease)
    return {"changeset": changeset_id, "project": project, "environment": environment,
            "revision": revisions[environment] + 1, "count": len(changes),
            "manifest_sha256": digest,
            "revisions": {e: revisions[e] + 1 for e in envs}}


def _cr_moved(approved: Approved | None) -> Any:
    def moved() -> NoReturn:
        if approved:
            approved.check_cr()
        raise Conflict("the changeset could not be committed; nothing was changed — retry")
    return moved

