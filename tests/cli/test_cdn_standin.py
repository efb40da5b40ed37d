"""The CDN stand-in (nginx, or the Python fallback) in front of the session's moto S3."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import urllib3

from tests.conftest import free_port
from vexil.devstack import nginx as nginx_conf
from vexil.devstack import procs
from vexil.devstack.aws import allow_cdn_reads
from vexil.devstack.tls import ensure_tls

POINTER_CC = "public, max-age=1, stale-while-revalidate=30, stale-if-error=86400"


@pytest.fixture(scope="module")
def origin(vexil_resources: dict[str, str]) -> str:
    bucket = vexil_resources["VEXIL_BUCKET"]
    s3 = boto3.client("s3")
    allow_cdn_reads(s3, bucket)
    s3.put_object(Bucket=bucket, Key="secret/not-a-bundle", Body=b"private")
    return bucket


def _put(bucket: str, key: str, body: bytes, cache_control: str = POINTER_CC) -> None:
    boto3.client("s3").put_object(
        Bucket=bucket, Key=key, Body=body, CacheControl=cache_control,
        ContentType="application/json",
    )


def _start(name: str, argv: list[str], tmp: Path, url: str, ca: Path) -> procs.ProcessRecord:
    record = procs.start(name, argv, run_dir=tmp / "run", log_dir=tmp / "logs", env={})

    def ready() -> bool:
        pool = urllib3.PoolManager(ca_certs=str(ca), retries=False, timeout=1.0)
        return pool.request("GET", url + "/health").status == 200

    try:
        procs.wait_for(ready, timeout=20, what=name)
    except TimeoutError:
        procs.stop(record, run_dir=tmp / "run")
        raise
    return record


@pytest.fixture(params=["nginx", "python-proxy"])
def cdn(
    request: pytest.FixtureRequest, origin: str, moto_endpoint: str, tmp_path: Path
) -> Iterator[tuple[str, str, urllib3.PoolManager]]:
    tls = ensure_tls(tmp_path / "tls")
    port = free_port()
    moto_port = int(moto_endpoint.rsplit(":", 1)[1])
    if request.param == "nginx":
        binary = nginx_conf.find_nginx()
        assert binary, "nginx is a documented dependency of the local stack (./run installs it)"
        layout = nginx_conf.write_config(
            tmp_path / "nginx", logs=tmp_path / "logs", cdn_port=port, moto_port=moto_port,
            bucket=origin, cert=tls.server_cert, key=tls.server_key,
        )
        argv = nginx_conf.command(binary, layout)
    else:
        argv = [sys.executable, "-m", "vexil.devstack.cdnproxy", "--port", str(port),
                "--origin", f"{moto_endpoint}/{origin}", "--cert", str(tls.server_cert),
                "--key", str(tls.server_key)]
    url = f"https://127.0.0.1:{port}"
    record = _start(request.param, argv, tmp_path, url, tls.ca_cert)
    pool = urllib3.PoolManager(ca_certs=str(tls.ca_cert), retries=False, timeout=5.0)
    try:
        yield request.param, url, pool
    finally:
        assert procs.stop(record, run_dir=tmp_path / "run") == []
        assert not record.is_alive()


def test_serves_pointer_over_verified_tls_with_etag_and_304(
    cdn: tuple[str, str, urllib3.PoolManager], origin: str
) -> None:
    kind, url, pool = cdn
    key = f"bundles/cdn-{kind}/prod/current.json"
    _put(origin, key, b'{"revision":1}')
    first = pool.request("GET", f"{url}/{key}")
    assert first.status == 200
    assert first.data == b'{"revision":1}'
    assert first.headers["Cache-Control"] == POINTER_CC
    etag = first.headers["ETag"]
    again = pool.request("GET", f"{url}/{key}", headers={"If-None-Match": etag})
    assert again.status == 304
    assert again.data == b""


def test_untrusted_ca_is_rejected(cdn: tuple[str, str, urllib3.PoolManager]) -> None:
    _, url, _ = cdn
    system_trust = urllib3.PoolManager(retries=False, timeout=5.0)
    with pytest.raises(urllib3.exceptions.SSLError):
        system_trust.request("GET", f"{url}/health")


def test_only_bundle_prefix_is_reachable(
    cdn: tuple[str, str, urllib3.PoolManager], origin: str
) -> None:
    _, url, pool = cdn
    assert pool.request("GET", f"{url}/secret/not-a-bundle").status == 404
    assert pool.request("GET", f"{url}/bundles/../secret/not-a-bundle").status in (400, 404)
    assert pool.request("GET", f"{url}/bundles/no/such/current.json").status in (403, 404)


def test_nginx_caches_and_honours_cache_control(
    cdn: tuple[str, str, urllib3.PoolManager], origin: str
) -> None:
    kind, url, pool = cdn
    if kind != "nginx":
        # The fallback proxy has no cache by design; the other tests cover its pass-through.
        assert pool.request("GET", f"{url}/health").headers["X-Cache-Status"] == "BYPASS"
        return
    key = "bundles/cdn-cache/prod/current.json"
    _put(origin, key, b'{"revision":1}')
    assert pool.request("GET", f"{url}/{key}").headers["X-Cache-Status"] == "MISS"
    hit = pool.request("GET", f"{url}/{key}")
    assert hit.headers["X-Cache-Status"] == "HIT"
    _put(origin, key, b'{"revision":2}')
    # Within max-age the CDN keeps serving what it holds, like CloudFront.
    assert pool.request("GET", f"{url}/{key}").data == b'{"revision":1}'
    deadline = time.monotonic() + 10
    body = b""
    while time.monotonic() < deadline:
        body = pool.request("GET", f"{url}/{key}").data
        if body == b'{"revision":2}':
            break
        time.sleep(0.3)
    assert body == b'{"revision":2}'
    # An immutable object is served from cache without asking the origin.
    immutable = "bundles/cdn-cache/prod/1-abc.bundle"
    _put(origin, immutable, b"ciphertext", "public, max-age=31536000, immutable")
    pool.request("GET", f"{url}/{immutable}")
    assert pool.request("GET", f"{url}/{immutable}").headers["X-Cache-Status"] == "HIT"


def test_nginx_serves_stale_when_the_origin_fails(tmp_path: Path) -> None:
    """stale-if-error: a dead or failing origin still leaves readers the last pointer."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    state = {"status": 200}

    class Origin(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return

        def do_GET(self) -> None:
            body = b'{"revision":7}'
            self.send_response(state["status"])
            self.send_header("Cache-Control", "public, max-age=1, stale-if-error=86400")
            self.send_header("ETag", '"r7"')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    origin = ThreadingHTTPServer(("127.0.0.1", 0), Origin)
    thread = threading.Thread(target=origin.serve_forever, daemon=True)
    thread.start()
    tls = ensure_tls(tmp_path / "tls")
    binary = nginx_conf.find_nginx()
    assert binary
    port = free_port()
    layout = nginx_conf.write_config(
        tmp_path / "nginx", logs=tmp_path / "logs", cdn_port=port,
        moto_port=origin.server_address[1], bucket="b", cert=tls.server_cert, key=tls.server_key,
    )
    url = f"https://127.0.0.1:{port}"
    record = _start("nginx", nginx_conf.command(binary, layout), tmp_path, url, tls.ca_cert)
    pool = urllib3.PoolManager(ca_certs=str(tls.ca_cert), retries=False, timeout=5.0)
    pointer = f"{url}/bundles/p/e/current.json"
    try:
        assert pool.request("GET", pointer).status == 200
        time.sleep(2.5)  # past max-age (nginx keeps time in whole seconds)
        state["status"] = 503
        failing = pool.request("GET", pointer)
        assert failing.status == 200
        assert failing.data == b'{"revision":7}'
        assert failing.headers["X-Cache-Status"] == "STALE"
        origin.shutdown()
        origin.server_close()
        time.sleep(2.5)
        down = pool.request("GET", pointer)
        assert down.status == 200
        assert down.headers["X-Cache-Status"] == "STALE"
    finally:
        assert procs.stop(record, run_dir=tmp_path / "run") == []
        origin.server_close()


def test_a_version_id_query_string_never_reaches_the_origin_or_the_cache(
    cdn: tuple[str, str, urllib3.PoolManager], origin: str
) -> None:
    # F4: S3 hands out version ids (x-amz-version-id); a CDN that forwarded ?versionId= would
    # serve, and cache, an old pointer. CloudFront's cache policy forwards no query string.
    kind, url, pool = cdn
    key = f"bundles/cdn-versions-{kind}/prod/current.json"
    s3 = boto3.client("s3")
    _put(origin, key, b'{"revision":1}')
    old_version = s3.head_object(Bucket=origin, Key=key)["VersionId"]
    _put(origin, key, b'{"revision":2}')
    # The origin itself would hand out the old version to anyone asking for it by id...
    old = s3.get_object(Bucket=origin, Key=key, VersionId=old_version)["Body"].read()
    assert old == b'{"revision":1}'
    # ...the CDN serves the current pointer whatever the query string says,
    for query in (f"versionId={old_version}", f"versionId={old_version}&x=1", "versionId="):
        got = pool.request("GET", f"{url}/{key}?{query}")
        assert (got.status, got.data) == (200, b'{"revision":2}'), query
    # and a plain request afterwards is not served a poisoned cache entry.
    assert pool.request("GET", f"{url}/{key}").data == b'{"revision":2}'
