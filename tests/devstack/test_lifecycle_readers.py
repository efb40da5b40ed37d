"""Lifecycle runs of the emulator against the real publisher and a real reader.

The publisher (keeping 3 bundles per scope) publishes revision after revision into the
session's bundle bucket, which has the local stack's lifecycle rules; after every publish the
test runs the emulator's lifecycle as if 100 days had passed — more than any rule waits — so
every tagged bundle goes. A FlagClient reading through S3 keeps getting each new revision,
and no bundle a pointer names, nor any of the newest 3 per scope, is ever deleted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from chalicelib.publish.publisher import Publisher, publisher_from_env

from edge_reader.bundle import pointer_object_key
from edge_reader.client import FlagClient
from tests.publisher.conftest import (  # noqa: F401 - fixtures used by name
    Bucket,
    boto_session,
    bucket,
    kit,
    kms_access,
    s3,
)
from tests.publisher.tablekit import TableKit
from tests.publisher.test_pointer_trust import S3Transport
from vexil.devstack import emulator_lifecycle

KEEP = 3
USER = {"targetingKey": "u-1"}
SCOPES = ("server", "client")


@pytest.fixture
def keeping_publisher(boto_session: Any, monkeypatch: pytest.MonkeyPatch) -> Publisher:  # noqa: F811
    monkeypatch.setenv("VEXIL_KEEP_BUNDLES", str(KEEP))
    return publisher_from_env(boto_session)


@pytest.fixture
def reader(kit: TableKit, keeping_publisher: Publisher, bucket: Bucket  # noqa: F811
           ) -> Iterator[FlagClient]:
    url = f"http://s3.test/{pointer_object_key(kit.project, 'prod', 'server')}"
    client = FlagClient(project=kit.project, environment="prod", pointer_url=url, start=False,
                        transport=S3Transport(bucket.s3, bucket.name),
                        **kms_access(keeping_publisher))
    yield client
    client.close()


def _lifecycle_pass() -> dict[str, int]:
    """One lifecycle run as if 100 days had passed (a marker from this run is 100 days old
    in the next)."""
    later = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=100)
    return emulator_lifecycle.apply_lifecycle(now=later, day=86400.0)


def _versions(store: Bucket, prefix: str) -> dict[str, int]:
    """Key -> number of versions and delete markers under ``prefix`` (one level)."""
    page = store.s3.list_object_versions(Bucket=store.name, Prefix=prefix, Delimiter="/")
    out: dict[str, int] = {}
    for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
        out[entry["Key"]] = out.get(entry["Key"], 0) + 1
    return out


def test_reader_keeps_reading_and_live_bundles_survive_expiry(
    kit: TableKit, keeping_publisher: Publisher, bucket: Bucket,  # noqa: F811
    reader: FlagClient,
) -> None:
    kit.env(revision=1)
    kit.flag("kill", default={"variation": "off"})
    keeping_publisher.publish(kit.project, "prod")
    revision, deleted = 1, 0
    for n in range(2, 10):
        kit.flag("kill", version=n, default={"variation": "on" if n % 2 else "off"})
        revision = kit.bump()
        assert "server" in keeping_publisher.publish(kit.project, "prod").published
        deleted += _lifecycle_pass()["s3_versions_deleted"]
        deleted += _lifecycle_pass()["s3_versions_deleted"]
        result = reader.refresh()
        assert (result.outcome, result.revision) == ("updated", revision), result
        assert reader.get_boolean("kill", USER, False) is (n % 2 == 1)
    assert deleted > 0  # the passes did delete: this test exercised expiry
    for scope in SCOPES:
        live = bucket.pointer(kit.project, scope=scope)
        assert live is not None
        assert live.revision == revision
        prefix = live.key.rsplit("/", 1)[0] + "/"
        bundles = {k: n for k, n in _versions(bucket, prefix).items() if k.endswith(".bundle")}
        # Exactly the newest KEEP revisions remain, each one version, no marker left over.
        assert sorted(int(k.rsplit("/", 1)[1].split("-")[0]) for k in bundles) == list(
            range(revision - KEEP + 1, revision + 1))
        assert set(bundles.values()) == {1}
        assert live.key in bundles
        assert bucket.body(live.key)
