"""Mutual TLS in front of the control-plane API (`vexil dev up --mtls`), tested at the HTTP
level with a raw HTTPS client, as an attacker would try it: no certificate, a certificate
from another CA, a certificate from the right CA without a token, two tokens with the
right certificate (the certificate adds a factor, it never replaces RBAC), plain HTTP.
The forged certificate-subject header is tested against an echoing upstream in
tests/cli/test_mtls_front.py.
"""

from __future__ import annotations

import json
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.apiclient import request_json
from tests.e2e.test_local_stack import _pids, _vexil
from vexil.devstack.nginx import MTLS_REFUSALS
from vexil.devstack.tls import ensure_client_ca, issue_client_cert

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def mtls_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    state = tmp_path_factory.mktemp("vexil-mtls")
    up = _vexil(state, "dev", "up", "--random-ports", "--mtls")
    pids = _pids(state)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "API, mutual TLS" in up.stdout
        yield json.loads((state / "dev.json").read_text())
    finally:
        down = _vexil(state, "dev", "down", timeout=60)
        assert down.returncode == 0, down.stdout + down.stderr
        for pid in pids:
            assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


def _context(info: dict[str, Any], cert: Path | None = None,
             key: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=info["ca_bundle"])
    if cert and key:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


def _get(info: dict[str, Any], path: str, ctx: ssl.SSLContext, *, token: str | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(info["api_mtls"] + path, method="GET")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def test_dev_json_names_the_mtls_endpoint_and_files(mtls_stack: dict[str, Any]) -> None:
    info = mtls_stack
    assert info["api_mtls"].startswith("https://127.0.0.1:")
    for key in ("client_ca", "client_cert", "client_key"):
        assert Path(info[key]).is_file(), key
    assert oct(Path(info["client_key"]).stat().st_mode & 0o777) == "0o600"
    assert oct((Path(info["client_ca"]).parent / "client-ca-key.pem").stat().st_mode
               & 0o777) == "0o600"


def test_accepted_certificate_reaches_the_api(mtls_stack: dict[str, Any]) -> None:
    info = mtls_stack
    ctx = _context(info, Path(info["client_cert"]), Path(info["client_key"]))
    status, body = _get(info, "/v1/tokens/self", ctx, token=info["admin_token"])
    assert status == 200, body
    assert body["name"] == "dev-admin"


def test_missing_certificate_is_refused_with_json(mtls_stack: dict[str, Any]) -> None:
    info = mtls_stack
    # A valid admin token does not help without the certificate.
    status, body = _get(info, "/v1/tokens/self", _context(info), token=info["admin_token"])
    assert status == 403
    assert body == MTLS_REFUSALS["missing"]


def test_certificate_from_another_ca_is_refused(mtls_stack: dict[str, Any],
                                               tmp_path: Path) -> None:
    info = mtls_stack
    # Same subject, same shape, wrong issuer: a CA the stack's truststore does not hold.
    ensure_client_ca(tmp_path / "rogue", common_name="Vexil local client CA")
    rogue = issue_client_cert(tmp_path / "rogue", tmp_path / "rogue", "dev-operator")
    status, body = _get(info, "/v1/tokens/self", _context(info, rogue.cert, rogue.key),
                        token=info["admin_token"])
    assert status == 403
    assert body == MTLS_REFUSALS["untrusted"]


def test_server_certificate_is_not_a_client_certificate(mtls_stack: dict[str, Any]) -> None:
    info = mtls_stack
    tls_dir = Path(info["ca_bundle"]).parent
    ctx = _context(info, tls_dir / "server.pem", tls_dir / "server-key.pem")
    status, body = _get(info, "/v1/tokens/self", ctx, token=info["admin_token"])
    assert status == 403
    assert body["field"] == "client_certificate"


def test_certificate_does_not_replace_tokens_or_rbac(mtls_stack: dict[str, Any],
                                                    tmp_path: Path) -> None:
    info = mtls_stack
    ctx = _context(info, Path(info["client_cert"]), Path(info["client_key"]))
    # No token: the authorizer still refuses.
    status, _ = _get(info, "/v1/tokens/self", ctx)
    assert status == 401
    # A second, read-only token through the same certificate: reads yes, admin no.
    status, created = request_json(
        info["api"] + "/v1/tokens", "POST",
        {"name": "mtls-viewer", "role": "viewer", "projects": ["*"]},
        token=info["admin_token"],
    )
    assert status == 201, created
    reader = created["token"]
    status, me = _get(info, "/v1/tokens/self", ctx, token=reader)
    assert status == 200
    assert me["name"] == "mtls-viewer"
    status, body = _get(info, "/v1/tokens", ctx, token=reader)
    assert status == 403, body
    status, _ = _get(info, "/v1/tokens", ctx, token=info["admin_token"])
    assert status == 200


def test_plain_http_to_the_tls_port_is_refused(mtls_stack: dict[str, Any]) -> None:
    port = int(mtls_stack["api_mtls"].rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = sock.recv(4096)
    assert b"400" in answer.split(b"\r\n", 1)[0]
    assert b"/v1/" not in answer



def test_the_cli_through_mutual_tls(mtls_stack: dict[str, Any], tmp_path: Path) -> None:
    info = mtls_stack
    state = Path(info["state_dir"])
    conn = ["--api", info["api_mtls"], "--token", info["admin_token"],
            "--ca-bundle", info["ca_bundle"]]
    ok = _vexil(state, "projects", "list", "--json", *conn,
                "--client-cert", info["client_cert"], "--client-key", info["client_key"])
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert isinstance(json.loads(ok.stdout), list)
    refused = _vexil(state, "projects", "list", *conn)
    assert refused.returncode != 0
    assert "client certificate" in refused.stderr
