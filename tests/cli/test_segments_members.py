"""``vexil segments upload|add|remove|show`` on list segments, against the test API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_cli_verbs import _cli, _ok, _scope
from vexil import list_importer
from vexil.lists import MAX_BATCH, batch_ids, parse_ids


@pytest.fixture
def importer(vexil_resources: dict[str, str]) -> Iterator[None]:
    """The local importer loop (on the stack it runs in the stream worker process)."""
    stop = threading.Event()
    thread = list_importer.start(vexil_resources["VEXIL_TABLE"], stop)
    yield
    stop.set()
    thread.join(10)


def test_upload_add_remove_show(capsys: pytest.CaptureFixture[str], cli_env: dict[str, str],
                                project: str, tmp_path: Path, importer: None) -> None:
    _ok(capsys, "projects", "create", project)
    _ok(capsys, "environments", "create", "qa", "--project", project)
    scope = _scope(project, "qa")
    assert "created segment beta" in _ok(capsys, "segments", "put", "beta", "--list", *scope)
    members = tmp_path / "members.csv"
    members.write_text("id\n" + "".join(f"user-{i}\n" for i in range(12_000)) + "user-1\n")
    report = json.loads(_ok(capsys, "segments", "upload", "beta", str(members), *scope,
                            "--json"))
    assert report["status"] == "done", report
    assert report["result"]["ids"] == 12_000
    assert report["result"]["duplicates"] == 1
    assert report["result"]["seq"] == 2  # two batches of at most 10,000, one revision
    # add: batch ids derive from the ids, so a re-run applies nothing twice
    first = json.loads(_ok(capsys, "segments", "add", "beta", "x-1", "x-2", *scope, "--json"))
    again = json.loads(_ok(capsys, "segments", "add", "beta", "x-1", "x-2", *scope, "--json"))
    assert first["replayed"] == 0
    assert again["replayed"] == 1
    # a batch id the user names is an idempotency key: other ids under it are refused
    _ok(capsys, "segments", "add", "beta", "y-1", "--batch-id", "mine", *scope)
    code, _, err = _cli(capsys, "segments", "add", "beta", "y-2", "--batch-id", "mine", *scope)
    assert code == 1
    assert "already used for other ids" in err
    assert "1 already applied" in _ok(capsys, "segments", "add", "beta", "y-1",
                                      "--batch-id", "mine", *scope)
    assert "remove: 2 ids" in _ok(capsys, "segments", "remove", "beta", "user-1", "user-2",
                                  *scope)
    _ok(capsys, "segments", "add", "beta", "new-1", *scope)
    shown = json.loads(_ok(capsys, "segments", "show", "beta", *scope))
    assert shown["type"] == "list"
    assert shown["members"]["members"] == 12_000 + 2 + 1 - 2 + 1
    assert shown["members"]["seq"] == 6


def test_a_malformed_file_names_its_lines_and_sends_nothing(
        capsys: pytest.CaptureFixture[str], cli_env: dict[str, str], project: str,
        tmp_path: Path) -> None:
    _ok(capsys, "projects", "create", project)
    _ok(capsys, "environments", "create", "qa", "--project", project)
    scope = _scope(project, "qa")
    _ok(capsys, "segments", "put", "beta", "--list", *scope)
    bad = tmp_path / "members.ndjson"
    bad.write_text('"a"\n{"id": "b"}\nnot json\n\n42\n{"key": "c"}\n')
    code, _, err = _cli(capsys, "segments", "upload", "beta", str(bad), *scope)
    assert code == 2
    assert f"{bad}:3: not JSON" in err
    assert f"{bad}:5: expected a JSON string" in err
    shown = json.loads(_ok(capsys, "segments", "show", "beta", *scope))
    assert shown["members"]["seq"] == 0
    # a rules segment has no members to change: the API's 409, one line
    _ok(capsys, "segments", "put", "staff", "--included", "a", *scope)
    code, _, err = _cli(capsys, "segments", "add", "staff", "x", *scope)
    assert code == 1
    assert "not a list segment" in err


def test_batch_ids_are_stable_and_chunked() -> None:
    ids = [f"u{i}" for i in range(MAX_BATCH * 2 + 1)]
    assert batch_ids(ids, "add") == batch_ids(list(ids), "add")
    assert len(batch_ids(ids, "add")) == 3
    assert batch_ids(ids, "add") != batch_ids(ids, "remove")
    assert batch_ids(["a"], "add", "mine") == ["mine"]
    parsed = parse_ids("x,1\ny\nx\n", "csv")
    assert parsed.ids == ["x", "y"]
    assert parsed.duplicates == 1
