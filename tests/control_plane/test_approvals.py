"""Four-eyes approvals on protected environments."""

from __future__ import annotations

from typing import Any

import pytest

from tests.control_plane.conftest import BOOL_FLAG, World

ON = {"enabled": True, "default": {"variation": "on"}}


def _setup(world: World) -> tuple[str, str, str, str]:
    """A project whose production is protected and already configures flag ``checkout``."""
    p = world.new_project(envs=("staging", "production"))
    assert world.api.post(f"/v1/projects/{p}/flags", BOOL_FLAG).status_code == 201
    base = f"/v1/projects/{p}/environments/production"
    assert world.api.patch(base, {"protected": True}, if_match=1).status_code == 200
    alice = world.token("editor", [p], ["*"], name=f"alice-{p}")
    bob = world.token("editor", [p], ["*"], name=f"bob-{p}")
    return p, f"/v1/projects/{p}/environments/production", alice, bob


def _propose(world: World, base: str, token: str) -> dict[str, Any]:
    r = world.api.put(f"{base}/flags/checkout", ON, if_match=1, token=token,
                      headers={"X-Vexil-Reason": "launch"})
    assert r.status_code == 202, r.json
    return dict(r.json["change_request"])


def test_write_to_protected_env_becomes_a_change_request(world: World) -> None:
    p, base, alice, bob = _setup(world)
    rev = world.api.get(base).json["revision"]
    cr = _propose(world, base, alice)
    assert cr["status"] == "pending"
    assert cr["operation"]["type"] == "flag.config.put"
    assert world.api.get(f"{base}/flags/checkout").json["config"]["enabled"] is False
    assert world.api.get(base).json["revision"] == rev  # nothing published
    crs = world.api.get(f"{base}/change-requests?status=pending").json["items"]
    assert [c["id"] for c in crs] == [cr["id"]]
    cr_url = f"{base}/change-requests/{cr['id']}"
    # Applying before approval is refused.
    assert world.api.post(f"{cr_url}/apply", if_match=1, token=alice).status_code == 409
    r = world.api.post(f"{cr_url}/approve", if_match=1, token=bob)
    assert r.status_code == 200
    assert r.json["status"] == "approved"
    r = world.api.post(f"{cr_url}/apply", if_match=2, token=alice)
    assert r.status_code == 200, r.json
    assert r.json["change_request"]["status"] == "applied"
    assert r.json["result"]["config"]["enabled"] is True
    assert world.api.get(base).json["revision"] == rev + 1
    # Applied once: never again.
    assert world.api.post(f"{cr_url}/apply", if_match=3, token=alice).status_code == 409
    audit = world.api.get(f"/v1/audit?project={p}&environment=production").json["items"]
    actions = [(a["action"], a["outcome"]) for a in audit]
    assert ("change_request.create", "requested") in actions
    assert ("flag.config.put", "applied") in actions
    assert world.api.post("/v1/audit/verify", {"project": p,
                                               "environment": "production"}).json["ok"]


def test_author_cannot_self_approve_and_it_is_audited(world: World) -> None:
    p, base, alice, _ = _setup(world)
    cr = _propose(world, base, alice)
    r = world.api.post(f"{base}/change-requests/{cr['id']}/approve", if_match=1, token=alice)
    assert r.status_code == 403
    # Another token with the SAME name is the same person.
    alias = world.token("editor", [p], ["*"], name=f"alice-{p}")
    r = world.api.post(f"{base}/change-requests/{cr['id']}/approve", if_match=1, token=alias)
    assert r.status_code == 403
    audit = world.api.get(f"/v1/audit?project={p}&environment=production").json["items"]
    assert sum(a["outcome"] == "denied" for a in audit) == 2


