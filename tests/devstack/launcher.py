"""A serialised moto launcher in its own process, for tests that restart or kill it.

Its own process because moto's backends are process-global: restoring a state file in the
test process would replace the session's shared emulator.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from tests.conftest import free_port
from vexil.devstack import procs

FAKE_AWS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing",
            "region_name": "us-east-1"}


class Launcher:
    """``python -m vexil.devstack.motoserver --state-file F`` on a free port."""

    def __init__(self, state_file: Path, *, save_interval: float = 0.2,
                 env: dict[str, str] | None = None) -> None:
        self.state_file = state_file
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = state_file.parent / f"launcher-{self.port}.log"
        state_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "vexil.devstack.motoserver", "-H", "127.0.0.1",
                 "-p", str(self.port), "--state-file", str(state_file),
                 "--save-interval", str(save_interval)],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})

    def wait_ready(self) -> Launcher:
        """Return once it answers (or raise with its log if it exited)."""
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"launcher exited: {self.output()}")
            try:
                return bool(urllib.request.urlopen(f"{self.url}/moto-api/data.json",
                                                   timeout=2).status == 200)
            except OSError:
                return False

        procs.wait_for(ready, timeout=60, what="moto launcher", interval=0.1)
        return self

    def output(self) -> str:
        """What the launcher printed so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def census(self) -> dict[str, Any]:
        """``GET /_vexil/emulator``."""
        with urllib.request.urlopen(f"{self.url}/_vexil/emulator", timeout=30) as resp:
            data: dict[str, Any] = json.loads(resp.read())
        return data

    def wait_saved(self) -> None:
        """Wait until every write made so far is in a completed save."""
        writes = self.census()["state"]["writes"]
        deadline = time.monotonic() + 30
        while True:
            state = self.census()["state"]
            if state["writes_saved"] >= writes:
                return
            assert time.monotonic() < deadline, f"the launcher never saved: {state}"
            time.sleep(0.05)

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` on this launcher."""
        session = boto3.session.Session(**FAKE_AWS)  # type: ignore[arg-type]
        return session.client(service, endpoint_url=self.url,  # type: ignore[call-overload]
                              config=Config(retries={"max_attempts": 1}))

    def stop(self) -> int | None:
        """SIGTERM, wait, KILL if it must (the launcher saves on SIGTERM); its exit code."""
        procs.stop(self.proc, timeout=30)
        return self.proc.returncode

    def kill9(self) -> None:
        """SIGKILL: no chance to save or clean up."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
