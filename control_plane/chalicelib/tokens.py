"""API tokens: generation, SHA-256 storage, authentication, bootstrap.

A token's text is ``vxl_tok_<base64url of 32 random bytes>`` (256 bits). Only its SHA-256 is
stored (item ``T#<sha256>``/``TOKEN``), so a table dump yields no usable credential. The text
is returned once, at creation.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from chalicelib import keys
from chalicelib.audit import Chain, Entry
from chalicelib.canonical import iso, parse_iso
from chalicelib.errors import BadRequest, Detail, NotFound, Unauthorized
from chalicelib.rbac import ROLES, Principal
from chalicelib.repository import DynamoRepository, Repository, put, update
from chalicelib.usecases.base import Call, Ctx
from chalicelib.writes import commit

TOKEN_PREFIX = "vxl_tok_"  # noqa: S105 - a prefix, not a secret
DEFAULT_TTL_DAYS = 90
BOOTSTRAP_ACTOR = {"token_id": "bootstrap", "name": "bootstrap"}


def hash_token(text: str) -> str:
    """Hex SHA-256 of the full token text (what the table stores)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def new_token_text() -> str:
    """A fresh token: prefix + 32 random bytes, base64url without padding."""
    raw = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")
    return TOKEN_PREFIX + raw


def public_view(item: dict[str, Any]) -> dict[str, Any]:
    """The token record as the API shows it (never the hash or the secret)."""
    return {
        "token_id": item["token_id"],
        "name": item["name"],
        "role": item["role"],
        "projects": list(item.get("projects", [])),
        "environments": list(item.get("environments", [])),
        "created_at": item.get("created_at"),
        "created_by": item.get("created_by"),
        "expires_at": item["expires_at"],
        "revoked": bool(item.get("revoked", False)),
    }


def create_token(
    repo: Repository,
    *,
    name: str,
    role: str,
    projects: Sequence[str],
    environments: Sequence[str],
    ttl_days: int,
    actor: dict[str, str],
    reason: str | None,
    now: Callable[[], float],
    action: str = "token.create",
) -> tuple[str, dict[str, Any]]:
    """Create a token, audited in the global chain; return (text shown once, public view)."""
    if role not in ROLES:
        raise BadRequest("invalid token", [Detail("role", f"must be one of {', '.join(ROLES)}")])
    text = new_token_text()
    created = now()
    item: dict[str, Any] = {
        "pk": keys.token_pk(hash_token(text)),
        "sk": keys.TOKEN_SK,
        "token_id": "tok_" + secrets.token_hex(8),
        "name": name,
        "role": role,
        "projects": list(projects),
        "environments": list(environments),
        "created_at": iso(created),
        "created_by": actor.get("token_id", ""),
        "expires_at": iso(created + ttl_days * 86400),
        "revoked": False,
        "gsi1pk": keys.TOKENS_GSI_PK,
    }
    item["gsi1sk"] = item["token_id"]
    view = public_view(item)
    commit(
        repo,
        steps=[put(item, "attribute_not_exists(pk)")],
        entries=[Entry(Chain.global_chain(), action, f"tokens/{item['token_id']}", None, view)],
        actor=actor,
        reason=reason,
        now=now,
    )
    return text, view


def find_by_id(repo: Repository, token_id: str) -> dict[str, Any]:
    """The stored token item with this public id, or NotFound."""
    found = repo.query_index(keys.TOKENS_GSI_PK, token_id)
    if not found:
        raise NotFound(f"token {token_id!r} does not exist")
    item = repo.get(str(found[0]["pk"]), keys.TOKEN_SK)
    if item is None:
        raise NotFound(f"token {token_id!r} does not exist")
    return item


def list_tokens(repo: Repository) -> list[dict[str, Any]]:
    """Every token's public view, ordered by id."""
    items = repo.query_index(keys.TOKENS_GSI_PK)
    return sorted((public_view(i) for i in items), key=lambda v: str(v["token_id"]))


def revoke_token(
    repo: Repository,
    token_id: str,
    *,
    actor: dict[str, str],
    reason: str | None,
    now: Callable[[], float],
) -> dict[str, Any]:
    """Mark a token revoked (idempotent); audited in the global chain."""
    item = find_by_id(repo, token_id)
    before = public_view(item)
    if before["revoked"]:
        return before
    after = {**before, "revoked": True}
    commit(
        repo,
        steps=[update(str(item["pk"]), keys.TOKEN_SK, "SET revoked = :t", "attribute_exists(pk)",
                      t=True)],
        entries=[Entry(Chain.global_chain(), "token.revoke", f"tokens/{token_id}", before, after)],
        actor=actor,
        reason=reason,
        now=now,
    )
    return after


