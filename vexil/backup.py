"""Export all control-plane state to a file, and restore it into a fresh table.

All of Vexil's control-plane state lives in one DynamoDB table (docs/data-model.md): projects,
environments (revision, audit head), flag definitions and configurations, segments, history,
the audit chains, change requests, SDK-key records (secrets KMS-wrapped) and API tokens
(SHA-256 only). A backup is that table, item for item, in DynamoDB's own typed JSON so every
number, binary and set round-trips exactly::

    {"format": "vexil-backup/1", "table": "<source>", "count": N,
     "items": [{"pk": {"S": "..."}, "sk": {"S": "..."}, ...}, ...]}   # sorted by (pk, sk)

Binary values (``B``, ``BS``) are base64. The file holds no usable secret: SDK-key secrets
stay wrapped by KMS (restoring into another account needs the same key) and tokens are
hashes. Restore refuses a table that already holds items, so it can never merge two states.

Usage: ``vexil backup export FILE [--table T]`` and ``vexil backup restore FILE [--table T]``
(``--table`` defaults to $VEXIL_TABLE), parsed by :mod:`vexil.cli` like every command.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vexil.errors import BackupError

FORMAT = "vexil-backup/1"
_BATCH = 25  # BatchWriteItem's limit
_MAX_UNPROCESSED_ROUNDS = 20


def _dynamodb() -> Any:
    import boto3  # noqa: PLC0415 - only the CLI paths need AWS

    return boto3.session.Session().client("dynamodb")


def _encode_value(value: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB AttributeValue → JSON-safe form (binary as base64, recursively)."""
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64encode(bytes(inner)).decode("ascii")}
    if kind == "BS":
        return {"BS": [base64.b64encode(bytes(b)).decode("ascii") for b in inner]}
    if kind == "M":
        return {"M": {k: _encode_value(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_encode_value(v) for v in inner]}
    return {kind: inner}


def _decode_value(value: dict[str, Any], where: str) -> dict[str, Any]:
    """Inverse of :func:`_encode_value`; raise BackupError naming ``where`` on bad input."""
    if not isinstance(value, dict) or len(value) != 1:
        raise BackupError(f"{where}: not a DynamoDB attribute value")
    ((kind, inner),) = value.items()
    try:
        if kind == "B":
            return {"B": base64.b64decode(inner, validate=True)}
        if kind == "BS":
            return {"BS": [base64.b64decode(b, validate=True) for b in inner]}
        if kind == "M":
            return {"M": {k: _decode_value(v, f"{where}.{k}") for k, v in inner.items()}}
        if kind == "L":
            return {"L": [_decode_value(v, f"{where}[{i}]") for i, v in enumerate(inner)]}
    except (TypeError, ValueError, AttributeError) as exc:
        raise BackupError(f"{where}: {exc}") from None
    if kind not in ("S", "N", "BOOL", "NULL", "SS", "NS"):
        raise BackupError(f"{where}: unknown attribute type {kind!r}")
    return {kind: inner}


def scan_items(table: str, client: Any | None = None) -> list[dict[str, Any]]:
    """Every item of ``table`` (consistent scan), raw AttributeValues, sorted by (pk, sk)."""
    client = client or _dynamodb()
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        out = client.scan(**kwargs)
        items.extend(out.get("Items", []))
        if not out.get("LastEvaluatedKey"):
            break
        kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]
    return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def export_state(table: str, client: Any | None = None) -> dict[str, Any]:
    """The backup document of ``table`` (see the module docstring for its shape).

    A scan is not a point-in-time snapshot: export while no writes run (or from a
    point-in-time-recovery copy of the table) for a consistent backup.
    """
    items = [{k: _encode_value(v) for k, v in item.items()}
             for item in scan_items(table, client)]
    return {"format": FORMAT, "table": table, "count": len(items), "items": items}


def _decoded_items(document: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise BackupError(f"format: not a {FORMAT} document")
    items = document.get("items")
    if not isinstance(items, list) or document.get("count") != len(items):
        raise BackupError("items: missing, or not as many as 'count' says")
    for n, item in enumerate(items):
        if not isinstance(item, dict) or "pk" not in item or "sk" not in item:
            raise BackupError(f"items[{n}]: an item needs pk and sk")
        yield {k: _decode_value(v, f"items[{n}].{k}") for k, v in item.items()}


def restore_state(document: Any, table: str, client: Any | None = None) -> int:
    """Write every item of a backup into ``table``, which must exist and be empty.

    The whole file is validated before the first write. Returns the number of items.
    """
    items = list(_decoded_items(document))
    client = client or _dynamodb()
    if client.scan(TableName=table, Limit=1, ConsistentRead=True).get("Items"):
        raise BackupError(f"table {table!r} is not empty: restore only into a fresh table")
    for start in range(0, len(items), _BATCH):
        request = {table: [{"PutRequest": {"Item": i}} for i in items[start:start + _BATCH]]}
        for attempt in range(_MAX_UNPROCESSED_ROUNDS):
            out = client.batch_write_item(RequestItems=request)
            request = out.get("UnprocessedItems") or {}
            if not request:
                break
            time.sleep(min(0.05 * 2**attempt, 2.0))  # throttled: back off, resend the rest
        if request:
            raise BackupError("DynamoDB kept refusing writes; the restore is incomplete")
    return len(items)


def export_to_file(table: str, file: str) -> None:
    """Write the backup document of ``table`` to ``file`` ('-' = stdout) as indented JSON.

    An unwritable file raises :class:`BackupError`.
    """
    text = json.dumps(export_state(table), sort_keys=True, indent=1) + "\n"
    if file == "-":
        sys.stdout.write(text)
        return
    try:
        Path(file).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise BackupError(f"{file}: {exc.strerror or exc}") from None


def restore_from_file(file: str, table: str) -> int:
    """Restore the backup in ``file`` ('-' = stdin) into the empty ``table``; return the count.

    An unreadable file, a file that is not JSON or not a valid backup, or a table that is not
    empty raises :class:`BackupError` before anything is written.
    """
    try:
        raw = sys.stdin.read() if file == "-" else Path(file).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BackupError(f"{file}: cannot read ({exc})") from None
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise BackupError(f"{file}: not valid JSON ({exc})") from None
    return restore_state(document, table)
