"""`vexil backup` is wired to vexil.backup: export writes the table, restore refuses to merge."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

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


def test_backup_without_a_table_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("VEXIL_TABLE", raising=False)
    assert main(["backup", "export", str(tmp_path / "b.json")]) == 2
    assert "backup: --table: required" in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists()


def test_backup_restore_of_a_missing_file_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "absent.json"
    assert main(["backup", "restore", str(missing), "--table", "any-table"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("vexil: error: ")
    assert str(missing) in err
    assert err.count("\n") == 1


def test_backup_restore_of_a_file_that_is_not_json_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    assert main(["backup", "restore", str(bad), "--table", "any-table"]) == 1
    assert f"{bad}: not valid JSON" in capsys.readouterr().err


def test_the_backup_module_has_no_parser_of_its_own() -> None:
    from vexil import backup

    assert not hasattr(backup, "main")
    assert "argparse" not in Path(backup.__file__).read_text(encoding="utf-8")
