"""Fixtures for the bundle tests: KMS + the branch-key store on the session's moto_server,
and call counting on the clients the envelope uses."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from edge_reader.bundle.esdk import EnvelopeCache
from edge_reader.bundle.hierarchy import BranchKeyStore


class Calls:
    """Records the operations a boto3 client performs (botocore before-call hook)."""

    def __init__(self, client: Any) -> None:
        self.names: list[str] = []
        service = client.meta.service_model.service_name
        client.meta.events.register(f"before-call.{service}", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)

    def count(self, name: str) -> int:
        """How many calls of operation ``name`` were made."""
        return self.names.count(name)




@pytest.fixture(scope="session")
def kms_key_arn(vexil_resources: dict[str, str]) -> str:
    """ARN of the bundle KMS key created from infra/resources.json."""
    return vexil_resources["VEXIL_KMS_KEY_ID"]


@pytest.fixture(scope="session")
def key_store_table(vexil_resources: dict[str, str]) -> str:
    """The branch-key store table created from infra/resources.json."""
    return vexil_resources["VEXIL_KEY_STORE_TABLE"]


@pytest.fixture
def kms_client(vexil_resources: dict[str, str]) -> Any:
    """A fresh KMS client (so call counts start at zero)."""
    return boto3.session.Session().client("kms")


@pytest.fixture
def ddb_client(vexil_resources: dict[str, str]) -> Any:
    """A fresh DynamoDB client for the key store (so call counts start at zero)."""
    return boto3.session.Session().client("dynamodb")


@pytest.fixture
def kms_calls(kms_client: Any) -> Calls:
    """Counts the KMS calls made through ``kms_client``."""
    return Calls(kms_client)


@pytest.fixture
def ddb_calls(ddb_client: Any) -> Calls:
    """Counts the DynamoDB calls made through ``ddb_client``."""
    return Calls(ddb_client)


@pytest.fixture
def branch_keys(kms_key_arn: str, key_store_table: str, kms_client: Any,
                ddb_client: Any) -> BranchKeyStore:
    """The deployment's branch-key store, on this test's own (counted) clients."""
    return BranchKeyStore(table=key_store_table, kms_key_arn=kms_key_arn,
                          dynamodb_client=ddb_client, kms_client=kms_client)


@pytest.fixture
def envelope(branch_keys: BranchKeyStore) -> EnvelopeCache:
    """A fresh per-"container" envelope cache (its branch-key cache starts empty)."""
    return EnvelopeCache(branch_keys)


class Reader:
    """A KMS reader with its own clients: what it needs to open bundles, and its calls."""

    def __init__(self, kms_key_arn: str, key_store_table: str) -> None:
        session = boto3.session.Session()
        self.kms = session.client("kms")
        self.ddb = session.client("dynamodb")
        self.kms_calls = Calls(self.kms)
        self.ddb_calls = Calls(self.ddb)
        self.access = {"kms_key_id": kms_key_arn, "key_store_table": key_store_table,
                       "kms_client": self.kms, "dynamodb_client": self.ddb}


@pytest.fixture
def kms_reader(kms_key_arn: str, key_store_table: str) -> Reader:
    """A fresh KMS reader (nothing cached yet)."""
    return Reader(kms_key_arn, key_store_table)
