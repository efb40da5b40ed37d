"""Four-eyes change requests on protected environments.

A write to a protected environment raises :class:`~chalicelib.usecases.base.NeedsApproval`
inside its use case; the handler files a change request holding the exact operation
(validated and compiled at filing time, and compiled again at apply against the environment
as it is then).
``change_hash = sha256(canonical(operation))``; an approval records the hash it approved, so
editing the operation voids it.

The rules (docs/security.md, "Four-eyes"):

* every configuration operation carries its full content (``body``; a promotion also its
  source and source version, a restore the restored version) and the definition version it
  was reviewed with — applying writes exactly that content, never re-reads a source;
* whoever edits a request becomes one of its ``authors`` (editing is allowed so a review can
  iterate, but it can never turn the editor into a reviewer of their own content);
* nobody among the authors may approve (same token id OR same name is the same person);
* apply needs at least one approval of the current hash by a non-author whose token is
  still active (not revoked, not expired) at apply time;
* apply runs the operation in the same transaction that marks the request applied
  (conditioned on its version and hash); ``base_version`` makes it fail with 412 if the
  target moved.

There is no other path: ``approved=`` is only ever passed from :func:`apply`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import orjson

from chalicelib import keys, observability, tokens
from chalicelib.audit import Chain, Entry
from chalicelib.canonical import canonical, iso, sha256_hex
from chalicelib.errors import (
    Conflict,
    Detail,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
)
from chalicelib.observability import Metric
from chalicelib.rbac import Perm, Principal
from chalicelib.repository import Item, put, update
from chalicelib.requests import encode_cursor
from chalicelib.schemas import OPERATIONS, Schema
from chalicelib.usecases import (
    base,
    changesets,
    flag_configs,
    flag_definitions,
    list_imports,
    projects,
    rollouts,
    segments,
)
from chalicelib.usecases import lists as list_members
from chalicelib.usecases.base import Approved, Call, Ctx, NeedsApproval

OPEN = ("pending", "approved")
MAX_OPERATION_BYTES = 350_000

Executor = Callable[[Ctx, Call, str, str, Mapping[str, Any], Approved | None],
                    dict[str, Any]]
Permission = Callable[[Principal, str, str], None]


def _env_write(principal: Principal, project: str, environment: str) -> None:
    principal.require(Perm.WRITE, project, environment)


def _every_env_write(principal: Principal, project: str, _environment: str) -> None:
    # A definition reaches every environment that configures the flag.
    principal.require(Perm.WRITE, project, None, all_environments=True)


def _env_admin(principal: Principal, project: str, environment: str) -> None:
    principal.require(Perm.ADMIN, project, environment)


@dataclass(frozen=True)
class OperationType:
    """One kind of change-request operation: its schema (validation, in :mod:`schemas`), the
    right needed to propose, edit, approve, reject or apply it, and how it runs.

    ``writes_config``: the operation writes one flag configuration whose content is stored
    in its ``body``; applying writes that body (never re-reading a source).
    """

    schema: Schema
    permission: Permission
    run: Executor
    writes_config: bool = False
    # A right that depends on the operation's content (a changeset with definition changes
    # needs write in every environment), checked after ``permission``.
    content_permission: Callable[[Principal, str, Mapping[str, Any]], None] | None = None


REGISTRY: dict[str, OperationType] = {
    "flag.config.put": OperationType(
        OPERATIONS["flag.config.put"], _env_write,
        lambda x, c, p, e, op, a: flag_configs.put_env_flag(x, c, p, e, op["flag"], op["body"],
                                                            op["base_version"], a),
        writes_config=True),
    "flag.restore": OperationType(
        OPERATIONS["flag.restore"], _env_write,
        lambda x, c, p, e, op, a: flag_configs.restore(x, c, p, e, op["flag"], op["version"],
                                                       op["base_version"], a),
        writes_config=True),
    "flag.promote": OperationType(
        OPERATIONS["flag.promote"], _env_write,
        lambda x, c, p, e, op, a: flag_configs.promote(x, c, p, op["flag"], op["from"], e,
                                                       op["base_version"], a),
        writes_config=True),
    "flag.definition.put": OperationType(
        OPERATIONS["flag.definition.put"], _every_env_write,
        lambda x, c, p, _e, op, a: flag_definitions.put_flag_definition(
            x, c, p, op["flag"], op["body"], op["base_version"], a)),
    "flag.definition.delete": OperationType(
        OPERATIONS["flag.definition.delete"], _every_env_write,
        lambda x, c, p, _e, op, a: flag_definitions.delete_flag(x, c, p, op["flag"],
                                                                op["base_version"], a)),
    "segment.create": OperationType(
        OPERATIONS["segment.create"], _env_write,
        lambda x, c, p, e, op, a: segments.create_segment(x, c, p, e, op["segment"], op["body"],
                                                          a)),
    "segment.put": OperationType(
        OPERATIONS["segment.put"], _env_write,
        lambda x, c, p, e, op, a: segments.put_segment(x, c, p, e, op["segment"], op["body"],
                                                       op["base_version"], a)),
    "segment.delete": OperationType(
        OPERATIONS["segment.delete"], _env_write,
        lambda x, c, p, e, op, a: segments.delete_segment(x, c, p, e, op["segment"],
                                                          op["base_version"], a)),
    "segment.members": OperationType(
        OPERATIONS["segment.members"], _env_write,
        lambda x, c, p, e, op, a: list_members.change_members(x, c, p, e, op["segment"], op, a)),
    # The approval names the uploaded object (ETag, size, version): applying queues exactly
    # that file, and the importer refuses any other bytes.
    "segment.import": OperationType(
        OPERATIONS["segment.import"], _env_write,
        lambda x, c, p, e, op, a: list_imports.start_import(x, c, p, e, op["segment"],
                                                            op["import_id"], a, op)),
    # Many changes as one: reviewed, approved and applied as one (usecases/changesets.py).
    # Filed in the target environment when it is protected, else in the first protected
    # environment the set changes; ``environment`` names the target either way.
    "changeset": OperationType(
        OPERATIONS["changeset"], _env_write,
        lambda x, c, p, _e, op, a: changesets.apply_changeset(x, c, p, op["environment"],
                                                              op["changes"], a),
        content_permission=lambda pr, p, op: changesets.authorize(
            pr, p, str(op["environment"]), op["changes"])),
    # The strategy's content travels in the operation: reviewers approve the exact plan.
    # Once applied, the controller steps under it without further approvals.
    "rollout.start": OperationType(
        OPERATIONS["rollout.start"], _env_write,
        lambda x, c, p, e, op, a: rollouts.start(x, c, p, e, op["flag"], op["body"],
                                                 op["base_version"], a)),
    # Finishing early skips the plan's remaining steps and bakes: approved like a change.
    "rollout.complete": OperationType(
        OPERATIONS["rollout.complete"], _env_write,
        lambda x, c, p, e, op, a: rollouts.complete(x, c, p, e, op["flag"], None, a,
                                                    started_at=op["started_at"])),
    "environment.patch": OperationType(
        OPERATIONS["environment.patch"], _env_admin,
        lambda x, c, p, e, op, a: projects.patch_environment(x, c, p, e, op["body"],
                                                             op["base_version"], a)),
}


def _type(op: Mapping[str, Any]) -> OperationType:
    spec = REGISTRY.get(str(op.get("type", "")))
    if spec is None:  # the schema prevents this
        raise Conflict(f"unknown operation type {op.get('type')!r}")
    return spec


def operation_permission(principal: Principal, project: str, environment: str,
                         op: Mapping[str, Any]) -> None:
    """The right an operation needs (see :data:`REGISTRY`): admin for environment edits,
    all-environment write for definition changes, write in the environment otherwise."""
    spec = _type(op)
    spec.permission(principal, project, environment)
    if spec.content_permission is not None:
        spec.content_permission(principal, project, op)


def execute(ctx: Ctx, call: Call, project: str, environment: str,
            op: Mapping[str, Any], approved: Approved | None) -> dict[str, Any]:
    """Run one operation (the same use cases the direct routes call).

    When applying (``approved`` given) a configuration operation writes the ``body`` stored in
    the request — the content its approvals are bound to — not whatever its source holds now.
    """
    spec = _type(op)
    if approved is not None and spec.writes_config:
        return flag_configs.put_env_flag(ctx, call, project, environment, op["flag"],
                                         op["body"], op["base_version"], approved,
                                         action=str(op["type"]))
    return spec.run(ctx, call, project, environment, op, approved)


def view(item: Item) -> dict[str, Any]:
    """Public form of a change request."""
    return {
        "id": item["cr_id"], "project": item["project"], "environment": item["environment"],
        "operation": orjson.loads(item["operation"]), "change_hash": item["change_hash"],
        "status": item["status"], "author": item["author"], "authors": authors(item),
        "approvals": list(item.get("approvals", [])), "reason": item.get("reason"),
        "version": item["version"], "created_at": item["created_at"],
        "updated_at": item["updated_at"], "applied_at": item.get("applied_at"),
    }


def _audited(cr: dict[str, Any]) -> dict[str, Any]:
    """A change request's view as its audit records hold it (raw list ids digested)."""
    return {**cr, "operation": list_members.audited_operation(cr["operation"])}


