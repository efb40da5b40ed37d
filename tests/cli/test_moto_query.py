"""The local DynamoDB's Query reads only its partition (vexil.devstack.moto_query) and still
answers exactly as DynamoDB: order, paging, key conditions, filters, other partitions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

TABLE = "moto-query-test"


@pytest.fixture
def ddb(aws_env: str) -> Iterator[Any]:
    """A table of its own on the session's serialised moto (in this process); deleted after."""
    from moto.dynamodb.models.table import Table

    assert getattr(Table.query, "_vexil_partition_query", False)
    client = boto3.client("dynamodb")
    client.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}])
    # Partitions interleaved on purpose, sort keys written out of order.
    for i in (5, 1, 9, 3, 7, 0, 8, 2, 6, 4):
        for pk in ("a", "b", "c"):
            client.put_item(TableName=TABLE, Item={"pk": {"S": pk}, "sk": {"S": f"k#{i}"},
                                                   "n": {"N": str(i)}})
    try:
        yield client
    finally:
        client.delete_table(TableName=TABLE)


def _all(ddb: Any, **kw: Any) -> tuple[list[str], int]:
    out: list[str] = []
    pages = 0
    while True:
        page = ddb.query(TableName=TABLE, **kw)
        pages += 1
        out += [f"{i['pk']['S']}:{i['sk']['S']}" for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return out, pages
        kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_pages_in_order_forward_and_backward(ddb: Any) -> None:
    want = [f"b:k#{i}" for i in range(10)]
    kw = {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "b"}},
          "Limit": 3}
    assert _all(ddb, **kw) == (want, 4)
    assert _all(ddb, ScanIndexForward=False, **kw)[0] == want[::-1]


def test_sort_key_condition_and_filter(ddb: Any) -> None:
    got, _ = _all(ddb, KeyConditionExpression="pk = :p AND sk BETWEEN :lo AND :hi",
                  FilterExpression="n <> :skip",
                  ExpressionAttributeValues={":p": {"S": "c"}, ":lo": {"S": "k#2"},
                                             ":hi": {"S": "k#6"}, ":skip": {"N": "4"}},
                  Limit=2)
    assert got == ["c:k#2", "c:k#3", "c:k#5", "c:k#6"]


def test_an_absent_partition_is_empty(ddb: Any) -> None:
    page = ddb.query(TableName=TABLE, KeyConditionExpression="pk = :p",
                     ExpressionAttributeValues={":p": {"S": "zz"}})
    assert page["Items"] == []
    assert page["Count"] == 0
