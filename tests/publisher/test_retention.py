"""Housekeeping after a publish (moto S3): bundles beyond the newest N are tagged for the
lifecycle rule; pointers of scopes that no longer exist are removed. Never fails a publish."""

from __future__ import annotations

import hashlib
from typing import Any

from botocore.exceptions import ClientError
from chalicelib.publish.publisher import Publisher, publisher_from_env
from chalicelib.publish.retention import Retention
from chalicelib.publish.store import SUPERSEDED_TAG

from edge_reader.bundle import SdkKey, bundle_object_key, generate_sdk_key
from tests.publisher.conftest import Bucket
from tests.publisher.tablekit import TableKit


def _tagged(bucket: Bucket, key: str) -> bool:
    tags = bucket.s3.get_object_tagging(Bucket=bucket.name, Key=key)["TagSet"]
    return SUPERSEDED_TAG in tags


def _bundles(bucket: Bucket, prefix: str) -> dict[int, list[str]]:
    """Revision -> keys of the bundle objects directly under ``prefix``."""
    out: dict[int, list[str]] = {}
    resp = bucket.s3.list_objects_v2(Bucket=bucket.name, Prefix=prefix, Delimiter="/")
    for obj in resp.get("Contents", []):
        name = obj["Key"][len(prefix):]
        if name.endswith(".bundle"):
            out.setdefault(int(name.split("-")[0]), []).append(obj["Key"])
    return out


def _ops(client: Any) -> list[str]:
    names: list[str] = []
    client.meta.events.register("before-call.s3", lambda model, **_: names.append(model.name))
    return names


def _publisher(boto_session: Any, keep: int, monkeypatch: Any) -> Publisher:
    monkeypatch.setenv("VEXIL_KEEP_BUNDLES", str(keep))
    return publisher_from_env(boto_session)


def _publish_revisions(kit: TableKit, publisher: Publisher, count: int) -> None:
    kit.env(revision=1)
    kit.flag("a")
    publisher.publish(kit.project, "prod")
    for _ in range(count - 1):
        kit.bump()
        publisher.publish(kit.project, "prod")


def test_bundles_beyond_the_newest_n_are_tagged_in_every_published_scope(
    kit: TableKit, boto_session: Any, bucket: Bucket, monkeypatch: Any
) -> None:
    publisher = _publisher(boto_session, 3, monkeypatch)
    _publish_revisions(kit, publisher, 6)
    for prefix in (f"bundles/{kit.project}/prod/", f"bundles/{kit.project}/prod/scopes/client/"):
        bundles = _bundles(bucket, prefix)
        assert sorted(bundles) == [1, 2, 3, 4, 5, 6]  # tagged, not deleted: S3 expires them
        assert {r for r, keys in bundles.items() if _tagged(bucket, keys[0])} == {1, 2, 3}
    pointer = bucket.pointer(kit.project)
    assert pointer is not None
    assert not _tagged(bucket, pointer.key)


def test_a_warm_container_tags_one_bundle_per_scope_per_publish(
    kit: TableKit, boto_session: Any, monkeypatch: Any
) -> None:
    publisher = _publisher(boto_session, 2, monkeypatch)
    _publish_revisions(kit, publisher, 4)
    ops = _ops(publisher.store.s3)
    kit.bump()
    outcome = publisher.publish(kit.project, "prod")
    assert outcome.housekeeping is not None
    assert len(outcome.housekeeping.retired) == 2  # revision 3 of server and of client
    assert ops.count("PutObjectTagging") == 2
    assert ops.count("GetObjectTagging") == 0  # it remembers what it already tagged


def test_a_fresh_container_checks_one_bundle_and_re_tags_nothing(
    kit: TableKit, boto_session: Any, bucket: Bucket, monkeypatch: Any
) -> None:
    publisher = _publisher(boto_session, 2, monkeypatch)
    _publish_revisions(kit, publisher, 6)
    fresh = Retention(publisher_from_env(boto_session).store, keep=2)
    ops = _ops(fresh.store.s3)
    assert fresh.retire(kit.project, "prod", "server", revision=6, keep=2, live_key=None) == []
    assert ops.count("GetObjectTagging") == 1  # the newest candidate is tagged: stop there
    assert ops.count("PutObjectTagging") == 0


def test_a_tagging_failure_never_fails_the_publish_and_the_next_one_catches_up(
    kit: TableKit, boto_session: Any, bucket: Bucket, monkeypatch: Any
) -> None:
    publisher = _publisher(boto_session, 1, monkeypatch)
    _publish_revisions(kit, publisher, 2)

    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "Tagging")

    publisher.store.s3.meta.events.register("before-call.s3.PutObjectTagging", refuse)
    for _ in range(2):
        kit.bump()
        outcome = publisher.publish(kit.project, "prod")
        assert sorted(outcome.published) == ["client", "server"]
        assert outcome.housekeeping is not None
        assert outcome.housekeeping.errors
    pointer = bucket.pointer(kit.project)
    assert pointer is not None
    assert pointer.revision == 4
    publisher.store.s3.meta.events.unregister("before-call.s3.PutObjectTagging", refuse)
    kit.bump()
    publisher.publish(kit.project, "prod")
    bundles = _bundles(bucket, f"bundles/{kit.project}/prod/")
    assert {r for r, keys in bundles.items() if _tagged(bucket, keys[0])} == {1, 2, 3, 4}


