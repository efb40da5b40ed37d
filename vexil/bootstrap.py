"""The bootstrap admin token: a direct DynamoDB write through the control plane's own code.

There is no HTTP route that creates the first token (nothing could authorize it);
whoever can write the table — the local stack, or an operator with AWS credentials —
calls :func:`chalicelib.tokens.bootstrap_admin_token`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

CONTROL_PLANE_DIR = Path(__file__).resolve().parent.parent / "control_plane"


def _import_tokens() -> Any:
    # chalicelib is imported top-level, exactly as Lambda sees it.
    if str(CONTROL_PLANE_DIR) not in sys.path:
        sys.path.insert(0, str(CONTROL_PLANE_DIR))
    from chalicelib import tokens  # noqa: PLC0415 - importable only once on sys.path

    return tokens


def bootstrap_admin_token(
    name: str = "admin", *, table: str | None = None, ttl_days: int | None = None
) -> str:
    """Create an admin token in the table (``table`` or ``$VEXIL_TABLE``); return its text.

    Endpoint and credentials come from the environment (``AWS_ENDPOINT_URL`` locally).
    """
    tokens = _import_tokens()
    kwargs: dict[str, Any] = {"table": table}
    if ttl_days is not None:
        kwargs["ttl_days"] = ttl_days
    text, _view = tokens.bootstrap_admin_token(name, **kwargs)
    return str(text)


def bootstrap_admin_token_with_view(
    name: str, *, table: str | None = None, ttl_days: int | None = None
) -> tuple[str, dict[str, Any]]:
    """Like :func:`bootstrap_admin_token`, also returning the token's public record."""
    tokens = _import_tokens()
    kwargs: dict[str, Any] = {"table": table}
    if ttl_days is not None:
        kwargs["ttl_days"] = ttl_days
    text, view = tokens.bootstrap_admin_token(name, **kwargs)
    return str(text), dict(view)
