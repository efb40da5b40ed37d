"""An in-process ``chalice local`` server (Chalice's own LocalDevServer, authorizer enforced)
on 127.0.0.1, backed by the session's moto_server, plus an admin token for it."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import free_port


@pytest.fixture(scope="session")
def api_url(vexil_resources: dict[str, str]) -> Iterator[str]:
    """Serve the real control-plane app on 127.0.0.1 for the session; yield its URL."""
    import app as control_plane_app
    from chalice.config import Config
    from chalice.local import LocalDevServer

    config = Config.create(chalice_app=control_plane_app.app, chalice_stage="local",
                           app_name="vexil")
    port = free_port()
    server = LocalDevServer(control_plane_app.app, config, "127.0.0.1", port)
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server.server_close()
        thread.join(5)


@pytest.fixture(scope="session")
def admin_token(vexil_resources: dict[str, str]) -> str:
    """A bootstrap admin token, created the way `vexil tokens bootstrap` does."""
    from vexil.bootstrap import bootstrap_admin_token

    return bootstrap_admin_token("cli-tests")


@pytest.fixture
def project() -> str:
    """A fresh project key per test (one table for the whole session)."""
    return f"p{uuid.uuid4().hex[:10]}"


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, api_url: str, admin_token: str,
            tmp_path: Any) -> dict[str, str]:
    """Point the CLI at the in-process API through VEXIL_API / VEXIL_TOKEN."""
    monkeypatch.setenv("VEXIL_API", api_url)
    monkeypatch.setenv("VEXIL_TOKEN", admin_token)
    monkeypatch.setenv("VEXIL_STATE_DIR", str(tmp_path / "state"))
    return {"api": api_url, "token": admin_token}
