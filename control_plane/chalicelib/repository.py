"""Storage: the single DynamoDB table behind a small interface.

The use cases speak in items (plain dicts) and transaction steps; this module owns boto3.
Numbers come back as ``int`` (DynamoDB returns ``Decimal``; Vexil stores only integers as
numbers — flag JSON lives in string attributes, see docs/data-model.md).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol

import boto3
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import ClientError

from chalicelib.timing import instrument

Item = dict[str, Any]
Step = dict[str, Any]
"""One TransactWriteItems entry (``{"Put": ...}``, ``{"Update": ...}``, ...) without TableName."""

MAX_TRANSACTION_ITEMS = 100


class TransactionCancelled(Exception):
    """The transaction was cancelled; ``reasons[i]`` is the code for step i ('None' if fine)."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(f"transaction cancelled: {reasons}")
        self.reasons = reasons


class Repository(Protocol):
    """What the use cases need from storage."""

    def get(self, pk: str, sk: str) -> Item | None:
        """Strongly consistent read of one item, or None."""
        ...

    def query(
        self,
        pk: str,
        sk_prefix: str,
        *,
        limit: int | None = None,
        start_sk: str | None = None,
        forward: bool = True,
    ) -> tuple[list[Item], str | None]:
        """Items of one partition whose sk starts with the prefix, after ``start_sk``."""
        ...

    def query_index(self, gsi1pk: str, gsi1sk: str | None = None) -> list[Item]:
        """All items of gsi1 partition ``gsi1pk`` (optionally one ``gsi1sk``)."""
        ...

    def batch_get(self, keys: Sequence[tuple[str, str]]) -> list[Item]:
        """Items for many (pk, sk) keys; missing ones are absent from the result."""
        ...

    def transact(self, steps: Sequence[Step]) -> None:
        """All steps or none; raise :class:`TransactionCancelled` with per-step reasons."""
        ...

    def add_counters(self, pk: str, sk: str, adds: Mapping[str, int | set[str]],
                     sets: Mapping[str, Any]) -> None:
        """One UpdateItem outside any transaction: ``ADD`` each of ``adds`` (numbers or string
        sets), ``SET`` each of ``sets`` (the insights counters; nothing else uses it)."""
        ...


MAX_COUNTERS_PER_UPDATE = 100
"""Counters ``add_counters`` puts in one UpdateItem (well under DynamoDB's 4 KB expression)."""


def plain(value: Any) -> Any:
    """Convert DynamoDB's Decimal/Binary/set values into int/float/bytes/list."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Binary):
        return bytes(value)  # type: ignore[call-overload]  # Binary defines __bytes__
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | set | frozenset | tuple):
        return [plain(v) for v in value]
    return value


_DESERIALIZER = TypeDeserializer()
_SERIALIZER = TypeSerializer()


def decode_item(raw: Mapping[str, Any]) -> Item:
    """A low-level client's item (``{"n": {"N": "1"}}``) as a plain item, as :func:`plain` gives."""
    return {k: plain(_DESERIALIZER.deserialize(v)) for k, v in raw.items()}


def encode_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A plain item in the low-level client's typed form (for ``put_item`` on a client)."""
    return {k: _SERIALIZER.serialize(v) for k, v in item.items()}


@functools.cache
def _resource(endpoint: str | None, region: str | None) -> Any:
    # One boto3 session per container: building one costs ~100 ms (measured in DESIGN.md).
    session = boto3.session.Session()
    resource = session.resource(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=region,
        # No client-side parameter validation: DynamoDB validates every request itself, and
        # botocore's walk over a 100-item transaction cost ~40 ms a call (measured with
        # loadtests/bench_apply: 1,000 flags = 34 transactions).
        config=Config(retries={"max_attempts": 3, "mode": "standard"},
                      parameter_validation=False),
    )
    instrument(resource.meta.client)
    return resource


def dynamodb_resource() -> Any:
    """The process-wide DynamoDB resource (honours AWS_ENDPOINT_URL for moto)."""
    return _resource(
        os.environ.get("AWS_ENDPOINT_URL"),
        os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
    )