def test_never_tags_the_live_bundle_nor_one_above_the_snapshot(
    kit: TableKit, publisher: Publisher, bucket: Bucket
) -> None:
    _publish_revisions(kit, publisher, 2)
    pointer = bucket.pointer(kit.project)
    assert pointer is not None

    def orphan(revision: int) -> str:
        # What a crashed or racing publisher leaves: an uploaded bundle no pointer names.
        sha = hashlib.sha256(f"{kit.project}{revision}".encode()).hexdigest()
        key = bundle_object_key(kit.project, "prod", "server", revision, sha)
        bucket.s3.put_object(Bucket=bucket.name, Key=key, Body=b"x")
        return key

    same_revision, newer = orphan(2), orphan(9)
    retired = publisher.retention.retire(kit.project, "prod", "server", revision=2, keep=0,
                                         live_key=pointer.key)
    assert same_revision in retired
    assert pointer.key not in retired
    assert newer not in retired
    assert not _tagged(bucket, pointer.key)
    assert not _tagged(bucket, newer)


def _scoped(kit: TableKit, publisher: Publisher, **limits: Any) -> SdkKey:
    key = generate_sdk_key("srv")
    kit.sdk_key(key, publisher.envelope.key_store.kms_key_arn, **limits)
    return key


def test_a_revoked_keys_scope_loses_its_pointer_and_its_bundles_expire(
    kit: TableKit, publisher: Publisher, bucket: Bucket
) -> None:
    kit.env(revision=1)
    kit.flag("a", tags=["x"])
    gone = _scoped(kit, publisher, tags=("x",))
    kept = _scoped(kit, publisher, prefixes=("a",))
    publisher.publish(kit.project, "prod")
    assert bucket.pointer(kit.project, scope=gone.scope_name) is not None
    kit.sdk_key(gone, publisher.envelope.key_store.kms_key_arn, tags=("x",),
                revoked_at="2026-11-24T07:00:00.000Z")
    kit.bump()
    outcome = publisher.publish(kit.project, "prod")
    assert outcome.housekeeping is not None
    assert outcome.housekeeping.removed_scopes == [gone.scope_name]
    assert bucket.pointer(kit.project, scope=gone.scope_name) is None
    gone_bundles = _bundles(bucket, f"bundles/{kit.project}/prod/scopes/{gone.scope_name}/")
    assert gone_bundles
    assert all(_tagged(bucket, k) for keys in gone_bundles.values() for k in keys)
    live = bucket.pointer(kit.project, scope=kept.scope_name)
    assert live is not None
    assert live.revision == 2
    assert not _tagged(bucket, live.key)


def test_a_key_that_loses_its_limits_loses_its_scope(
    kit: TableKit, publisher: Publisher, bucket: Bucket
) -> None:
    kit.env(revision=1)
    kit.flag("a", tags=["x"])
    key = _scoped(kit, publisher, tags=("x",))
    publisher.publish(kit.project, "prod")
    kit.sdk_key(key, publisher.envelope.key_store.kms_key_arn)  # now unscoped: reads server
    kit.bump()
    outcome = publisher.publish(kit.project, "prod")
    assert outcome.housekeeping is not None
    assert outcome.housekeeping.removed_scopes == [key.scope_name]
    assert bucket.pointer(kit.project, scope=key.scope_name) is None
    again = publisher.publish(kit.project, "prod")  # idempotent: nothing left to do
    assert again.published == []


def test_a_scope_a_newer_publisher_wrote_is_left_alone(
    kit: TableKit, publisher: Publisher, bucket: Bucket
) -> None:
    kit.env(revision=1)
    kit.flag("a", tags=["x"])
    newer_key = generate_sdk_key("srv")  # in the table only from revision 5 on (say)
    publisher.publish(kit.project, "prod")
    live = bucket.pointer(kit.project)
    assert live is not None
    from dataclasses import replace

    sha = "ef" * 32
    newer = replace(live, scope=newer_key.scope_name, revision=5, sha256=sha,
                    key=bundle_object_key(kit.project, "prod", newer_key.scope_name, 5, sha))
    publisher.store.put_pointer(newer, None)
    kit.bump()
    outcome = publisher.publish(kit.project, "prod")  # revision 2 knows nothing of that key
    assert outcome.housekeeping is not None
    assert outcome.housekeeping.removed_scopes == []
    assert bucket.pointer(kit.project, scope=newer_key.scope_name) == newer


def test_an_outdated_snapshot_publishes_no_scope_at_all(
    kit: TableKit, publisher: Publisher, bucket: Bucket
) -> None:
    kit.env(revision=4)
    kit.flag("a", tags=["x"])
    publisher.publish(kit.project, "prod")
    # A stale snapshot (revision 3) that still has a scoped key the live revision lacks
    # must not resurrect (or create) that key's scope.
    key = _scoped(kit, publisher, tags=("x",))
    kit.env(revision=3)
    outcome = publisher.publish(kit.project, "prod")
    assert outcome.published == []
    assert bucket.pointer(kit.project, scope=key.scope_name) is None
