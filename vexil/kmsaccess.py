"""Where the CLI finds KMS and the branch-key store: flags, VEXIL_* variables, or the local stack.

Used by ``vexil eval --kms`` and ``vexil keys``. Outside the local stack the clients use the
ordinary AWS credential chain; with a running local stack (``dev.json``) and no explicit
key or table, they talk to its moto endpoint with its fake credentials.
"""

from __future__ import annotations

import os
from typing import Any

from vexil.errors import UsageError


def kms_access(dev: dict[str, Any], kms_key_id: str | None,
               key_store_table: str | None) -> dict[str, Any]:
    """``{kms_key_id (ARN), key_store_table, kms_client, dynamodb_client}`` for KMS access.

    Raises :class:`UsageError` when neither flags, variables nor the local stack name both
    the key and the table.
    """
    import boto3  # noqa: PLC0415 - only the KMS commands need AWS clients

    from edge_reader.bundle.hierarchy import resolve_key_arn  # noqa: PLC0415
    from vexil.devstack.aws import local_aws_env  # noqa: PLC0415

    key = kms_key_id or os.environ.get("VEXIL_KMS_KEY_ID")
    table = key_store_table or os.environ.get("VEXIL_KEY_STORE_TABLE")
    settings: dict[str, str] = {}
    if not (key and table) and dev.get("aws_endpoint"):
        key = key or dev.get("kms_key_id")
        table = table or dev.get("key_store_table")
        settings = local_aws_env(str(dev["aws_endpoint"]))
    if not key or not table:
        raise UsageError("give --kms-key-id and --key-store-table (or VEXIL_KMS_KEY_ID and "
                         "VEXIL_KEY_STORE_TABLE, or run the local stack)")
    session = boto3.session.Session(
        aws_access_key_id=settings.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=settings.get("AWS_SECRET_ACCESS_KEY"),
        aws_session_token=settings.get("AWS_SESSION_TOKEN"),
        region_name=settings.get("AWS_DEFAULT_REGION"),
    )
    endpoint = settings.get("AWS_ENDPOINT_URL")
    kms = session.client("kms", endpoint_url=endpoint)
    return {"kms_key_id": resolve_key_arn(kms, str(key)), "key_store_table": str(table),
            "kms_client": kms,
            "dynamodb_client": session.client("dynamodb", endpoint_url=endpoint)}
