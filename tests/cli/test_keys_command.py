"""`vexil keys show|rotate` (branch keys, AWS direct) and `vexil eval --kms`, on moto."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from edge_reader.bundle import generate_sdk_key
from edge_reader.bundle.esdk import EnvelopeCache
from edge_reader.bundle.hierarchy import BranchKeyStore
from tests.client.bundles import BundleFactory, bool_flag
from tests.publisher.tablekit import unique
from vexil.cli import main


@pytest.fixture
def store(vexil_resources: dict[str, str]) -> BranchKeyStore:
    return BranchKeyStore(table=vexil_resources["VEXIL_KEY_STORE_TABLE"],
                          kms_key_arn=vexil_resources["VEXIL_KMS_KEY_ID"],
                          dynamodb_client=boto3.client("dynamodb"),
                          kms_client=boto3.client("kms"))


def _json(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


def test_show_then_rotate_a_branch_key(store: BranchKeyStore,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    project = unique("keys")
    assert main(["keys", "show", "--project", project, "--environment", "prod"]) == 1
    assert "no branch key yet" in capsys.readouterr().err
    store.ensure(project, "prod")
    assert main(["keys", "show", "--project", project, "--environment", "prod"]) == 0
    shown = _json(capsys)
    assert shown["branch_key_id"] == f"vexil/{project}/prod"
    assert shown["versions"] == 1
    assert main(["keys", "rotate", "--project", project, "--environment", "prod"]) == 0
    rotated = _json(capsys)
    assert rotated["versions"] == 2
    assert rotated["active_version"] != shown["active_version"]


def test_keys_needs_the_table(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("VEXIL_KEY_STORE_TABLE", raising=False)
    monkeypatch.setenv("VEXIL_STATE_DIR", str(tmp_path))  # no local stack to fall back on
    assert main(["keys", "show", "--project", "shop", "--environment", "prod"]) == 2
    assert "VEXIL_KEY_STORE_TABLE" in capsys.readouterr().err


def test_eval_with_kms_instead_of_an_sdk_key(
    store: BranchKeyStore, vexil_resources: dict[str, str], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    factory = BundleFactory(EnvelopeCache(store), generate_sdk_key("srv"),
                            project=unique("evk"))
    built = factory.build(3, {"a": bool_flag(on=True)})
    (tmp_path / "current.json").write_bytes(built.pointer_bytes)
    (tmp_path / built.pointer.key.rsplit("/", 1)[-1]).write_bytes(built.ciphertext)
    source = str(tmp_path / "current.json")
    assert main(["eval", "a", "--source", source, "--kms"]) == 0  # key + table from VEXIL_*
    detail = _json(capsys)
    assert detail["value"] is True
    assert detail["error_code"] is None
    wrong = ["eval", "a", "--source", source, "--kms", "--key-store-table", "vexil-nope"]
    assert main(wrong) == 1  # a table without the branch key: nothing opens
    assert _json(capsys)["error_code"] == "PROVIDER_NOT_READY"
