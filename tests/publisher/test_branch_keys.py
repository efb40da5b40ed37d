"""The publisher's branch keys: created lazily, race-safe, rotated, and KMS calls that do
not grow with the publish rate. Real moto KMS/DynamoDB/S3, the real MPL."""

from __future__ import annotations

from typing import Any

import pytest
from chalicelib.publish.publisher import Publisher, publisher_from_env

from edge_reader.bundle import (
    EnvelopeError,
    decrypt_bundle,
    encryption_context,
    generate_sdk_key,
)
from tests.conftest import MplClock
from tests.publisher.conftest import Bucket, kms_access
from tests.publisher.tablekit import TableKit


def _calls(client: Any) -> list[str]:
    names: list[str] = []
    service = client.meta.service_model.service_name
    client.meta.events.register(f"before-call.{service}",
                                lambda model, **_: names.append(model.name))
    return names


def _key_items(publisher: Publisher, project: str, environment: str = "prod"
               ) -> list[dict[str, Any]]:
    store = publisher.envelope.key_store
    resp = store.dynamodb.query(
        TableName=store.table, ConsistentRead=True,
        KeyConditionExpression="#h = :h", ExpressionAttributeNames={"#h": "branch-key-id"},
        ExpressionAttributeValues={":h": {"S": f"vexil/{project}/{environment}"}})
    return list(resp["Items"])


def _open(bucket: Bucket, kit: TableKit, publisher: Publisher, revision_key: str,
          revision: int) -> bytes:
    return decrypt_bundle(bucket.body(revision_key), **kms_access(publisher),
                          expected=encryption_context(kit.project, "prod", revision, "server"))


def test_the_first_publish_creates_the_environments_branch_key(
    kit: TableKit, publisher: Publisher
) -> None:
    kit.env(revision=1)
    kit.flag("a")
    assert not publisher.envelope.key_store.exists(kit.project, "prod")
    publisher.publish(kit.project, "prod")
    items = {i["type"]["S"]: i for i in _key_items(publisher, kit.project)}
    versions = [t for t in items if t.startswith("branch:version:")]
    # The active pointer, its one version, and the beacon key the MPL always adds.
    assert set(items) == {"branch:ACTIVE", "beacon:ACTIVE", *versions}
    assert len(versions) == 1
    active = items["branch:ACTIVE"]
    assert active["version"]["S"] == versions[0]
    # The custom context KMS key policies condition on (aws-crypto-ec:vexil:*).
    assert active["aws-crypto-ec:vexil:project"] == {"S": kit.project}
    assert active["aws-crypto-ec:vexil:environment"] == {"S": "prod"}
    assert active["kms-arn"]["S"] == publisher.envelope.key_store.kms_key_arn
    status = publisher.envelope.key_store.status(kit.project, "prod")
    assert status is not None
    assert status.versions == 1


def test_kms_calls_do_not_grow_with_publishes(
    kit: TableKit, publisher: Publisher, mpl_clock: MplClock
) -> None:
    kit.env(revision=1)
    kit.flag("a")
    kit.sdk_key(generate_sdk_key("srv"), publisher.envelope.key_store.kms_key_arn)
    kms = _calls(publisher.envelope.key_store.kms)
    publisher.publish(kit.project, "prod")  # creates the branch key, then unwraps it once
    created = [n for n in kms if n != "Decrypt"]
    assert created  # the creation happened here, once
    assert kms.count("Decrypt") == 1
    kms.clear()
    for _ in range(19):
        kit.flag("a", version=kit.bump())
        outcome = publisher.publish(kit.project, "prod")
        assert sorted(outcome.published) == ["client", "server"]
    assert kms == []  # 19 more publishes, 38 more bundles: no KMS call at all
    mpl_clock.advance(publisher.envelope.ttl_seconds + 1)
    kit.bump()
    publisher.publish(kit.project, "prod")
    assert kms == ["Decrypt"]  # the material is re-fetched once per TTL, not per publish


def test_racing_publishers_create_one_branch_key_and_both_publish(
    kit: TableKit, boto_session: Any, bucket: Bucket
) -> None:
    kit.env(revision=1)
    kit.flag("a")
    first, second = publisher_from_env(boto_session), publisher_from_env(boto_session)
    raced: list[bool] = []

    def the_other_one_creates_it_first(**_: Any) -> None:
        if not raced:
            raced.append(second.envelope.key_store.ensure(kit.project, "prod"))

    # Between `first`'s existence check and its conditional create, `second` creates it.
    first.envelope.key_store.dynamodb.meta.events.register(
        "before-call.dynamodb.TransactWriteItems", the_other_one_creates_it_first)
    first.publish(kit.project, "prod")
    assert raced == [True]
    assert len([i for i in _key_items(first, kit.project)
                if i["type"]["S"].startswith("branch:version:")]) == 1
    kit.bump()
    assert second.publish(kit.project, "prod").published  # the racer's key serves both
    pointer = bucket.pointer(kit.project)
    assert pointer is not None
    assert _open(bucket, kit, first, pointer.key, 2)


def test_bundles_from_before_a_rotation_still_open(
    kit: TableKit, publisher: Publisher, bucket: Bucket, mpl_clock: MplClock
) -> None:
    key = generate_sdk_key("srv")
    kit.env(revision=1)
    kit.flag("a")
    kit.sdk_key(key, publisher.envelope.key_store.kms_key_arn)
    publisher.publish(kit.project, "prod")
    old = bucket.pointer(kit.project)
    before = publisher.envelope.key_store.status(kit.project, "prod")
    after = publisher.envelope.key_store.rotate(kit.project, "prod")
    assert before is not None
    assert after.active_version != before.active_version
    assert after.versions == 2
    # This container keeps the old version until its TTL runs out, then picks the new one.
    mpl_clock.advance(publisher.envelope.ttl_seconds + 1)
    kit.bump()
    publisher.publish(kit.project, "prod")
    new = bucket.pointer(kit.project)
    assert old is not None
    assert new is not None
    assert new.revision == 2
    for pointer in (old, new):  # a fresh KMS reader opens both versions' bundles
        assert _open(bucket, kit, publisher, pointer.key, pointer.revision)
        assert decrypt_bundle(bucket.body(pointer.key), sdk_key=key, expected=encryption_context(
            kit.project, "prod", pointer.revision, "server"))


def test_rotating_a_missing_branch_key_is_refused(kit: TableKit, publisher: Publisher) -> None:
    with pytest.raises(EnvelopeError, match="no such branch key"):
        publisher.envelope.key_store.rotate(kit.project, "prod")


def test_one_environments_bundle_never_opens_as_anothers(
    kit: TableKit, publisher: Publisher, bucket: Bucket
) -> None:
    for env in ("prod", "staging"):
        kit.env(env, revision=3)
        kit.flag("a", env)
        publisher.publish(kit.project, env)
    prod = bucket.pointer(kit.project, "prod")
    assert prod is not None
    ciphertext = bucket.body(prod.key)
    with pytest.raises(EnvelopeError, match="vexil:environment"):
        decrypt_bundle(ciphertext, **kms_access(publisher),
                       expected=encryption_context(kit.project, "staging", 3, "server"))
    assert decrypt_bundle(ciphertext, **kms_access(publisher),
                          expected=encryption_context(kit.project, "prod", 3, "server"))
    # Each environment has its own branch key.
    assert _key_items(publisher, kit.project, "prod")
    assert _key_items(publisher, kit.project, "staging")
