"""``vexil audit anchor`` without a target: one line, exit 2, nothing anchored anywhere.

(The command against the running stack is exercised in tests/e2e/test_audit_anchors.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vexil.cli import main


@pytest.fixture
def no_target(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for var in ("VEXIL_TABLE", "VEXIL_SIGNING_KEY_ID", "VEXIL_BUCKET", "VEXIL_ANCHOR_BUCKET"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("VEXIL_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


def test_no_stack_and_no_table_is_a_usage_error(capsys: pytest.CaptureFixture[str],
                                                no_target: Path) -> None:
    code = main(["audit", "anchor"])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.strip().splitlines() == [
        "vexil: error: no table: set VEXIL_TABLE (and VEXIL_SIGNING_KEY_ID, VEXIL_BUCKET or "
        "VEXIL_ANCHOR_BUCKET), or start the local stack"]


def test_a_table_without_the_signing_key_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], no_target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VEXIL_TABLE", "vexil-main")
    code = main(["audit", "anchor"])
    _, err = capsys.readouterr()
    assert code == 2
    assert "VEXIL_SIGNING_KEY_ID" in err
