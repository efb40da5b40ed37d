"""Vexil control plane: routes and the token authorizer only (logic lives in chalicelib)."""

from __future__ import annotations

from typing import Any

import orjson
from chalice import AuthResponse, Chalice  # type: ignore[attr-defined]
from chalicelib import approvals, tokens
from chalicelib.errors import Unauthorized
from chalicelib.openapi import document
from chalicelib.rbac import Perm
from chalicelib.requests import if_match, key_param, page_params, validate_operation, version_param
from chalicelib.routes import E, P
from chalicelib.unauthorized import AuthorizerUnauthorized
from chalicelib.usecases import (
    audit_log,
    changesets,
    flag_configs,
    flag_definitions,
    impact,
    insights,
    list_imports,
    lists,
    projects,
    rollouts,
    sdk_keys,
    segments,
    strategies,
)
from chalicelib.usecases.base import authorize_write
from chalicelib.web import Req, Result, get_ctx, register

app = Chalice(app_name="vexil")


# ttl_seconds=0: API Gateway must not cache the decision, so revocation and expiry take
# effect on the next request.
@app.authorizer(ttl_seconds=0)
def token_authorizer(auth_request: Any) -> AuthResponse:
    """Authenticate ``Authorization: Bearer vxl_tok_…``; 401 for anything else."""
    try:
        p = tokens.authenticate_header(get_ctx(), auth_request.token)
    except Unauthorized:
        raise AuthorizerUnauthorized() from None
    return AuthResponse(routes=["*"], principal_id=p.token_id, context={
        "token_id": p.token_id, "name": p.name, "role": p.role,
        "projects": orjson.dumps(list(p.projects)).decode(),
        "environments": orjson.dumps(list(p.environments)).decode(),
    })


route = register(app, token_authorizer)


@route("/v1/health", "GET")
def health(req: Req) -> dict[str, Any]:
    return {"ok": True}


@route("/v1/openapi.json", "GET")
def openapi(req: Req) -> dict[str, Any]:
    return document()


# --- projects and environments -----------------------------------------------------------


@route("/v1/projects", "POST")
def create_project(req: Req) -> Result:
    return Result(projects.create_project(req.ctx, req.call, req.body), 201, 1)


@route("/v1/projects", "GET")
def list_projects(req: Req) -> dict[str, Any]:
    return {"items": projects.list_projects(req.ctx, req.call)}


@route(P, "GET")
def get_project(req: Req, project: str) -> dict[str, Any]:
    return projects.get_project(req.ctx, project)


@route(P + "/environments", "POST")
def create_environment(req: Req, project: str) -> Result:
    env = projects.create_environment(req.ctx, req.call, project, req.body)
    return Result(env, 201, env["version"])


@route(P + "/environments", "GET")
def list_environments(req: Req, project: str) -> dict[str, Any]:
    return {"items": projects.list_environments(req.ctx, req.call, project)}


@route(E, "GET")
def get_environment(req: Req, project: str, env: str) -> dict[str, Any]:
    return projects.get_environment(req.ctx, project, env)


@route(E, "PATCH")
def patch_environment(req: Req, project: str, env: str) -> dict[str, Any]:
    return projects.patch_environment(req.ctx, req.call, project, env, req.body,
                                      if_match(req.headers))


# --- SDK keys -------------------------------------------------------------------------------


@route(E + "/sdk-keys", "POST")
def create_sdk_key(req: Req, project: str, env: str) -> Result:
    return Result(sdk_keys.create_sdk_key(req.ctx, req.call, project, env, req.body), 201)


@route(E + "/sdk-keys", "GET")
def list_sdk_keys(req: Req, project: str, env: str) -> dict[str, Any]:
    return {"items": sdk_keys.list_sdk_keys(req.ctx, project, env)}


@route(E + "/sdk-keys/{key_id}", "DELETE")
def revoke_sdk_key(req: Req, project: str, env: str, key_id: str) -> dict[str, Any]:
    return sdk_keys.revoke_sdk_key(req.ctx, req.call, project, env, key_id)


# --- flags: definitions ---------------------------------------------------------------------


@route(P + "/flags", "POST")
def create_flag(req: Req, project: str) -> Result:
    flag = flag_definitions.create_flag(req.ctx, req.call, project, req.body)
    return Result(flag, 201, flag["version"])


@route(P + "/flags", "GET")
def list_flags(req: Req, project: str) -> dict[str, Any]:
    limit, cursor = page_params(req.query)
    return flag_definitions.list_flags(req.ctx, project, req.query, limit, cursor)


