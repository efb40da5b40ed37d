"""Fixtures for the console's browser tests: the local stack (`vexil dev up --demo`, random
ports, its own state dir) and headless Chromium — Debian's `chromium`, driven by Playwright
(its own browser download cannot work offline) — with a page that records every console
error, uncaught exception, failed request and HTTP error, so a test can fail on any of them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

_CLIENT_VARS = {"VEXIL_API", "VEXIL_TOKEN", "VEXIL_CA_BUNDLE", "VEXIL_SDK_KEY", "VEXIL_TABLE",
                "VEXIL_BUCKET", "VEXIL_KMS_KEY_ID", "VEXIL_KEY_STORE_TABLE",
                "VEXIL_SIGNING_KEY_ID", "VEXIL_SIGNING_KEY", "VEXIL_CONSOLE_ORIGIN"}


def _vexil(state: Path, *argv: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and k not in _CLIENT_VARS}
    env["VEXIL_STATE_DIR"] = str(state)
    return subprocess.run([sys.executable, "-m", "vexil.cli", *argv], capture_output=True,
                          text=True, env=env, timeout=timeout, check=False)


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The demo stack, stopped again afterwards."""
    state = tmp_path_factory.mktemp("console-state")
    up = _vexil(state, "dev", "up", "--demo", "--random-ports")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield json.loads((state / "dev.json").read_text())
    finally:
        down = _vexil(state, "dev", "down", timeout=60)
        assert down.returncode == 0, down.stdout + down.stderr


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Headless Chromium from Debian (./run installs the `chromium` package when missing)."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    assert executable, "Debian's chromium is missing: ./run setup installs it (apt-get)"
    with sync_playwright() as pw:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        launched = pw.chromium.launch(executable_path=executable, headless=True,
                                      args=["--no-sandbox"])
        yield launched
        launched.close()


@dataclass
class Watched:
    """A page plus everything that went wrong on it."""

    page: Any
    problems: list[str] = field(default_factory=list)
    # HTTP statuses a test provokes on purpose (e.g. 403 for a forbidden approval).
    expected_statuses: set[int] = field(default_factory=set)

    def assert_clean(self) -> None:
        """Fail on any console error, page error, failed request or unexpected HTTP error."""
        assert self.problems == [], "\n".join(self.problems)


@pytest.fixture
def watched(browser: Any) -> Iterator[Watched]:
    """A fresh browser context (its own sessionStorage) and page; fails the test on errors."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    w = Watched(page)

    def on_console(msg: Any) -> None:
        # Chromium logs every 4xx/5xx as "Failed to load resource"; those are judged by status.
        if msg.type == "error" and "Failed to load resource" not in msg.text:
            w.problems.append(f"console error: {msg.text}")

    def on_response(resp: Any) -> None:
        if resp.status >= 400 and resp.status not in w.expected_statuses:
            w.problems.append(f"HTTP {resp.status} {resp.request.method} {resp.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: w.problems.append(f"page error: {exc}"))
    page.on("requestfailed", lambda req: w.problems.append(
        f"request failed: {req.method} {req.url} {req.failure}"))
    page.on("response", on_response)
    yield w
    context.close()
    w.assert_clean()


def screenshot(page: Any, name: str) -> None:
    """Save a screenshot to ``$VEXIL_CONSOLE_SCREENSHOTS`` when set (docs/console.md says how
    the docs' images are regenerated); otherwise do nothing."""
    target = os.environ.get("VEXIL_CONSOLE_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / f"console-{name}.png"), full_page=False)
