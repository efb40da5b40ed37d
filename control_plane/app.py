"""Vexil control plane: routes and the token authorizer only (logic lives in chalicelib)."""

from __future__ import annotations

from typing import Any

import orjson
from chalice import AuthResponse, Chalice  # type: ignore[attr-defined]
from chalicelib import anchor_check, approvals, audit, keys, tokens
from chalicelib.errors import BadRequest, Detail, Unauthorized
from chalicelib.openapi import document
from chalicelib.rbac import Perm
from chalicelib.requests import (
    encode_cursor,
    if_match,
    key_param,
    page_params,
    validate_operation,
    version_param,
)
from chalicelib.routes import E, P
from chalicelib.service import authorize_write
from chalicelib.unauthorized import AuthorizerUnauthorized
from chalicelib.web import Req, Result, get_service, register

app = Chalice(app_name="vexil")


# ttl_seconds=0: API Gateway must not cache the decision, so revocation and expiry take
# effect on the next request.
@app.authorizer(ttl_seconds=0)
def token_authorizer(auth_request: Any) -> AuthResponse:
    """Authenticate ``Authorization: Bearer vxl_tok_…``; 401 for anything else."""
    service = get_service()
    try:
        p = tokens.authenticate(service.repo, auth_request.token, service.now)
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
    return Result(req.service.create_project(req.call, req.body), 201, 1)


@route("/v1/projects", "GET")
def list_projects(req: Req) -> dict[str, Any]:
    return {"items": req.service.list_projects(req.call)}


@route(P, "GET")
def get_project(req: Req, project: str) -> dict[str, Any]:
    return req.service.get_project(project)


@route(P + "/environments", "POST")
def create_environment(req: Req, project: str) -> Result:
    env = req.service.create_environment(req.call, project, req.body)
    return Result(env, 201, env["version"])


@route(P + "/environments", "GET")
def list_environments(req: Req, project: str) -> dict[str, Any]:
    return {"items": req.service.list_environments(project, req.principal)}


@route(E, "GET")
def get_environment(req: Req, project: str, env: str) -> dict[str, Any]:
    return req.service.get_environment(project, env)


@route(E, "PATCH")
def patch_environment(req: Req, project: str, env: str) -> dict[str, Any]:
    return req.service.patch_environment(req.call, project, env, req.body, if_match(req.headers))


# --- SDK keys -------------------------------------------------------------------------------


@route(E + "/sdk-keys", "POST")
def create_sdk_key(req: Req, project: str, env: str) -> Result:
    return Result(req.service.create_sdk_key(req.call, project, env, req.body), 201)


@route(E + "/sdk-keys", "GET")
def list_sdk_keys(req: Req, project: str, env: str) -> dict[str, Any]:
    return {"items": req.service.list_sdk_keys(project, env)}


@route(E + "/sdk-keys/{key_id}", "DELETE")
def revoke_sdk_key(req: Req, project: str, env: str, key_id: str) -> dict[str, Any]:
    return req.service.revoke_sdk_key(req.call, project, env, key_id)


# --- flags ----------------------------------------------------------------------------------


@route(P + "/flags", "POST")
def create_flag(req: Req, project: str) -> Result:
    flag = req.service.create_flag(req.call, project, req.body)
    return Result(flag, 201, flag["version"])


@route(P + "/flags", "GET")
def list_flags(req: Req, project: str) -> dict[str, Any]:
    limit, cursor = page_params(req.query)
    return req.service.list_flags(project, req.query, limit, cursor)


@route(P + "/flags/{flag}", "GET")
def get_flag(req: Req, project: str, flag: str) -> dict[str, Any]:
    return req.service.get_flag(project, flag)


@route(P + "/flags/{flag}", "PUT")
def put_flag(req: Req, project: str, flag: str) -> dict[str, Any]:
    return req.service.put_flag_definition(req.call, project, flag, req.body,
                                           if_match(req.headers))


@route(P + "/flags/{flag}", "DELETE")
def delete_flag(req: Req, project: str, flag: str) -> dict[str, Any]:
    return req.service.delete_flag(req.call, project, flag, if_match(req.headers))