@route(P + "/flags/{flag}", "GET")
def get_flag(req: Req, project: str, flag: str) -> dict[str, Any]:
    return flag_definitions.get_flag(req.ctx, project, flag)


@route(P + "/flags/{flag}", "PUT")
def put_flag(req: Req, project: str, flag: str) -> dict[str, Any]:
    return flag_definitions.put_flag_definition(req.ctx, req.call, project, flag, req.body,
                                                if_match(req.headers))


@route(P + "/flags/{flag}", "DELETE")
def delete_flag(req: Req, project: str, flag: str) -> dict[str, Any]:
    return flag_definitions.delete_flag(req.ctx, req.call, project, flag, if_match(req.headers))


# --- flags: configuration per environment ---------------------------------------------------


@route(P + "/flags/{flag}/promote", "POST")
def promote_flag(req: Req, project: str, flag: str) -> dict[str, Any]:
    source, target = str(req.body["from"]), str(req.body["to"])
    req.principal.require(Perm.READ, project, source)
    authorize_write(req.principal, project, target)
    return flag_configs.promote(req.ctx, req.call, project, flag, source, target,
                                if_match(req.headers))


@route(E + "/flags", "GET")
def list_environment_flags(req: Req, project: str, env: str) -> dict[str, Any]:
    limit, cursor = page_params(req.query)
    return flag_configs.list_env_flags(req.ctx, project, env, req.query, limit, cursor)


@route(E + "/flags/{flag}", "GET")
def get_environment_flag(req: Req, project: str, env: str, flag: str) -> dict[str, Any]:
    return flag_configs.get_env_flag(req.ctx, project, env, flag)


@route(E + "/flags/{flag}", "PUT")
def put_environment_flag(req: Req, project: str, env: str, flag: str) -> dict[str, Any]:
    return flag_configs.put_env_flag(req.ctx, req.call, project, env, flag, req.body,
                                     if_match(req.headers))


@route(E + "/flags/{flag}/history", "GET")
def flag_history(req: Req, project: str, env: str, flag: str) -> dict[str, Any]:
    limit, cursor = page_params(req.query)
    return flag_configs.history(req.ctx, project, env, flag, limit, cursor)


@route(E + "/flags/{flag}/history/{version}", "GET")
def flag_history_version(req: Req, project: str, env: str, flag: str, version: str
                         ) -> dict[str, Any]:
    return flag_configs.history_version(req.ctx, project, env, flag,
                                        version_param("version", version))


@route(E + "/flags/{flag}/restore", "POST")
def restore_flag(req: Req, project: str, env: str, flag: str) -> dict[str, Any]:
    return flag_configs.restore(req.ctx, req.call, project, env, flag,
                                int(req.body["version"]), if_match(req.headers))


@route(E + "/impact", "POST")
def compute_impact(req: Req, project: str, env: str) -> dict[str, Any]:
    return impact.impact(req.ctx, project, env, req.body)


# --- changesets ---------------------------------------------------------------------------


@route(E + "/changesets", "POST")
def apply_changeset(req: Req, project: str, env: str) -> dict[str, Any]:
    return changesets.apply_changeset(req.ctx, req.call, project, env, req.body["changes"])


@route(E + "/changesets/{changeset_id}", "GET")
def get_changeset(req: Req, project: str, env: str, changeset_id: str) -> dict[str, Any]:
    return changesets.get_changeset(req.ctx, project, env, changeset_id)


# --- segments -------------------------------------------------------------------------------


@route(E + "/segments", "POST")
def create_segment(req: Req, project: str, env: str) -> Result:
    seg = segments.create_segment(req.ctx, req.call, project, env, str(req.body["key"]),
                                  req.body)
    return Result(seg, 201, seg["version"])


@route(E + "/segments", "GET")
def list_segments(req: Req, project: str, env: str) -> dict[str, Any]:
    limit, cursor = page_params(req.query)
    return segments.list_segments(req.ctx, project, env, req.query, limit, cursor)


@route(E + "/segments/{segment}", "GET")
def get_segment(req: Req, project: str, env: str, segment: str) -> dict[str, Any]:
    return segments.get_segment(req.ctx, project, env, segment)


@route(E + "/segments/{segment}", "PUT")
def put_segment(req: Req, project: str, env: str, segment: str) -> dict[str, Any]:
    return segments.put_segment(req.ctx, req.call, project, env, key_param("segment", segment),
                                req.body, if_match(req.headers))


@route(E + "/segments/{segment}", "DELETE")
def delete_segment(req: Req, project: str, env: str, segment: str) -> dict[str, Any]:
    return segments.delete_segment(req.ctx, req.call, project, env, segment,
                                   if_match(req.headers))


