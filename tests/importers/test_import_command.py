"""``vexil import``: writes a flags file that `vexil plan` reads and compiles, prints the report,
and exits 0 (all faithful), 3 (something is not) or 2 (unreadable or not that format)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vexil import flagsfile
from vexil.cli import importing, main
from vexil.plancheck import check
from vexil.remote import RemoteState

LD = {"flags": {
    "dark-mode": {"key": "dark-mode", "on": True, "variations": [False, True], "offVariation": 0,
                  "salt": "abc", "fallthrough": {"rollout": {"variations": [
                      {"variation": 0, "weight": 50000}, {"variation": 1, "weight": 50000}]}}},
    "Promo Text": {"key": "Promo Text", "on": True, "variations": ["a", "b"],
                   "fallthrough": {"variation": 1}},
}, "segments": {}}
FLAGD_YAML = """\
flags:
  show-beta:
    state: ENABLED
    variants: {"on": true, "off": false}
    defaultVariant: "off"
    targeting:
      if:
        - in: [{var: plan}, [pro, team]]
        - "on"
  compare-versions:
    state: ENABLED
    variants: {"new": true, "old": false}
    defaultVariant: "old"
    targeting:
      if: [{"==": [{var: build}, 5]}, "new"]
"""


def write(tmp_path: Path, name: str, content: Any) -> str:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def plan_errors(path: str) -> list[Any]:
    """The errors `vexil plan` would show for the file against an empty environment."""
    desired = flagsfile.load(path)
    errors, _ = check(desired, RemoteState(desired.project, desired.environment))
    return errors


def test_a_faithful_import_exits_0_and_plan_reads_the_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "flags.yaml"
    code = main(["import", "--from", "launchdarkly", write(tmp_path, "ld.json", LD),
                 "-o", str(out), "--project", "shop", "--environment", "staging"])
    assert code == 0
    loaded = flagsfile.load(str(out))
    assert (loaded.project, loaded.environment) == ("shop", "staging")
    assert sorted(loaded.flags) == ["dark-mode", "promo-text"]
    assert loaded.flags["dark-mode"]["default"]["rollout"]["bucketing"] == {"hash": "launchdarkly"}
    assert plan_errors(str(out)) == []
    err = capsys.readouterr().err
    assert "imported as 'promo-text'" in err
    assert "everything translated faithfully" in err


def test_an_unfaithful_import_exits_3_with_the_report(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, report = tmp_path / "flags.json", tmp_path / "report.json"
    code = main(["import", "--from", "flagd", write(tmp_path, "flags.yaml", FLAGD_YAML),
                 "-o", str(out), "--report", str(report)])
    assert code == importing.EXIT_UNFAITHFUL == 3
    assert plan_errors(str(out)) == []  # still written, still compiles
    saved = json.loads(report.read_text())
    assert saved["faithful"] is False
    assert [i["path"] for i in saved["report"] if not i["faithful"]] == ["flags.compare-versions"]
    assert "NOT flags.compare-versions" in capsys.readouterr().err


def test_json_summary_on_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["import", "--from", "launchdarkly", write(tmp_path, "ld.json", LD),
                 "-o", str(tmp_path / "f.yaml"), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["keys"] == {"dark-mode": "dark-mode", "Promo Text": "promo-text"}
    assert summary["flags"] == 2


def test_stdout_is_the_flags_file_without_o(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "--from", "launchdarkly", write(tmp_path, "ld.json", LD)]) == 0
    assert capsys.readouterr().out.startswith("# Vexil flags file")


@pytest.mark.parametrize(("system", "content", "message"), [
    ("launchdarkly", "{not json", "not valid JSON"),
    ("launchdarkly", [1, 2], "not launchdarkly data"),
    ("flagd", {"flags": {"f": {"state": "ENABLED"}}}, "not flagd data"),
    ("flagd", "flags: [unclosed", "neither JSON nor YAML"),
])
def test_bad_input_exits_2_with_one_clear_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], system: str, content: Any,
        message: str) -> None:
    out = tmp_path / "never.yaml"
    code = main(["import", "--from", system, write(tmp_path, "in.txt", content), "-o", str(out)])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_an_unwritable_output_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["import", "--from", "launchdarkly", write(tmp_path, "ld.json", LD),
                 "-o", str(tmp_path / "no-such-dir" / "flags.yaml")])
    assert code == 2
    assert "cannot write" in capsys.readouterr().err


def test_a_missing_file_and_an_importer_not_shipped_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["import", "--from", "flagd", str(tmp_path / "nope.json")]) == 2
    assert "cannot read" in capsys.readouterr().err

    def missing(name: str) -> None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    monkeypatch.setattr(importing.importlib, "import_module", missing)
    assert main(["import", "--from", "growthbook", write(tmp_path, "gb.json", {})]) == 2
    assert "no growthbook importer" in capsys.readouterr().err