@route(P + "/flags/{flag}/promote", "POST")
def promote_flag(req: Req, project: str, flag: str) -> dict[str, Any]:
    source, target = str(req.body["from"]), str(req.body["to"])
    req.principal.require(Perm.READ, project, source)
    authorize_write(req.principal, project, target)
    return req.service.promote(req.call, project, flag, source, target, if_match(req.headers))


@route(E + "/flags", "GET")
def list_environment_flags(req: Req, project: str, env: str) -> dict[str, Any]:
    limit, cursor = page_params(req.query)
    return req.service.list_env_flags(project, env, req.query, limit, cursor)


@route(E + "/flags/{flag}", "GET")
def get_environment_flag(req: Req, project: str, env: str, flag: str) -> dict[str, Any]:
    return req.service.get_env_flag(project, env, flag)


@route(E + "/flags/{flag}", "PUT")
def put_environment_flag(req: Req, project: str, env: str, flag: str) -> dict[str, Any]:
    return req.service.put_env_flag(req.call, project, env, flag, req.body,
                                    if_match(req.headers))


@route(E + "/flags/{flag}/history", "GET")
def flag_history(req: Req, project: str, env: str, flag: str) -> dict[str, Any]:
    limit, cursor = page_params(req.query)
    return req.service.history(project, env, flag, limit, cursor)


@route(E + "/flags/{flag}/history/{version}", "GET")
def flag_history_version(req: Req, project: str, env: str, flag: str, version: str
                         ) -> dict[str, Any]:
    return req.service.history_version(project, env, flag, version_param("version", version))


@route(E + "/flags/{flag}/restore", "POST")
def restore_flag(req: Req, project: str, env: str, flag: str) -> dict[str, Any]:
    return req.service.restore(req.call, project, env, flag, int(req.body["version"]),
                               if_match(req.headers))


# --- segments -------------------------------------------------------------------------------


@route(E + "/segments", "POST")
def create_segment(req: Req, project: str, env: str) -> Result:
    seg = req.service.write_segment(req.call, project, env, str(req.body["key"]), req.body, None)
    return Result(seg, 201, seg["version"])


@route(E + "/segments", "GET")
def list_segments(req: Req, project: str, env: str) -> dict[str, Any]:
    limit, cursor = page_params(req.query)
    return req.service.list_segments(project, env, req.query, limit, cursor)


@route(E + "/segments/{segment}", "GET")
def get_segment(req: Req, project: str, env: str, segment: str) -> dict[str, Any]:
    return req.service.get_segment(project, env, segment)


@route(E + "/segments/{segment}", "PUT")
def put_segment(req: Req, project: str, env: str, segment: str) -> dict[str, Any]:
    return req.service.write_segment(req.call, project, env, key_param("segment", segment),
                                     req.body, if_match(req.headers))


@route(E + "/segments/{segment}", "DELETE")
def delete_segment(req: Req, project: str, env: str, segment: str) -> dict[str, Any]:
    return req.service.write_segment(req.call, project, env, segment, None,
                                     if_match(req.headers))


# --- change requests --------------------------------------------------------------------------


@route(E + "/change-requests", "POST")
def create_change_request(req: Req, project: str, env: str) -> Result:
    op = validate_operation(req.body["operation"])
    cr = approvals.propose(req.service, req.call, project, env, op)
    return Result(cr, 201, cr["version"])


@route(E + "/change-requests", "GET")
def list_change_requests(req: Req, project: str, env: str) -> dict[str, Any]:
    limit, cursor = page_params(req.query)
    return approvals.list_requests(req.service, project, env, req.query.get("status"), limit,
                                   cursor)


@route(E + "/change-requests/{cr_id}", "GET")
def get_change_request(req: Req, project: str, env: str, cr_id: str) -> dict[str, Any]:
    return approvals.view(approvals.get(req.service, project, env, cr_id))