def test_edit_voids_approval(world: World) -> None:
    _, base, alice, bob = _setup(world)
    cr = _propose(world, base, alice)
    url = f"{base}/change-requests/{cr['id']}"
    assert world.api.post(f"{url}/approve", if_match=1, token=bob).status_code == 200
    new_op = {"type": "flag.config.put", "flag": "checkout", "base_version": 1,
              "body": {"enabled": True, "default": {"variation": "off"}}}
    r = world.api.put(url, {"operation": new_op}, if_match=2, token=alice)
    assert r.status_code == 200, r.json
    assert r.json["status"] == "pending"
    assert r.json["approvals"] == []
    assert r.json["change_hash"] != cr["change_hash"]
    assert world.api.post(f"{url}/apply", if_match=3, token=alice).status_code == 409
    # A stale approval (wrong If-Match) cannot land on the new content.
    assert world.api.post(f"{url}/approve", if_match=2, token=bob).status_code == 412


def test_apply_fails_if_the_flag_moved(world: World) -> None:
    _, base, alice, bob = _setup(world)
    cr1 = _propose(world, base, alice)
    cr2 = _propose(world, base, alice)
    for cr in (cr1, cr2):
        url = f"{base}/change-requests/{cr['id']}"
        assert world.api.post(f"{url}/approve", if_match=1, token=bob).status_code == 200
    ok = world.api.post(f"{base}/change-requests/{cr1['id']}/apply", if_match=2, token=alice)
    assert ok.status_code == 200
    r = world.api.post(f"{base}/change-requests/{cr2['id']}/apply", if_match=2, token=alice)
    assert r.status_code == 412
    assert r.json["current_version"] == 2
    assert world.api.get(f"{base}/change-requests/{cr2['id']}").json["status"] == "approved"


def test_no_route_bypasses_protection(world: World) -> None:
    """Every write route that targets the protected environment answers 202, not 200."""
    p, base, alice, _ = _setup(world)
    admin = world.api
    seg = admin.post(f"{base}/segments", {"key": "staff", "included": ["u"]})
    assert seg.status_code == 202
    r = admin.post(f"/v1/projects/{p}/flags/checkout/promote",
                   {"from": "staging", "to": "production"}, if_match=1)
    assert r.status_code == 202
    r = admin.post(f"{base}/flags/checkout/restore", {"version": 1}, if_match=1)
    assert r.status_code == 202
    r = admin.put(f"/v1/projects/{p}/flags/checkout",
                  {"kind": "boolean", "variations": {"on": True, "off": False}}, if_match=1)
    assert r.status_code == 202
    assert admin.delete(f"/v1/projects/{p}/flags/checkout", if_match=1).status_code == 202
    # Unprotecting is itself a change request; the environment stays protected.
    r = admin.patch(base, {"protected": False}, if_match=2)
    assert r.status_code == 202
    assert admin.get(base).json["protected"] is True
    assert admin.get(f"{base}/flags/checkout").json["version"] == 1
    assert admin.get(f"/v1/projects/{p}/flags/checkout").json["version"] == 1
    # Proposing explicitly on an unprotected environment is refused (write directly).
    op = {"type": "flag.config.put", "flag": "checkout", "base_version": 1, "body": ON}
    r = admin.post(f"/v1/projects/{p}/environments/staging/change-requests", {"operation": op})
    assert r.status_code == 409
    r = admin.post(f"{base}/change-requests", {"operation": op}, token=alice)
    assert r.status_code == 201
    assert r.json["status"] == "pending"


def test_unprotect_via_approved_change_request(world: World) -> None:
    p, base, _, _ = _setup(world)
    other_admin = world.token("admin", name=f"admin2-{p}")
    cr = world.api.patch(base, {"protected": False}, if_match=2).json["change_request"]
    url = f"{base}/change-requests/{cr['id']}"
    assert world.api.post(f"{url}/approve", if_match=1, token=other_admin).status_code == 200
    r = world.api.post(f"{url}/apply", if_match=2)
    assert r.status_code == 200, r.json
    assert world.api.get(base).json["protected"] is False