def authors(item: Item) -> list[dict[str, Any]]:
    """Everyone who wrote a version of the request's content: its author and every editor."""
    return list(item.get("authors") or [item["author"]])


def _resource(project: str, environment: str, cr_id: str) -> str:
    return f"projects/{project}/environments/{environment}/change-requests/{cr_id}"


def file(ctx: Ctx, call: Call, need: NeedsApproval) -> dict[str, Any]:
    """Store a change request for an operation a protected environment refused to apply."""
    p, e, op = need.project, need.environment, need.operation
    if len(canonical(op)) > MAX_OPERATION_BYTES:
        # One DynamoDB item holds a request (400 KB); say so instead of failing in storage.
        raise PayloadTooLarge(
            f"the operation is {len(canonical(op))} bytes; a change request holds at most "
            f"{MAX_OPERATION_BYTES} — split the change into smaller sets",
            [Detail("changes", "too large for one change request")])
    at = iso(ctx.now())
    cr_id = f"cr-{int(ctx.now() * 1000):013d}-{secrets.token_hex(3)}"
    item: dict[str, Any] = {
        "pk": keys.env_pk(p, e), "sk": keys.change_request_sk(cr_id), "cr_id": cr_id,
        "project": p, "environment": e, "operation": canonical(op),
        "change_hash": sha256_hex(canonical(op)), "status": "pending",
        "author": call.principal.actor, "authors": [call.principal.actor], "approvals": [],
        "reason": call.reason,
        "version": 1, "created_at": at, "updated_at": at,
    }
    base.commit(ctx, call, steps=[put(item, "attribute_not_exists(pk)")],
                         entries=[Entry(Chain.for_environment(p, e), "change_request.create",
                                        _resource(p, e, cr_id), None, _audited(view(item)),
                                        "requested")])
    observability.emit(Metric.CHANGE_REQUESTS_OPENED)
    return view(item)


