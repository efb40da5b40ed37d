"""Where the CLI finds the API, the token and the CA: flags, then env, then ``dev.json``.

Precedence (first wins): ``--api`` / ``--token`` / ``--ca-bundle`` on the command line;
``VEXIL_API`` / ``VEXIL_TOKEN`` / ``VEXIL_CA_BUNDLE`` in the environment; the running
local stack's ``<state>/dev.json`` (``api``, ``admin_token``, ``ca_bundle``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vexil.errors import UsageError


@dataclass(frozen=True)
class Settings:
    """Resolved connection settings for one CLI invocation."""

    api: str
    token: str | None
    ca_bundle: str | None
    dev: dict[str, Any]


def default_state_dir() -> Path:
    """``$VEXIL_STATE_DIR`` or ``./.vexil``: where the local stack keeps its ``dev.json``."""
    return Path(os.environ.get("VEXIL_STATE_DIR") or ".vexil").resolve()


def load_dev_json(state_dir: Path) -> dict[str, Any]:
    """``state_dir/dev.json`` as a dict, or ``{}`` when there is none."""
    path = state_dir / "dev.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: unreadable ({exc})") from None
    return data if isinstance(data, dict) else {}


def resolve(
    *,
    api: str | None,
    token: str | None,
    ca_bundle: str | None,
    state_dir: Path,
    need_token: bool = True,
) -> Settings:
    """Combine flags, environment and ``dev.json``; raise UsageError if the API is unknown."""
    dev = load_dev_json(state_dir)
    final_api = api or os.environ.get("VEXIL_API") or dev.get("api")
    if not final_api:
        raise UsageError(
            "no API URL: pass --api, set VEXIL_API, or start the local stack (vexil dev up)"
        )
    final_token = token or os.environ.get("VEXIL_TOKEN") or dev.get("admin_token")
    if need_token and not final_token:
        raise UsageError("no API token: pass --token or set VEXIL_TOKEN")
    final_ca = ca_bundle or os.environ.get("VEXIL_CA_BUNDLE") or dev.get("ca_bundle")
    return Settings(
        api=str(final_api).rstrip("/"),
        token=str(final_token) if final_token else None,
        ca_bundle=str(final_ca) if final_ca else None,
        dev=dev,
    )
