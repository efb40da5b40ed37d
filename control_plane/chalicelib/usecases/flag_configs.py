"""A flag's configuration in one environment: read, replace, history, restore, promote.

Every replacement — direct, restored from history or promoted from another environment — is
:func:`put_env_flag`: compiled strictly against the environment first (:mod:`chalicelib.envdoc`),
written with its history item, and turned into a change request in a protected environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

import orjson

from chalicelib import keys
from chalicelib.audit import Chain, Entry
from chalicelib.canonical import canonical, iso
from chalicelib.envdoc import Versioned, check, load_state, versioned
from chalicelib.errors import BadRequest, Detail, NotFound, PreconditionFailed
from chalicelib.repository import Item, Step, condition, put
from chalicelib.requests import encode_cursor
from chalicelib.usecases import base
from chalicelib.usecases.base import Approved, Call, Ctx, NeedsApproval
from edge_reader.engine import fields


def default_config(definition: Mapping[str, Any]) -> dict[str, Any]:
    """Configuration a new flag gets in every environment: disabled, serving its off variation.

    The off variation is the variation whose value is ``false`` for boolean flags, else the
    first variation listed in the definition.
    """
    variations = dict(definition.get("variations") or {})
    off = next(iter(variations), None)
    if definition.get("kind") == "boolean":
        off = next((k for k, v in variations.items() if v is False), off)
    config: dict[str, Any] = {"enabled": False}
    if off is not None:
        config["off_variation"] = off
        config["default"] = {"variation": off}
    return config


def config_steps(project: str, environment: str, flag: str, config: dict[str, Any],
                 version: int, at: str, call: Call, action: str) -> list[Step]:
    """Put configuration ``version`` (conditioned on version-1) and its history item."""
    pk, sk = keys.env_pk(project, environment), keys.flag_config_sk(flag)
    item = {"pk": pk, "sk": sk, "flag": flag, "body": canonical(config), "version": version,
            "updated_at": at}
    cond = ("attribute_not_exists(pk)" if version == 1 else "version = :v")
    values = {} if version == 1 else {"v": version - 1}
    hist = {"pk": keys.history_pk(project, environment, flag), "sk": keys.history_sk(version),
            "flag": flag, "version": version, "body": canonical(config), "action": action,
            "actor": call.principal.actor, "at": at}
    return [put(item, cond, **values), put(hist, "attribute_not_exists(pk)")]


def env_flag_view(project: str, environment: str, flag: str, definition: Versioned,
                  config: Versioned) -> dict[str, Any]:
    """Public form of a flag in an environment: its configuration and its definition."""
    return {"key": flag, "project": project, "environment": environment,
            "version": config.version, "updated_at": config.updated_at,
            "config": config.body,
            "definition": {**definition.body, "version": definition.version}}


def _config(ctx: Ctx, project: str, environment: str, flag: str) -> Versioned:
    item = base.require_item(ctx, keys.env_pk(project, environment), keys.flag_config_sk(flag),
                             f"flag {flag!r} in environment {environment!r}")
    return versioned(item)


def get_env_flag(ctx: Ctx, project: str, environment: str, flag: str) -> dict[str, Any]:
    """One flag's configuration in an environment."""
    base.environment_item(ctx, project, environment)
    return env_flag_view(project, environment, flag, base.definition(ctx, project, flag),
                         _config(ctx, project, environment, flag))


def list_env_flags(ctx: Ctx, project: str, environment: str, query: Mapping[str, str],
                   limit: int, cursor: str | None) -> dict[str, Any]:
    """Page of flags with their configuration in an environment (filters tag, prefix)."""
    base.environment_item(ctx, project, environment)
    defs, last = base.definition_page(ctx, project, query, limit, cursor)
    wanted = [(keys.env_pk(project, environment), keys.flag_config_sk(str(d["flag"])))
              for d in defs]
    configs = {str(i["flag"]): versioned(i) for i in ctx.repo.batch_get(wanted)}
    items = [env_flag_view(project, environment, str(d["flag"]), versioned(d),
                           configs[str(d["flag"])])
             for d in defs if str(d["flag"]) in configs]
    return {"items": items, "next_cursor": encode_cursor(last)}


