"""The console's ES modules type-check: `tsc --noEmit` over their JSDoc annotations (strict).

TypeScript is pinned in scripts/tsc/package-lock.json and installed by `./run setup`
(`npm ci`); nothing is built — the browser runs the files as they are.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TSC = ROOT / "scripts" / "tsc" / "node_modules" / ".bin" / "tsc"


def test_console_modules_type_check() -> None:
    assert TSC.exists(), "tsc is missing: ./run setup installs it (npm ci in scripts/tsc)"
    proc = subprocess.run([str(TSC), "-p", str(ROOT / "scripts" / "tsc" / "jsconfig.json")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
