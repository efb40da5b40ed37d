"""Build the OFREP edge Lambda's zip, ``infra/edge/edge.zip`` (what ``infra/edge.tf`` deploys).

Usage (from the repository root; ``python -m infra.package`` calls it too)::

    .venv/bin/python -m infra.edge_package

The zip holds ``edge_reader/`` (the reader SDK: engine, bundle, client, edge) and its
dependencies as Linux wheels for the Lambda runtime — ``pip install --target`` with
``--platform manylinux2014_x86_64 --python-version 3.11 --only-binary=:all:``, since the
python3.11 runtime runs glibc 2.26. The pins shared with the control plane come from
``control_plane/requirements.txt`` (one owner); boto3 (the S3 transport) is the runtime's.
Entries are sorted and time-stamped 1980-01-01 so the same input gives the same zip (and
the same ``source_code_hash``: no redeploy without a change).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EDGE_ZIP = ROOT / "infra" / "edge" / "edge.zip"
PYTHON_VERSION = "3.11"  # infra/edge.tf runtime = "python3.11" (a test keeps them equal)
PLATFORM = "manylinux2014_x86_64"
HANDLER = "edge_reader.edge.lambda_handler.handler"
# What edge_reader imports at run time (pyproject `dependencies`); versions pinned in
# control_plane/requirements.txt are taken from there.
_DEPENDENCIES = ("orjson", "msgspec", "mmh3", "google-re2", "jsonschema", "cryptography")


class EdgePackageError(RuntimeError):
    """The zip could not be built; the message says which step failed."""


def requirements(requirements_txt: Path = ROOT / "control_plane" / "requirements.txt") -> list[str]:
    """Requirement specifiers for the edge: the control plane's pin when it has one."""
    pins: dict[str, str] = {}
    for line in requirements_txt.read_text(encoding="utf-8").splitlines():
        spec = line.split("#", 1)[0].strip()
        if "==" in spec:
            name = spec.split("==", 1)[0].split("[", 1)[0].strip().lower()
            pins[name] = spec.split("[", 1)[0] if "[" in spec else spec
    return [pins.get(name, name) for name in _DEPENDENCIES]


def build_edge_zip(target: Path = EDGE_ZIP) -> Path:
    """Install the dependencies for the Lambda platform, add ``edge_reader``, write ``target``."""
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp) / "stage"
        cmd = [
            sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
            "--target", str(stage), "--platform", PLATFORM, "--implementation", "cp",
            "--python-version", PYTHON_VERSION, "--only-binary=:all:", *requirements(),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            raise EdgePackageError(f"pip install for the Lambda platform failed:\n{done.stderr}")
        shutil.copytree(
            ROOT / "edge_reader",
            stage / "edge_reader",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".zip.tmp")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(p for p in stage.rglob("*") if p.is_file()):
                if "__pycache__" in path.parts:
                    continue
                name = str(path.relative_to(stage))
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes())
        partial.replace(target)  # never a half-written zip under the deployed name
    return target


def main() -> int:
    """CLI entry point: build the zip, print its path and size (exit 1 on failure)."""
    try:
        path = build_edge_zip()
    except EdgePackageError as exc:
        print(f"infra.edge_package: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
