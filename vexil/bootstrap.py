"""The bootstrap admin token: a direct DynamoDB write through the control plane's own code.

There is no HTTP route that creates the first token (nothing could authorize it);
whoever can write the table — the local stack, or an operator with AWS credentials —
calls :func:`chalicelib.tokens.bootstrap_admin_token`. ``chalicelib`` is the installed
``vexil-control-plane`` distribution (control_plane/pyproject.toml), the same top-level
package Lambda imports; without it the command says what to install.
"""

from __future__ import annotations

from typing import Any

from vexil.extras import requires


def _import_tokens() -> Any:
    with requires("vexil tokens bootstrap"):
        from chalicelib import tokens  # noqa: PLC0415 - the server package, only when used

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
