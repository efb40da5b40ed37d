"""The local DynamoDB's transactions roll back per item (vexil.devstack.moto_transactions).

moto itself copies the whole table per transaction item; the patch undoes a cancelled
transaction from copies of just the items it names. These tests hold it to DynamoDB's
promises — all or nothing, stream records included — and show no whole-table copy is made.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

TABLE = "moto-transactions-test"


@pytest.fixture
def ddb(aws_env: str) -> Iterator[Any]:
    """A streamed table of its own on the session's serialised moto (in this process, so its
    backend can be inspected); deleted afterwards. Never ``mock_aws``: its exit resets every
    backend of the process, the session server's included."""
    client = boto3.client("dynamodb")
    client.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    try:
        yield client
    finally:
        client.delete_table(TableName=TABLE)


def _put(pk: str, version: int, cond: str | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"TableName": TABLE, "Item": {"pk": {"S": pk}, "sk": {"S": "x"},
                                                     "version": {"N": str(version)}}}
    if cond:
        op["ConditionExpression"] = cond
    return {"Put": op}


def _version(ddb: Any, pk: str) -> int | None:
    item = ddb.get_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": "x"}}).get("Item")
    return int(item["version"]["N"]) if item else None


def _stream_length() -> int:
    from moto.dynamodb.models import dynamodb_backends

    region = boto3.session.Session().region_name or "us-east-1"
    shard = dynamodb_backends["123456789012"][region].tables[TABLE].stream_shard
    assert shard is not None
    return len(shard.items)


def test_a_cancelled_transaction_leaves_items_and_stream_as_they_were(ddb: Any) -> None:
    ddb.transact_write_items(TransactItems=[_put("a", 1), _put("b", 1)])
    stream = _stream_length()
    with pytest.raises(ClientError) as err:
        ddb.transact_write_items(TransactItems=[
            _put("a", 2),  # would pass, then is undone
            {"Update": {"TableName": TABLE, "Key": {"pk": {"S": "b"}, "sk": {"S": "x"}},
                        "UpdateExpression": "SET version = :n", "ConditionExpression":
                        "version = :v", "ExpressionAttributeValues": {":n": {"N": "3"},
                                                                      ":v": {"N": "2"}}}},
            _put("c", 1),  # a new item: must not exist afterwards
        ])
    assert err.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert (_version(ddb, "a"), _version(ddb, "b"), _version(ddb, "c")) == (1, 1, None)
    assert _stream_length() == stream  # no record of the cancelled writes reaches the stream


def test_a_successful_transaction_writes_everything_and_streams_it(ddb: Any) -> None:
    ddb.transact_write_items(TransactItems=[_put("a", 1)])
    stream = _stream_length()
    ddb.transact_write_items(TransactItems=[
        _put("a", 2, "attribute_exists(pk)"), _put("d", 1, "attribute_not_exists(pk)")])
    assert (_version(ddb, "a"), _version(ddb, "d")) == (2, 1)
    assert _stream_length() == stream + 2


def test_no_transaction_copies_a_whole_table(ddb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.models.table import Table

    copied: list[type] = []
    real = copy.deepcopy

    def counting(value: Any, memo: Any = None) -> Any:
        copied.append(type(value))
        return real(value, memo)

    monkeypatch.setattr(copy, "deepcopy", counting)
    ddb.transact_write_items(TransactItems=[_put(f"k{i}", 1) for i in range(10)])
    stale = _put("k1", 2, "version = :v")
    stale["Put"]["ExpressionAttributeValues"] = {":v": {"N": "5"}}
    with pytest.raises(ClientError):  # cancelled: k1 is at version 1
        ddb.transact_write_items(TransactItems=[_put("k0", 2), stale])
    assert Table not in copied
    assert _version(ddb, "k0") == 1
