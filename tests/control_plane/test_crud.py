"""CRUD through the HTTP API: projects, environments, flags, segments, history, promotion."""

from __future__ import annotations

import base64

import boto3

from tests.control_plane.conftest import BOOL_FLAG, World

RULE_ON = {
    "enabled": True,
    "rules": [{"id": "de", "clauses": [{"attribute": "country", "op": "in", "values": ["DE"]}],
               "serve": {"variation": "on"}}],
    "default": {"variation": "off"},
    "off_variation": "off",
}


def test_project_and_environments(world: World) -> None:
    api = world.api
    p = world.new_project()
    assert api.get(f"/v1/projects/{p}").json["project"] == p
    assert p in [x["project"] for x in api.get("/v1/projects").json["items"]]
    envs = api.get(f"/v1/projects/{p}/environments").json["items"]
    assert [e["environment"] for e in envs] == ["production", "staging"]
    assert envs[0]["revision"] == 0
    assert envs[0]["protected"] is False
    assert api.post("/v1/projects", {"key": p}).status_code == 409
    assert api.get("/v1/projects/does-not-exist").status_code == 404
    r = api.post(f"/v1/projects/{p}/environments", {"key": "staging"})
    assert r.status_code == 409


def test_flag_create_get_put_delete(world: World) -> None:
    api = world.api
    p = world.new_project()
    assert api.post(f"/v1/projects/{p}/flags", BOOL_FLAG).status_code == 201
    assert api.post(f"/v1/projects/{p}/flags", BOOL_FLAG).status_code == 409
    got = api.get(f"/v1/projects/{p}/flags/checkout")
    assert got.json["kind"] == "boolean"
    assert got.headers["ETag"] == '"1"'
    env = api.get(f"/v1/projects/{p}/environments/staging").json
    assert env["revision"] == 1
    assert env["audit_seq"] == 1
    new_def = {"kind": "boolean", "variations": {"on": True, "off": False},
               "description": "new checkout", "tags": ["shop", "beta"]}
    r = api.put(f"/v1/projects/{p}/flags/checkout", new_def, if_match=1)
    assert r.status_code == 200, r.json
    assert r.json["description"] == "new checkout"
    assert r.json["version"] == 2
    for e in ("staging", "production"):
        assert api.get(f"/v1/projects/{p}/environments/{e}").json["revision"] == 2
    r = api.delete(f"/v1/projects/{p}/flags/checkout", if_match=2)
    assert r.status_code == 200, r.json
    assert api.get(f"/v1/projects/{p}/flags/checkout").status_code == 404
    assert api.get(f"/v1/projects/{p}/environments/staging/flags/checkout").status_code == 404
    assert api.get(f"/v1/projects/{p}/environments/staging").json["revision"] == 3


def test_env_flag_put_history_restore(world: World) -> None:
    api = world.api
    p = world.new_project()
    api.post(f"/v1/projects/{p}/flags", BOOL_FLAG)
    url = f"/v1/projects/{p}/environments/staging/flags/checkout"
    r = api.put(url, RULE_ON, if_match=1)
    assert r.status_code == 200, r.json
    assert r.json["version"] == 2
    assert r.json["config"]["enabled"] is True
    assert r.headers["ETag"] == '"2"'
    hist = api.get(url + "/history").json["items"]
    assert [h["version"] for h in hist] == [2, 1]
    assert api.get(url + "/history/1").json["config"]["enabled"] is False
    assert api.get(url + "/history/9").status_code == 404
    r = api.post(url + "/restore", {"version": 1}, if_match=2)
    assert r.status_code == 200, r.json
    assert r.json["version"] == 3
    assert r.json["config"]["enabled"] is False
    assert api.get(url + "/history/3").json["action"] == "flag.restore"


def test_promote_copies_configuration(world: World) -> None:
    api = world.api
    p = world.new_project()
    api.post(f"/v1/projects/{p}/flags", BOOL_FLAG)
    api.put(f"/v1/projects/{p}/environments/staging/flags/checkout", RULE_ON, if_match=1)
    r = api.post(f"/v1/projects/{p}/flags/checkout/promote",
                 {"from": "staging", "to": "production"}, if_match=1)
    assert r.status_code == 200, r.json
    assert r.json["environment"] == "production"
    assert r.json["config"] == RULE_ON
    r = api.post(f"/v1/projects/{p}/flags/checkout/promote",
                 {"from": "staging", "to": "staging"}, if_match=2)
    assert r.status_code == 400
    assert r.json["error"]["details"][0]["path"] == "to"


