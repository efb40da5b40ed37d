import boto3


def test_resources(vexil_resources):
    ddb = boto3.client("dynamodb")
    t = ddb.describe_table(TableName=vexil_resources["VEXIL_TABLE"])["Table"]
    assert t["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    from vexil.resources import ensure_resources
    assert ensure_resources() == vexil_resources