class DynamoRepository:
    """:class:`Repository` over one DynamoDB table (resource-level client: native types)."""

    def __init__(self, table_name: str, resource: Any | None = None) -> None:
        self.table_name = table_name
        self._resource = resource if resource is not None else dynamodb_resource()
        self._table = self._resource.Table(table_name)
        self.client = self._resource.meta.client

    def get(self, pk: str, sk: str) -> Item | None:
        """Strongly consistent read of one item, or None."""
        out = self._table.get_item(Key={"pk": pk, "sk": sk}, ConsistentRead=True)
        item = out.get("Item")
        return plain(item) if item is not None else None

    def query(
        self,
        pk: str,
        sk_prefix: str,
        *,
        limit: int | None = None,
        start_sk: str | None = None,
        forward: bool = True,
    ) -> tuple[list[Item], str | None]:
        """Items of one partition whose sk starts with the prefix, after ``start_sk``.

        Returns (items, last_sk) where last_sk is set when more items may follow.
        """
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :pre)",
            "ExpressionAttributeValues": {":pk": pk, ":pre": sk_prefix},
            "ConsistentRead": True,
            "ScanIndexForward": forward,
        }
        items: list[Item] = []
        start = {"pk": pk, "sk": start_sk} if start_sk else None
        while True:
            if start:
                kwargs["ExclusiveStartKey"] = start
            if limit is not None:
                kwargs["Limit"] = limit - len(items)
            out = self._table.query(**kwargs)
            items.extend(plain(i) for i in out.get("Items", []))
            start = out.get("LastEvaluatedKey")
            if not start or (limit is not None and len(items) >= limit):
                break
        last = str(items[-1]["sk"]) if (start and items) else None
        return items, last

    def query_index(self, gsi1pk: str, gsi1sk: str | None = None) -> list[Item]:
        """All items of gsi1 partition ``gsi1pk`` (optionally one ``gsi1sk``)."""
        cond = "gsi1pk = :p" + (" AND gsi1sk = :s" if gsi1sk is not None else "")
        values: dict[str, Any] = {":p": gsi1pk}
        if gsi1sk is not None:
            values[":s"] = gsi1sk
        kwargs: dict[str, Any] = {
            "IndexName": "gsi1",
            "KeyConditionExpression": cond,
            "ExpressionAttributeValues": values,
        }
        items: list[Item] = []
        while True:
            out = self._table.query(**kwargs)
            items.extend(plain(i) for i in out.get("Items", []))
            if not out.get("LastEvaluatedKey"):
                return items
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    def batch_get(self, keys: Sequence[tuple[str, str]]) -> list[Item]:
        """Items for many (pk, sk) keys (consistent reads, 100 per call)."""
        found: list[Item] = []
        pending = [{"pk": pk, "sk": sk} for pk, sk in dict.fromkeys(keys)]
        while pending:
            chunk, pending = pending[:100], pending[100:]
            request: dict[str, Any] = {
                self.table_name: {"Keys": chunk, "ConsistentRead": True}
            }
            while request:
                out = self._resource.batch_get_item(RequestItems=request)
                found.extend(plain(i) for i in out.get("Responses", {}).get(self.table_name, []))
                request = out.get("UnprocessedKeys") or {}
        return found

    def transact(self, steps: Sequence[Step]) -> None:
        """All steps or none; raise :class:`TransactionCancelled` with per-step reasons."""
        if len(steps) > MAX_TRANSACTION_ITEMS:
            raise ValueError(f"transaction of {len(steps)} items exceeds 100")
        items = []
        for step in steps:
            ((kind, body),) = step.items()
            items.append({kind: {"TableName": self.table_name, **body}})
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [
                str(r.get("Code", "None"))
                for r in exc.response.get("CancellationReasons", [])
            ]
            raise TransactionCancelled(reasons) from exc


    def add_counters(self, pk: str, sk: str, adds: Mapping[str, int | set[str]],
                     sets: Mapping[str, Any]) -> None:
        """``ADD`` each of ``adds``, ``SET`` each of ``sets``: one UpdateItem per
        :data:`MAX_COUNTERS_PER_UPDATE` counters (each also sets ``sets``).

        Attribute names go through placeholders, so any name (a variant, a reason) is safe.
        Chunked because DynamoDB refuses an update expression over 4 KB (~300 ``ADD``
        clauses): a flag with many variants would otherwise fail every summary naming it.
        """
        pairs = list(adds.items())
        for start in range(0, max(len(pairs), 1), MAX_COUNTERS_PER_UPDATE):
            self._add_some(pk, sk, pairs[start:start + MAX_COUNTERS_PER_UPDATE], sets)

    def _add_some(self, pk: str, sk: str, adds: list[tuple[str, int | set[str]]],
                  sets: Mapping[str, Any]) -> None:
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        parts: list[str] = []
        for i, (name, value) in enumerate(adds):
            names[f"#a{i}"], values[f":a{i}"] = name, value
            parts.append(f"#a{i} :a{i}")
        clauses = ["ADD " + ", ".join(parts)] if parts else []
        assigns = []
        for i, (name, value) in enumerate(sets.items()):
            names[f"#s{i}"], values[f":s{i}"] = name, value
            assigns.append(f"#s{i} = :s{i}")
        if assigns:
            clauses.append("SET " + ", ".join(assigns))
        self._table.update_item(Key={"pk": pk, "sk": sk}, UpdateExpression=" ".join(clauses),
                                ExpressionAttributeNames=names,
                                ExpressionAttributeValues=values)


def put(item: Mapping[str, Any], condition: str | None = None, **values: Any) -> Step:
    """A Put step; ``values`` become ``:name`` expression values."""
    body: dict[str, Any] = {"Item": dict(item)}
    if condition:
        body["ConditionExpression"] = condition
    if values:
        body["ExpressionAttributeValues"] = {f":{k}": v for k, v in values.items()}
    return {"Put": body}


def update(
    pk: str,
    sk: str,
    expression: str,
    condition: str | None = None,
    names: Mapping[str, str] | None = None,
    **values: Any,
) -> Step:
    """An Update step; ``values`` become ``:name`` expression values."""
    body: dict[str, Any] = {"Key": {"pk": pk, "sk": sk}, "UpdateExpression": expression}
    if condition:
        body["ConditionExpression"] = condition
    if names:
        body["ExpressionAttributeNames"] = dict(names)
    if values:
        body["ExpressionAttributeValues"] = {f":{k}": v for k, v in values.items()}
    return {"Update": body}


def delete(pk: str, sk: str, condition: str | None = None, **values: Any) -> Step:
    """A Delete step; ``values`` become ``:name`` expression values."""
    body: dict[str, Any] = {"Key": {"pk": pk, "sk": sk}}
    if condition:
        body["ConditionExpression"] = condition
    if values:
        body["ExpressionAttributeValues"] = {f":{k}": v for k, v in values.items()}
    return {"Delete": body}


def condition(pk: str, sk: str, expression: str, **values: Any) -> Step:
    """A ConditionCheck step: the transaction commits only if ``expression`` holds on the item
    (which the transaction does not write)."""
    body: dict[str, Any] = {"Key": {"pk": pk, "sk": sk}, "ConditionExpression": expression}
    if values:
        body["ExpressionAttributeValues"] = {f":{k}": v for k, v in values.items()}
    return {"ConditionCheck": body}