def test_an_editor_joins_the_authors_and_cannot_approve(world: World) -> None:
    p, base, alice, bob = _setup(world)
    cr = _propose(world, base, alice)
    url = f"{base}/change-requests/{cr['id']}"
    op = {"type": "flag.config.put", "flag": "checkout", "base_version": 1,
          "body": {"enabled": True, "default": {"variation": "off"}}}
    r = world.api.put(url, {"operation": op}, if_match=1, token=bob)
    assert r.status_code == 200, r.json
    assert [a["name"] for a in r.json["authors"]] == [f"alice-{p}", f"bob-{p}"]
    assert r.json["author"]["name"] == f"alice-{p}"  # who filed it stays recorded
    for who in (alice, bob):
        r = world.api.post(f"{url}/approve", if_match=2, token=who)
        assert r.status_code == 403
        assert r.json["error"]["details"] == [
            {"path": "approver", "message": "authored or edited this change request"}]
    # Editing again adds nobody twice.
    r = world.api.put(url, {"operation": {**op, "body": ON}}, if_match=2, token=bob)
    assert len(r.json["authors"]) == 2


def test_an_approval_whose_token_expired_before_apply_does_not_count(world: World) -> None:
    p, base, alice, _ = _setup(world)
    short = world.api.post("/v1/tokens", {"name": f"short-{p}", "role": "editor",
                                          "projects": [p], "environments": ["*"],
                                          "ttl_days": 1})
    assert short.status_code == 201
    cr = _propose(world, base, alice)
    url = f"{base}/change-requests/{cr['id']}"
    assert world.api.post(f"{url}/approve", if_match=1,
                          token=short.json["token"]).status_code == 200
    world.clock.advance(2 * 86400)
    r = world.api.post(f"{url}/apply", if_match=2, token=alice)
    assert r.status_code == 409
    assert r.json["error"]["details"] == [{"path": "approvals", "message": "no valid approval"}]
    assert world.api.get(f"{base}/flags/checkout").json["config"]["enabled"] is False


def test_a_promotion_request_carries_the_source_content(world: World) -> None:
    p, _, alice, _ = _setup(world)
    staging = f"/v1/projects/{p}/environments/staging/flags/checkout"
    assert world.api.put(staging, ON, if_match=1, token=alice).status_code == 200
    r = world.api.post(f"/v1/projects/{p}/flags/checkout/promote",
                       {"from": "staging", "to": "production"}, if_match=1, token=alice)
    assert r.status_code == 202
    op = r.json["change_request"]["operation"]
    assert op == {"type": "flag.promote", "flag": "checkout", "from": "staging",
                  "source_version": 2, "body": ON, "base_version": 1,
                  "definition_version": 1}


def test_a_definition_change_that_does_not_compile_files_nothing(world: World) -> None:
    p, base, _, _ = _setup(world)
    r = world.api.put(f"/v1/projects/{p}/flags/checkout",
                      {"kind": "boolean", "variations": {"on": True}}, if_match=1)
    assert r.status_code == 400
    # The first environment that cannot compile it is named (key order).
    assert {d["path"].split(".")[1] for d in r.json["error"]["details"]} == {"production"}
    assert world.api.get(f"{base}/change-requests").json["items"] == []


def test_a_new_flag_is_absent_from_protected_environments(world: World) -> None:
    p = world.new_project(envs=("staging", "production"), protected=("production",))
    base = f"/v1/projects/{p}/environments/production"
    assert world.api.post(f"/v1/projects/{p}/flags", BOOL_FLAG).status_code == 201
    assert world.api.get(f"{base}/flags/checkout").status_code == 404
    staging = world.api.get(f"/v1/projects/{p}/environments/staging/flags/checkout")
    assert staging.json["config"]["enabled"] is False
    # While production does not configure it, its definition is not production's business.
    r = world.api.put(f"/v1/projects/{p}/flags/checkout",
                      {"kind": "boolean", "variations": {"on": True, "off": False},
                       "description": "x"}, if_match=1)
    assert r.status_code == 200, r.json
    # If-Match 0 proposes its first configuration there.
    r = world.api.put(f"{base}/flags/checkout", ON, if_match=0)
    assert r.status_code == 202, r.json
    assert r.json["change_request"]["operation"]["base_version"] == 0
    # A wrong version is still a 412, and an unknown flag a 404.
    assert world.api.put(f"{base}/flags/checkout", ON, if_match=1).status_code == 404
    assert world.api.put(f"{base}/flags/nope", ON, if_match=0).status_code == 404
    # A protected environment created later gets no default configurations either.
    r = world.api.post(f"/v1/projects/{p}/environments", {"key": "eu", "protected": True})
    assert r.status_code == 201
    assert r.json["revision"] == 0
    assert world.api.get(f"/v1/projects/{p}/environments/eu/flags").json["items"] == []


