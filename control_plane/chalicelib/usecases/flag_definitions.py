"""Flag definitions: the part of a flag shared by every environment of a project.

A definition reaches an environment's bundle only where the flag is configured, so a
definition write compiles, bumps and audits exactly the environments configuring the flag,
and needs a change request iff one of them is protected (:func:`_guard`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from chalicelib import keys
from chalicelib.audit import Chain, Entry
from chalicelib.canonical import canonical, iso
from chalicelib.envdoc import EnvState, Versioned, check, load_definitions, load_state, versioned
from chalicelib.errors import Conflict
from chalicelib.repository import Item, Step, condition, delete, put, update
from chalicelib.requests import encode_cursor
from chalicelib.usecases import base
from chalicelib.usecases.base import Approved, Call, Ctx, NeedsApproval
from chalicelib.usecases.flag_configs import config_steps, default_config
from edge_reader.engine import fields

EnvKey = tuple[str, str]


def definition_view(flag: str, d: Versioned) -> dict[str, Any]:
    """Public form of a flag definition."""
    return {"key": flag, **d.body, "version": d.version, "updated_at": d.updated_at}


def project_states(ctx: Ctx, project: str, definitions: dict[str, Versioned]
                   ) -> list[tuple[Item, EnvState]]:
    """Every environment of the project with its state, under ``definitions``."""
    return [(env, load_state(ctx.repo, project, str(env["environment"]), definitions))
            for env in base.environments(ctx, project)]


def _guard(project: str, configured: list[Item], operation: dict[str, Any],
           approved: Approved | None) -> None:
    """A definition write needs a change request iff it changes a protected environment.

    A definition reaches an environment's bundle only where the flag is configured, so
    the protected environments it changes are those of ``configured`` (the environments
    holding a configuration of the flag).
    Called after the compile check, so a change request is only filed for a change that
    compiles. The request is filed in the first of them; its approver needs write on
    every environment (``approvals.operation_permission``).
    """
    touched = [str(env["environment"]) for env in configured if env.get("protected")]
    if touched and approved is None:
        raise NeedsApproval(project, touched[0], operation)


def create_flag(ctx: Ctx, call: Call, project: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """Create a definition and a disabled configuration in every unprotected environment.

    Protected environments get no configuration: the flag is absent from their bundles
    (readers get ``FLAG_NOT_FOUND``) until an approved change request configures it there
    (``PUT .../flags/<f>`` with ``If-Match: 0``). So creating a flag needs no approval and
    changes nothing a protected environment serves.
    """
    base.project_item(ctx, project)
    flag = str(body["key"])
    new = base.pick(body, fields.DEFINITION_FIELDS)
    defs = load_definitions(ctx.repo, project)
    if flag in defs:
        raise Conflict(f"flag {flag!r} already exists")
    at = iso(ctx.now())
    defs[flag] = Versioned(new, 1, at)
    config = default_config(new)
    steps: list[Step] = [put({"pk": keys.project_pk(project),
                              "sk": keys.flag_definition_sk(flag), "flag": flag,
                              "body": canonical(new), "tags": list(new.get("tags", [])),
                              "version": 1, "updated_at": at}, "attribute_not_exists(pk)")]
    entries: list[Entry] = []
    bump = []
    for env, state in project_states(ctx, project, defs):
        if env.get("protected"):
            continue
        e = str(env["environment"])
        state.configs[flag] = Versioned(config, 1)
        check(state, focus=f"flags.{flag}", clock=ctx.now, label_environment=True)
        steps += config_steps(project, e, flag, config, 1, at, call, "flag.create")
        bump.append((project, e))
        entries.append(Entry(Chain.for_environment(project, e), "flag.create",
                             f"projects/{project}/flags/{flag}", None,
                             {"definition": new, "config": config}))
    if not entries:
        # No unprotected environment: the definition's own compile check, in an otherwise
        # empty document (named like a real environment: the document format checks it).
        alone = EnvState(project, "unconfigured", {flag: defs[flag]},
                         {flag: Versioned(config, 1)}, {})
        check(alone, focus=f"flags.{flag}", clock=ctx.now)
        # No bundle changes (no environment, or only protected ones): audit globally.
        entries = [Entry(Chain.global_chain(), "flag.create", f"projects/{project}/flags/{flag}",
                         None, new)]

    def exists() -> NoReturn:
        raise Conflict(f"flag {flag!r} already exists")

    base.commit(ctx, call, steps=steps, entries=entries, bump=bump, on_conflict=exists)
    return definition_view(flag, defs[flag])


def list_flags(ctx: Ctx, project: str, query: Mapping[str, str], limit: int,
               cursor: str | None) -> dict[str, Any]:
    """Definitions page (filters ``tag``, ``prefix``); ``next_cursor`` when more follow."""
    base.project_item(ctx, project)
    items, last = base.definition_page(ctx, project, query, limit, cursor)
    return {"items": [definition_view(str(i["flag"]), versioned(i)) for i in items],
            "next_cursor": encode_cursor(last)}


def get_flag(ctx: Ctx, project: str, flag: str) -> dict[str, Any]:
    """One flag definition."""
    return definition_view(flag, base.definition(ctx, project, flag))


def _entries(project: str, flag: str, action: str, configured: list[Item],
             before: dict[str, Any], after: dict[str, Any] | None
             ) -> tuple[list[Entry], list[EnvKey]]:
    """One audit entry per configuring environment (each is bumped), or one global entry
    when none configures the flag (no bundle changes)."""
    resource = f"projects/{project}/flags/{flag}"
    bump = [(project, str(env["environment"])) for env in configured]
    entries = [Entry(Chain.for_environment(p, e), action, resource, before, after)
               for p, e in bump]
    return entries or [Entry(Chain.global_chain(), action, resource, before, after)], bump


def put_flag_definition(ctx: Ctx, call: Call, project: str, flag: str,
                        body: Mapping[str, Any], if_match: int,
                        approved: Approved | None = None) -> dict[str, Any]:
    """Replace a definition; it must compile in every environment of the project."""
    current = base.definition(ctx, project, flag)
    base.match({"version": current.version}, if_match, f"flag {flag!r}")
    new = base.pick(body, fields.DEFINITION_FIELDS)
    at = iso(ctx.now())
    defs = load_definitions(ctx.repo, project)
    defs[flag] = Versioned(new, if_match + 1, at)
    # Only environments configuring the flag serve its definition (see create_flag).
    every = project_states(ctx, project, defs)
    states = [(env, state) for env, state in every if flag in state.configs]
    for _env, state in states:
        check(state, focus=f"flags.{flag}", clock=ctx.now, label_environment=True)
    configured = [env for env, _ in states]
    _guard(project, configured, {"type": "flag.definition.put", "flag": flag, "body": new,
                                 "base_version": if_match}, approved)
    steps: list[Step] = [update(keys.project_pk(project), keys.flag_definition_sk(flag),
                                "SET body = :b, tags = :tags, version = :nv, updated_at = :t",
                                "version = :v", b=canonical(new),
                                tags=list(new.get("tags", [])), nv=if_match + 1,
                                t=at, v=if_match), *_still_absent(project, flag, every)]
    if approved:
        steps.append(approved.step)
    entries, bump = _entries(project, flag, "flag.definition.put", configured, current.body,
                             new)
    base.commit(ctx, call, steps=steps, entries=entries, bump=bump,
                on_conflict=lambda: _conflict(ctx, project, flag, approved, if_match))
    return get_flag(ctx, project, flag)


def _still_absent(project: str, flag: str, states: list[tuple[Item, EnvState]]) -> list[Step]:
    """Conditions that the flag is still unconfigured in the protected environments where
    it was when read: a configuration approved meanwhile makes a direct definition write
    fail instead of changing that environment unreviewed."""
    return [condition(keys.env_pk(project, str(env["environment"])),
                      keys.flag_config_sk(flag), "attribute_not_exists(pk)")
            for env, state in states if env.get("protected") and flag not in state.configs]


def _conflict(ctx: Ctx, project: str, flag: str, approved: Approved | None,
              if_match: int) -> NoReturn:
    if approved:
        approved.check_cr()
    item = ctx.repo.get(keys.project_pk(project), keys.flag_definition_sk(flag))
    if item is not None and int(item["version"]) == if_match:
        raise Conflict(f"flag {flag!r} was configured in a protected environment meanwhile; "
                       "re-read and retry (the change now needs a change request)")
    base.stale(ctx, keys.project_pk(project), keys.flag_definition_sk(flag), f"flag {flag!r}")


def delete_flag(ctx: Ctx, call: Call, project: str, flag: str, if_match: int,
                approved: Approved | None = None) -> dict[str, Any]:
    """Delete a definition and its configuration everywhere (history is kept)."""
    current = base.definition(ctx, project, flag)
    base.match({"version": current.version}, if_match, f"flag {flag!r}")
    defs = load_definitions(ctx.repo, project)
    del defs[flag]
    every = project_states(ctx, project, defs)
    states = [(env, state) for env, state in every if flag in state.configs]
    for _env, state in states:
        state.configs.pop(flag)
        check(state, focus=None, clock=ctx.now, label_environment=True)
    configured = [env for env, _ in states]
    _guard(project, configured, {"type": "flag.definition.delete", "flag": flag,
                                 "base_version": if_match}, approved)
    steps: list[Step] = [delete(keys.project_pk(project), keys.flag_definition_sk(flag),
                                "version = :v", v=if_match),
                         *_still_absent(project, flag, every)]
    if approved:
        steps.append(approved.step)
    steps += [delete(keys.env_pk(project, str(env["environment"])), keys.flag_config_sk(flag))
              for env in configured]
    entries, bump = _entries(project, flag, "flag.delete", configured, current.body, None)
    base.commit(ctx, call, steps=steps, entries=entries, bump=bump,
                on_conflict=lambda: _conflict(ctx, project, flag, approved, if_match))
    return {"key": flag, "deleted": True}