def propose(ctx: Ctx, call: Call, project: str, environment: str,
            op: Mapping[str, Any]) -> dict[str, Any]:
    """POST change-requests: validate the operation by attempting it; file it if protected."""
    if not base.is_protected(ctx, project, environment):
        base.environment_item(ctx, project, environment)
        raise Conflict(f"environment {environment!r} is not protected: write directly")
    operation_permission(call.principal, project, environment, op)
    try:
        execute(ctx, call, project, environment, op, None)
    except NeedsApproval as need:
        if (need.project, need.environment) != (project, environment):
            raise Conflict(
                f"this operation needs approval in {need.environment!r}, not {environment!r}"
            ) from None
        return file(ctx, call, need)
    raise Conflict("the operation did not need approval")  # pragma: no cover - guarded above


def get(ctx: Ctx, project: str, environment: str, cr_id: str) -> Item:
    """The stored change request or 404."""
    base.environment_item(ctx, project, environment)
    item = ctx.repo.get(keys.env_pk(project, environment), keys.change_request_sk(cr_id))
    if item is None:
        raise NotFound(f"change request {cr_id!r} does not exist")
    return item


def list_requests(ctx: Ctx, project: str, environment: str, status: str | None,
                  limit: int, cursor: str | None) -> dict[str, Any]:
    """Change requests of an environment, oldest first (optional ``status`` filter)."""
    base.environment_item(ctx, project, environment)
    items, last = ctx.repo.query(keys.env_pk(project, environment),
                                     keys.CHANGE_REQUEST_SK_PREFIX, limit=limit, start_sk=cursor)
    return {"items": [view(i) for i in items if status is None or i["status"] == status],
            "next_cursor": encode_cursor(last)}


