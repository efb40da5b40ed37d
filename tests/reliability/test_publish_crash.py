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
    from chalicelib.publisher import publisher_from_env

    publisher.store.put_pointer = real_put_pointer
    outcome = publisher_from_env(boto3.session.Session()).publish(p, "prod")
    assert sorted(outcome.published) == ["client", "server"]
    assert live_revision(p) == rev2
    assert client.refresh().outcome == "updated"
    assert client.status().revision == rev2
    assert client.get_boolean("checkout", USER, True) is False


@pytest.mark.parametrize("fault", ["kms", "s3-bundle", "s3-pointer"])
def test_aws_errors_mid_publish_leave_the_old_bundle_live(
    plane: Plane, publisher: Any, origin: OriginProxy, fault: str
) -> None:
    p, key, rev1 = _published_env(plane, publisher)
    client = reader(origin, p, key)
    assert client.refresh().outcome == "updated"
    assert plane.api.put(f"/v1/projects/{p}/environments/prod/flags/checkout", OFF,
                         if_match=2).status_code == 200
    rev2 = int(plane.env_item(p)["revision"])

    def boom(params: dict[str, Any], **_: Any) -> None:
        key_name = str(params.get("Key", ""))
        if fault == "kms" or (fault == "s3-bundle") == key_name.endswith(".bundle"):
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "x"}}, "op")

    target, event = ((publisher.kms_client, "before-parameter-build.kms.GenerateDataKey")
                     if fault == "kms" else
                     (publisher.store.s3, "before-parameter-build.s3.PutObject"))
    target.meta.events.register(event, boom)
    from chalicelib.publisher import PublishError

    with pytest.raises(PublishError) as info:
        publisher.publish(p, "prod")
    assert info.value.stage.split(":")[0] == {
        "kms": "encrypt", "s3-bundle": "s3-put-bundle", "s3-pointer": "s3-put-pointer"}[fault]
    assert live_revision(p) == rev1
    assert client.refresh().ok
    assert client.status().revision == rev1
    assert client.get_boolean("checkout", USER, False) is True
    target.meta.events.unregister(event, boom)
    publisher.publish(p, "prod")  # the stream retry
    assert live_revision(p) == rev2
    assert client.refresh().outcome == "updated"
    assert client.get_boolean("checkout", USER, True) is False