@route(E + "/change-requests/{cr_id}", "PUT")
def edit_change_request(req: Req, project: str, env: str, cr_id: str) -> dict[str, Any]:
    op = validate_operation(req.body["operation"])
    return approvals.edit(req.service, req.call, project, env, cr_id, op, if_match(req.headers))


@route(E + "/change-requests/{cr_id}/approve", "POST")
def approve_change_request(req: Req, project: str, env: str, cr_id: str) -> dict[str, Any]:
    return approvals.approve(req.service, req.call, project, env, cr_id, if_match(req.headers))


@route(E + "/change-requests/{cr_id}/reject", "POST")
def reject_change_request(req: Req, project: str, env: str, cr_id: str) -> dict[str, Any]:
    return approvals.reject(req.service, req.call, project, env, cr_id, if_match(req.headers))


@route(E + "/change-requests/{cr_id}/apply", "POST")
def apply_change_request(req: Req, project: str, env: str, cr_id: str) -> Result:
    out = approvals.apply(req.service, req.call, project, env, cr_id, if_match(req.headers))
    return Result(out, 200, out["change_request"]["version"])


# --- tokens ---------------------------------------------------------------------------------


@route("/v1/tokens", "POST")
def create_token(req: Req) -> Result:
    text, view = tokens.create_token(
        req.service.repo, name=str(req.body["name"]), role=str(req.body["role"]),
        projects=req.body.get("projects", []), environments=req.body.get("environments", []),
        ttl_days=int(req.body.get("ttl_days", tokens.DEFAULT_TTL_DAYS)),
        actor=req.principal.actor, reason=req.call.reason, now=req.service.now)
    return Result({**view, "token": text}, 201)


@route("/v1/tokens", "GET")
def list_tokens(req: Req) -> dict[str, Any]:
    return {"items": tokens.list_tokens(req.service.repo)}


@route("/v1/tokens/self", "GET")
def token_self(req: Req) -> dict[str, Any]:
    return tokens.public_view(tokens.find_by_id(req.service.repo, req.principal.token_id))


@route("/v1/tokens/{token_id}", "DELETE")
def revoke_token(req: Req, token_id: str) -> dict[str, Any]:
    return tokens.revoke_token(req.service.repo, token_id, actor=req.principal.actor,
                               reason=req.call.reason, now=req.service.now)


# --- audit ----------------------------------------------------------------------------------


def _chain(req: Req, project: Any, environment: Any) -> audit.Chain:
    if project is None and environment is None:
        req.principal.require(Perm.AUDIT, None)
        return audit.Chain.global_chain()
    if project is None or environment is None:
        raise BadRequest("invalid chain", [Detail("environment" if project else "project",
                                                  "give both project and environment, or neither")])
    p, e = key_param("project", str(project)), key_param("environment", str(environment))
    req.principal.require(Perm.AUDIT, p, e)
    req.service.environment_item(p, e)
    return audit.Chain.for_environment(p, e)


@route("/v1/audit", "GET")
def list_audit(req: Req) -> dict[str, Any]:
    chain = _chain(req, req.query.get("project"), req.query.get("environment"))
    limit, cursor = page_params(req.query)
    items, last = req.service.repo.query(chain.records_pk, keys.AUDIT_SK_PREFIX, limit=limit,
                                         start_sk=cursor)
    return {"items": [audit.decode_record(i) for i in items], "next_cursor": encode_cursor(last)}


@route("/v1/audit/verify", "POST")
def verify_audit(req: Req) -> dict[str, Any]:
    chain = _chain(req, req.body.get("project"), req.body.get("environment"))
    return anchor_check.verify_with_anchors(req.service.repo, chain,
                                            anchor_check.verifier_from_env())


# --- publisher (owned by the publisher helper) ---------------------------------------------


@app.lambda_function(name="publisher")
def publisher(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """DynamoDB stream batch → bundles on S3; returns ``batchItemFailures`` by sequence number."""
    # Imported here so API cold starts never load the encryption SDK and the publisher.
    from chalicelib.stream import handler  # noqa: PLC0415

    return dict(handler(event, context))
