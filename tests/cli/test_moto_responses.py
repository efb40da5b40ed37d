"""The local DynamoDB's responses are byte-identical with the shortcut (moto_responses)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

TABLE = "moto-responses-test"
ITEM = {"pk": {"S": "a"}, "n": {"N": "12.5"}, "b": {"B": b"\x00\xffbin"},
        "ss": {"SS": ["x", "y"]}, "ns": {"NS": ["1", "2"]}, "bs": {"BS": [b"\x01", b"\x02"]},
        "m": {"M": {"inner": {"L": [{"S": "deep"}, {"NULL": True}, {"BOOL": False}]}}},
        "empty_l": {"L": []}, "empty_m": {"M": {}}, "t": {"BOOL": True}}


@pytest.fixture
def ddb(aws_env: str) -> Iterator[Any]:
    """A table of its own on the session's serialised moto (in this process); deleted after."""
    from moto.core.serialize import BaseJSONSerializer

    assert getattr(BaseJSONSerializer._serialize_type_structure,
                   "_vexil_sparse_attribute_values", False)
    client = boto3.client("dynamodb")
    client.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    try:
        yield client
    finally:
        client.delete_table(TableName=TABLE)


def test_every_attribute_type_round_trips(ddb: Any) -> None:
    ddb.put_item(TableName=TABLE, Item=ITEM)
    assert ddb.get_item(TableName=TABLE, Key={"pk": {"S": "a"}})["Item"] == ITEM
    page = ddb.query(TableName=TABLE, KeyConditionExpression="pk = :p",
                     ExpressionAttributeValues={":p": {"S": "a"}})
    assert page["Items"] == [ITEM]


def _body(structure: Any, result: dict[str, Any]) -> str:
    from moto.core.serialize import JSONSerializer, XFormedAttributePicker
    from moto.core.utils import get_service_model

    operation = get_service_model("dynamodb").operation_model("Query")
    serializer = JSONSerializer(operation_model=operation, value_picker=XFormedAttributePicker())
    saved = JSONSerializer._serialize_type_structure
    try:
        JSONSerializer._serialize_type_structure = structure  # type: ignore[method-assign]
        return str(serializer.serialize(result)["body"])
    finally:
        JSONSerializer._serialize_type_structure = saved  # type: ignore[method-assign]


def test_the_body_is_byte_identical_to_motos(ddb: Any) -> None:
    from moto.core.serialize import BaseJSONSerializer

    wire = {k: ({"B": base64.b64encode(v["B"]).decode()} if "B" in v else
                {"BS": [base64.b64encode(x).decode() for x in v["BS"]]} if "BS" in v else v)
            for k, v in ITEM.items()}
    odd = {"pk": {"S": "b"}, "x": {"S": "v", "s": "also"}}  # not all member names: moto's path
    result = {"Items": [wire, odd], "Count": 2, "ScannedCount": 2,
              "LastEvaluatedKey": {"pk": {"S": "b"}}}
    patched = BaseJSONSerializer._serialize_type_structure
    original = patched.moto  # type: ignore[attr-defined]
    fast, slow = _body(patched, result), _body(original, result)
    assert fast == slow
    assert '"N": "12.5"' in fast
    assert '"NULL": true' in fast