# --- the API's use cases (the shape of chalicelib.usecases: context first, then the call) --


def create(ctx: Ctx, call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    """POST /v1/tokens: a new token's public view plus its text (``token``), shown once."""
    text, view = create_token(
        ctx.repo, name=str(body["name"]), role=str(body["role"]),
        projects=body.get("projects", []), environments=body.get("environments", []),
        ttl_days=int(body.get("ttl_days", DEFAULT_TTL_DAYS)),
        actor=call.principal.actor, reason=call.reason, now=ctx.now)
    return {**view, "token": text}


def list_all(ctx: Ctx) -> list[dict[str, Any]]:
    """GET /v1/tokens: every token's public view, ordered by id."""
    return list_tokens(ctx.repo)


def get_self(ctx: Ctx, call: Call) -> dict[str, Any]:
    """GET /v1/tokens/self: the calling token's public view."""
    return public_view(find_by_id(ctx.repo, call.principal.token_id))


def revoke(ctx: Ctx, call: Call, token_id: str) -> dict[str, Any]:
    """DELETE /v1/tokens/{id}: revoke (idempotent), audited as ``call``'s principal."""
    return revoke_token(ctx.repo, token_id, actor=call.principal.actor, reason=call.reason,
                        now=ctx.now)


def authenticate_header(ctx: Ctx, header: str | None) -> Principal:
    """The authorizer's use case: :func:`authenticate` against ``ctx``'s table and clock."""
    return authenticate(ctx.repo, header, ctx.now)


def _usable(item: dict[str, Any], now: Callable[[], float]) -> bool:
    """The one rule for a live token: not revoked and not yet expired."""
    return not item.get("revoked") and parse_iso(str(item["expires_at"])) > now()


def is_active(repo: Repository, token_id: str, now: Callable[[], float]) -> bool:
    """Whether the token with this public id exists and could authenticate right now.

    Change requests use it at apply time: an approval counts only while its token is live.
    """
    try:
        return _usable(find_by_id(repo, token_id), now)
    except NotFound:
        return False


def authenticate(repo: Repository, header: str | None, now: Callable[[], float]) -> Principal:
    """The principal for an ``Authorization`` header value, or :class:`Unauthorized`.

    Accepts ``Bearer <token>`` or the bare token. Unknown, revoked and expired tokens are all
    401 with the same message, so the answer does not reveal which tokens exist.
    """
    text = (header or "").strip()
    if text.lower().startswith("bearer "):
        text = text[7:].strip()
    if not text.startswith(TOKEN_PREFIX) or len(text) > 200:
        raise Unauthorized("missing or malformed token")
    item = repo.get(keys.token_pk(hash_token(text)), keys.TOKEN_SK)
    if item is None or not _usable(item, now):
        raise Unauthorized("invalid, revoked or expired token")
    return Principal(
        token_id=str(item["token_id"]),
        name=str(item["name"]),
        role=str(item["role"]),
        projects=tuple(item.get("projects", [])),
        environments=tuple(item.get("environments", [])),
    )


def bootstrap_admin_token(
    name: str = "admin",
    *,
    table: str | None = None,
    repo: Repository | None = None,
    ttl_days: int = DEFAULT_TTL_DAYS,
    now: Callable[[], float] = time.time,
) -> tuple[str, dict[str, Any]]:
    """Create an admin token by writing DynamoDB directly (no HTTP, no open endpoint).

    Uses ``repo`` or the table named ``table`` / ``$VEXIL_TABLE``. Audited in the global chain
    with actor ``bootstrap``. Returns (token text — shown once —, public view).
    """
    if repo is None:
        table_name = table or os.environ.get("VEXIL_TABLE")
        if not table_name:
            raise ValueError("no table: pass table= or set VEXIL_TABLE")
        repo = DynamoRepository(table_name)
    return create_token(
        repo,
        name=name,
        role="admin",
        projects=["*"],
        environments=["*"],
        ttl_days=ttl_days,
        actor=BOOTSTRAP_ACTOR,
        reason="bootstrap",
        now=now,
        action="token.bootstrap",
    )
