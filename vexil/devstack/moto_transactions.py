"""moto's TransactWriteItems rolled back per item, not by copying whole tables.

Why: moto (5.x) takes ``copy.deepcopy`` of the *whole table* — every item and every stream
record ever written — once per item of every transaction, so it can put the copy back if
the transaction is cancelled. Our writes are transactions of 3–40 items over one table that
holds every project, so each write copied the table tens of times: that is where the local
stack's memory went (hundreds of MB per hundred revisions, gigabytes in an afternoon; the
copies are cyclic — table ↔ stream shard — so only a full collection frees them) and most of
its CPU.

The replacement keeps moto's own transaction code and its semantics (conditions checked in
order, the first failure cancels all, nothing of a cancelled transaction stays, its stream
records included). Only the rollback changes: before the transaction, the items it names
are copied (one item each) and each table's stream length noted; a cancelled transaction
puts those items back and cuts the stream back to its old length. Correct only when no other
request runs in between — which :mod:`vexil.devstack.motoserver` guarantees by serving one
request at a time, as DynamoDB isolates transactions.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Callable, Sequence
from typing import Any

_INSTALLED = "_vexil_item_rollback"


class _KeepTables(types.SimpleNamespace):
    """Stands in for the ``copy`` module inside moto's DynamoDB models: a table "copy" is the
    table itself (the journal restores it), anything else (an item) is copied for real."""

    def __init__(self, table_type: type) -> None:
        super().__init__()
        self._table_type = table_type

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        """The table itself for a table; a real deep copy of anything else."""
        if isinstance(value, self._table_type):
            return value
        return copy.deepcopy(value, memo)


class _Journal:
    """The items one transaction names, as they were before it, and each table's stream
    length: enough to undo it exactly."""

    def __init__(self, backend: Any, transact_items: Sequence[dict[str, Any]]) -> None:
        self.backend = backend
        self.items: list[tuple[str, dict[str, Any], Any]] = []
        self.streams: dict[str, int] = {}
        seen: set[tuple[str, str]] = set()
        for entry in transact_items:
            op: Any = next(iter(entry.values()), {})
            table_name = str(op.get("TableName", "")) if isinstance(op, dict) else ""
            table = backend.tables.get(table_name)
            key = _key_of(table, op) if table is not None else None
            if key is None or (table_name, repr(key)) in seen:
                continue  # moto refuses such an item itself; nothing of it to undo
            seen.add((table_name, repr(key)))
            try:
                before = backend.get_item(table_name, key)
            except Exception:  # noqa: S112 - an invalid key: moto cancels on it, writes nothing
                continue
            self.items.append((table_name, key, copy.deepcopy(before)))
            shard = getattr(table, "stream_shard", None)
            if shard is not None:
                self.streams.setdefault(table_name, len(shard.items))

    def restore(self) -> None:
        """Put every named item back as it was and drop the stream records written since."""
        for table_name, key, before in reversed(self.items):
            if before is None:
                self.backend.delete_item(table_name, key)
            else:
                self.backend.put_item(table_name, before.to_json()["Attributes"])
        for table_name, length in self.streams.items():
            del self.backend.tables[table_name].stream_shard.items[length:]


def _key_of(table: Any, op: dict[str, Any]) -> dict[str, Any] | None:
    if "Key" in op:
        return dict(op["Key"])
    attrs = op.get("Item")
    if not isinstance(attrs, dict) or table.hash_key_attr not in attrs:
        return None
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        if table.range_key_attr not in attrs:
            return None
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def install() -> None:
    """Patch moto's DynamoDB backend in this process (idempotent). Only for a moto that
    serves one request at a time (see the module docstring)."""
    from moto.dynamodb import models  # noqa: PLC0415 - moto is heavy; only the servers load it
    from moto.dynamodb.models.table import Table  # noqa: PLC0415

    backend_type = models.DynamoDBBackend
    if getattr(backend_type.transact_write_items, _INSTALLED, False):
        return
    moto_transaction: Callable[[Any, list[dict[str, Any]]], None] = (
        backend_type.transact_write_items
    )
    setattr(models, "copy", _KeepTables(Table))  # noqa: B010 - replaces moto's module name

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        journal = _Journal(self, transact_items)
        try:
            moto_transaction(self, transact_items)
        except BaseException:
            journal.restore()
            raise

    setattr(transact_write_items, _INSTALLED, True)
    setattr(backend_type, "transact_write_items", transact_write_items)  # noqa: B010