def test_every_operation_type_is_registered_once() -> None:
    """The registry is the one owner of an operation's permission and executor; its schema is
    the one the API validates with."""
    from chalicelib.approvals import REGISTRY
    from chalicelib.schemas import OPERATION, OPERATIONS

    assert set(REGISTRY) == set(OPERATIONS) == set(OPERATION["properties"]["type"]["enum"])
    for kind, spec in REGISTRY.items():
        assert spec.schema is OPERATIONS[kind]
    assert {k for k, s in REGISTRY.items() if s.writes_config} == {
        "flag.config.put", "flag.restore", "flag.promote"}


def test_a_configuration_approved_meanwhile_stops_a_direct_definition_write(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Race: the definition write read production without the flag, then an approved
    configuration landed there before it committed. The write must fail, not change
    production unreviewed."""
    from chalicelib import keys
    from chalicelib.repository import put
    from chalicelib.usecases import flag_definitions

    p = world.new_project(envs=("staging", "production"), protected=("production",))
    assert world.api.post(f"/v1/projects/{p}/flags", BOOL_FLAG).status_code == 201
    real = flag_definitions.project_states

    def read_then_race(ctx: Any, project: str, defs: Any) -> Any:
        states = real(ctx, project, defs)
        world.ctx.repo.transact([put({
            "pk": keys.env_pk(p, "production"), "sk": keys.flag_config_sk("checkout"),
            "flag": "checkout", "body": '{"enabled":true,"default":{"variation":"on"}}',
            "version": 1, "updated_at": "x"})])
        return states

    monkeypatch.setattr(flag_definitions, "project_states", read_then_race)
    r = world.api.put(f"/v1/projects/{p}/flags/checkout",
                      {"kind": "boolean", "variations": {"on": False, "off": True}}, if_match=1)
    assert r.status_code == 409, r.json
    assert "protected environment meanwhile" in r.json["error"]["message"]
    monkeypatch.undo()
    assert world.api.get(f"/v1/projects/{p}/flags/checkout").json["version"] == 1


def test_a_definition_moving_just_before_apply_commits_is_a_412(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib import keys
    from chalicelib.repository import update
    from chalicelib.usecases import flag_configs

    p = world.new_project(envs=("staging", "production"), protected=("production",))
    base = f"/v1/projects/{p}/environments/production"
    assert world.api.post(f"/v1/projects/{p}/flags", BOOL_FLAG).status_code == 201
    alice = world.token("editor", [p], ["*"], name=f"alice-{p}")
    cr = world.api.put(f"{base}/flags/checkout", ON, if_match=0, token=alice).json
    url = f"{base}/change-requests/{cr['change_request']['id']}"
    assert world.api.post(f"{url}/approve", if_match=1).status_code == 200
    real_check = flag_configs.check

    def check_then_race(state: Any, **kw: Any) -> None:
        real_check(state, **kw)
        world.ctx.repo.transact([update(
            keys.project_pk(p), keys.flag_definition_sk("checkout"),
            "SET version = :nv", "version = :v", nv=2, v=1)])

    monkeypatch.setattr(flag_configs, "check", check_then_race)
    r = world.api.post(f"{url}/apply", if_match=2, token=alice)
    monkeypatch.undo()
    assert r.status_code == 412, r.json
    assert "since it was reviewed" in r.json["error"]["message"]
    assert world.api.get(f"{base}/flags/checkout").status_code == 404
    assert world.api.get(url).json["status"] == "approved"
