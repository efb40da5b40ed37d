"""Shared reader fixtures, imported by the conftests of client, edge and openfeature tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import boto3
import pytest

from edge_reader.bundle import SdkKey, generate_sdk_key
from edge_reader.bundle.esdk import EnvelopeCache
from edge_reader.bundle.hierarchy import BranchKeyStore
from tests.client.bundles import BundleFactory
from tests.client.cdn import LoopbackCdn


@dataclass(frozen=True)
class KmsAccess:
    """What a KMS reader needs: the bundle key ARN, the branch-key store table, clients."""

    arn: str
    key_store_table: str
    client: Any
    dynamodb: Any

    def reader_options(self) -> dict[str, Any]:
        """The ``FlagClient`` / ``decrypt_bundle`` keyword arguments for KMS access."""
        return {"kms_key_id": self.arn, "key_store_table": self.key_store_table,
                "kms_client": self.client, "dynamodb_client": self.dynamodb}


@pytest.fixture(scope="session")
def kms(vexil_resources: dict[str, str]) -> KmsAccess:
    session = boto3.session.Session()
    client = session.client("kms")
    arn = client.describe_key(KeyId=vexil_resources["VEXIL_KMS_KEY_ID"])["KeyMetadata"]["Arn"]
    return KmsAccess(arn, vexil_resources["VEXIL_KEY_STORE_TABLE"], client,
                     session.client("dynamodb"))


@pytest.fixture(scope="session")
def envelope(kms: KmsAccess) -> EnvelopeCache:
    """The publisher side: one per-"container" envelope over the session's key store."""
    return EnvelopeCache(BranchKeyStore(table=kms.key_store_table, kms_key_arn=kms.arn,
                                        dynamodb_client=kms.dynamodb, kms_client=kms.client))


@pytest.fixture(scope="session")
def server_key() -> SdkKey:
    return generate_sdk_key("srv")


@pytest.fixture(scope="session")
def client_key() -> SdkKey:
    return generate_sdk_key("cli")


@pytest.fixture
def factory(envelope: EnvelopeCache, server_key: SdkKey) -> BundleFactory:
    return BundleFactory(envelope=envelope, sdk_key=server_key)


@pytest.fixture(scope="session")
def signer(vexil_resources: dict[str, str]) -> Any:
    """The publisher's own pointer signer on the session's signing key (moto KMS)."""
    from chalicelib.publish.signing import PointerSigner

    return PointerSigner(boto3.session.Session().client("kms"),
                         vexil_resources["VEXIL_SIGNING_KEY_ID"])


@pytest.fixture(scope="session")
def publisher_pem(vexil_resources: dict[str, str]) -> str:
    """The signing key's public half as PEM, as operators hand it to readers."""
    from vexil.resources import signing_public_key_pem

    return signing_public_key_pem(vexil_resources["VEXIL_SIGNING_KEY_ID"])


@pytest.fixture
def signed_factory(factory: BundleFactory, signer: Any) -> BundleFactory:
    """Like ``factory``, and every pointer signed by the publisher's key."""
    return replace(factory, signer=signer)


@pytest.fixture
def cdn() -> Iterator[LoopbackCdn]:
    server = LoopbackCdn()
    yield server
    server.stop()
