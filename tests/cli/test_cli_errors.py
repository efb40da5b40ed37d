"""Every CLI failure is one line on stderr and a non-zero exit code, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port
from vexil.cli import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for var in ("VEXIL_API", "VEXIL_TOKEN", "VEXIL_CA_BUNDLE", "VEXIL_SDK_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("VEXIL_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


def test_usage_error_is_one_line_exit_2(capsys: pytest.CaptureFixture[str], no_env: Path) -> None:
    code, _, err = _run(capsys, "plan")
    assert code == 2
    assert "the following arguments are required: -f/--file" in _one_line(err)
    code, _, err = _run(capsys, "frobnicate")
    assert code == 2
    assert "invalid choice: 'frobnicate'" in _one_line(err)


def test_no_api_configured(capsys: pytest.CaptureFixture[str], no_env: Path) -> None:
    f = no_env / "f.yaml"
    f.write_text("project: shop\nenvironment: s\nflags: {}\n", encoding="utf-8")
    code, _, err = _run(capsys, "plan", "-f", str(f))
    assert code == 2
    line = _one_line(err)
    assert line.startswith(
        "vexil: error: no API URL: pass --api, set VEXIL_API, or start the local stack "
        "(vexil dev up; no dev.json found in "
    )
    assert str(no_env / "state") in line


def test_unreachable_api(capsys: pytest.CaptureFixture[str], no_env: Path) -> None:
    f = no_env / "f.yaml"
    f.write_text("project: shop\nenvironment: s\nflags: {}\n", encoding="utf-8")
    api = f"http://127.0.0.1:{free_port()}"
    code, _, err = _run(capsys, "plan", "-f", str(f), "--api", api, "--token", "t")
    assert code == 1
    assert _one_line(err).startswith(f"vexil: error: cannot reach the API at {api}")


def test_bad_flags_file_fails_before_any_network(
    capsys: pytest.CaptureFixture[str], no_env: Path
) -> None:
    f = no_env / "f.yaml"
    f.write_text(
        "project: shop\nenvironment: s\nflags:\n  x:\n    kind: boolean\n"
        "    variations: {on: true, off: false}\n    enabled: true\n"
        "    default: {variation: maybe}\n",
        encoding="utf-8",
    )
    # No API configured at all: the file's compile errors come first, every one of them.
    code, out, err = _run(capsys, "apply", "-f", str(f))
    assert code == 1
    assert _one_line(err) == (f"vexil: error: {f}: 1 error in the file (listed above); "
                              "nothing was sent")
    assert (f"{f}:8: error: flags.x.default.variation: unknown variation 'maybe'"
            in out.splitlines())


def test_dev_down_without_a_stack(capsys: pytest.CaptureFixture[str], no_env: Path) -> None:
    code, out, _ = _run(capsys, "dev", "down")
    assert code == 0
    assert "no local stack recorded" in out
    code, _, _ = _run(capsys, "dev", "status")
    assert code == 1


def test_eval_without_source(capsys: pytest.CaptureFixture[str], no_env: Path) -> None:
    code, _, err = _run(capsys, "eval", "x", "--context", "[1]")
    assert code == 2
    assert "--context: must be a JSON object" in _one_line(err)
    code, _, err = _run(capsys, "eval", "x")
    assert code == 2
    assert "no --source" in _one_line(err)


def test_eval_from_a_plain_document(
    capsys: pytest.CaptureFixture[str], no_env: Path
) -> None:
    doc = no_env / "env.json"
    doc.write_text(
        '{"flags": {"x": {"kind": "string", "variations": {"a": "A", "b": "B"}, '
        '"enabled": true, "rules": [{"id": "de", "clauses": [{"attribute": "country", '
        '"op": "in", "values": ["DE"]}], "serve": {"variation": "b"}}], '
        '"default": {"variation": "a"}}}, "segments": {}}',
        encoding="utf-8",
    )
    code, out, _ = _run(capsys, "eval", "x", "--source", str(doc),
                        "--context", '{"targetingKey": "u", "country": "DE"}')
    assert code == 0
    assert '"value": "B"' in out
    assert '"reason": "TARGETING_MATCH"' in out


def test_console_script_prints_one_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "vexil.cli", "export", "--project", "p"],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