def _transition(ctx: Ctx, call: Call, item: Item, if_match: int, action: str,
                attrs: dict[str, Any], outcome: str = "applied") -> dict[str, Any]:
    p, e, cr_id = str(item["project"]), str(item["environment"]), str(item["cr_id"])
    at = iso(ctx.now())
    attrs = {**attrs, "updated_at": at, "version": if_match + 1}
    names = {f"#a{i}": k for i, k in enumerate(attrs)}
    values = {f"a{i}": v for i, v in enumerate(attrs.values())}
    step = update(item["pk"], item["sk"],
                  "SET " + ", ".join(f"#a{i} = :a{i}" for i in range(len(attrs))),
                  "version = :v", names, v=if_match, **values)
    before = _audited(view(item))
    after = {**before, **{k: v for k, v in attrs.items() if k != "operation"}}

    def moved() -> NoReturn:
        _stale(ctx, p, e, cr_id)

    base.commit(ctx, call, steps=[step], on_conflict=moved,
                         entries=[Entry(Chain.for_environment(p, e), action, _resource(p, e, cr_id),
                                        before, after, outcome)])
    return view(get(ctx, p, e, cr_id))


def _stale(ctx: Ctx, project: str, environment: str, cr_id: str) -> NoReturn:
    item = get(ctx, project, environment, cr_id)
    raise PreconditionFailed(int(item["version"]),
                             f"change request {cr_id} is at version {item['version']}")


def _open(item: Item, if_match: int) -> None:
    if int(item["version"]) != if_match:
        raise PreconditionFailed(int(item["version"]),
                                 f"change request is at version {item['version']}")
    if item["status"] not in OPEN:
        raise Conflict(f"change request is {item['status']}")


def edit(ctx: Ctx, call: Call, project: str, environment: str, cr_id: str,
         op: Mapping[str, Any], if_match: int) -> dict[str, Any]:
    """Replace the operation: every approval is voided (they approved another hash) and the
    editor joins the authors, so they can never approve this request."""
    item = get(ctx, project, environment, cr_id)
    _open(item, if_match)
    operation_permission(call.principal, project, environment, op)
    try:
        execute(ctx, call, project, environment, op, None)
    except NeedsApproval as need:
        if (need.project, need.environment) != (project, environment):
            raise Conflict("the operation targets another environment") from None
        new_op = need.operation
    else:  # pragma: no cover - the environment is protected, so execute always raises
        raise Conflict("the operation did not need approval")
    writers = authors(item)
    if not any(_same_person(call.principal.actor, a) for a in writers):
        writers.append(call.principal.actor)
    return _transition(ctx, call, item, if_match, "change_request.edit", {
        "operation": canonical(new_op), "change_hash": sha256_hex(canonical(new_op)),
        "approvals": [], "authors": writers, "status": "pending"}, "requested")


