"""Which requests mark the emulator's state as changed (and so get saved)."""

from __future__ import annotations

import pytest

from vexil.devstack.motoserver import is_read_only


@pytest.mark.parametrize(("method", "target", "read_only"), [
    ("POST", "DynamoDB_20120810.GetItem", True),
    ("POST", "DynamoDB_20120810.Query", True),
    ("POST", "DynamoDBStreams_20120810.GetRecords", True),
    ("POST", "TrentService.Sign", True),
    ("POST", "TrentService.GenerateDataKey", True),
    ("GET", "", True),            # S3 GetObject, ListObjectVersions
    ("HEAD", "", True),
    ("POST", "DynamoDB_20120810.PutItem", False),
    ("POST", "DynamoDB_20120810.TransactWriteItems", False),
    ("POST", "DynamoDB_20120810.UpdateItem", False),
    ("POST", "TrentService.CreateKey", False),
    ("PUT", "", False),           # S3 PutObject
    ("DELETE", "", False),
    ("POST", "", False),          # unknown: a needless save beats a lost write
])
def test_reads_are_told_from_writes(method: str, target: str, read_only: bool) -> None:
    environ = {"REQUEST_METHOD": method}
    if target:
        environ["HTTP_X_AMZ_TARGET"] = target
    assert is_read_only(environ) is read_only
