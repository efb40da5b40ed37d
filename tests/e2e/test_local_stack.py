"""The whole system on 127.0.0.1: `vexil dev up --demo`, flags-as-code, a reader on the CDN.

Runs the real CLI as a subprocess into a temporary state dir (random free ports), then:
applies a flags file, reads values through the nginx CDN stand-in with FlagClient (which
verifies the publisher's pointer signatures with the stack's signing key), changes a flag
through `vexil apply` and sees the reader pick it up, checks that `plan` after `apply` is
empty, asks the OFREP edge server, and finally `vexil dev down` leaves no process behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil
import pytest
import urllib3
import yaml

pytestmark = pytest.mark.e2e

BOOL = {"on": True, "off": False}
_CLIENT_VARS = {"VEXIL_API", "VEXIL_TOKEN", "VEXIL_CA_BUNDLE", "VEXIL_SDK_KEY", "VEXIL_TABLE",
                "VEXIL_BUCKET", "VEXIL_KMS_KEY_ID", "VEXIL_KEY_STORE_TABLE",
                "VEXIL_SIGNING_KEY_ID", "VEXIL_SIGNING_KEY"}


def _vexil(state: Path, *argv: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    # The stack brings its own AWS endpoint, names and token; the session's must not leak in.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and k not in _CLIENT_VARS}
    env["VEXIL_STATE_DIR"] = str(state)
    return subprocess.run(
        [sys.executable, "-m", "vexil.cli", *argv], capture_output=True, text=True,
        env=env, timeout=timeout, check=False,
    )


def _pids(state: Path) -> list[int]:
    return [json.loads(p.read_text())["pid"] for p in (state / "run").glob("*.pid")]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    state = tmp_path_factory.mktemp("vexil-state")
    up = _vexil(state, "dev", "up", "--demo", "--random-ports")
    pids = _pids(state)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        info = json.loads((state / "dev.json").read_text())
        yield state, info
    finally:
        down = _vexil(state, "dev", "down", timeout=60)
        assert down.returncode == 0, down.stdout + down.stderr
        for pid in pids:
            assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


def _client(info: dict[str, Any], project: str, environment: str, sdk_key: str) -> Any:
    from edge_reader import FlagClient

    client = FlagClient(project=project, environment=environment, sdk_key=sdk_key,
                        cdn_url=info["cdn"], ca_bundle=info["ca_bundle"], poll_interval=0.5,
                        jitter=0.0, first_retry=0.3, max_backoff=1.0,
                        signing_keys=info["signing_public_key"])
    assert client.wait_until_ready(60), client.status()
    assert client.verifies_publisher
    return client


def _eventually(check: Any, timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_dev_json_and_demo(stack: tuple[Path, dict[str, Any]]) -> None:
    state, info = stack
    for key in ("api", "cdn", "edge", "aws_endpoint", "admin_token", "ca_bundle"):
        assert info[key], key
    for url in (info["api"], info["cdn"], info["edge"], info["aws_endpoint"]):
        assert url.split("//")[1].startswith("127.0.0.1:")
    assert info["admin_token"].startswith("vxl_tok_")
    assert info["sdk_keys"]["staging"]["server"].startswith("vxl_srv_")
    assert 0 < info["demo"]["propagation_seconds"] < 60
    assert oct((state / "dev.json").stat().st_mode & 0o777) == "0o600"
    assert oct((state / "edge.json").stat().st_mode & 0o777) == "0o600"
    # The publisher's public key, for the stack's readers: in dev.json and a file.
    assert info["signing_key_id"].startswith("arn:aws:kms:")
    assert info["signing_public_key"].startswith("-----BEGIN PUBLIC KEY-----")
    assert Path(info["signing_public_key_file"]).read_text() == info["signing_public_key"]
    edge = json.loads((state / "edge.json").read_text())
    assert edge["signing_keys"] == [info["signing_public_key_file"]]
    status = _vexil(state, "dev", "status")
    assert status.returncode == 0
    for name in ("moto", "api", "worker", "cdn", "edge"):
        assert f"{name}" in status.stdout


def test_flags_file_through_the_cdn_to_a_reader(
    stack: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    state, info = stack
    flags: dict[str, Any] = {
        "banner": {"kind": "string", "variations": {"old": "Hello", "new": "Welcome!"},
                   "client_visible": True, "enabled": True, "default": {"variation": "old"},
                   "rules": [{"id": "fr", "clauses": [{"attribute": "country", "op": "in",
                                                       "values": ["FR"]}],
                              "serve": {"variation": "new"}}]},
        "kill": {"kind": "boolean", "variations": BOOL, "enabled": True,
                 "off_variation": "off", "default": {"variation": "on"}},
    }
    doc = {"project": "e2e", "environment": "dev", "flags": flags}
    f = tmp_path / "flags.yaml"
    f.write_text(yaml.safe_dump(doc), encoding="utf-8")

    applied = _vexil(state, "apply", "-f", str(f))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "+ project e2e" in applied.stdout

    from vexil.api import ApiClient

    api = ApiClient(info["api"], info["admin_token"])
    key = api.request("POST", "/v1/projects/e2e/environments/dev/sdk-keys",
                      body={"kind": "server"}).body["key"]
    client = _client(info, "e2e", "dev", key)
    try:
        assert client.get_string("banner", {"targetingKey": "u", "country": "FR"}, "") == \
            "Welcome!"
        assert client.get_string("banner", {"targetingKey": "u", "country": "DE"}, "") == "Hello"
        assert client.get_boolean("kill", {"targetingKey": "u"}, False) is True

        # The CDN stand-in: verified TLS, cache status, ETag → 304.
        pool = urllib3.PoolManager(ca_certs=info["ca_bundle"], retries=False, timeout=5.0)
        url = f"{info['cdn']}/bundles/e2e/dev/current.json"
        first = pool.request("GET", url)
        assert first.status == 200
        assert first.headers["X-Cache-Status"] in {"MISS", "HIT", "EXPIRED", "REVALIDATED",
                                                    "UPDATING", "STALE"}
        assert pool.request("GET", url, headers={"If-None-Match": first.headers["ETag"]}
                            ).status == 304

        # Change a flag through the file; the reader sees it.
        flags["kill"]["enabled"] = False
        f.write_text(yaml.safe_dump(doc), encoding="utf-8")
        plan = _vexil(state, "plan", "-f", str(f), "--detailed-exitcode")
        assert plan.returncode == 2
        assert "enabled: true -> false" in plan.stdout
        applied = _vexil(state, "apply", "-f", str(f))
        assert applied.returncode == 0, applied.stderr
        _eventually(lambda: client.get_boolean("kill", {"targetingKey": "u"}, True) is False)

        again = _vexil(state, "plan", "-f", str(f), "--detailed-exitcode")
        assert again.returncode == 0, again.stdout
        assert "No changes" in again.stdout
    finally:
        client.close()


def test_ofrep_edge_serves_the_demo(stack: tuple[Path, dict[str, Any]]) -> None:
    _, info = stack
    pool = urllib3.PoolManager(retries=False, timeout=5.0)
    key = info["sdk_keys"]["staging"]["client"]
    resp = pool.request(
        "POST", f"{info['edge']}/ofrep/v1/evaluate/flags/free-shipping",
        body=json.dumps({"context": {"targetingKey": "u", "country": "DE"}}),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert resp.status == 200, resp.data
    assert json.loads(resp.data)["value"] is True
    denied = pool.request("POST", f"{info['edge']}/ofrep/v1/evaluate/flags/free-shipping",
                          body=b"{}", headers={"Content-Type": "application/json"})
    assert denied.status == 401


def test_eval_and_audit_commands(stack: tuple[Path, dict[str, Any]]) -> None:
    state, _ = stack
    ev = _vexil(state, "eval", "checkout-config", "--project", "shop", "--environment",
                "staging", "--context", '{"targetingKey": "u", "country": "FR"}')
    assert ev.returncode == 0, ev.stderr
    assert json.loads(ev.stdout)["value"]["payment_methods"] == ["card", "paypal", "sepa"]
    audit = _vexil(state, "audit", "verify", "--project", "shop", "--environment", "staging")
    assert audit.returncode == 0, audit.stderr
    assert "OK" in audit.stdout


def test_kms_reading_and_branch_keys_on_the_stack(stack: tuple[Path, dict[str, Any]]) -> None:
    # The stream worker created the branch key on the first publish; the CLI finds the key
    # store and moto through dev.json alone (no AWS or VEXIL_* variables in its env).
    state, info = stack
    assert info["key_store_table"]
    ev = _vexil(state, "eval", "checkout-config", "--project", "shop", "--environment",
                "staging", "--kms", "--context", '{"targetingKey": "u", "country": "FR"}')
    assert ev.returncode == 0, ev.stdout + ev.stderr
    assert json.loads(ev.stdout)["value"]["payment_methods"] == ["card", "paypal", "sepa"]
    shown = _vexil(state, "keys", "show", "--project", "shop", "--environment", "staging")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["branch_key_id"] == "vexil/shop/staging"


def test_dev_edge_serves_new_client_keys(stack: tuple[Path, dict[str, Any]]) -> None:
    state, info = stack
    from vexil.api import ApiClient

    api = ApiClient(info["api"], info["admin_token"])
    key = api.request("POST", "/v1/projects/e2e/environments/dev/sdk-keys",
                      body={"kind": "client"}).body["key"]
    demo_key = info["sdk_keys"]["staging"]["client"]
    started = _vexil(state, "dev", "edge", f"e2e/dev={key}", f"shop/staging={demo_key}")
    assert started.returncode == 0, started.stderr
    edge = json.loads((state / "dev.json").read_text())["edge"]
    pool = urllib3.PoolManager(retries=False, timeout=5.0)

    def banner() -> Any:
        resp = pool.request(
            "POST", f"{edge}/ofrep/v1/evaluate/flags/banner",
            body=json.dumps({"context": {"targetingKey": "u", "country": "FR"}}),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        return json.loads(resp.data).get("value") if resp.status == 200 else None

    # The client-scope bundle for the new key is published asynchronously.
    _eventually(lambda: banner() == "Welcome!")
    bad = _vexil(state, "dev", "edge", "nonsense")
    assert bad.returncode == 2
    assert "expected PROJECT/ENV=vxl_cli_" in bad.stderr


def test_readers_on_the_stack_see_signed_pointers_and_verify_them(
    stack: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    from edge_reader import ClientStatus, FlagClient
    from edge_reader.bundle import decode_pointer
    from edge_reader.bundle.signing import load_trusted_key, verify_pointer
    from tests.bundle.signers import LocalSigner

    state, info = stack
    publisher = load_trusted_key(info["signing_public_key"])
    pool = urllib3.PoolManager(ca_certs=info["ca_bundle"], retries=False, timeout=5.0)
    for path in ("shop/staging/current.json", "shop/staging/scopes/client/current.json"):
        resp = pool.request("GET", f"{info['cdn']}/bundles/{path}")
        assert resp.status == 200, path
        pointer = decode_pointer(resp.data)
        # The stream worker's publisher signed it with the stack's key (moto KMS).
        assert pointer.signature is not None, path
        assert pointer.signature.key == publisher.fingerprint
        verify_pointer(pointer, [publisher])

    key = info["sdk_keys"]["staging"]["server"]
    client = _client(info, "shop", "staging", key)
    try:
        assert client.status().state is ClientStatus.READY
    finally:
        client.close()
    # A reader pinning another key refuses the stack's pointers and serves nothing.
    stranger = FlagClient(project="shop", environment="staging", sdk_key=key,
                          cdn_url=info["cdn"], ca_bundle=info["ca_bundle"], mode="lambda",
                          signing_keys=LocalSigner().pem)
    report = stranger.status()
    assert (report.state, report.error_kind) == (ClientStatus.ERROR, "bad_signature")
    assert stranger.get_boolean("checkout-enabled", {"targetingKey": "u"}, False) is False

    # `vexil eval` verifies with the stack's key by default, and with the one it is given.
    ok = _vexil(state, "eval", "free-shipping", "--project", "shop", "--environment",
                "staging", "--context", '{"targetingKey": "u", "country": "DE"}')
    assert ok.returncode == 0, ok.stdout + ok.stderr
    other = tmp_path / "other.pem"
    other.write_text(LocalSigner().pem, encoding="ascii")
    refused = _vexil(state, "eval", "free-shipping", "--project", "shop", "--environment",
                     "staging", "--signing-key", str(other))
    assert refused.returncode == 1
    assert "bad_signature" in json.loads(refused.stdout)["error_message"]


def test_bucket_write_neither_freezes_publishing_nor_rolls_readers_back(
    stack: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """F3 and F4 against the running stack: the attacker can write and delete objects in
    the bundle bucket and knows S3 version ids; readers pin the publisher's key."""
    import boto3

    from edge_reader.bundle import decode_pointer, encode_pointer
    from vexil.api import ApiClient
    from vexil.devstack.aws import FAKE_CREDENTIALS

    state, info = stack
    flags: dict[str, Any] = {"kill": {"kind": "boolean", "variations": BOOL, "enabled": True,
                                      "off_variation": "off", "default": {"variation": "off"}}}
    doc = {"project": "attack", "environment": "prod", "flags": flags}
    f = tmp_path / "flags.yaml"

    def apply(default: str) -> None:
        flags["kill"]["default"]["variation"] = default
        f.write_text(yaml.safe_dump(doc), encoding="utf-8")
        done = _vexil(state, "apply", "-f", str(f), "--yes")  # "on" unused: a warning
        assert done.returncode == 0, done.stdout + done.stderr

    apply("off")
    api = ApiClient(info["api"], info["admin_token"])
    key = api.request("POST", "/v1/projects/attack/environments/prod/sdk-keys",
                      body={"kind": "server"}).body["key"]
    reader = _client(info, "attack", "prod", key)
    s3 = boto3.session.Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=FAKE_CREDENTIALS["AWS_REGION"],
    ).client("s3", endpoint_url=info["aws_endpoint"])
    pointer_key = "bundles/attack/prod/current.json"
    pool = urllib3.PoolManager(ca_certs=info["ca_bundle"], retries=False, timeout=5.0)
    url = f"{info['cdn']}/{pointer_key}"
    user = {"targetingKey": "u"}
    try:
        assert reader.get_boolean("kill", user, True) is False
        old_version = s3.head_object(Bucket=info["bucket"], Key=pointer_key)["VersionId"]
        # F3: a forged pointer claiming a huge revision...
        live = decode_pointer(s3.get_object(Bucket=info["bucket"], Key=pointer_key)["Body"]
                              .read())
        huge = 1_000_000_000
        forged = replace(live.unsigned(), revision=huge,
                         key=live.key.replace(f"/{live.revision}-", f"/{huge}-"))
        s3.put_object(Bucket=info["bucket"], Key=pointer_key, Body=encode_pointer(forged))
        apply("on")  # ...does not stop the kill switch reaching the reader,
        _eventually(lambda: reader.get_boolean("kill", user, False) is True)
        # and neither does a deleted pointer.
        s3.delete_object(Bucket=info["bucket"], Key=pointer_key)
        apply("off")
        _eventually(lambda: reader.get_boolean("kill", user, True) is False)
        apply("on")
        _eventually(lambda: reader.get_boolean("kill", user, False) is True)
        newest = reader.revision
        # F4: the CDN serves the current pointer whatever versionId the URL names...
        got = pool.request("GET", f"{url}?versionId={old_version}")
        assert got.status == 200
        assert decode_pointer(got.data).revision == newest
        # ...so a cold reader starting now takes the newest revision, kill switch on.
        cold = _client(info, "attack", "prod", key)
        try:
            assert cold.revision == newest
            assert cold.get_boolean("kill", user, False) is True
        finally:
            cold.close()
    finally:
        reader.close()


def test_second_up_is_refused_while_running(stack: tuple[Path, dict[str, Any]]) -> None:
    state, _ = stack
    again = _vexil(state, "dev", "up", "--random-ports")
    assert again.returncode == 1
    assert "already running" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
