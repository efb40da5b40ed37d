"""Regenerate the captured stream events: ``python -m tests.events.capture``.

Starts a private moto_server, creates the table from infra/resources.json, performs the
writes the control plane performs (environment insert, revision bumps, a no-op audit-only
change, flag/segment/SDK-key items, an environment delete), reads the table's stream with
boto3 ``dynamodbstreams`` and stores the records, converted to the Lambda event shape by the
stream worker's own converter, in ``stream_batch.json``. moto's duplicate INSERT for
update-on-missing-item shows up as-is.
"""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import orjson

HERE = Path(__file__).resolve().parent


def main() -> None:
    """Capture and write tests/events/stream_batch.json."""
    from tests.conftest import _FAKE_AWS
    from vexil.devstack.motoserver import SerialMotoServer
    from vexil.resources import ensure_resources
    from vexil.stream_worker import lambda_record

    # The stack's serialised moto, as every fixture runs it.
    server = SerialMotoServer("127.0.0.1", 0).start()
    try:
        os.environ.update(_FAKE_AWS)
        os.environ["AWS_ENDPOINT_URL"] = server.url
        names = ensure_resources()
        session = boto3.session.Session()
        ddb = session.client("dynamodb")
        table = names["VEXIL_TABLE"]
        env_key = {"pk": {"S": "P#shop"}, "sk": {"S": "ENV#prod"}}

        def env(revision: int, seq: int) -> None:
            ddb.put_item(TableName=table, Item=env_key | {
                "project": {"S": "shop"}, "environment": {"S": "prod"},
                "revision": {"N": str(revision)}, "audit_seq": {"N": str(seq)},
                "audit_head": {"S": f"{seq:064x}"}, "version": {"N": "1"},
                "updated_at": {"S": f"2026-11-24T06:00:{seq:02d}.000Z"}})

        env(0, 0)
        ddb.put_item(TableName=table, Item={
            "pk": {"S": "P#shop"}, "sk": {"S": "FLAGDEF#checkout"}, "flag": {"S": "checkout"},
            "body": {"S": '{"kind":"boolean","variations":{"on":true,"off":false}}'},
            "version": {"N": "1"}})
        ddb.put_item(TableName=table, Item={
            "pk": {"S": "E#shop#prod"}, "sk": {"S": "FLAG#checkout"}, "flag": {"S": "checkout"},
            "body": {"S": '{"enabled":true,"default":{"variation":"on"}}'},
            "version": {"N": "1"}})
        env(1, 1)
        ddb.put_item(TableName=table, Item={
            "pk": {"S": "E#shop#prod"}, "sk": {"S": "SDKKEY#abcdefghij"},
            "key_id": {"S": "abcdefghij"}, "kind": {"S": "server"},
            "wrapped_secret": {"B": b"\x01\x02wrapped"}, "version": {"N": "1"}})
        env(2, 2)
        env(2, 3)  # audit-only change: same revision (a no-op for the publisher)
        ddb.update_item(TableName=table, Key={"pk": {"S": "P#shop"}, "sk": {"S": "ENV#dev"}},
                        UpdateExpression="SET revision = :r",
                        ExpressionAttributeValues={":r": {"N": "1"}})
        ddb.delete_item(TableName=table, Key=env_key)

        arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        streams = session.client("dynamodbstreams")
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        records = streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
        event = {"Records": [lambda_record(r, arn) for r in records]}
        (HERE / "stream_batch.json").write_bytes(
            orjson.dumps(event, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
        print(f"captured {len(records)} records")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
