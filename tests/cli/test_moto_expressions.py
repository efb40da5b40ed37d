"""The local DynamoDB parses each condition once (vexil.devstack.moto_expressions).

A kept parse must decide exactly as a fresh one: same text with other values, other names,
an invalid expression, and a condition whose outcome depends on the item as stored now.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

TABLE = "moto-expressions-test"


@pytest.fixture
def ddb(aws_env: str) -> Iterator[Any]:
    """A table of its own on the session's serialised moto (in this process); deleted after."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    # The session's launcher (SerialMotoServer) installed the parse cache in-process.
    assert getattr(ConditionExpressionParser.parse, "_vexil_parse_cache", False)
    client = boto3.client("dynamodb")
    client.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    try:
        yield client
    finally:
        client.delete_table(TableName=TABLE)


def _put(ddb: Any, pk: str, version: int, cond: str | None = None, **values: int) -> None:
    kw: dict[str, Any] = {}
    if cond:
        kw["ConditionExpression"] = cond
    if values:
        kw["ExpressionAttributeValues"] = {f":{k}": {"N": str(v)} for k, v in values.items()}
    ddb.put_item(TableName=TABLE, Item={"pk": {"S": pk}, "version": {"N": str(version)}}, **kw)


def _refused(ddb: Any, pk: str, version: int, cond: str, **values: int) -> str:
    with pytest.raises(ClientError) as exc:
        _put(ddb, pk, version, cond, **values)
    return str(exc.value.response["Error"]["Code"])


def test_same_text_other_values_decides_by_the_values(ddb: Any) -> None:
    from vexil.devstack import moto_expressions

    _put(ddb, "a", 1)
    _put(ddb, "a", 2, "version = :v", v=1)          # parsed and kept
    kept = moto_expressions.cache_size()
    # Same text and value again: the kept tree decides against the item as stored NOW (2).
    assert _refused(ddb, "a", 3, "version = :v", v=1) == "ConditionalCheckFailedException"
    _put(ddb, "a", 3, "version = :v", v=2)          # other value: its own parse
    assert moto_expressions.cache_size() >= kept
    assert ddb.get_item(TableName=TABLE, Key={"pk": {"S": "a"}})["Item"]["version"] == {"N": "3"}


def test_attribute_not_exists_is_evaluated_per_item(ddb: Any) -> None:
    _put(ddb, "b", 1, "attribute_not_exists(pk)")
    _put(ddb, "c", 1, "attribute_not_exists(pk)")  # the kept parse, another item: passes
    assert _refused(ddb, "b", 2, "attribute_not_exists(pk)") == "ConditionalCheckFailedException"


def test_names_are_part_of_the_key(ddb: Any) -> None:
    _put(ddb, "d", 5)
    ok = {"ConditionExpression": "#f = :v", "ExpressionAttributeValues": {":v": {"N": "5"}}}
    ddb.put_item(TableName=TABLE, Item={"pk": {"S": "d"}, "version": {"N": "6"}},
                 ExpressionAttributeNames={"#f": "version"}, **ok)
    # The same text and values with #f naming another attribute must not reuse that tree.
    with pytest.raises(ClientError) as exc:
        ddb.put_item(TableName=TABLE, Item={"pk": {"S": "d"}, "version": {"N": "7"}},
                     ExpressionAttributeNames={"#f": "other"},
                     ConditionExpression="#f = :v",
                     ExpressionAttributeValues={":v": {"N": "6"}})
    assert exc.value.response["Error"]["Code"] == "ConditionalCheckFailedException"


def test_an_invalid_expression_is_refused_every_time(ddb: Any) -> None:
    # moto 5.2 itself answers an undefined value with a 500 (AWS: ValidationException); the
    # point here is that a failed parse is not kept: the second request fails the same way.
    codes = []
    for _ in range(2):
        with pytest.raises(ClientError) as exc:
            _put(ddb, "e", 1, "version = :w", v=1)  # :w is not defined
        codes.append(exc.value.response["Error"]["Code"])
    assert codes[0] == codes[1]
    assert "Item" not in ddb.get_item(TableName=TABLE, Key={"pk": {"S": "e"}})
    _put(ddb, "e", 1)
    assert ddb.get_item(TableName=TABLE, Key={"pk": {"S": "e"}})["Item"]["version"] == {"N": "1"}


def test_a_transaction_with_a_kept_parse_still_cancels_whole(ddb: Any) -> None:
    _put(ddb, "f", 1)
    items = [{"Put": {"TableName": TABLE, "Item": {"pk": {"S": p}, "version": {"N": "1"}},
                      "ConditionExpression": "attribute_not_exists(pk)"}} for p in ("g", "f")]
    with pytest.raises(ClientError) as exc:
        ddb.transact_write_items(TransactItems=items)
    assert exc.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert "Item" not in ddb.get_item(TableName=TABLE, Key={"pk": {"S": "g"}})
