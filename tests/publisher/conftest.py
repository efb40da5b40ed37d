"""Fixtures for publisher tests: the shared moto resources, a publisher, S3 helpers."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from chalicelib.publish.publisher import Publisher, publisher_from_env

from edge_reader.bundle import Pointer, decode_pointer, pointer_object_key
from tests.publisher.tablekit import TableKit


@pytest.fixture(scope="session")
def boto_session(vexil_resources: dict[str, str]) -> Any:
    """One boto3 session for the publisher tests (a new session costs ~0.1-0.2 s)."""
    return boto3.session.Session()


@pytest.fixture
def kit(vexil_resources: dict[str, str], boto_session: Any) -> TableKit:
    """A fresh project in the shared table."""
    return TableKit(table=vexil_resources["VEXIL_TABLE"], ddb=boto_session.client("dynamodb"),
                    kms=boto_session.client("kms"))


@pytest.fixture
def publisher(vexil_resources: dict[str, str], boto_session: Any) -> Publisher:
    """A publisher built exactly as the Lambda builds it (from VEXIL_* variables).

    Fresh clients per test, so event hooks a test registers never leak into another.
    """
    return publisher_from_env(boto_session)


def kms_access(publisher: Publisher) -> dict[str, Any]:
    """What a KMS reader passes to ``decrypt_bundle``: the publisher's key ARN and key
    store table, with clients of its own (a reader is another process)."""
    session = boto3.session.Session()
    store = publisher.envelope.key_store
    return {"kms_key_id": store.kms_key_arn, "key_store_table": store.table,
            "kms_client": session.client("kms"), "dynamodb_client": session.client("dynamodb")}


@pytest.fixture
def s3(boto_session: Any) -> Any:
    """A plain S3 client for assertions."""
    return boto_session.client("s3")


class Bucket:
    """Reads pointers and bundles back for assertions."""

    def __init__(self, s3: Any, name: str) -> None:
        self.s3 = s3
        self.name = name

    def pointer(self, project: str, environment: str = "prod",
                scope: str = "server") -> Pointer | None:
        """The live pointer, or None."""
        try:
            body = self.s3.get_object(Bucket=self.name,
                                      Key=pointer_object_key(project, environment, scope))
        except self.s3.exceptions.NoSuchKey:
            return None
        return decode_pointer(body["Body"].read())

    def head(self, key: str) -> dict[str, Any]:
        """HEAD of an object."""
        return dict(self.s3.head_object(Bucket=self.name, Key=key))

    def body(self, key: str) -> bytes:
        """Bytes of an object."""
        return bytes(self.s3.get_object(Bucket=self.name, Key=key)["Body"].read())


@pytest.fixture
def bucket(s3: Any, vexil_resources: dict[str, str]) -> Bucket:
    """The bundle bucket."""
    return Bucket(s3, vexil_resources["VEXIL_BUCKET"])
