"""Reading and verifying an audit chain: the global chain or one environment's.

The route checks only the role (``Perm.AUDIT``); which chain is asked for comes from the
query or body, so the scope check is here, before anything is read.
"""

from __future__ import annotations

from typing import Any

from chalicelib import anchor_check, audit, keys
from chalicelib.errors import BadRequest, Detail
from chalicelib.rbac import Perm
from chalicelib.requests import encode_cursor, key_param
from chalicelib.usecases import base
from chalicelib.usecases.base import Call, Ctx


def chain_for(ctx: Ctx, call: Call, project: Any, environment: Any) -> audit.Chain:
    """The chain named by ``project``/``environment`` (both None: the global chain), once the
    caller may audit it; 400 if only one is given, 404 if the environment does not exist."""
    if project is None and environment is None:
        call.principal.require(Perm.AUDIT, None)
        return audit.Chain.global_chain()
    if project is None or environment is None:
        raise BadRequest("invalid chain", [Detail("environment" if project else "project",
                                                  "give both project and environment, or neither")])
    p, e = key_param("project", str(project)), key_param("environment", str(environment))
    call.principal.require(Perm.AUDIT, p, e)
    base.environment_item(ctx, p, e)
    return audit.Chain.for_environment(p, e)


def records(ctx: Ctx, chain: audit.Chain, limit: int, cursor: str | None) -> dict[str, Any]:
    """A page of the chain's records, oldest first, decoded."""
    items, last = ctx.repo.query(chain.records_pk, keys.AUDIT_SK_PREFIX, limit=limit,
                                 start_sk=cursor)
    return {"items": [audit.decode_record(i) for i in items], "next_cursor": encode_cursor(last)}


def verify(ctx: Ctx, chain: audit.Chain) -> dict[str, Any]:
    """Recompute the chain and check it against its signed anchors (``anchor_check``)."""
    return anchor_check.verify_with_anchors(ctx.repo, chain, anchor_check.verifier_from_env())
