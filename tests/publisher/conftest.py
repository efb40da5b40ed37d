"""Fixtures for publisher tests: the shared moto resources, a publisher, S3 helpers."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from chalicelib.publisher import Publisher, publisher_from_env
from edge_reader.bundle import Pointer, decode_pointer, pointer_object_key
from tests.publisher.tablekit import TableKit


@pytest.fixture
def kit(vexil_resources: dict[str, str]) -> TableKit:
    """A fresh project in the shared table."""
    return TableKit(table=vexil_resources["VEXIL_TABLE"])


@pytest.fixture
def publisher(vexil_resources: dict[str, str]) -> Publisher:
    """A publisher built exactly as the Lambda builds it (from VEXIL_* variables)."""
    return publisher_from_env()


@pytest.fixture
def s3(vexil_resources: dict[str, str]) -> Any:
    """A plain S3 client for assertions."""
    return boto3.session.Session().client("s3")


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
