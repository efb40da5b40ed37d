"""Shared reader fixtures, imported by the conftests of client, edge and openfeature tests."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from edge_reader.bundle import SdkKey, generate_sdk_key
from tests.client.bundles import BundleFactory
from tests.client.cdn import LoopbackCdn


@pytest.fixture(scope="session")
def kms(vexil_resources: dict[str, str]) -> tuple[str, object]:
    client = boto3.session.Session().client("kms")
    key_id = vexil_resources["VEXIL_KMS_KEY_ID"]
    arn = client.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    return arn, client


@pytest.fixture(scope="session")
def server_key() -> SdkKey:
    return generate_sdk_key("srv")


@pytest.fixture(scope="session")
def client_key() -> SdkKey:
    return generate_sdk_key("cli")


@pytest.fixture
def factory(kms: tuple[str, object], server_key: SdkKey) -> BundleFactory:
    return BundleFactory(kms_key_id=kms[0], kms_client=kms[1], sdk_key=server_key)


@pytest.fixture
def cdn() -> Iterator[LoopbackCdn]:
    server = LoopbackCdn()
    yield server
    server.stop()
