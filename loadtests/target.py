"""Where the load tests aim: one small JSON file shared by the locustfiles and wrk scripts.

The locustfiles run as separate processes (``locust -f ...``, possibly ``--processes N``),
so they learn about the stack from a file, not from Python objects:

* ``$VEXIL_LOADTEST_TARGET`` — a target file written by ``python -m loadtests.report``
  (keys below), or
* ``$VEXIL_STATE_DIR/dev.json`` / ``./.vexil/dev.json`` — the file ``vexil dev up --demo``
  writes; the demo's ``shop``/``staging`` environment and its SDK keys are used.

Target keys: ``cdn``, ``ca_bundle``, ``edge``, ``api``, ``admin_token``, ``project``,
``environment``, ``client_sdk_key``, ``flags`` (client-visible flag keys for OFREP).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TARGET_ENV = "VEXIL_LOADTEST_TARGET"


@dataclass(frozen=True)
class Target:
    """Everything a load generator needs to know about the stack under test."""

    cdn: str = "https://127.0.0.1:8443"
    ca_bundle: str | None = None
    edge: str = "http://127.0.0.1:8070"
    api: str = "http://127.0.0.1:8000"
    admin_token: str = ""
    project: str = "shop"
    environment: str = "staging"
    client_sdk_key: str = ""
    flags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def pointer_path(self) -> str:
        """The server-scope pointer's path on the CDN (see docs/architecture.md)."""
        return f"/bundles/{self.project}/{self.environment}/current.json"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping that :func:`from_mapping` reads back unchanged."""
        return {
            "cdn": self.cdn, "ca_bundle": self.ca_bundle, "edge": self.edge, "api": self.api,
            "admin_token": self.admin_token, "project": self.project,
            "environment": self.environment, "client_sdk_key": self.client_sdk_key,
            "flags": list(self.flags),
        }


def from_mapping(data: dict[str, Any]) -> Target:
    """Build a Target from a target file or a ``dev.json`` (demo keys) mapping."""
    if "client_sdk_key" not in data and isinstance(data.get("sdk_keys"), dict):
        # dev.json of `vexil dev up --demo`: {"sdk_keys": {"staging": {"client": ...}}}
        env = str(data.get("environment") or "staging")
        keys = data["sdk_keys"].get(env) or {}
        data = {**data, "client_sdk_key": keys.get("client", ""), "environment": env}
    defaults = Target()
    return Target(
        cdn=str(data.get("cdn") or defaults.cdn).rstrip("/"),
        ca_bundle=data.get("ca_bundle") or None,
        edge=str(data.get("edge") or defaults.edge).rstrip("/"),
        api=str(data.get("api") or defaults.api).rstrip("/"),
        admin_token=str(data.get("admin_token") or ""),
        project=str(data.get("project") or defaults.project),
        environment=str(data.get("environment") or defaults.environment),
        client_sdk_key=str(data.get("client_sdk_key") or ""),
        flags=tuple(str(f) for f in data.get("flags") or ()),
    )


def target_path() -> Path:
    """The file :func:`load_target` reads (it may not exist)."""
    explicit = os.environ.get(TARGET_ENV)
    if explicit:
        return Path(explicit)
    state = Path(os.environ.get("VEXIL_STATE_DIR") or ".vexil")
    return state / "dev.json"


def load_target() -> Target:
    """The current target; defaults (the fixed dev-stack ports) when no file exists."""
    path = target_path()
    if not path.is_file():
        return Target()
    return from_mapping(json.loads(path.read_text(encoding="utf-8")))


def write_target(path: Path, target: Target) -> None:
    """Write a target file (mode 0600: it holds the admin token and an SDK key)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(target.to_json(), fh, indent=2)