def put_env_flag(ctx: Ctx, call: Call, project: str, environment: str, flag: str,
                 body: Mapping[str, Any], if_match: int, approved: Approved | None = None,
                 *, action: str = "flag.config.put",
                 operation: dict[str, Any] | None = None) -> dict[str, Any]:
    """Replace a flag's configuration in one environment (compiled strictly first).

    ``If-Match: 0`` configures a defined flag in an environment where it has no
    configuration yet (a protected environment: see ``flag_definitions.create_flag``). In a
    protected environment the change request's operation records the definition version it
    was reviewed with; applying it refuses (412) once the definition has moved.
    """
    env = base.environment_item(ctx, project, environment)
    # One consistent read of the environment's partition serves both the current
    # version check and the compile check.
    state = load_state(ctx.repo, project, environment)
    current = state.configs.get(flag)
    defined = state.definitions.get(flag)
    if defined is None or (current is None and if_match != 0):
        raise NotFound(f"flag {flag!r} in environment {environment!r} does not exist")
    base.match({"version": current.version if current else 0}, if_match,
               f"flag {flag!r} in {environment!r}")
    if approved and approved.definition_version not in (None, defined.version):
        raise PreconditionFailed(defined.version,
                                 f"the definition of flag {flag!r} is at version "
                                 f"{defined.version}, not the reviewed "
                                 f"{approved.definition_version}")
    config = base.pick(body, fields.CONFIG_FIELDS)
    state.configs[flag] = Versioned(config, if_match + 1)
    check(state, focus=f"flags.{flag}", clock=ctx.now)
    if env.get("protected") and approved is None:
        raise NeedsApproval(project, environment, {**(operation or {
            "type": "flag.config.put", "flag": flag, "body": config,
            "base_version": if_match}), "definition_version": defined.version})
    at = iso(ctx.now())
    steps = config_steps(project, environment, flag, config, if_match + 1, at, call, action)
    if approved:
        steps.append(approved.step)
        if approved.definition_version is not None:
            # The definition may not move between this read and the commit either.
            steps.append(condition(keys.project_pk(project), keys.flag_definition_sk(flag),
                                   "version = :dv", dv=approved.definition_version))
    base.commit(ctx, call, steps=steps, bump=[(project, environment)],
                entries=[Entry(Chain.for_environment(project, environment), action,
                               f"projects/{project}/environments/{environment}/flags/{flag}",
                               current.body if current else None, config)],
                on_conflict=lambda: _conflict(ctx, project, environment, flag, approved))
    # Built from what was just committed: no read-back.
    return env_flag_view(project, environment, flag, defined,
                         Versioned(config, if_match + 1, at))


def _conflict(ctx: Ctx, project: str, environment: str, flag: str,
              approved: Approved | None) -> NoReturn:
    if approved:
        approved.check_cr()
        defined = base.definition(ctx, project, flag)
        if approved.definition_version not in (None, defined.version):
            raise PreconditionFailed(defined.version,
                                     f"the definition of flag {flag!r} moved to version "
                                     f"{defined.version} since it was reviewed")
    base.stale(ctx, keys.env_pk(project, environment), keys.flag_config_sk(flag),
               f"flag {flag!r} in {environment!r}")


def history_view(item: Item) -> dict[str, Any]:
    """Public form of a history item."""
    return {"flag": item["flag"], "version": item["version"],
            "config": orjson.loads(item["body"]), "action": item.get("action"),
            "actor": item.get("actor"), "at": item.get("at")}


def history(ctx: Ctx, project: str, environment: str, flag: str, limit: int,
            cursor: str | None) -> dict[str, Any]:
    """Versions of a flag's configuration in an environment, newest first."""
    base.environment_item(ctx, project, environment)
    items, last = ctx.repo.query(keys.history_pk(project, environment, flag),
                                 keys.HISTORY_SK_PREFIX, limit=limit, start_sk=cursor,
                                 forward=False)
    if not items and cursor is None:
        raise NotFound(f"flag {flag!r} has no history in {environment!r}")
    return {"items": [history_view(i) for i in items], "next_cursor": encode_cursor(last)}


def history_version(ctx: Ctx, project: str, environment: str, flag: str, version: int
                    ) -> dict[str, Any]:
    """One version of a flag's configuration."""
    item = base.require_item(ctx, keys.history_pk(project, environment, flag),
                             keys.history_sk(version),
                             f"version {version} of flag {flag!r} in {environment!r}")
    return history_view(item)


def restore(ctx: Ctx, call: Call, project: str, environment: str, flag: str, version: int,
            if_match: int, approved: Approved | None = None) -> dict[str, Any]:
    """Write an old version's configuration as a new version (audited as a restore)."""
    old = history_version(ctx, project, environment, flag, version)
    return put_env_flag(
        ctx, call, project, environment, flag, old["config"], if_match, approved,
        action="flag.restore",
        operation={"type": "flag.restore", "flag": flag, "version": version,
                   "body": old["config"], "base_version": if_match})


def promote(ctx: Ctx, call: Call, project: str, flag: str, source: str, target: str,
            if_match: int, approved: Approved | None = None) -> dict[str, Any]:
    """Copy a flag's configuration from one environment to another (``If-Match``: target)."""
    if source == target:
        raise BadRequest("invalid promotion", [Detail("to", "must differ from 'from'")])
    base.environment_item(ctx, project, source)
    config = _config(ctx, project, source, flag)
    # The operation carries the source's content and version: a change request approves
    # exactly this content, whatever happens to the source afterwards.
    return put_env_flag(
        ctx, call, project, target, flag, config.body, if_match, approved,
        action="flag.promote",
        operation={"type": "flag.promote", "flag": flag, "from": source,
                   "source_version": config.version, "body": config.body,
                   "base_version": if_match})