def test_list_flags_paginates_and_filters(world: World) -> None:
    api = world.api
    p = world.new_project(envs=("dev",))
    for i in range(7):
        body = {**BOOL_FLAG, "key": f"{'a' if i < 4 else 'b'}-flag-{i}",
                "tags": ["even"] if i % 2 == 0 else ["odd"]}
        assert api.post(f"/v1/projects/{p}/flags", body).status_code == 201
    seen, cursor = [], None
    while True:
        q = f"?limit=3&cursor={cursor}" if cursor else "?limit=3"
        page = api.get(f"/v1/projects/{p}/flags{q}").json
        assert len(page["items"]) <= 3
        seen += [f["key"] for f in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(seen)
    assert len(seen) == 7
    pre = api.get(f"/v1/projects/{p}/flags?prefix=b-").json["items"]
    assert [f["key"] for f in pre] == ["b-flag-4", "b-flag-5", "b-flag-6"]
    tagged = api.get(f"/v1/projects/{p}/environments/dev/flags?tag=even&limit=2").json
    assert [f["key"] for f in tagged["items"]] == ["a-flag-0", "a-flag-2"]
    rest = api.get(f"/v1/projects/{p}/environments/dev/flags?tag=even&cursor="
                   f"{tagged['next_cursor']}").json
    assert [f["key"] for f in rest["items"]] == ["b-flag-4", "b-flag-6"]
    assert rest["items"][0]["config"]["enabled"] is False
    assert api.get(f"/v1/projects/{p}/flags?limit=0").status_code == 400
    assert api.get(f"/v1/projects/{p}/flags?cursor=%25%25").status_code == 400


def test_segments_crud_and_reference_check(world: World) -> None:
    api = world.api
    p = world.new_project(envs=("dev",))
    base = f"/v1/projects/{p}/environments/dev/segments"
    r = api.post(base, {"key": "staff", "context_kind": "user", "included": ["u-1"],
                        "tags": ["internal"]})
    assert r.status_code == 201, r.json
    assert api.post(base, {"key": "staff"}).status_code == 409
    api.post(f"/v1/projects/{p}/flags", BOOL_FLAG)
    cfg = {"enabled": True, "default": {"variation": "off"}, "rules": [
        {"id": "s", "clauses": [{"attribute": "key", "op": "segment_match", "values": ["staff"]}],
         "serve": {"variation": "on"}}]}
    r = api.put(f"/v1/projects/{p}/environments/dev/flags/checkout", cfg, if_match=1)
    assert r.status_code == 200, r.json
    r = api.put(base + "/staff", {"context_kind": "user", "included": ["u-1", "u-2"]}, if_match=1)
    assert r.status_code == 200
    assert r.json["version"] == 2
    assert [s["key"] for s in api.get(base + "?tag=internal").json["items"]] == []
    # Deleting a segment a flag uses would publish a bundle readers reject: 400.
    r = api.delete(base + "/staff", if_match=2)
    assert r.status_code == 400, r.json
    assert "unknown segment" in r.json["error"]["details"][0]["message"]
    assert api.get(base + "/staff").json["version"] == 2


def test_sdk_keys_are_kms_wrapped_and_revocable(world: World) -> None:
    api = world.api
    p = world.new_project(envs=("dev",))
    base = f"/v1/projects/{p}/environments/dev/sdk-keys"
    r = api.post(base, {"kind": "server", "scope": {"tags": ["shop"]}})
    assert r.status_code == 201, r.json
    text, key_id = r.json["key"], r.json["key_id"]
    assert text.startswith(f"vxl_srv_{key_id}_")
    listed = api.get(base).json["items"]
    assert listed == [{"key_id": key_id, "kind": "server",
                       "scope": {"tags": ["shop"], "prefixes": []},
                       "created_at": r.json["created_at"], "revoked_at": None}]
    from chalicelib import keys

    item = world.ctx.repo.get(keys.env_pk(p, "dev"), keys.sdk_key_sk(key_id))
    kms = boto3.client("kms")
    plain = kms.decrypt(CiphertextBlob=item["wrapped_secret"], EncryptionContext={
        "vexil:purpose": "sdk-key", "vexil:project": p, "vexil:environment": "dev"})["Plaintext"]
    assert base64.urlsafe_b64encode(plain).rstrip(b"=").decode() == text.split("_", 3)[3]
    rev = api.get(f"/v1/projects/{p}/environments/dev").json["revision"]
    r = api.delete(f"{base}/{key_id}")
    assert r.status_code == 200
    assert r.json["revoked_at"]
    assert api.get(f"/v1/projects/{p}/environments/dev").json["revision"] == rev + 1
    assert api.delete(f"{base}/nokey").status_code == 404


def test_new_environment_gets_default_configs(world: World) -> None:
    api = world.api
    p = world.new_project(envs=("dev",))
    api.post(f"/v1/projects/{p}/flags", BOOL_FLAG)
    r = api.post(f"/v1/projects/{p}/environments", {"key": "qa"})
    assert r.status_code == 201
    assert r.json["revision"] == 1
    assert api.get(f"/v1/projects/{p}/environments/qa/flags/checkout").json["version"] == 1


def test_tokens_self_expiry_and_revocation(world: World) -> None:
    api = world.api
    r = api.post("/v1/tokens", {"name": "short", "role": "viewer", "projects": ["*"],
                                "environments": ["*"], "ttl_days": 1})
    assert r.status_code == 201
    text, token_id = r.json["token"], r.json["token_id"]
    assert text.startswith("vxl_tok_")
    assert len(text) >= 8 + 43
    me = api.get("/v1/tokens/self", token=text)
    assert me.status_code == 200
    assert me.json["token_id"] == token_id
    assert "token" not in me.json
    assert all("token" not in t for t in api.get("/v1/tokens").json["items"])
    world.clock.advance(86400 + 1)
    try:
        assert api.get("/v1/tokens/self", token=text).status_code == 401
    finally:
        world.clock.advance(-(86400 + 1))
    assert api.delete(f"/v1/tokens/{token_id}").status_code == 200
    assert api.get("/v1/tokens/self", token=text).status_code == 401
    assert api.delete("/v1/tokens/tok_nope").status_code == 404