@route(E + "/segments/{segment}/members", "POST")
def change_segment_members(req: Req, project: str, env: str, segment: str) -> dict[str, Any]:
    return lists.change_members(req.ctx, req.call, project, env, segment, req.body)


@route(E + "/segments/{segment}/members", "GET")
def get_segment_members(req: Req, project: str, env: str, segment: str) -> dict[str, Any]:
    return lists.list_state(req.ctx, project, env, segment)


@route(E + "/segments/{segment}/imports", "POST")
def create_segment_import(req: Req, project: str, env: str, segment: str) -> Result:
    return Result(list_imports.create_import(req.ctx, req.call, project, env, segment,
                                             req.body), 201)


@route(E + "/segments/{segment}/imports/{import_id}", "GET")
def get_segment_import(req: Req, project: str, env: str, segment: str,
                       import_id: str) -> dict[str, Any]:
    return list_imports.get_import(req.ctx, project, env, segment, import_id)


@route(E + "/segments/{segment}/imports/{import_id}/start", "POST")
def start_segment_import(req: Req, project: str, env: str, segment: str,
                         import_id: str) -> Result:
    return Result(list_imports.start_import(req.ctx, req.call, project, env, segment,
                                            import_id), 202)


# --- change requests --------------------------------------------------------------------------


@route(E + "/change-requests", "POST")
def create_change_request(req: Req, project: str, env: str) -> Result:
    op = validate_operation(req.body["operation"])
    cr = approvals.propose(req.ctx, req.call, project, env, op)
    return Result(cr, 201, cr["version"])


@route(E + "/change-requests", "GET")
def list_change_requests(req: Req, project: str, env: str) -> dict[str, Any]:
    limit, cursor = page_params(req.query)
    return approvals.list_requests(req.ctx, project, env, req.query.get("status"), limit,
                                   cursor)


@route(E + "/change-requests/{cr_id}", "GET")
def get_change_request(req: Req, project: str, env: str, cr_id: str) -> dict[str, Any]:
    return approvals.view(approvals.get(req.ctx, project, env, cr_id))


@route(E + "/change-requests/{cr_id}", "PUT")
def edit_change_request(req: Req, project: str, env: str, cr_id: str) -> dict[str, Any]:
    op = validate_operation(req.body["operation"])
    return approvals.edit(req.ctx, req.call, project, env, cr_id, op, if_match(req.headers))


@route(E + "/change-requests/{cr_id}/approve", "POST")
def approve_change_request(req: Req, project: str, env: str, cr_id: str) -> dict[str, Any]:
    return approvals.approve(req.ctx, req.call, project, env, cr_id, if_match(req.headers))


@route(E + "/change-requests/{cr_id}/reject", "POST")
def reject_change_request(req: Req, project: str, env: str, cr_id: str) -> dict[str, Any]:
    return approvals.reject(req.ctx, req.call, project, env, cr_id, if_match(req.headers))


@route(E + "/change-requests/{cr_id}/apply", "POST")
def apply_change_request(req: Req, project: str, env: str, cr_id: str) -> Result:
    out = approvals.apply(req.ctx, req.call, project, env, cr_id, if_match(req.headers))
    return Result(out, 200, out["change_request"]["version"])


# --- release strategies and guarded rollouts ---------------------------------------------


@route(P + "/strategies", "POST")
def create_strategy(req: Req, project: str) -> Result:
    return Result(strategies.create_strategy(req.ctx, req.call, project, req.body), 201, 1)


@route(P + "/strategies", "GET")
def list_strategies(req: Req, project: str) -> dict[str, Any]:
    return strategies.list_strategies(req.ctx, project)


@route(P + "/strategies/{strategy}", "GET")
def get_strategy(req: Req, project: str, strategy: str) -> dict[str, Any]:
    return strategies.get_strategy(req.ctx, project, strategy)


@route(P + "/strategies/{strategy}", "DELETE")
def delete_strategy(req: Req, project: str, strategy: str) -> dict[str, Any]:
    return strategies.delete_strategy(req.ctx, req.call, project, strategy,
                                      if_match(req.headers))


@route(E + "/rollouts", "GET")
def list_rollouts(req: Req, project: str, env: str) -> dict[str, Any]:
    return rollouts.list_rollouts(req.ctx, project, env)


@route(E + "/flags/{flag}/rollout", "POST")
def start_rollout(req: Req, project: str, env: str, flag: str) -> Result:
    out = rollouts.start(req.ctx, req.call, project, env, flag, req.body)
    return Result(out, 201, out["version"])


