"""The edge Lambda as infra/edge.tf deploys it: config in VEXIL_EDGE_CONFIG_JSON, bundles
read from the bucket (S3 GetObject against moto_server), an HTTP API event as
CloudFront forwards it, and the origin secret that keeps callers behind the CDN."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest

from edge_reader.bundle import SdkKey
from edge_reader.client._transport import Request, TransportError
from edge_reader.edge import lambda_handler, parse_config
from edge_reader.edge._config import ConfigError
from edge_reader.edge._s3 import S3Transport, bucket_url
from tests.client.bundles import BundleFactory
from tests.edge.edgekit import client_flags, publish_client_bundle

EVENT = Path(__file__).parent / "events" / "http_api_via_cloudfront.json"
SECRET = "origin-" + uuid.uuid4().hex


class S3Uploads:
    """The ``put`` the bundle factory publishes through, writing to a moto bucket."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        self.s3 = boto3.client("s3", region_name="eu-west-1")
        self.s3.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )

    def put(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)


@pytest.fixture
def bucket(aws_env: str) -> S3Uploads:
    return S3Uploads("edge-" + uuid.uuid4().hex[:12])


@pytest.fixture
def deployed(
    bucket: S3Uploads, factory: BundleFactory, client_key: SdkKey,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[BundleFactory]:
    scoped = publish_client_bundle(bucket, factory, client_key)  # type: ignore[arg-type]
    config = {
        "s3_bucket": bucket.bucket,
        "environments": [{"project": "shop", "environment": "prod", "sdk_key": client_key.text}],
        "cors_origins": ["https://shop.example"],
        "lambda_ttl": 0.001,  # every invoke refreshes: exercises S3's 304 and new revisions
    }
    monkeypatch.setenv("VEXIL_EDGE_CONFIG_JSON", orjson.dumps(config).decode())
    monkeypatch.setenv("VEXIL_EDGE_ORIGIN_SECRET", SECRET)
    monkeypatch.delenv("VEXIL_EDGE_CONFIG", raising=False)
    lambda_handler.reset_app()
    yield scoped
    lambda_handler.reset_app()


def invoke(key: SdkKey | None, *, secret: str | None = SECRET) -> dict[str, Any]:
    ev = copy.deepcopy(orjson.loads(EVENT.read_bytes()))
    if key is not None:
        ev["headers"]["authorization"] = f"Bearer {key.text}"
    if secret is not None:
        ev["headers"][lambda_handler.ORIGIN_HEADER] = secret
    return lambda_handler.handler(ev, None)


def test_function_url_event_reads_the_bucket(deployed: BundleFactory, client_key: SdkKey) -> None:
    out = invoke(client_key)
    assert out["statusCode"] == 200, out
    assert orjson.loads(out["body"])["value"] is True
    assert out["headers"]["access-control-allow-origin"] == "https://shop.example"
    # Warm: the same app (and its snapshot) answers the next invoke; nothing changed in S3.
    app = lambda_handler.get_app()
    assert invoke(client_key)["statusCode"] == 200
    assert lambda_handler.get_app() is app
    assert app.clients[0].status().revision == 1


def test_a_new_revision_in_the_bucket_is_served(
    deployed: BundleFactory, bucket: S3Uploads, client_key: SdkKey
) -> None:
    assert invoke(client_key)["statusCode"] == 200
    flags = client_flags()
    flags["t"]["enabled"] = False
    flags["t"]["off_variation"] = "off"
    deployed.publish(bucket, deployed.build(2, flags))  # type: ignore[arg-type]
    body = orjson.loads(invoke(client_key)["body"])
    assert body["reason"] == "DISABLED"
    assert lambda_handler.get_app().clients[0].status().revision == 2


def test_requests_that_skip_the_cdn_are_refused(
    deployed: BundleFactory, client_key: SdkKey
) -> None:
    for secret in (None, "", "origin-wrong", SECRET[:-1]):
        out = invoke(client_key, secret=secret)
        assert out["statusCode"] == 403, secret
        assert "CDN" in orjson.loads(out["body"])["errorDetails"]


def test_other_credentials_are_refused_through_the_cdn(
    deployed: BundleFactory, client_key: SdkKey
) -> None:
    assert invoke(None)["statusCode"] == 401
    other = SdkKey(kind="cli", key_id=client_key.key_id, secret=b"\x01" * 32)
    assert invoke(other)["statusCode"] == 403


def test_the_transport_answers_only_for_its_own_bucket(bucket: S3Uploads) -> None:
    transport = S3Transport(bucket.bucket)
    bucket.put("bundles/x", b"data")
    ok = transport.handle_request(Request(bucket_url(bucket.bucket) + "/bundles/x"))
    assert ok.status == 200
    assert ok.body == b"data"
    same = transport.handle_request(
        Request(bucket_url(bucket.bucket) + "/bundles/x", {"If-None-Match": ok.headers["etag"]})
    )
    assert same.status == 304
    missing = transport.handle_request(Request(bucket_url(bucket.bucket) + "/bundles/nope"))
    assert missing.status in (403, 404)
    with pytest.raises(TransportError):
        transport.handle_request(Request("https://elsewhere.example/bundles/x"))
    with pytest.raises(TransportError):
        transport.handle_request(Request(bucket_url("other-bucket") + "/bundles/x"))


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"s3_bucket": "Not_A_Bucket"}, "s3_bucket"),
        ({"s3_bucket": "good-bucket", "cdn": "https://cdn.example"}, "cdn"),
    ],
)
def test_s3_config_errors_name_the_field(raw: dict[str, Any], field: str) -> None:
    env = {"project": "p", "environment": "e", "sdk_key": "x"}
    with pytest.raises(ConfigError, match=field):
        parse_config({**raw, "environments": [env]})
