"""Fixtures for the bundle tests: a KMS client on the session's moto_server, call counting."""

from __future__ import annotations

from typing import Any

import boto3
import pytest


class KmsCalls:
    """Records the KMS operations a boto3 client performs (botocore before-call hook)."""

    def __init__(self, client: Any) -> None:
        self.names: list[str] = []
        client.meta.events.register("before-call.kms", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)

    def count(self, name: str) -> int:
        """How many calls of operation ``name`` were made."""
        return self.names.count(name)


@pytest.fixture(scope="session")
def kms_key_arn(vexil_resources: dict[str, str]) -> str:
    """ARN of the bundle KMS key created from infra/resources.json."""
    return vexil_resources["VEXIL_KMS_KEY_ID"]


@pytest.fixture
def kms_client(vexil_resources: dict[str, str]) -> Any:
    """A fresh KMS client (so call counts start at zero)."""
    return boto3.session.Session().client("kms")


@pytest.fixture
def kms_calls(kms_client: Any) -> KmsCalls:
    """Counts the KMS calls made through ``kms_client``."""
    return KmsCalls(kms_client)
