"""schemathesis against the OpenAPI document served by `chalice local` (a subprocess on
127.0.0.1, against the session moto_server): no generated request gets a 5xx.

Bounded: a few examples per operation, one worker, so the run stays well under two minutes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port
from vexil.devstack import procs

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES_PER_OPERATION = 6


@pytest.mark.timeout(300)
def test_schemathesis_finds_no_server_error(vexil_resources: dict[str, str],
                                            tmp_path: Path) -> None:
    from chalicelib.tokens import bootstrap_admin_token

    token, _ = bootstrap_admin_token("schemathesis", table=vexil_resources["VEXIL_TABLE"])
    port = free_port()
    chalice = Path(sys.executable).parent / "chalice"
    server = subprocess.Popen(
        [str(chalice), "local", "--host", "127.0.0.1", "--port", str(port), "--stage", "local",
         "--no-autoreload"],
        cwd=ROOT / "control_plane", env=dict(os.environ), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/v1/openapi.json", timeout=5) as resp:
                    document = json.loads(resp.read())
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, "chalice local exited"
                assert time.monotonic() < deadline, "chalice local did not start"
                time.sleep(0.3)
        operations = sum(len(v) for v in document["paths"].values())
        assert operations >= 20
        report = tmp_path / "junit.xml"
        run = subprocess.run(
            [str(Path(sys.executable).parent / "schemathesis"), "run",
             base + "/v1/openapi.json", "--url", base,
             "--checks", "not_a_server_error",
             "--phases", "examples,fuzzing", "--max-examples", str(EXAMPLES_PER_OPERATION),
             "--workers", "1", "--request-timeout", "20", "--generation-deterministic",
             "--header", f"Authorization: Bearer {token}",
             "--report", "junit", "--report-junit-path", str(report)],
            capture_output=True, text=True, timeout=240, check=False, cwd=tmp_path)
        output = run.stdout + run.stderr
        assert run.returncode == 0, output[-6000:]
        counts = re.search(r"(\d+) generated, (\d+) passed", output)
        assert counts, output[-2000:]
        generated, passed = int(counts.group(1)), int(counts.group(2))
        assert generated == passed >= 2 * operations, output[-2000:]
        assert report.exists()
    finally:
        procs.stop(server)
