"""`chalice local` serves the app on 127.0.0.1 against moto, authorizer enforced."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.conftest import free_port
from tests.control_plane.conftest import World
from vexil.devstack import procs

CONTROL_PLANE = Path(__file__).resolve().parents[2] / "control_plane"


def _get(url: str, token: str | None = None) -> tuple[int, dict[str, object], dict[str, str]]:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}"), dict(err.headers)


def test_chalice_local_serves_health_and_enforces_auth(world: World) -> None:
    port = free_port()
    chalice = Path(sys.executable).parent / "chalice"
    proc = subprocess.Popen(
        [str(chalice), "local", "--host", "127.0.0.1", "--port", str(port), "--stage", "local",
         "--no-autoreload"],
        cwd=CONTROL_PLANE, env=dict(os.environ), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body, _ = _get(base + "/v1/health")
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "chalice local did not start"
                time.sleep(0.3)
        assert (status, body) == (200, {"ok": True})
        assert _get(base + "/v1/projects")[0] == 401
        assert _get(base + "/v1/projects", "vxl_tok_not-a-real-token")[0] == 401
        status, body, headers = _get(base + "/v1/tokens/self", world.admin_token)
        assert status == 200
        assert body["role"] == "admin"
        assert "aws;dur=" in headers.get("Server-Timing", "")
    finally:
        procs.stop(proc)
