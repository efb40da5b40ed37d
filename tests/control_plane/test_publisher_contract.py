"""What the API writes is what the publisher's snapshot reads (the table contract)."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.control_plane.conftest import BOOL_FLAG, World


def test_snapshot_sees_flags_segments_and_sdk_keys(world: World) -> None:
    from chalicelib.publish.snapshot import SnapshotReader

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

    reader = SnapshotReader(table=world.ctx.repo.table_name,
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


def test_the_api_and_the_publisher_assemble_the_same_document(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # One merge rule (edge_reader.engine.fields): the document the API compiles a write
    # against is the one the publisher builds, and both build it with the engine's rule.
    from chalicelib.envdoc import load_state
    from chalicelib.publish.snapshot import SnapshotReader

    from edge_reader.engine import fields

    p = world.new_project(envs=("dev",))
    base = f"/v1/projects/{p}/environments/dev"
    world.api.post(f"/v1/projects/{p}/flags", {**BOOL_FLAG, "metadata": {"owner": "x"}})
    world.api.post(f"/v1/projects/{p}/flags", {**BOOL_FLAG, "key": "other"})
    world.api.post(f"{base}/segments", {"key": "staff", "included": ["u-1"], "tags": ["t"]})
    cfg = {"enabled": True, "default": {"variation": "on"}, "off_variation": "off"}
    assert world.api.put(f"{base}/flags/checkout", cfg, if_match=1).status_code == 200

    merged: list[int | None] = []
    merge = fields.merge_flag
    monkeypatch.setattr(fields, "merge_flag",
                        lambda d, c, v=None: merged.append(v) or merge(d, c, v))
    snap = SnapshotReader(table=world.ctx.repo.table_name,
                          dynamodb=boto3.client("dynamodb"), kms=boto3.client("kms")
                          ).read(p, "dev")
    assert snap is not None
    assert sorted(merged) == [1, 2]  # the publisher merged both flags with the owner's rule
    doc = load_state(world.ctx.repo, p, "dev").document()
    assert sorted(merged) == [1, 1, 2, 2]  # ... and so did the API's check
    assert doc["flags"] == snap.flags
    assert doc["segments"] == snap.segments
    assert snap.flags["checkout"]["metadata"] == {"owner": "x"}
    assert snap.flags["checkout"]["version"] == 2


def test_the_api_stores_sdk_keys_in_the_shape_the_test_builder_writes(
        world: World, vexil_resources: dict[str, str]) -> None:
    # Tests and load tests put SDK-key records with sdk_key_record.new_item; the API must
    # store exactly that shape, or the publisher tests would read items production never has.
    from chalicelib import keys, sdk_key_record

    from edge_reader.bundle import parse_sdk_key

    p = world.new_project(envs=("dev",))
    created = world.api.post(f"/v1/projects/{p}/environments/dev/sdk-keys",
                             {"kind": "client", "scope": {"prefixes": ["web."]}}).json
    stored = world.ctx.repo.get(keys.env_pk(p, "dev"), keys.sdk_key_sk(created["key_id"]))
    key = parse_sdk_key(created["key"])
    built = sdk_key_record.new_item(
        project=p, environment="dev", key=key, kms=boto3.client("kms"),
        kms_key_id=vexil_resources["VEXIL_KMS_KEY_ID"],
        created_at=stored["created_at"], prefixes=("web.",))
    assert set(stored) == set(built)
    assert {k: v for k, v in stored.items() if k != "wrapped_secret"} == {
        k: v for k, v in built.items() if k != "wrapped_secret"}
    assert stored["kind"] == "client"
    # Both wrapped secrets open, under the one context, to the key the API handed out.
    record = sdk_key_record.read_item(stored)
    assert sdk_key_record.unwrap_secret(boto3.client("kms"), p, "dev", record) == key
    with pytest.raises(ClientError, match="InvalidCiphertext"):
        sdk_key_record.unwrap_secret(boto3.client("kms"), p, "other", record)
