"""Projects and their environments; recording refusals in a protected environment's chain.

Projects and environments are created by admins and audited in the global chain. An
environment's own item is also its audit chain head and its bundle revision
(:mod:`chalicelib.writes`); renaming or (un)protecting a protected environment needs a
change request.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, NoReturn

from chalicelib import keys
from chalicelib.audit import Chain, Entry
from chalicelib.canonical import iso
from chalicelib.denied import DENIED
from chalicelib.envdoc import load_definitions
from chalicelib.errors import Conflict, NotFound
from chalicelib.rbac import Principal
from chalicelib.repository import Item, Step, put
from chalicelib.usecases import base
from chalicelib.usecases.base import Approved, Call, Ctx, NeedsApproval
from chalicelib.usecases.flag_configs import config_steps, default_config

MAX_ENVIRONMENTS = 24  # a definition write touches 4 items per environment; DynamoDB allows 100
DEFAULTS_PER_COMMIT = 40  # flags configured per transaction in a new environment


def project_view(item: Item) -> dict[str, Any]:
    """Public form of a project."""
    return {k: item.get(k) for k in ("project", "name", "version", "created_at", "updated_at")}


def create_project(ctx: Ctx, call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    """Create a project (admin); audited in the global chain."""
    key = str(body["key"])
    at = iso(ctx.now())
    item = {
        "pk": keys.project_pk(key), "sk": keys.PROJECT_SK, "project": key,
        "name": body.get("name", key), "version": 1, "created_at": at, "updated_at": at,
        "gsi1pk": keys.PROJECTS_GSI_PK, "gsi1sk": key,
    }
    view = project_view(item)

    def exists() -> NoReturn:
        raise Conflict(f"project {key!r} already exists")

    base.commit(ctx, call, steps=[put(item, "attribute_not_exists(pk)")],
                entries=[Entry(Chain.global_chain(), "project.create", f"projects/{key}", None,
                               view)],
                on_conflict=exists)
    return view


def list_projects(ctx: Ctx, call: Call) -> list[dict[str, Any]]:
    """Projects visible to the caller."""
    items = ctx.repo.query_index(keys.PROJECTS_GSI_PK)
    return [project_view(i) for i in sorted(items, key=lambda i: str(i["project"]))
            if call.principal.sees_project(str(i["project"]))]


def get_project(ctx: Ctx, project: str) -> dict[str, Any]:
    """One project."""
    return project_view(base.project_item(ctx, project))


def environment_view(item: Item) -> dict[str, Any]:
    """Public form of an environment (revision and audit head included)."""
    names = ("project", "environment", "name", "protected", "revision", "audit_seq",
             "audit_head", "version", "created_at", "updated_at")
    return {k: item.get(k) for k in names}


def create_environment(ctx: Ctx, call: Call, project: str, body: Mapping[str, Any]
                       ) -> dict[str, Any]:
    """Create an environment (admin); existing flags get their default configuration
    unless the environment is protected (there they are absent until a change request)."""
    base.project_item(ctx, project)
    key = str(body["key"])
    if len(base.environments(ctx, project)) >= MAX_ENVIRONMENTS:
        raise Conflict(f"a project holds at most {MAX_ENVIRONMENTS} environments")
    at = iso(ctx.now())
    item = {
        "pk": keys.project_pk(project), "sk": keys.environment_sk(key), "project": project,
        "environment": key, "name": body.get("name", key),
        "protected": bool(body.get("protected", False)), "revision": 0, "audit_seq": 0,
        "audit_head": "", "version": 1, "created_at": at, "updated_at": at,
    }
    view = environment_view(item)

    def exists() -> NoReturn:
        raise Conflict(f"environment {key!r} already exists in project {project!r}")

    base.commit(ctx, call, steps=[put(item, "attribute_not_exists(pk)")],
                entries=[Entry(Chain.global_chain(), "environment.create",
                               f"projects/{project}/environments/{key}", None, view)],
                on_conflict=exists)
    if not item["protected"]:
        _configure_existing_flags(ctx, call, project, key, at)
    return environment_view(base.environment_item(ctx, project, key))


def _configure_existing_flags(ctx: Ctx, call: Call, project: str, environment: str,
                              at: str) -> None:
    """Give a new unprotected environment every flag's default configuration.

    In transactions of <= 40 flags, each bumping the environment's revision with its own
    audit record. A protected environment gets none: a flag is present there only once an
    approved change request configures it (docs/security.md, "Four-eyes").
    """
    defs = sorted(load_definitions(ctx.repo, project).items())
    for start in range(0, len(defs), DEFAULTS_PER_COMMIT):
        chunk = defs[start:start + DEFAULTS_PER_COMMIT]
        steps: list[Step] = []
        for flag, definition in chunk:
            config = default_config(definition.body)
            steps += config_steps(project, environment, flag, config, 1, at, call, "flag.create")
        base.commit(ctx, call, steps=steps, bump=[(project, environment)],
                    entries=[Entry(Chain.for_environment(project, environment),
                                   "flag.config.default",
                                   f"projects/{project}/environments/{environment}/flags",
                                   None, [f for f, _ in chunk])])


def list_environments(ctx: Ctx, call: Call, project: str) -> list[dict[str, Any]]:
    """Environments of a project visible to the caller."""
    base.project_item(ctx, project)
    return [environment_view(i) for i in base.environments(ctx, project)
            if call.principal.sees_environment(str(i["environment"]))]


def get_environment(ctx: Ctx, project: str, environment: str) -> dict[str, Any]:
    """One environment."""
    return environment_view(base.environment_item(ctx, project, environment))


def patch_environment(ctx: Ctx, call: Call, project: str, environment: str,
                      body: Mapping[str, Any], if_match: int,
                      approved: Approved | None = None) -> dict[str, Any]:
    """Rename or (un)protect; on a protected environment this needs an approval."""
    item = base.environment_item(ctx, project, environment)
    base.match(item, if_match, f"environment {environment!r}")
    changes = base.pick(body, ("name", "protected"))
    if item.get("protected") and approved is None:
        raise NeedsApproval(project, environment, {
            "type": "environment.patch", "body": changes, "base_version": if_match})
    before = environment_view(item)
    attrs = {**changes, "version": if_match + 1}
    try:
        base.commit(ctx, call, steps=[approved.step] if approved else [],
                    entries=[Entry(Chain.for_environment(project, environment), "environment.patch",
                                   f"projects/{project}/environments/{environment}",
                                   before, {**before, **attrs})],
                    env_sets={(project, environment): (attrs, if_match)},
                    on_conflict=approved.check_cr if approved else base.raise_conflict)
    except Conflict:
        base.match(base.environment_item(ctx, project, environment), if_match,
                   f"environment {environment!r}")
        raise
    return get_environment(ctx, project, environment)


def record_denied(ctx: Ctx, principal: Principal, project: str | None,
                  environment: str | None, action: str, resource: str) -> None:
    """Record a refusal: always in the bounded denied log; also as a ``denied`` record in
    a protected environment's chain when the caller's scope covers that environment.

    A caller with no scope there is an outsider: their refusals are noise they could
    generate at will, so they never reach the chain (nor cost a read to decide)."""
    DENIED.record(principal, action, resource, project, environment)
    if (project is None or environment is None or not principal.sees_project(project)
            or not principal.sees_environment(environment)
            or not base.is_protected(ctx, project, environment)):
        return
    # The denial itself stands even if recording fails (a vanished env, a lost race).
    with contextlib.suppress(NotFound, Conflict):
        base.commit(ctx, Call(principal), steps=[],
                    entries=[Entry(Chain.for_environment(project, environment), action, resource,
                                   outcome="denied")])
