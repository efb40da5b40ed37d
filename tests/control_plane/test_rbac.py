"""The 401/403 matrix, generated from the route table so no route can escape it."""

from __future__ import annotations

import re

import pytest

from tests.control_plane.conftest import BOOL_FLAG, World

ROLES = ("admin", "editor", "viewer", "auditor")
PARAMS = {"env": "dev", "flag": "checkout", "segment": "nope", "key_id": "nope",
          "cr_id": "nope", "token_id": "tok_nope", "version": "1", "changeset_id": "nope",
          "strategy": "nope", "repository": "nope", "import_id": "nope"}


@pytest.fixture(scope="module")
def matrix(world: World) -> dict[str, object]:
    p = world.new_project(envs=("dev", "other"))
    assert world.api.post(f"/v1/projects/{p}/flags", BOOL_FLAG).status_code == 201
    tokens = {role: world.token(role, [p], ["*"]) for role in ROLES}
    tokens["out-of-scope-editor"] = world.token("editor", ["elsewhere"], ["*"])
    tokens["other-env-editor"] = world.token("editor", [p], ["other"])
    return {"project": p, "tokens": tokens}


def _request(world: World, spec: object, project: str, token: str) -> object:
    from chalicelib.routes import RouteSpec

    assert isinstance(spec, RouteSpec)
    path = re.sub(r"{(\w+)}", lambda m: project if m.group(1) == "project"
                  else PARAMS[m.group(1)], spec.path)
    if spec.path.startswith("/v1/audit") and spec.method == "GET":
        path += f"?project={project}&environment=dev"
    body: object = {}
    if spec.operation_id == "verifyAudit":
        body = {"project": project, "environment": "dev"}
    if spec.operation_id == "promoteFlag":
        body = {"from": "other", "to": "dev"}
    if spec.operation_id == "ingestEvaluations":
        body = {"format": 1, "project": project, "environment": "dev", "counters": []}
    kwargs: dict[str, object] = {"token": token}
    if spec.if_match:
        kwargs["if_match"] = 999
    return world.api.call(spec.method, path, body if spec.method != "GET" else None, **kwargs)


def _routes() -> list[object]:
    from chalicelib.routes import ROUTES

    return list(ROUTES)


def test_every_app_route_is_in_the_route_table() -> None:
    import app as app_module
    from chalicelib.routes import BY_KEY

    served = {(path, m) for path, methods in app_module.app.routes.items() for m in methods}
    assert served == set(BY_KEY)


@pytest.mark.parametrize("spec", _routes(), ids=lambda s: f"{s.method} {s.path}")
def test_role_matrix(world: World, matrix: dict[str, object], spec: object) -> None:
    from chalicelib.rbac import ROLE_PERMS, Perm
    from chalicelib.routes import RouteSpec

    assert isinstance(spec, RouteSpec)
    project = str(matrix["project"])
    tokens = dict(matrix["tokens"])  # type: ignore[call-overload]
    if spec.perm is Perm.SDK_KEY:
        # No API token opens an SDK-key route, whatever its role (tests/control_plane/
        # test_insights_api.py tries SDK keys).
        for token in (*(tokens[role] for role in ROLES), "", "garbage"):
            assert _request(world, spec, project, token).status_code == 401  # type: ignore[attr-defined]
        return
    for role in ROLES:
        r = _request(world, spec, project, tokens[role])
        status = r.status_code  # type: ignore[attr-defined]
        assert status < 500, (role, status, r.json)  # type: ignore[attr-defined]
        if spec.perm in ROLE_PERMS[role]:
            assert status not in (401, 403), (role, status, r.json)  # type: ignore[attr-defined]
        else:
            assert status == 403, (role, status)
    if spec.perm is Perm.PUBLIC:
        assert _request(world, spec, project, "").status_code == 200  # type: ignore[attr-defined]
        return
    for bad in ("", "vxl_tok_" + "A" * 43, "garbage"):
        assert _request(world, spec, project, bad).status_code == 401  # type: ignore[attr-defined]
    if spec.perm in (Perm.READ, Perm.WRITE) and "{project}" in spec.path:
        r = _request(world, spec, project, tokens["out-of-scope-editor"])
        assert r.status_code == 403  # type: ignore[attr-defined]
    if spec.perm is Perm.WRITE and "{env}" in spec.path:
        r = _request(world, spec, project, tokens["other-env-editor"])
        assert r.status_code == 403  # type: ignore[attr-defined]


def test_expired_token_is_401(world: World) -> None:
    token = world.token("viewer")
    world.clock.advance(91 * 86400)
    try:
        assert world.api.get("/v1/projects", token=token).status_code == 401
    finally:
        world.clock.advance(-91 * 86400)
    assert world.api.get("/v1/projects", token=token).status_code == 200


def test_scoped_lists_show_only_the_scope(world: World) -> None:
    p1 = world.new_project(envs=("dev", "prod"))
    p2 = world.new_project(envs=("dev",))
    viewer = world.token("viewer", [p1], ["prod"])
    seen = {x["project"] for x in world.api.get("/v1/projects", token=viewer).json["items"]}
    assert seen == {p1}
    assert p2 not in seen
    envs = world.api.get(f"/v1/projects/{p1}/environments", token=viewer).json["items"]
    assert [e["environment"] for e in envs] == ["prod"]
    assert world.api.get(f"/v1/projects/{p1}/environments/dev", token=viewer).status_code == 403


def test_least_privilege_default_scope_is_nothing(world: World) -> None:
    p = world.new_project(envs=("dev",))
    r = world.api.post("/v1/tokens", {"name": "bare", "role": "editor"})
    assert r.status_code == 201
    assert r.json["projects"] == []
    assert r.json["environments"] == []
    bare = r.json["token"]
    assert world.api.get(f"/v1/projects/{p}", token=bare).status_code == 403
    assert world.api.get("/v1/projects", token=bare).json["items"] == []


def test_denied_write_on_protected_env_is_audited(world: World) -> None:
    p = world.new_project(envs=("prod",), protected=("prod",))
    world.api.post(f"/v1/projects/{p}/flags", BOOL_FLAG)
    viewer = world.token("viewer", [p], ["*"], name=f"mallory-{p}")
    r = world.api.put(f"/v1/projects/{p}/environments/prod/flags/checkout",
                      {"enabled": True}, if_match=1, token=viewer)
    assert r.status_code == 403
    audit = world.api.get(f"/v1/audit?project={p}&environment=prod").json["items"]
    denied = [a for a in audit if a["outcome"] == "denied"]
    assert len(denied) == 1
    assert denied[0]["actor"]["name"] == f"mallory-{p}"
    assert world.api.post("/v1/audit/verify", {"project": p, "environment": "prod"}).json["ok"]
