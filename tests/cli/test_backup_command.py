"""`vexil backup` is wired to vexil.backup: export writes the table, restore refuses to merge."""

from __future__ import annotations

import json
from pathlib import Path

import boto3

from vexil.cli import main


def test_backup_export_then_restore_into_the_same_table_is_refused(
    vexil_resources: dict[str, str], tmp_path: Path, capsys: object
) -> None:
    table = vexil_resources["VEXIL_TABLE"]
    boto3.client("dynamodb").put_item(
        TableName=table, Item={"pk": {"S": "P#backup-cli"}, "sk": {"S": "PROJECT"}}
    )
    out = tmp_path / "backup.json"
    assert main(["backup", "export", str(out), "--table", table]) == 0
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["format"] == "vexil-backup/1"
    assert {"pk": {"S": "P#backup-cli"}, "sk": {"S": "PROJECT"}} in document["items"]
    # The table is not empty, so a restore into it must refuse (never merge two states).
    assert main(["backup", "restore", str(out), "--table", table]) == 1


def test_backup_needs_an_action_and_a_file() -> None:
    assert main(["backup"]) == 2
