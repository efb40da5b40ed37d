"""``vexil history`` / ``vexil restore``: rolling a flag back by writing an old version as a
new one (the one rollback rule of docs/operations.md), against the in-process API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.cli.test_cli_verbs import _cli, _ok, _scope


def _flags_file(tmp_path: object, project: str, enabled: bool) -> str:
    doc = {"project": project, "environment": "qa", "flags": {
        "checkout": {"kind": "boolean", "variations": {"on": True, "off": False},
                     "enabled": enabled, "off_variation": "off",
                     "default": {"variation": "on"}}}}
    f = Path(str(tmp_path)) / f"{project}.yaml"
    f.write_text(yaml.safe_dump(doc))
    return str(f)


def test_history_then_restore_rolls_forward(capsys: pytest.CaptureFixture[str],
                                            cli_env: dict[str, str], project: str,
                                            tmp_path: object) -> None:
    _ok(capsys, "projects", "create", project)
    _ok(capsys, "environments", "create", "qa", "--project", project)
    scope = _scope(project, "qa")
    _ok(capsys, "apply", "-f", _flags_file(tmp_path, project, True))
    _ok(capsys, "apply", "-f", _flags_file(tmp_path, project, False))
    versions = json.loads(_ok(capsys, "history", "checkout", *scope, "--json"))
    # 1: created (disabled everywhere), 2: the first file's configuration, 3: the second's.
    assert [v["version"] for v in versions] == [3, 2, 1]
    assert [v["config"]["enabled"] for v in versions[:2]] == [False, True]
    table = _ok(capsys, "history", "checkout", *scope)
    assert table.splitlines()[0].split()[:3] == ["VERSION", "ACTION", "ACTOR"]

    out = _ok(capsys, "restore", "checkout", *scope, "--version", "2", "--reason", "undo")
    assert out == (f"restored checkout in {project}/qa to version 2's configuration "
                   "(now version 4)\n")
    after = json.loads(_ok(capsys, "history", "checkout", *scope, "--json"))
    assert after[0]["version"] == 4
    assert after[0]["config"]["enabled"] is True
    assert after[0]["action"] == "flag.restore"
    # The flags file still says disabled: plan shows the rollback as a change to undo.
    code, plan_out, _ = _cli(capsys, "plan", "-f", _flags_file(tmp_path, project, False),
                             "--detailed-exitcode")
    assert code == 2
    assert "enabled: true -> false" in plan_out


def test_restore_of_an_unknown_version_is_a_404(capsys: pytest.CaptureFixture[str],
                                                cli_env: dict[str, str], project: str,
                                                tmp_path: object) -> None:
    _ok(capsys, "projects", "create", project)
    _ok(capsys, "environments", "create", "qa", "--project", project)
    _ok(capsys, "apply", "-f", _flags_file(tmp_path, project, True))
    code, out, err = _cli(capsys, "restore", "checkout", *_scope(project, "qa"),
                          "--version", "9")
    assert code == 1
    assert out == ""
    assert ": 404 not_found: " in err
    assert "version 9" in err
