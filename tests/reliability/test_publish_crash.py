"""The publisher dies (or AWS fails) between uploading a bundle and moving the pointer.

A reader polls the real bucket (through a loopback CDN stand-in) after every step: it never
sees a broken pointer, keeps the previous bundle, and moves once the next run publishes.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from edge_reader import ClientStatus
from tests.reliability.conftest import Plane
from tests.reliability.faults import Injector, json_error
from tests.reliability.readers import OriginProxy, live_revision, reader

ON = {"enabled": True, "off_variation": "off", "default": {"variation": "on"}}
OFF = {**ON, "enabled": False}
USER = {"targetingKey": "u-1"}


class Crash(BaseException):
    """The process dies here (not an Exception: no handler in the publisher catches it)."""


def _published_env(plane: Plane, publisher: Any) -> tuple[str, str, int]:
    p = plane.project()
    plane.flag(p)
    key = str(plane.sdk_key(p)["key"])
    assert plane.api.put(f"/v1/projects/{p}/environments/prod/flags/checkout", ON,
                         if_match=1).status_code == 200
    publisher.publish(p, "prod")
    return p, key, int(plane.env_item(p)["revision"])


def _bundle_keys(project: str) -> set[str]:
    import os

    s3 = boto3.session.Session().client("s3")
    out = s3.list_objects_v2(Bucket=os.environ["VEXIL_BUCKET"], Prefix=f"bundles/{project}/")
    return {o["Key"] for o in out.get("Contents", []) if o["Key"].endswith(".bundle")}


def test_crash_after_upload_before_pointer_keeps_readers_on_the_old_bundle(
    plane: Plane, publisher: Any, origin: OriginProxy
) -> None:
    p, key, rev1 = _published_env(plane, publisher)
    client = reader(origin, p, key)
    assert client.refresh().outcome == "updated"
    assert client.get_boolean("checkout", USER, False) is True

    assert plane.api.put(f"/v1/projects/{p}/environments/prod/flags/checkout", OFF,
                         if_match=2).status_code == 200
    rev2 = int(plane.env_item(p)["revision"])
    uploaded_before = _bundle_keys(p)

    def die(*_: Any, **__: Any) -> None:
        raise Crash

    real_put_pointer = publisher.store.put_pointer
    publisher.store.put_pointer = die
    with pytest.raises(Crash):
        publisher.publish(p, "prod")
    assert len(_bundle_keys(p) - uploaded_before) == 2  # server + client bundles uploaded
    assert live_revision(p) == rev1  # ...but nothing made live

    result = client.refresh()
    assert result.ok
    assert result.outcome == "unchanged"
    assert client.status().state is ClientStatus.READY
    assert client.status().revision == rev1
    assert client.get_boolean("checkout", USER, False) is True

    # the next run (a fresh container) completes the publish
    from chalicelib.publish.publisher import publisher_from_env

    publisher.store.put_pointer = real_put_pointer
    outcome = publisher_from_env(boto3.session.Session()).publish(p, "prod")
    assert sorted(outcome.published) == ["client", "server"]
    assert live_revision(p) == rev2
    assert client.refresh().outcome == "updated"
    assert client.status().revision == rev2
    assert client.get_boolean("checkout", USER, True) is False


def _branch_key_fault(publisher: Any, fault: str) -> Injector:
    """A fault in the branch-key path of a fresh container, at botocore's HTTP layer:
    the KMS unwrap of the branch key, or the key store read that precedes it."""
    store = publisher.envelope.key_store
    if fault == "kms":
        return Injector(store.kms, "Decrypt",
                        lambda: json_error(500, "KMSInternalException"), times=None)
    return Injector(store.dynamodb, "GetItem",
                    lambda: json_error(400, "ProvisionedThroughputExceededException"), times=None)


@pytest.mark.parametrize(
    "fault", ["kms", "key-store", "kms-sign", "kms-public-key", "s3-bundle", "s3-pointer"])
def test_aws_errors_mid_publish_leave_the_old_bundle_live(
    plane: Plane, publisher: Any, origin: OriginProxy, fault: str
) -> None:
    from chalicelib.publish.publisher import PublishError, publisher_from_env

    p, key, rev1 = _published_env(plane, publisher)
    client = reader(origin, p, key)
    assert client.refresh().outcome == "updated"
    assert plane.api.put(f"/v1/projects/{p}/environments/prod/flags/checkout", OFF,
                         if_match=2).status_code == 200
    rev2 = int(plane.env_item(p)["revision"])
    if fault in ("kms", "key-store"):
        # A fresh container: its keyring has no branch-key material yet. The branch key
        # exists (the first publish made it), so the only reads are the keyring's own.
        publisher = publisher_from_env(boto3.session.Session())
        publisher.envelope.key_store.ensure(p, "prod")
        injector = _branch_key_fault(publisher, fault).arm(times=None)
        undo = injector.disarm
    elif fault in ("kms-sign", "kms-public-key"):
        # The pointer signature: Sign itself, or (a fresh container) the public key it needs
        # first. KMS answers 500 on every attempt, botocore's retries included.
        if fault == "kms-public-key":
            publisher = publisher_from_env(boto3.session.Session())
        assert publisher.signer is not None
        operation = "Sign" if fault == "kms-sign" else "GetPublicKey"
        injector = Injector(publisher.signer.kms, operation,
                            lambda: json_error(500, "KMSInternalException"), times=None)
        injector.arm(times=None)
        undo = injector.disarm
    else:
        def boom(params: dict[str, Any], **_: Any) -> None:
            key_name = str(params.get("Key", ""))
            if (fault == "s3-bundle") == key_name.endswith(".bundle"):
                raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "x"}},
                                  "op")

        event = "before-parameter-build.s3.PutObject"
        publisher.store.s3.meta.events.register(event, boom)

        def undo() -> None:
            publisher.store.s3.meta.events.unregister(event, boom)

    uploaded_before = _bundle_keys(p)
    with pytest.raises(PublishError) as info:
        publisher.publish(p, "prod")
    assert info.value.stage.split(":")[0] == {
        "kms": "encrypt", "key-store": "encrypt", "kms-sign": "sign", "kms-public-key": "sign",
        "s3-bundle": "s3-put-bundle", "s3-pointer": "s3-put-pointer"}[fault]
    if fault not in ("s3-bundle", "s3-pointer"):
        assert injector.fired >= 1
    if fault in ("kms-sign", "kms-public-key"):
        assert _bundle_keys(p) == uploaded_before  # signed before anything is written
    assert live_revision(p) == rev1
    assert client.refresh().ok
    assert client.status().revision == rev1
    assert client.get_boolean("checkout", USER, False) is True
    undo()
    publisher.publish(p, "prod")  # the stream retry
    assert live_revision(p) == rev2
    assert client.refresh().outcome == "updated"
    assert client.get_boolean("checkout", USER, True) is False


def test_a_failed_branch_key_creation_publishes_nothing_and_the_retry_creates_it(
    plane: Plane, publisher: Any, origin: OriginProxy
) -> None:
    from chalicelib.publish.publisher import PublishError

    p = plane.project()
    plane.flag(p)
    assert plane.api.put(f"/v1/projects/{p}/environments/prod/flags/checkout", ON,
                         if_match=1).status_code == 200
    store = publisher.envelope.key_store
    injector = Injector(store.dynamodb, "TransactWriteItems",
                        lambda: json_error(500, "InternalServerError")).arm(times=None)
    with pytest.raises(PublishError, match="encrypt:server"):
        publisher.publish(p, "prod")
    assert injector.fired >= 1
    assert live_revision(p) is None
    assert not store.exists(p, "prod")
    injector.disarm()
    assert sorted(publisher.publish(p, "prod").published) == ["client", "server"]
    assert store.exists(p, "prod")
    assert live_revision(p) == int(plane.env_item(p)["revision"])
