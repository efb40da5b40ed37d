"""infra/deploy.sh runs docs/deploy.md's steps in order, up to terraform.

No real terraform can plan here (no provider download), so a stand-in ``terraform`` on
PATH answers ``version -json`` with a version of the test's choosing and records any other
call: the script must never run terraform itself, only print the commands.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "infra" / "deploy.sh"
MODULE = ROOT / "infra" / "chalice_app"


def _fake_terraform(bin_dir: Path, version: str) -> Path:
    calls = bin_dir / "terraform-calls.log"
    tf = bin_dir / "terraform"
    tf.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{calls}"\n'
        'if [ "$1 $2" = "version -json" ]; then\n'
        f'  printf \'{{"terraform_version": "{version}"}}\\n\'\n'
        "  exit 0\n"
        "fi\n"
        "exit 99\n"
    )
    tf.chmod(tf.stat().st_mode | stat.S_IXUSR)
    return calls


def _tfvars(tmp: Path, region: str | None = "eu-west-1") -> Path:
    f = tmp / "test.tfvars"
    f.write_text('name_prefix = "vexiltest"\n' + (f'aws_region  = "{region}"\n' if region else ""))
    return f


def _run(tmp: Path, *args: str, version: str = "1.9.5",
         timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], Path]:
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    calls = _fake_terraform(bin_dir, version)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    proc = subprocess.run([str(SCRIPT), *args], env=env, cwd=tmp, capture_output=True,
                          text=True, timeout=timeout, check=False)
    return proc, calls


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    proc, _ = _run(tmp_path, "--apply-now")
    assert proc.returncode == 2
    assert "unknown argument '--apply-now'" in proc.stderr


@pytest.mark.parametrize(
    ("case", "message"),
    [("old-terraform", "terraform 1.4.7 is too old: >= 1.5.0 needed"),
     ("no-region", "sets no aws_region"),
     ("no-tfvars", "is missing: cp infra/terraform.tfvars.example")],
)
def test_preflight_stops_before_packaging(tmp_path: Path, case: str, message: str) -> None:
    tfvars = _tfvars(tmp_path, None if case == "no-region" else "eu-west-1")
    if case == "no-tfvars":
        tfvars.unlink()
    proc, _ = _run(tmp_path, "--var-file", tfvars.name,
                   version="1.4.7" if case == "old-terraform" else "1.9.5")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert "[2] package" not in proc.stdout


def test_steps_run_in_order_and_the_checks_keep_the_zip(tmp_path: Path) -> None:
    tfvars = _tfvars(tmp_path)
    # The full path: Chalice fetches Lambda wheels (cached after the first build) and
    # checkov runs in .venv-checkov (built on first use).
    proc, calls = _run(tmp_path, "--var-file", tfvars.name, timeout=900)
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    steps = re.findall(r"^==> \[(\d)\]", out, re.M)
    assert steps == ["1", "2", "3", "4", "5"]
    assert "region: eu-west-1" in out
    assert "terraform 1.9.5" in out
    assert "==> checkov (offline)" in out
    # The bug of issue 15: the checks' config-only build deleted step 2's zip.
    zip_path = MODULE / "deployment.zip"
    assert zip_path.is_file()
    assert zip_path.stat().st_size > 1_000_000
    assert f"deployment.zip: {zip_path.stat().st_size} bytes" in out
    assert "CONFIG-ONLY" not in (MODULE / "main.tf").read_text()
    printed = out.split("==> [4]", 1)[1]
    assert ("terraform -chdir=infra init\n"
            f"terraform -chdir=infra plan -var-file={tfvars} -out=vexil.plan\n"
            "terraform -chdir=infra apply vexil.plan\n") in printed
    # Nothing runs from inside infra/ (the old guide ran .venv/bin/vexil after `cd infra`).
    assert "cd infra" not in out
    assert '--table "$(terraform -chdir=infra output -raw table_name)"' in printed
    # terraform itself was only asked its version.
    assert calls.read_text().splitlines() == ["version -json"]


def test_saved_plans_are_git_ignored() -> None:
    ignored = subprocess.run(["git", "check-ignore", "infra/vexil.plan", "infra/x.tfplan"],
                             cwd=ROOT, capture_output=True, text=True, check=False)
    assert ignored.stdout.split() == ["infra/vexil.plan", "infra/x.tfplan"]


def test_fake_terraform_reports_json(tmp_path: Path) -> None:
    # The stand-in answers exactly what the script parses (jq .terraform_version).
    _fake_terraform(tmp_path, "1.9.5")
    out = subprocess.run([str(tmp_path / "terraform"), "version", "-json"],
                         capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == {"terraform_version": "1.9.5"}