def _same_person(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return a.get("token_id") == b.get("token_id") or a.get("name") == b.get("name")


def approve(ctx: Ctx, call: Call, project: str, environment: str, cr_id: str,
            if_match: int) -> dict[str, Any]:
    """Approve the current operation hash; no author or editor can approve the request."""
    item = get(ctx, project, environment, cr_id)
    _open(item, if_match)
    operation_permission(call.principal, project, environment, orjson.loads(item["operation"]))
    if any(_same_person(call.principal.actor, a) for a in authors(item)):
        # The HTTP layer records every 403 on a protected environment in its audit chain.
        raise Forbidden("four-eyes: an author or editor of a change request cannot approve it",
                        [Detail("approver", "authored or edited this change request")])
    approvals = list(item.get("approvals", []))
    if any(_same_person(call.principal.actor, a) and a.get("change_hash") == item["change_hash"]
           for a in approvals):
        raise Conflict("you already approved this change")
    approvals.append({**call.principal.actor, "at": iso(ctx.now()),
                      "change_hash": item["change_hash"]})
    answer = _transition(ctx, call, item, if_match, "change_request.approve",
                         {"approvals": approvals, "status": "approved"})
    observability.emit(Metric.CHANGE_REQUESTS_APPROVED)
    return answer


def valid_approvals(ctx: Ctx, item: Item) -> list[dict[str, Any]]:
    """Approvals that count now: of the current hash, by a non-author, token still active."""
    writers = authors(item)
    return [a for a in item.get("approvals", [])
            if a.get("change_hash") == item["change_hash"]
            and not any(_same_person(a, w) for w in writers)
            and tokens.is_active(ctx.repo, str(a.get("token_id", "")), ctx.now)]


def reject(ctx: Ctx, call: Call, project: str, environment: str, cr_id: str,
           if_match: int) -> dict[str, Any]:
    """Close the request without applying it."""
    item = get(ctx, project, environment, cr_id)
    _open(item, if_match)
    operation_permission(call.principal, project, environment, orjson.loads(item["operation"]))
    return _transition(ctx, call, item, if_match, "change_request.reject",
                       {"status": "rejected", "rejected_by": call.principal.actor})


def apply(ctx: Ctx, call: Call, project: str, environment: str, cr_id: str,
          if_match: int) -> dict[str, Any]:
    """Apply an approved request atomically with marking it applied; 412 if its target moved."""
    item = get(ctx, project, environment, cr_id)
    _open(item, if_match)
    op = orjson.loads(item["operation"])
    operation_permission(call.principal, project, environment, op)
    if sha256_hex(canonical(op)) != item["change_hash"]:
        raise Conflict("stored operation does not match its hash")
    if _type(op).writes_config and "body" not in op:
        raise Conflict("four-eyes: this change request predates content binding; reject it "
                       "and file it again", [Detail("operation.body", "missing")])
    if item["status"] != "approved" or not valid_approvals(ctx, item):
        raise Conflict(
            "four-eyes: the change request needs an approval of its current content by "
            "someone who neither authored nor edited it, with a token still active",
            [Detail("approvals", "no valid approval")])
    at = iso(ctx.now())
    step = update(item["pk"], item["sk"],
                  "SET #s = :applied, applied_at = :t, updated_at = :t, version = :nv, "
                  "applied_by = :by",
                  "version = :v AND #s = :approved AND change_hash = :h", {"#s": "status"},
                  applied="applied", t=at, nv=if_match + 1, by=call.principal.actor, v=if_match,
                  approved="approved", h=item["change_hash"])

    def check_cr() -> None:
        now_item = get(ctx, project, environment, cr_id)
        if int(now_item["version"]) != if_match:
            _stale(ctx, project, environment, cr_id)

    reason = call.reason or item.get("reason")
    approved = Approved(cr_id, step, check_cr, op.get("definition_version"))
    result = execute(ctx, Call(call.principal, f"{cr_id}: {reason or ''}".strip(": ")),
                     project, environment, op, approved)
    observability.emit(Metric.CHANGE_REQUESTS_APPLIED)
    return {"change_request": view(get(ctx, project, environment, cr_id)), "result": result}
