"""``vexil keys show|rotate``: an environment's branch key in the key store (AWS direct).

Bundles are encrypted under one branch key per (project, environment), kept in the branch-key
store table and wrapped by the bundle KMS key (see ``edge_reader/bundle/hierarchy.py``).
``rotate`` makes a new active version: bundles written before keep opening (old versions
stay, decrypt-only), and each publisher container switches to the new version within its
keyring TTL (300 s). Needs AWS credentials allowed to read and write the key store table and
``kms:GenerateDataKeyWithoutPlaintext`` / ``kms:ReEncrypt*`` on the bundle key (Terraform:
``branch_key_rotator_arns``); never ``kms:Decrypt``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from vexil.errors import VexilError
from vexil.kmsaccess import kms_access


def _store(dev: dict[str, Any], table: str | None, kms_key_id: str | None) -> Any:
    # Imported on use: the MPL and boto3 load only when this command runs.
    from edge_reader.bundle.hierarchy import BranchKeyStore  # noqa: PLC0415

    access = kms_access(dev, kms_key_id, table)
    return BranchKeyStore(table=access["key_store_table"], kms_key_arn=access["kms_key_id"],
                          dynamodb_client=access["dynamodb_client"],
                          kms_client=access["kms_client"])


def branch_key(action: str, *, project: str, environment: str, table: str | None = None,
               kms_key_id: str | None = None, dev: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    """Show or rotate one environment's branch key; return its state as a JSON-ready dict.

    Raises :class:`VexilError` when the branch key does not exist (nothing published yet)
    and :class:`UsageError` for a missing table or key. ``dev`` is the local stack's
    ``dev.json`` (its moto endpoint, table and key are used when nothing else names them).
    """
    from edge_reader.bundle import EnvelopeError  # noqa: PLC0415

    store = _store(dev or {}, table, kms_key_id)
    try:
        if action == "rotate":
            status = store.rotate(project, environment)
        else:
            status = store.status(project, environment)
    except (EnvelopeError, ValueError) as exc:
        raise VexilError(str(exc)) from None
    if status is None:
        raise VexilError(f"{project}/{environment}: no branch key yet (created on first publish)")
    return {"action": action, **asdict(status)}
