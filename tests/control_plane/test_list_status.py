"""A list segment that is not loaded, or only its previous members, shows in the reader's
status (``FlagClient.status()``) and in the OFREP edge's ``/healthz``, with the reason; once
the shards can be fetched again the next refresh cycle loads them and the status is READY.

Real parts: the API (world), the publisher on moto, a FlagClient over HTTP through an
origin proxy; the CDN fault is a shard object missing from the bucket (404).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
from chalicelib.publish.publisher import publisher_from_env

from edge_reader import ClientStatus, FlagClient
from edge_reader.bundle import generate_sdk_key
from edge_reader.edge._app import OfrepApp
from edge_reader.edge._config import parse_config
from tests.control_plane.conftest import World
from tests.control_plane.test_list_segments import _setup
from tests.reliability.readers import OriginProxy


@pytest.fixture
def origin(vexil_resources: dict[str, str]) -> Iterator[OriginProxy]:
    proxy = OriginProxy()
    yield proxy
    proxy.stop()


def _shards(s3: Any, bucket: str, ref: dict[str, Any]) -> list[str]:
    body = s3.get_object(Bucket=bucket, Key=ref["manifest"])["Body"].read()
    return [e["key"] for e in orjson.loads(body)["shards"] if e]


def _healthz(client: FlagClient, p: str) -> dict[str, Any]:
    config = parse_config({"cdn": "http://127.0.0.1:9", "environments": [
        {"project": p, "environment": "dev", "sdk_key": generate_sdk_key("cli").text}]})
    app = OfrepApp(config, lambda env: client, lazy_start=True)
    response = app.handle("GET", "/healthz", {}, b"")
    assert response.status == 200  # still serving: degraded, not down
    envs: list[dict[str, Any]] = orjson.loads(response.body)["environments"]
    return envs[0]


def test_a_list_not_loaded_or_stale_shows_in_status_and_healthz(
        world: World, origin: OriginProxy, tmp_path: Path) -> None:
    p, members = _setup(world)
    key = world.api.post(f"/v1/projects/{p}/environments/dev/sdk-keys",
                         {"kind": "server"}).json["key"]
    publisher = publisher_from_env(boto3.session.Session())
    s3, bucket = boto3.session.Session().client("s3"), os.environ["VEXIL_BUCKET"]
    ids = [f"user-{i}" for i in range(400)]
    assert world.api.post(members, {"batch_id": "b1", "add": ids}).status_code == 200
    first = dict(publisher.publish(p, "dev").lists["beta"].ref)

    def client(where: str) -> FlagClient:
        return FlagClient(project=p, environment="dev", sdk_key=key, mode="lambda",
                          pointer_url=origin.pointer_url(p, "dev"), cache_dir=str(tmp_path / where))

    warm = client("warm")
    assert warm.refresh().ok
    assert warm.status().state is ClientStatus.READY
    assert warm.status().error_kind is None

    # A delta whose new shard the CDN cannot serve: the old members keep serving, said so.
    assert world.api.post(members, {"batch_id": "b2", "add": ["newcomer"]}).status_code == 200
    second = dict(publisher.publish(p, "dev").lists["beta"].ref)
    (new_shard,) = set(_shards(s3, bucket, second)) - set(_shards(s3, bucket, first))
    saved = s3.get_object(Bucket=bucket, Key=new_shard)["Body"].read()
    s3.delete_object(Bucket=bucket, Key=new_shard)
    assert warm.refresh().ok  # the bundle itself loaded
    status = warm.status()
    assert status.state is ClientStatus.STALE
    assert status.error_kind == "list_stale"
    assert "'beta' serves its previous members" in (status.reason or "")
    assert "404" in (status.reason or "")
    assert warm.get_boolean("beta-ui", {"key": ids[0]}, False) is True  # last good list
    health = _healthz(warm, p)
    assert (health["state"], health["error_kind"]) == ("STALE", "list_stale")

    # A reader with no last good list: its clauses match no one, and the status says so.
    cold = client("cold")
    assert cold.refresh().ok
    status = cold.status()
    assert status.state is ClientStatus.STALE
    assert status.error_kind == "list_not_loaded"
    assert "list segment 'beta' is not loaded" in (status.reason or "")
    assert cold.get_boolean("beta-ui", {"key": ids[0]}, True) is False

    # The shard is back: the next cycle loads it (before its pointer check) and both recover.
    s3.put_object(Bucket=bucket, Key=new_shard, Body=saved)
    for reader in (warm, cold):
        assert reader.refresh().ok
        assert reader.status().state is ClientStatus.READY, reader.status()
        assert reader.get_boolean("beta-ui", {"key": "newcomer"}, False) is True
        reader.close()
