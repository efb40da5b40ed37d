"""The Lambda entry point with real API Gateway v2, ALB and Lambda@Edge event payloads."""

from __future__ import annotations

import copy
import os
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from edge_reader.bundle import SdkKey
from edge_reader.edge import lambda_handler
from tests.client.bundles import BundleFactory
from tests.client.cdn import LoopbackCdn
from tests.edge.edgekit import edge_config, publish_client_bundle

EVENTS = Path(__file__).parent / "events"


def event(name: str) -> dict[str, Any]:
    return copy.deepcopy(orjson.loads((EVENTS / name).read_bytes()))


@pytest.fixture
def configured(
    tmp_path: Path,
    cdn: LoopbackCdn,
    factory: BundleFactory,
    client_key: SdkKey,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[SdkKey]:
    publish_client_bundle(cdn, factory, client_key)
    config = tmp_path / "vexil-edge.json"
    config.write_bytes(orjson.dumps(edge_config(cdn, client_key, lambda_ttl=3600)))
    monkeypatch.setenv("VEXIL_EDGE_CONFIG", str(config))
    lambda_handler.reset_app()
    yield client_key
    lambda_handler.reset_app()


def test_api_gateway_v2(configured: SdkKey) -> None:
    ev = event("apigw_v2.json")
    ev["headers"]["authorization"] = f"Bearer {configured.text}"
    out = lambda_handler.handler(ev, None)
    assert out["statusCode"] == 200
    assert orjson.loads(out["body"])["value"] is True
    assert out["headers"]["content-type"] == "application/json"


def test_api_gateway_v2_unauthorized(configured: SdkKey) -> None:
    out = lambda_handler.handler(event("apigw_v2.json"), None)
    assert out["statusCode"] == 401
    assert orjson.loads(out["body"])["errorDetails"]


def test_alb_bulk(configured: SdkKey) -> None:
    ev = event("alb.json")
    ev["headers"]["x-api-key"] = configured.text
    out = lambda_handler.handler(ev, None)
    assert out["statusCode"] == 200
    assert out["statusDescription"] == "200 OK"
    flags = {f["key"]: f for f in orjson.loads(out["body"])["flags"]}
    assert flags["t"]["value"] is True
    assert "secret" not in flags
    ev["headers"]["if-none-match"] = out["headers"]["etag"]
    assert lambda_handler.handler(ev, None)["statusCode"] == 304


def test_lambda_at_edge(configured: SdkKey) -> None:
    ev = event("cloudfront_origin_request.json")
    ev["Records"][0]["cf"]["request"]["headers"]["authorization"] = [
        {"key": "Authorization", "value": f"Bearer {configured.text}"}
    ]
    out = lambda_handler.handler(ev, None)
    assert out["status"] == "200"
    assert out["statusDescription"] == "OK"
    assert orjson.loads(out["body"])["variant"] == "on"
    assert out["headers"]["content-type"] == [{"key": "content-type", "value": "application/json"}]


def test_lambda_at_edge_truncated_body_is_413(configured: SdkKey) -> None:
    ev = event("cloudfront_origin_request.json")
    ev["Records"][0]["cf"]["request"]["body"]["inputTruncated"] = True
    assert lambda_handler.handler(ev, None)["status"] == "413"


def test_handler_never_starts_a_thread(configured: SdkKey, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[str] = []
    real_start = threading.Thread.start

    def spying_start(self: threading.Thread) -> None:
        if any("edge_reader" + os.sep in f.filename for f in traceback.extract_stack()):
            started.append(self.name)
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", spying_start)
    ev = event("apigw_v2.json")
    ev["headers"]["authorization"] = f"Bearer {configured.text}"
    for _ in range(3):
        assert lambda_handler.handler(ev, None)["statusCode"] == 200
    assert started == []


def test_missing_config_is_a_json_500(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEXIL_EDGE_CONFIG", str(tmp_path / "absent.json"))
    lambda_handler.reset_app()
    out = lambda_handler.handler(event("apigw_v2.json"), None)
    assert out["statusCode"] == 500
    assert "misconfigured" in orjson.loads(out["body"])["errorDetails"]


def test_the_lambda_host_loads_neither_the_http_server_nor_the_heavy_sdks() -> None:
    import subprocess
    import sys

    code = (
        "import sys, edge_reader.edge.lambda_handler, edge_reader.edge as e; "
        "held = lambda: sorted(m for m in ('http.server', 'socketserver', 'aws_encryption_sdk',"
        " 'boto3', 'botocore', 'urllib3', 'asyncio') if m in sys.modules); "
        "before = held(); e.EdgeServer; print(before, held())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # The local host's server class still resolves (lazily), and only then loads http.server.
    assert out.stdout.strip() == "[] ['http.server', 'socketserver']"
