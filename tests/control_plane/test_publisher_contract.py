"""What the API writes is what the publisher's snapshot reads (the table contract)."""

from __future__ import annotations

import boto3

from tests.control_plane.conftest import BOOL_FLAG, World


def test_snapshot_sees_flags_segments_and_sdk_keys(world: World) -> None:
    from chalicelib.snapshot import SnapshotReader

    p = world.new_project(envs=("dev",))
    base = f"/v1/projects/{p}/environments/dev"
    world.api.post(f"/v1/projects/{p}/flags", BOOL_FLAG)
    world.api.post(f"{base}/segments", {"key": "staff", "included": ["u-1"]})
    cfg = {"enabled": True, "default": {"variation": "off"}, "off_variation": "off",
           "rules": [{"id": "s", "clauses": [{"attribute": "key", "op": "segment_match",
                                              "values": ["staff"]}],
                      "serve": {"variation": "on"}}]}
    assert world.api.put(f"{base}/flags/checkout", cfg, if_match=1).status_code == 200
    kept = world.api.post(f"{base}/sdk-keys", {"kind": "server"}).json
    gone = world.api.post(f"{base}/sdk-keys", {"kind": "client"}).json
    world.api.delete(f"{base}/sdk-keys/{gone['key_id']}")

    reader = SnapshotReader(table=world.service.repo.table_name,
                            dynamodb=boto3.client("dynamodb"), kms=boto3.client("kms"))
    snap = reader.read(p, "dev")
    assert snap is not None
    env = world.api.get(base).json
    assert snap.revision == env["revision"]
    assert snap.audit_head == env["audit_head"]
    flag = snap.flags["checkout"]
    assert flag["rules"] == cfg["rules"]
    assert flag["variations"] == BOOL_FLAG["variations"]
    assert flag["version"] == 2
    assert snap.segments["staff"]["included"] == ["u-1"]
    assert [k.key.text for k in snap.sdk_keys] == [kept["key"]]
