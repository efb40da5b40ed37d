"""The mutual-TLS front of the local API (nginx) in front of a header-echoing upstream:
what reaches the API is decided by the front, never by the client's headers."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import free_port
from vexil.devstack import nginx as nginx_conf
from vexil.devstack import procs
from vexil.devstack.tls import ClientCert, ensure_client_ca, ensure_tls, issue_client_cert


class _Echo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, ClientCert]]:
    tmp = tmp_path_factory.mktemp("mtls-front")
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=upstream.serve_forever, daemon=True)
    thread.start()
    tls = ensure_tls(tmp / "tls")
    client_ca = ensure_client_ca(tmp / "tls")
    operator = issue_client_cert(tmp / "tls", tmp / "clients", "ci-runner")
    port = free_port()
    layout = nginx_conf.write_mtls_api_config(
        tmp / "nginx", logs=tmp / "logs", port=port, api_port=upstream.server_address[1],
        cert=tls.server_cert, key=tls.server_key, client_ca=client_ca,
    )
    nginx = nginx_conf.find_nginx()
    assert nginx
    record = procs.start("api-mtls", nginx_conf.command(nginx, layout), run_dir=tmp / "run",
                         log_dir=tmp / "logs", env={})

    def ready() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    try:
        procs.wait_for(ready, timeout=20, what="mTLS front")
        yield f"https://127.0.0.1:{port}", tls.ca_cert, operator
    finally:
        procs.stop(record, run_dir=tmp / "run")
        upstream.shutdown()
        upstream.server_close()


def _get(url: str, ca: Path, cert: ClientCert | None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
    ctx = ssl.create_default_context(cafile=str(ca))
    if cert:
        ctx.load_cert_chain(str(cert.cert), str(cert.key))
    req = urllib.request.Request(url + "/v1/anything", headers=headers or {})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_verified_subject_replaces_a_forged_header(
    front: tuple[str, Path, ClientCert]
) -> None:
    url, ca, operator = front
    status, seen = _get(url, ca, operator, {"X-Client-Cert-Subject": "CN=admin-forged"})
    assert status == 200
    assert "CN=ci-runner" in seen["x-client-cert-subject"]
    assert "forged" not in json.dumps(seen)
    assert seen["x-forwarded-proto"] == "https"


def test_no_certificate_never_reaches_the_upstream(front: tuple[str, Path, ClientCert]) -> None:
    url, ca, _ = front
    status, body = _get(url, ca, None)
    assert status == 403
    assert body == nginx_conf.MTLS_REFUSALS["missing"]


def test_expired_certificate_from_the_right_ca_is_refused(
    front: tuple[str, Path, ClientCert], tmp_path: Path
) -> None:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    url, ca, operator = front
    ca_dir = operator.cert.parent.parent / "tls"
    ca_cert = x509.load_pem_x509_certificate((ca_dir / "client-ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((ca_dir / "client-ca-key.pem").read_bytes(),
                                                None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(ca_cert.subject).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=10))
            .not_valid_after(now - dt.timedelta(days=1))
            .sign(ca_key, hashes.SHA256()))
    expired = ClientCert(cert=tmp_path / "old.pem", key=tmp_path / "old-key.pem")
    expired.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    expired.key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                              serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    status, body = _get(url, ca, expired)
    assert status == 403
    assert body == nginx_conf.MTLS_REFUSALS["untrusted"]
