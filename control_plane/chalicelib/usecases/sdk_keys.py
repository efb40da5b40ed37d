"""SDK keys of an environment: create (text shown once, secret stored KMS-wrapped), list,
revoke. Creating or revoking one bumps the environment's revision: the next bundle is
encrypted for exactly the live keys."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Any

import boto3

from chalicelib import keys
from chalicelib.audit import Chain, Entry
from chalicelib.canonical import iso
from chalicelib.errors import Conflict
from chalicelib.repository import Item, put, update
from chalicelib.timing import instrument
from chalicelib.usecases import base
from chalicelib.usecases.base import Call, Ctx


@functools.cache
def _kms_client(endpoint: str | None, region: str) -> Any:
    client = boto3.session.Session().client("kms", endpoint_url=endpoint, region_name=region)
    return instrument(client)


def kms_client() -> Any:
    """The process-wide KMS client (honours AWS_ENDPOINT_URL for moto)."""
    return _kms_client(
        os.environ.get("AWS_ENDPOINT_URL"),
        os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
    )


def sdk_key_view(item: Item) -> dict[str, Any]:
    """Public form of an SDK key record (never the secret)."""
    return {k: item.get(k) for k in ("key_id", "kind", "scope", "created_at", "revoked_at")}


def _resource(project: str, environment: str, key_id: str) -> str:
    return f"projects/{project}/environments/{environment}/sdk-keys/{key_id}"


def create_sdk_key(ctx: Ctx, call: Call, project: str, environment: str,
                   body: Mapping[str, Any]) -> dict[str, Any]:
    """Create an SDK key; its text is returned once, its secret stored KMS-wrapped."""
    base.environment_item(ctx, project, environment)
    scope_in = body.get("scope") or {}
    # Imported here: edge_reader.bundle loads the encryption SDK, which only this use
    # case needs — API cold starts stay light.
    from chalicelib import sdk_key_record  # noqa: PLC0415
    from edge_reader.bundle.sdk_key import generate_sdk_key, kind_of_name  # noqa: PLC0415

    sdk_key = generate_sdk_key(kind_of_name(str(body["kind"])))
    kms = ctx.kms or kms_client()
    key_id = ctx.kms_key_id or os.environ.get("VEXIL_KMS_KEY_ID")
    if not key_id:
        raise Conflict("VEXIL_KMS_KEY_ID is not configured")
    item = sdk_key_record.new_item(
        project=project, environment=environment, key=sdk_key, kms=kms, kms_key_id=key_id,
        created_at=iso(ctx.now()), tags=tuple(scope_in.get("tags", ())),
        prefixes=tuple(scope_in.get("prefixes", ())))
    view = sdk_key_view(item)
    base.commit(ctx, call, steps=[put(item, "attribute_not_exists(pk)")],
                bump=[(project, environment)],
                entries=[Entry(Chain.for_environment(project, environment), "sdk_key.create",
                               _resource(project, environment, sdk_key.key_id), None, view)])
    return {**view, "key": sdk_key.text}


def list_sdk_keys(ctx: Ctx, project: str, environment: str) -> list[dict[str, Any]]:
    """SDK key records of an environment."""
    base.environment_item(ctx, project, environment)
    items, _ = ctx.repo.query(keys.env_pk(project, environment), keys.SDKKEY_SK_PREFIX)
    return [sdk_key_view(i) for i in items]


def revoke_sdk_key(ctx: Ctx, call: Call, project: str, environment: str, key_id: str
                   ) -> dict[str, Any]:
    """Revoke an SDK key (idempotent): the next bundle is not encrypted for it."""
    pk, sk = keys.env_pk(project, environment), keys.sdk_key_sk(key_id)
    item = base.require_item(ctx, pk, sk, f"SDK key {key_id!r}")
    before = sdk_key_view(item)
    if item.get("revoked_at"):
        return before
    at = iso(ctx.now())
    after = {**before, "revoked_at": at}
    base.commit(ctx, call, steps=[update(pk, sk, "SET revoked_at = :t, version = version + :one",
                                         "attribute_not_exists(revoked_at)", t=at, one=1)],
                bump=[(project, environment)],
                entries=[Entry(Chain.for_environment(project, environment), "sdk_key.revoke",
                               _resource(project, environment, key_id), before, after)])
    return after
