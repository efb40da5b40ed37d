"""What every use case shares: the context, the caller, the approval seam, lookups, errors.

:class:`Ctx` is what a use case runs against (one table, a clock, KMS); :class:`Call` is who
asks and why. Every write goes through :func:`commit` (entity + audit + revision in one
transaction, :func:`chalicelib.writes.commit`). A write to a protected environment raises
:class:`NeedsApproval` unless it carries an :class:`Approved` — which only
:func:`chalicelib.approvals.apply` builds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from chalicelib import keys
from chalicelib.envdoc import Versioned, versioned
from chalicelib.errors import Conflict, NotFound, PreconditionFailed
from chalicelib.rbac import Perm, Principal
from chalicelib.repository import Item, Repository, Step
from chalicelib.writes import commit as _write


@dataclass(frozen=True)
class Ctx:
    """What a use case runs against: the table, the clock and KMS (injectable for tests).

    ``kms`` / ``kms_key_id`` None: the process-wide client / ``$VEXIL_KMS_KEY_ID``.
    """

    repo: Repository
    now: Callable[[], float] = time.time
    kms: Any | None = None
    kms_key_id: str | None = None


@dataclass(frozen=True)
class Call:
    """Who is calling and why (the optional audit reason)."""

    principal: Principal
    reason: str | None = None


@dataclass
class Approved:
    """Present only when applying an approved change request: its id and the CR update step."""

    cr_id: str
    step: Step
    check_cr: Callable[[], None] = field(default=lambda: None)
    # The flag definition version a configuration change was reviewed with (None: any).
    definition_version: int | None = None


class NeedsApproval(Exception):
    """Raised by a write to a protected environment: the caller files a change request."""

    def __init__(self, project: str, environment: str, operation: dict[str, Any]) -> None:
        super().__init__(f"{project}/{environment} is protected")
        self.project = project
        self.environment = environment
        self.operation = operation


def commit(ctx: Ctx, call: Call, **kwargs: Any) -> list[str]:
    """Run one audited write as ``call``'s principal (see :func:`chalicelib.writes.commit`
    for ``steps``, ``entries``, ``bump``, ``env_sets`` and ``on_conflict``)."""
    return _write(ctx.repo, actor=call.principal.actor, reason=call.reason, now=ctx.now,
                  **kwargs)


def raise_conflict() -> NoReturn:
    """The default answer when a write lost a race it cannot name: 409, re-read and retry."""
    raise Conflict("the resource changed concurrently; re-read and retry")


def pick(body: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The subset of ``body`` whose keys are in ``names`` (drops ``reason``, ``key``...)."""
    return {k: body[k] for k in names if k in body}


def require_item(ctx: Ctx, pk: str, sk: str, what: str) -> Item:
    """The item at (pk, sk), or 404 naming ``what``."""
    item = ctx.repo.get(pk, sk)
    if item is None:
        raise NotFound(f"{what} does not exist")
    return item


def stale(ctx: Ctx, pk: str, sk: str, what: str) -> NoReturn:
    """Raise 404 or 412 for an entity whose conditional write failed."""
    item = ctx.repo.get(pk, sk)
    if item is None:
        raise NotFound(f"{what} does not exist")
    raise PreconditionFailed(int(item["version"]), f"{what} is at version {item['version']}")


def match(item: Mapping[str, Any], if_match: int, what: str) -> None:
    """412 unless ``item``'s version is ``if_match`` (the read-time half of If-Match)."""
    if int(item["version"]) != if_match:
        version = int(item["version"])
        raise PreconditionFailed(version, f"{what} is at version {version}")


def project_item(ctx: Ctx, project: str) -> Item:
    """The project item or 404."""
    return require_item(ctx, keys.project_pk(project), keys.PROJECT_SK, f"project {project!r}")


def environment_item(ctx: Ctx, project: str, environment: str) -> Item:
    """The environment item or 404."""
    return require_item(ctx, keys.project_pk(project), keys.environment_sk(environment),
                        f"environment {environment!r} of project {project!r}")


def environments(ctx: Ctx, project: str) -> list[Item]:
    """All environment items of a project (key order)."""
    items, _ = ctx.repo.query(keys.project_pk(project), keys.ENV_SK_PREFIX)
    return items


def is_protected(ctx: Ctx, project: str, environment: str) -> bool:
    """Whether writes to this environment need a change request."""
    item = ctx.repo.get(keys.project_pk(project), keys.environment_sk(environment))
    return bool(item and item.get("protected"))


def definition(ctx: Ctx, project: str, flag: str) -> Versioned:
    """A flag's stored definition or 404."""
    item = require_item(ctx, keys.project_pk(project), keys.flag_definition_sk(flag),
                        f"flag {flag!r} of project {project!r}")
    return versioned(item)


def definition_page(ctx: Ctx, project: str, query: Mapping[str, str], limit: int,
                    cursor: str | None) -> tuple[list[Item], str | None]:
    """Up to ``limit`` definition items after ``cursor`` (filters ``prefix`` in the key,
    ``tag`` here) and the cursor of the next page (None on the last)."""
    prefix = keys.FLAGDEF_SK_PREFIX + query.get("prefix", "")
    tag = query.get("tag")
    out: list[Item] = []
    start = cursor
    while len(out) < limit:
        items, start = ctx.repo.query(keys.project_pk(project), prefix, limit=limit,
                                      start_sk=start)
        for item in items:
            if tag is None or tag in item.get("tags", []):
                out.append(item)
                if len(out) == limit:
                    more = item is not items[-1] or start is not None
                    return out, str(item["sk"]) if more else None
        if start is None:
            break
    return out, None


def authorize_write(principal: Principal, project: str, environment: str | None) -> None:
    """Editors write in scope; project-level writes need every environment in scope."""
    principal.require(Perm.WRITE, project, environment, all_environments=environment is None)
