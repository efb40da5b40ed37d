"""The OFREP edge counts what it serves and sends the summary with its client key: at the
end of a Lambda invocation once due, and never when configured off."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from edge_reader.bundle import SdkKey
from edge_reader.edge import lambda_handler
from edge_reader.edge._config import ConfigError, parse_config
from tests.client.bundles import BundleFactory
from tests.client.cdn import LoopbackCdn
from tests.client.ingest import IngestServer
from tests.edge.edgekit import edge_config, publish_client_bundle

EVENTS = Path(__file__).parent / "events"


@pytest.fixture
def ingest() -> Iterator[IngestServer]:
    server = IngestServer()
    yield server
    server.close()


def _configure(tmp_path: Path, cdn: LoopbackCdn, factory: BundleFactory, client_key: SdkKey,
               monkeypatch: pytest.MonkeyPatch, **extra: Any) -> None:
    publish_client_bundle(cdn, factory, client_key)
    config = tmp_path / "vexil-edge.json"
    config.write_bytes(orjson.dumps(edge_config(cdn, client_key, lambda_ttl=3600, **extra)))
    monkeypatch.setenv("VEXIL_EDGE_CONFIG", str(config))
    lambda_handler.reset_app()


def _call(key: SdkKey, path: str = "/ofrep/v1/evaluate/flags/b") -> dict[str, Any]:
    ev = copy.deepcopy(orjson.loads((EVENTS / "apigw_v2.json").read_bytes()))
    ev["headers"]["authorization"] = f"Bearer {key.text}"
    ev["rawPath"] = path
    ev["requestContext"]["http"]["path"] = path
    return dict(lambda_handler.handler(ev, None))


def test_lambda_invocations_send_their_summary_once_due(
        tmp_path: Path, cdn: LoopbackCdn, factory: BundleFactory, client_key: SdkKey,
        ingest: IngestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _configure(tmp_path, cdn, factory, client_key, monkeypatch, insights_url=ingest.url,
               insights_flush_interval=3600)
    try:
        for _ in range(3):
            assert _call(client_key)["statusCode"] == 200
        assert _call(client_key, "/ofrep/v1/evaluate/flags")["statusCode"] == 200  # bulk
        assert ingest.bodies == []  # not due yet: nothing on the request path
        (client,) = lambda_handler.get_app().clients
        assert client.insights is not None
        counts = client.insights.window.counters()
        assert counts[("b", "on", "STATIC")] == 4  # three single evaluations and the bulk one
        assert ("secret", "on", "STATIC") not in counts  # never served, never counted
        assert counts[("s", "v", "STATIC")] == 1
        client.insights.flush_interval = 0.0  # due from now on
        client.insights._next_flush = 0.0
        assert _call(client_key)["statusCode"] == 200
        assert len(ingest.bodies) == 1
        body = ingest.bodies[0]
        assert ingest.auth[0] == f"Bearer {client_key.text}"
        assert (body["project"], body["environment"]) == ("shop", "prod")
        sent = {(c["flag"], c["variant"]): c["count"] for c in body["counters"]}
        assert sent[("b", "on")] == 5
    finally:
        lambda_handler.reset_app()


def test_insights_off_in_the_config_means_no_table(
        tmp_path: Path, cdn: LoopbackCdn, factory: BundleFactory, client_key: SdkKey,
        ingest: IngestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _configure(tmp_path, cdn, factory, client_key, monkeypatch, insights_url=ingest.url,
               insights=False)
    try:
        assert _call(client_key)["statusCode"] == 200
        (client,) = lambda_handler.get_app().clients
        assert client.insights is None
    finally:
        lambda_handler.reset_app()


@pytest.mark.parametrize(("extra", "field"), [
    ({"insights": "yes"}, "insights"),
    ({"insights_url": "ftp://x"}, "insights_url"),
    ({"insights_flush_interval": 0}, "insights_flush_interval"),
])
def test_bad_insights_settings_name_the_field(cdn: LoopbackCdn, client_key: SdkKey,
                                              extra: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        parse_config(edge_config(cdn, client_key, **extra))
