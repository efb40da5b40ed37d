"""Durability: export every bit of control-plane state, restore it into a fresh table, and
the publisher produces byte-identical bundle plaintexts (ciphertexts differ by design: each
envelope has a fresh data key and signature)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from edge_reader.bundle import decode_pointer, decrypt_bundle, encryption_context
from tests.reliability.conftest import Plane
from vexil import backup, cli

ENVS = ("staging", "prod")


def _publisher(table: str, bucket: str, resources: dict[str, str]) -> Any:
    from chalicelib.publish.publisher import Publisher
    from chalicelib.publish.snapshot import SnapshotReader
    from chalicelib.publish.store import BundleStore

    from edge_reader.bundle.esdk import EnvelopeCache
    from edge_reader.bundle.hierarchy import BranchKeyStore

    session = boto3.session.Session()
    kms = session.client("kms")
    keys = BranchKeyStore(table=resources["VEXIL_KEY_STORE_TABLE"],
                          kms_key_arn=resources["VEXIL_KMS_KEY_ID"],
                          dynamodb_client=session.client("dynamodb"), kms_client=kms)
    return Publisher(reader=SnapshotReader(table=table, dynamodb=session.client("dynamodb"),
                                           kms=kms),
                     store=BundleStore(bucket=bucket, s3=session.client("s3")),
                     envelope=EnvelopeCache(keys))


def _plaintexts(bucket: str, project: str, resources: dict[str, str]) -> dict[str, bytes]:
    """Every live scope's decrypted plaintext (opened with KMS), by pointer key."""
    session = boto3.session.Session()
    s3, kms = session.client("s3"), session.client("kms")
    arn = kms.describe_key(KeyId=resources["VEXIL_KMS_KEY_ID"])["KeyMetadata"]["Arn"]
    out: dict[str, bytes] = {}
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=f"bundles/{project}/")
    for obj in listing.get("Contents", []):
        if not obj["Key"].endswith("current.json"):
            continue
        pointer = decode_pointer(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
        ciphertext = s3.get_object(Bucket=bucket, Key=pointer.key)["Body"].read()
        out[obj["Key"]] = decrypt_bundle(
            ciphertext, kms_key_id=arn, kms_client=kms,
            key_store_table=resources["VEXIL_KEY_STORE_TABLE"],
            expected=encryption_context(project, pointer.environment, pointer.revision,
                                        pointer.scope))
    return out


def _fresh_table() -> str:
    from vexil.resources import _ensure_table, load_definition

    name = f"restore-{uuid.uuid4().hex[:10]}"
    _ensure_table(boto3.session.Session().client("dynamodb"), name, load_definition()["table"])
    return name


def _populate(plane: Plane) -> tuple[str, list[str]]:
    """A project using every kind of state: flags, segments, keys, tokens, history, CRs."""
    api = plane.api
    p = plane.project(ENVS)
    plane.flag(p)
    plane.flag(p, {"key": "theme", "kind": "string", "client_visible": True, "tags": ["ui"],
                   "variations": {"dark": "dark", "light": "light"}})
    plane.flag(p, {"key": "limits", "kind": "json", "variations": {"small": {"n": 1.5},
                                                                     "big": {"n": 10**12}}})
    seg = {"key": "beta", "context_kind": "user", "included": ["u-1"], "excluded": [],
           "rules": [{"id": "de", "clauses": [{"context_kind": "user", "attribute": "country",
                                               "op": "in", "values": ["DE", "ü\u2028"]}]}]}
    assert api.post(f"/v1/projects/{p}/environments/prod/segments", seg).status_code == 201
    cfg = {"enabled": True, "off_variation": "off",
           "rules": [{"id": "b", "clauses": [{"context_kind": "user", "attribute": "key",
                                              "op": "segment_match", "values": ["beta"]}],
                      "serve": {"variation": "on"}}],
           "default": {"rollout": {"variations": [{"variation": "on", "weight": 12345},
                                                  {"variation": "off", "weight": 87655}]}}}
    path = f"/v1/projects/{p}/environments/prod/flags/checkout"
    assert api.put(path, cfg, if_match=1).status_code == 200
    assert api.put(path, {**cfg, "enabled": False}, if_match=2).status_code == 200
    theme = f"/v1/projects/{p}/environments/staging/flags/theme"
    assert api.put(theme, {"enabled": True, "default": {"variation": "dark"}},
                   if_match=1).status_code == 200
    keys = [str(plane.sdk_key(p, env, kind)["key"]) for env in ENVS
            for kind in ("server", "client")]
    r = api.post(f"/v1/projects/{p}/environments/prod/sdk-keys",
                 {"kind": "server", "scope": {"tags": ["ui"]}})
    assert r.status_code == 201, r.json
    keys.append(str(r.json["key"]))
    revoked = plane.sdk_key(p, "staging")
    assert api.delete(f"/v1/projects/{p}/environments/staging/sdk-keys/"
                      f"{revoked['key_id']}").status_code == 200
    return p, keys


def test_export_restore_reproduces_state_and_bundles(
    plane_factory: Callable[..., Plane], private_table: str, vexil_resources: dict[str, str],
    tmp_path: Path
) -> None:
    plane = plane_factory(table=private_table)
    p, sdk_keys = _populate(plane)
    token = plane.admin_token
    original = _publisher(private_table, vexil_resources["VEXIL_BUCKET"], vexil_resources)
    for env in ENVS:
        original.publish(p, env)

    file = tmp_path / "backup.json"
    assert cli.main(["backup", "export", str(file), "--table", private_table]) == 0
    text = file.read_text()
    for secret in [token, *sdk_keys]:  # the backup holds no usable secret
        assert secret not in text
        bare = re.sub(r"^vxl_(tok_|(srv|cli)_[a-z2-7]{10}_)", "", secret)
        assert len(bare) >= 40
        assert bare not in text

    restored = _fresh_table()
    assert cli.main(["backup", "restore", str(file), "--table", restored]) == 0
    assert backup.scan_items(restored) == backup.scan_items(private_table)
    # restoring twice is refused: two states never merge
    assert cli.main(["backup", "restore", str(file), "--table", restored]) == 1

    fresh_bucket = f"rel-restore-{uuid.uuid4().hex[:8]}"
    boto3.session.Session().client("s3").create_bucket(Bucket=fresh_bucket)
    again = _publisher(restored, fresh_bucket, vexil_resources)
    for env in ENVS:
        again.publish(p, env)
    before = _plaintexts(vexil_resources["VEXIL_BUCKET"], p, vexil_resources)
    after = _plaintexts(fresh_bucket, p, vexil_resources)
    assert len(before) == 5  # server+client per env, plus the scoped key's bundle
    assert after == before  # byte-identical canonical plaintexts, every scope

    # the restored control plane works: same token, intact audit chains
    restored_plane = plane_factory(table=restored)
    for env in ENVS:
        r = restored_plane.api.post("/v1/audit/verify", {"project": p, "environment": env},
                                    token=token)
        assert r.status_code == 200, r.json
        assert r.json["ok"] is True, r.json
    assert restored_plane.api.get(f"/v1/projects/{p}/flags/checkout",
                                  token=token).status_code == 200


@pytest.mark.parametrize(("document", "field"), [
    ({"format": "other"}, "format"),
    ({"format": backup.FORMAT, "count": 2, "items": [{}]}, "items"),
    ({"format": backup.FORMAT, "count": 1, "items": [{"pk": {"S": "a"}}]}, "items[0]"),
    ({"format": backup.FORMAT, "count": 1,
      "items": [{"pk": {"S": "a"}, "sk": {"S": "b"}, "x": {"B": "!!"}}]}, "items[0].x"),
    ({"format": backup.FORMAT, "count": 1,
      "items": [{"pk": {"S": "a"}, "sk": {"S": "b"}, "x": {"Q": 1}}]}, "items[0].x"),
])
def test_a_bad_backup_is_refused_before_any_write(
    private_table: str, document: dict[str, Any], field: str, tmp_path: Path
) -> None:
    with pytest.raises(backup.BackupError, match=field.replace("[", r"\[").replace("]", r"\]")):
        backup.restore_state(document, private_table)
    assert backup.scan_items(private_table) == []
    file = tmp_path / "bad.json"
    file.write_text(json.dumps(document))
    assert cli.main(["backup", "restore", str(file), "--table", private_table]) == 1