@route(E + "/flags/{flag}/rollout", "GET")
def get_rollout(req: Req, project: str, env: str, flag: str) -> dict[str, Any]:
    return rollouts.status(req.ctx, project, env, flag)


@route(E + "/flags/{flag}/rollout/pause", "POST")
def pause_rollout(req: Req, project: str, env: str, flag: str) -> dict[str, Any]:
    return rollouts.pause(req.ctx, req.call, project, env, flag, if_match(req.headers))


@route(E + "/flags/{flag}/rollout/resume", "POST")
def resume_rollout(req: Req, project: str, env: str, flag: str) -> dict[str, Any]:
    return rollouts.resume(req.ctx, req.call, project, env, flag, if_match(req.headers))


@route(E + "/flags/{flag}/rollout/complete", "POST")
def complete_rollout(req: Req, project: str, env: str, flag: str) -> dict[str, Any]:
    return rollouts.complete(req.ctx, req.call, project, env, flag, if_match(req.headers))


@route(E + "/flags/{flag}/rollout/abort", "POST")
def abort_rollout(req: Req, project: str, env: str, flag: str) -> dict[str, Any]:
    return rollouts.abort(req.ctx, req.call, project, env, flag, if_match(req.headers),
                          bool(req.body.get("rollback", True)))


# --- tokens ---------------------------------------------------------------------------------


@route("/v1/tokens", "POST")
def create_token(req: Req) -> Result:
    return Result(tokens.create(req.ctx, req.call, req.body), 201)


@route("/v1/tokens", "GET")
def list_tokens(req: Req) -> dict[str, Any]:
    return {"items": tokens.list_all(req.ctx)}


@route("/v1/tokens/self", "GET")
def token_self(req: Req) -> dict[str, Any]:
    return tokens.get_self(req.ctx, req.call)


@route("/v1/tokens/{token_id}", "DELETE")
def revoke_token(req: Req, token_id: str) -> dict[str, Any]:
    return tokens.revoke(req.ctx, req.call, token_id)


# --- audit ----------------------------------------------------------------------------------


@route("/v1/audit", "GET")
def list_audit(req: Req) -> dict[str, Any]:
    chain = audit_log.chain_for(req.ctx, req.call, req.query.get("project"),
                                req.query.get("environment"))
    limit, cursor = page_params(req.query)
    return audit_log.records(req.ctx, chain, limit, cursor)


@route("/v1/audit/verify", "POST")
def verify_audit(req: Req) -> dict[str, Any]:
    chain = audit_log.chain_for(req.ctx, req.call, req.body.get("project"),
                                req.body.get("environment"))
    return audit_log.verify(req.ctx, chain)


# --- evaluation insights and code references (docs/insights.md) ---------------------------


@route("/v1/insights/evaluations", "POST")
def ingest_evaluations(req: Req) -> dict[str, Any]:
    return insights.ingest(req.ctx, req.headers.get("authorization"), req.body)


@route(E + "/insights/stale", "GET")
def stale_flags(req: Req, project: str, env: str) -> dict[str, Any]:
    return insights.stale(req.ctx, project, env, req.query)


@route(P + "/code-references", "GET")
def list_code_references(req: Req, project: str) -> dict[str, Any]:
    return {"items": insights.code_refs(req.ctx, project)}


@route(P + "/code-references/{repository}", "PUT")
def put_code_references(req: Req, project: str, repository: str) -> dict[str, Any]:
    return insights.put_code_refs(req.ctx, req.call, project,
                                  key_param("repository", repository), req.body)


# --- publisher (owned by the publisher helper) ---------------------------------------------


@app.lambda_function(name="publisher")
def publisher(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """DynamoDB stream batch → bundles on S3; returns ``batchItemFailures`` by sequence number."""
    # Imported here so API cold starts never load the encryption SDK and the publisher.
    from chalicelib.publish.stream import handler  # noqa: PLC0415

    return dict(handler(event, context))


@app.lambda_function(name="rollout_controller")
def rollout_controller(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Scheduled (EventBridge): advance or roll back every running guarded rollout once."""
    # Imported here: API cold starts never load the controller's CloudWatch/SNS clients.
    from chalicelib.rollout_controller import handler  # noqa: PLC0415

    return handler(event, context)


@app.lambda_function(name="list_importer")
def list_importer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Stream (queue inserts) and schedule: drain the list segments' bulk-import queue."""
    # Imported here: API cold starts never load the importer.
    from chalicelib.list_importer import handler  # noqa: PLC0415

    return handler(event, context)
