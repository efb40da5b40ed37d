"""The hash-chained audit log: contents, paging, verification, tamper detection."""

from __future__ import annotations

import boto3

from tests.control_plane.conftest import BOOL_FLAG, World


def _write_some(world: World, p: str) -> None:
    world.api.post(f"/v1/projects/{p}/flags", BOOL_FLAG)
    url = f"/v1/projects/{p}/environments/dev/flags/checkout"
    for v in range(1, 4):
        r = world.api.put(url, {"enabled": v % 2 == 1, "default": {"variation": "on"}},
                          if_match=v, headers={"X-Vexil-Reason": f"step {v}"})
        assert r.status_code == 200, r.json


def test_records_hold_actor_before_after_reason(world: World) -> None:
    p = world.new_project(envs=("dev",))
    _write_some(world, p)
    page = world.api.get(f"/v1/audit?project={p}&environment=dev&limit=3").json
    assert [r["seq"] for r in page["items"]] == [1, 2, 3]
    assert page["next_cursor"]
    rest = world.api.get(f"/v1/audit?project={p}&environment=dev&cursor={page['next_cursor']}")
    records = page["items"] + rest.json["items"]
    assert [r["seq"] for r in records] == [1, 2, 3, 4]
    second = records[1]
    assert second["action"] == "flag.config.put"
    me = world.api.get("/v1/tokens/self").json
    assert second["actor"] == {"token_id": me["token_id"], "name": "root"}
    assert "vxl_tok_" not in str(records)
    assert second["before"]["enabled"] is False
    assert second["after"]["enabled"] is True
    assert second["reason"] == "step 1"
    assert second["prev_hash"] == records[0]["hash"]
    assert second["resource"] == f"projects/{p}/environments/dev/flags/checkout"


def test_chain_verifies_and_tampering_is_located(world: World) -> None:
    from chalicelib import keys

    p = world.new_project(envs=("dev",))
    _write_some(world, p)
    body = {"project": p, "environment": "dev"}
    out = world.api.post("/v1/audit/verify", body).json
    assert {k: out[k] for k in ("ok", "checked", "first_break")} == {
        "ok": True, "checked": 4, "first_break": None}
    # No publisher runs here: nothing anchored this chain, and the answer says so.
    assert out["anchors"]["status"] == "none"
    assert out["anchors"]["unanchored_records"] == 4
    table = boto3.resource("dynamodb").Table(world.ctx.repo.table_name)
    key = {"pk": keys.audit_pk(p, "dev"), "sk": keys.audit_sk(3)}
    original = table.get_item(Key=key)["Item"]["record"]
    table.update_item(Key=key, UpdateExpression="SET #r = :r", ExpressionAttributeNames={
        "#r": "record"}, ExpressionAttributeValues={":r": original.replace("step 2", "step X")})
    out = world.api.post("/v1/audit/verify", body).json
    assert out["ok"] is False
    assert out["checked"] == 2
    assert out["first_break"]["seq"] == 3
    assert "hash" in out["first_break"]["reason"]
    # Re-hashing the edited record does not help: the next record's prev_hash breaks.
    import hashlib

    forged = original.replace("step 2", "step X")
    table.update_item(Key=key, UpdateExpression="SET #r = :r, #h = :h", ExpressionAttributeNames={
        "#r": "record", "#h": "hash"}, ExpressionAttributeValues={
        ":r": forged, ":h": hashlib.sha256(forged.encode()).hexdigest()})
    out = world.api.post("/v1/audit/verify", body).json
    assert out["first_break"]["seq"] == 4
    assert "prev_hash" in out["first_break"]["reason"]
    # Restored, then the tail dropped: the head on the environment item catches it.
    table.put_item(Item={**table.get_item(Key=key)["Item"], "record": original,
                         "hash": hashlib.sha256(original.encode()).hexdigest()})
    assert world.api.post("/v1/audit/verify", body).json["ok"] is True
    table.delete_item(Key={"pk": keys.audit_pk(p, "dev"), "sk": keys.audit_sk(4)})
    out = world.api.post("/v1/audit/verify", body).json
    assert out["ok"] is False
    assert out["checked"] == 3
    assert out["first_break"]["sk"] == "HEAD"


def test_global_chain_holds_projects_and_tokens(world: World) -> None:
    p = world.new_project(envs=())
    records = []
    cursor = None
    while True:
        q = f"?limit=200&cursor={cursor}" if cursor else "?limit=200"
        page = world.api.get("/v1/audit" + q).json
        records += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert records[0]["action"] == "token.bootstrap"
    assert any(r["action"] == "project.create" and r["resource"] == f"projects/{p}"
               for r in records)
    out = world.api.post("/v1/audit/verify", {}).json
    assert out["ok"] is True
    assert out["checked"] == len(records)
    r = world.api.post("/v1/audit/verify", {"project": p})
    assert r.status_code == 400
    assert r.json["error"]["details"][0]["path"] == "environment"
