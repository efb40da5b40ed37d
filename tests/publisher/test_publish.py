"""Publishing one environment: content, headers, idempotence, failure leaves the old bundle."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from botocore.exceptions import ClientError
from chalicelib.publish.build import build_scopes
from chalicelib.publish.publisher import Publisher, PublishError, publisher_from_env
from chalicelib.publish.snapshot import SnapshotReader

from edge_reader.bundle import (
    decode_bundle_document,
    decrypt_bundle,
    encode_bundle_document,
    encryption_context,
    generate_sdk_key,
)
from edge_reader.engine import compile_environment
from tests.publisher.conftest import Bucket, kms_access
from tests.publisher.tablekit import TableKit


def _calls(client: Any, service: str) -> list[str]:
    names: list[str] = []
    client.meta.events.register(f"before-call.{service}",
                                lambda model, **_: names.append(model.name))
    return names


def _fail_once(client: Any, event: str, code: str = "InternalError") -> list[int]:
    """Make the next call matching ``event`` fail with a ClientError (one call only)."""
    fired: list[int] = []

    def hook(**_: Any) -> None:
        if not fired:
            fired.append(1)
            raise ClientError({"Error": {"Code": code, "Message": "injected"}}, "Injected")

    client.meta.events.register(event, hook)
    return fired


def _open(bucket: Bucket, kit: TableKit, key: Any, scope: str = "server") -> dict[str, Any]:
    pointer = bucket.pointer(kit.project, scope=scope)
    assert pointer is not None
    plaintext = decrypt_bundle(
        bucket.body(pointer.key), sdk_key=key,
        expected=encryption_context(kit.project, "prod", pointer.revision, scope))
    return decode_bundle_document(plaintext)


def test_publishes_a_compilable_encrypted_bundle_with_the_documented_content(
    kit: TableKit, publisher: Publisher, bucket: Bucket, vexil_resources: dict[str, str]
) -> None:
    key = generate_sdk_key("srv")
    kit.env(revision=3, updated_at="2026-11-24T06:01:02.345Z")
    kit.flag("checkout", version=4, tags=["shop"])
    kit.segment("staff", {"context_kind": "user", "included": ["u-1"], "excluded": [],
                          "rules": []})
    kit.sdk_key(key, vexil_resources["VEXIL_KMS_KEY_ID"])

    outcome = publisher.publish(kit.project, "prod")

    assert outcome.revision == 3
    assert sorted(outcome.published) == ["client", "server"]
    pointer = bucket.pointer(kit.project)
    assert pointer is not None
    assert pointer.revision == 3
    assert pointer.generated_at == "2026-11-24T06:01:02.345Z"
    assert pointer.key == f"bundles/{kit.project}/prod/3-{pointer.sha256}.bundle"
    ciphertext = bucket.body(pointer.key)
    assert hashlib.sha256(ciphertext).hexdigest() == pointer.sha256
    assert len(ciphertext) == pointer.size
    doc = _open(bucket, kit, key)
    assert {k: doc[k] for k in ("format", "engine", "project", "environment", "scope",
                                "revision", "generated_at", "audit_head")} == {
        "format": 1, "engine": "1", "project": kit.project, "environment": "prod",
        "scope": "server", "revision": 3, "generated_at": "2026-11-24T06:01:02.345Z",
        "audit_head": "ab" * 32}
    assert doc["flags"]["checkout"]["version"] == 4
    assert doc["flags"]["checkout"]["tags"] == ["shop"]
    assert set(doc["segments"]) == {"staff"}
    env = compile_environment(doc, strict=True)
    assert env.get_boolean("checkout", {"targetingKey": "u-1"}, False) is True
    plaintext = encode_bundle_document(doc)
    assert key.text.encode() not in plaintext
    assert b"wrapped_secret" not in plaintext
    assert b"SDKKEY" not in plaintext


def test_objects_carry_the_cache_headers(kit: TableKit, publisher: Publisher,
                                         bucket: Bucket) -> None:
    kit.env(revision=1)
    kit.flag("a")
    publisher.publish(kit.project, "prod")
    pointer = bucket.pointer(kit.project)
    assert pointer is not None
    head = bucket.head(pointer.key)
    assert head["CacheControl"] == "public, max-age=31536000, immutable"
    assert head["ContentType"] == "application/vnd.vexil.bundle"
    phead = bucket.head(f"bundles/{kit.project}/prod/current.json")
    assert phead["CacheControl"] == (
        "public, max-age=5, stale-while-revalidate=30, stale-if-error=86400")
    assert phead["ContentType"] == "application/json"


def test_kms_alone_opens_the_published_bundle(kit: TableKit, publisher: Publisher,
                                              bucket: Bucket) -> None:
    kit.env(revision=2)
    kit.flag("a")
    publisher.publish(kit.project, "prod")
    pointer = bucket.pointer(kit.project)
    assert pointer is not None
    plaintext = decrypt_bundle(
        bucket.body(pointer.key), **kms_access(publisher),
        expected=encryption_context(kit.project, "prod", 2, "server"))
    assert set(orjson.loads(plaintext)["flags"]) == {"a"}


def test_identical_state_gives_byte_identical_plaintext(
    kit: TableKit, publisher: Publisher
) -> None:
    kit.env(revision=5, updated_at="2026-11-24T06:00:05.000Z")
    kit.flag("b")
    kit.flag("a", tags=["x"])
    reader: SnapshotReader = publisher.reader
    first = reader.read(kit.project, "prod")
    second = reader.read(kit.project, "prod")
    assert first is not None
    assert second is not None
    docs1 = [encode_bundle_document(b.document) for b in build_scopes(first, engine="1")]
    docs2 = [encode_bundle_document(b.document) for b in build_scopes(second, engine="1")]
    assert docs1 == docs2
    assert b"2026-11-24T06:00:05.000Z" in docs1[0]


def test_second_publish_of_the_same_revision_writes_nothing(
    kit: TableKit, publisher: Publisher, bucket: Bucket
) -> None:
    kit.env(revision=1)
    kit.flag("a")
    publisher.publish(kit.project, "prod")
    s3_calls = _calls(publisher.store.s3, "s3")
    kms_calls = _calls(publisher.envelope.key_store.kms, "kms")
    key_store_calls = _calls(publisher.envelope.key_store.dynamodb, "dynamodb")
    outcome = publisher.publish(kit.project, "prod")
    assert outcome.published == []
    assert {s.status for s in outcome.scopes} == {"up-to-date"}
    assert outcome.housekeeping is None
    assert "PutObject" not in s3_calls
    assert "PutObjectTagging" not in s3_calls
    assert kms_calls == []
    assert key_store_calls == []


def test_a_new_revision_advances_the_pointer_and_keeps_the_old_object(
    kit: TableKit, publisher: Publisher, bucket: Bucket
) -> None:
    kit.env(revision=1)
    kit.flag("a")
    publisher.publish(kit.project, "prod")
    old = bucket.pointer(kit.project)
    kit.flag("b")
    kit.bump()
    publisher.publish(kit.project, "prod")
    new = bucket.pointer(kit.project)
    assert old is not None
    assert new is not None
    assert (old.revision, new.revision) == (1, 2)
    assert new.key != old.key
    assert bucket.body(old.key)  # immutable objects stay for rollback and slow readers


def test_the_pointer_never_goes_back_to_an_older_table_revision(
    kit: TableKit, publisher: Publisher, bucket: Bucket
) -> None:
    kit.env(revision=7)
    kit.flag("a")
    publisher.publish(kit.project, "prod")
    kit.env(revision=4)  # e.g. a restore of an older table state
    outcome = publisher.publish(kit.project, "prod")
    assert outcome.published == []
    pointer = bucket.pointer(kit.project)
    assert pointer is not None
    assert pointer.revision == 7


def test_a_compile_error_fails_loudly_and_keeps_the_previous_bundle(
    kit: TableKit, publisher: Publisher, bucket: Bucket, caplog: pytest.LogCaptureFixture
) -> None:
    kit.env(revision=1)
    kit.flag("a")
    publisher.publish(kit.project, "prod")
    kit.raw_config("a", orjson.dumps({"enabled": True, "default": {"variation": "nope"}})
                   .decode())
    kit.bump()
    with pytest.raises(PublishError) as info:
        publisher.publish(kit.project, "prod")
    assert info.value.stage == "compile:server"
    assert "flags.a" in info.value.reason
    pointer = bucket.pointer(kit.project)
    assert pointer is not None
    assert pointer.revision == 1
    # The structured (powertools) log record carries the correlation keys as fields.
    failed = [r for r in caplog.records
              if r.getMessage() == "publish failed; previous bundle stays live"]
    assert failed
    assert failed[-1].levelname == "ERROR"
    assert failed[-1].stage == "compile:server"  # type: ignore[attr-defined]
    assert failed[-1].project == kit.project  # type: ignore[attr-defined]


def test_a_malformed_item_fails_the_snapshot_stage(kit: TableKit, publisher: Publisher) -> None:
    kit.env(revision=1)
    kit.flag("a")
    kit.raw_config("a", "{not json")
    with pytest.raises(PublishError, match=r"flags\.a\.body"):
        publisher.publish(kit.project, "prod")


@pytest.mark.parametrize(
    ("client", "event", "stage"),
    [
        ("s3", "before-call.s3.PutObject", "s3-put-bundle"),
        # A fresh container unwraps the branch key (KMS) after reading it (key store).
        ("kms", "before-call.kms.Decrypt", "encrypt"),
        ("key-store", "before-call.dynamodb.GetItem", "encrypt"),
        ("s3", "before-call.s3.GetObject", "s3-read-pointer"),
    ],
)
def test_an_aws_failure_mid_publish_leaves_the_pointer_and_the_retry_succeeds(
    kit: TableKit, publisher: Publisher, bucket: Bucket, client: str, event: str, stage: str,
    boto_session: Any
) -> None:
    kit.env(revision=1)
    kit.flag("a")
    publisher.publish(kit.project, "prod")
    kit.flag("b")
    kit.bump()
    # A fresh container knows no pointer yet, so it must read them (the GetObject case).
    publisher = publisher_from_env(boto_session)
    target = {"s3": publisher.store.s3, "kms": publisher.envelope.key_store.kms,
              "key-store": publisher.envelope.key_store.dynamodb}[client]
    fired = _fail_once(target, event)
    with pytest.raises(PublishError) as info:
        publisher.publish(kit.project, "prod")
    assert fired == [1]
    assert info.value.stage.startswith(stage)
    pointer = bucket.pointer(kit.project)
    assert pointer is not None
    assert pointer.revision == 1
    publisher.publish(kit.project, "prod")  # the retry
    pointer = bucket.pointer(kit.project)
    assert pointer is not None
    assert pointer.revision == 2


def test_a_failed_pointer_write_is_retried_cleanly(
    kit: TableKit, publisher: Publisher, bucket: Bucket
) -> None:
    kit.env(revision=1)
    kit.flag("a")
    # PutObject #1 and #2 are the two bundles; #3 is the first pointer.
    count = [0]

    def hook(params: dict[str, Any], **_: Any) -> None:
        if params.get("Key", "").endswith("current.json"):
            count[0] += 1
            if count[0] == 1:
                raise ClientError({"Error": {"Code": "SlowDown", "Message": "x"}}, "PutObject")

    publisher.store.s3.meta.events.register("before-parameter-build.s3.PutObject", hook)
    with pytest.raises(PublishError, match="s3-put-pointer:server"):
        publisher.publish(kit.project, "prod")
    assert bucket.pointer(kit.project) is None
    outcome = publisher.publish(kit.project, "prod")
    assert sorted(outcome.published) == ["client", "server"]


def test_a_missing_environment_publishes_nothing(publisher: Publisher, kit: TableKit) -> None:
    outcome = publisher.publish(kit.project, "prod")
    assert outcome.revision is None
    assert outcome.scopes == []


def test_cloudfront_invalidation_names_the_published_pointers(
    kit: TableKit, publisher: Publisher
) -> None:
    import boto3
    from botocore.stub import ANY, Stubber

    cloudfront = boto3.session.Session().client("cloudfront")
    stub = Stubber(cloudfront)
    stub.add_response(
        "create_invalidation",
        {"Location": "x", "Invalidation": {
            "Id": "I1", "Status": "InProgress", "CreateTime": "2026-11-24T06:00:00Z",
            "InvalidationBatch": {"Paths": {"Quantity": 2, "Items": ["a", "b"]},
                                  "CallerReference": "c"}}},
        {"DistributionId": "E123", "InvalidationBatch": {
            "Paths": {"Quantity": 2, "Items": [f"/bundles/{kit.project}/prod/current.json",
                                               f"/bundles/{kit.project}/prod/scopes/client/"
                                               "current.json"]},
            "CallerReference": ANY}},
    )
    publisher.store.cloudfront = cloudfront
    publisher.store.distribution_id = "E123"
    kit.env(revision=1)
    kit.flag("a")
    with stub:
        outcome = publisher.publish(kit.project, "prod")
    assert outcome.invalidation_id == "I1"
    stub.assert_no_pending_responses()


def test_nginx_cache_layout_matches_nginx_documentation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # nginx docs: with levels=1:2, md5 b7f54b2df7773722d382f4809d65029c lives under c/29/.
    from chalicelib.publish import store

    class FakeMd5:
        def hexdigest(self) -> str:
            return "b7f54b2df7773722d382f4809d65029c"

    monkeypatch.setattr("chalicelib.publish.store.hashlib.md5", lambda *a, **k: FakeMd5())
    assert store.nginx_cache_file(tmp_path, "x") == (
        tmp_path / "c" / "29" / "b7f54b2df7773722d382f4809d65029c")


def test_local_cdn_cache_entries_are_purged_after_a_publish(
    kit: TableKit, publisher: Publisher, tmp_path: Path
) -> None:
    from chalicelib.publish.store import nginx_cache_file

    kit.env(revision=1)
    kit.flag("a")
    server_pointer = f"bundles/{kit.project}/prod/current.json"
    cached = nginx_cache_file(tmp_path, server_pointer)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"stale pointer")
    publisher.store.local_cdn_cache_dir = tmp_path
    outcome = publisher.publish(kit.project, "prod")
    assert not cached.exists()
    assert outcome.invalidation_id == "local:1"
