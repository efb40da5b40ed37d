"""TLS: certificates are verified; a custom CA bundle (the local stack's nginx) is honoured."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from edge_reader.client import Fetched, Fetcher, FetchFailure, Timeouts


def _self_signed(
    tmp: Path, *, san: str = "127.0.0.1", expired: bool = False
) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    # The common name always says 127.0.0.1: only the SAN may make the name match.
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC) - (dt.timedelta(days=10) if expired else dt.timedelta(0))
    alt: x509.GeneralName = (
        x509.IPAddress(ipaddress.ip_address(san)) if san[0].isdigit() else x509.DNSName(san)
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    clients: list[tuple[str, int]] = []  # noqa: RUF012 - one server per test, reset below

    def do_GET(self) -> None:
        self.clients.append(self.client_address)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def _serving(cert: Path, key: Path) -> Iterator[str]:
    _Ok.clients = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/x"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    cert, key = _self_signed(tmp_path)
    with _serving(cert, key) as url:
        yield url, cert


def test_untrusted_certificate_is_refused(https_server: tuple[str, Path]) -> None:
    url, _ = https_server
    got = Fetcher(timeouts=Timeouts(connect=2, read=2)).get(url)
    assert isinstance(got, FetchFailure)
    assert got.kind == "tls"


def test_custom_ca_bundle_is_trusted(https_server: tuple[str, Path]) -> None:
    url, cert = https_server
    got = Fetcher(ca_bundle=str(cert), timeouts=Timeouts(connect=2, read=2)).get(url)
    assert isinstance(got, Fetched)
    assert got.body == b"ok"


def test_keep_alive_over_tls_reuses_one_connection(https_server: tuple[str, Path]) -> None:
    url, cert = https_server
    fetcher = Fetcher(ca_bundle=str(cert), timeouts=Timeouts(connect=2, read=2))
    for _ in range(4):
        assert isinstance(fetcher.get(url), Fetched)
    assert len(_Ok.clients) == 4
    assert len(set(_Ok.clients)) == 1
    fetcher.close()


def test_a_certificate_for_another_name_is_refused(tmp_path: Path) -> None:
    # Trusted CA, right common name, but the SAN names another host: hostname check fails.
    cert, key = _self_signed(tmp_path, san="flags.example.com")
    with _serving(cert, key) as url:
        got = Fetcher(ca_bundle=str(cert), timeouts=Timeouts(connect=2, read=2)).get(url)
    assert isinstance(got, FetchFailure)
    assert got.kind == "tls"
    assert _Ok.clients == []


def test_an_expired_certificate_is_refused(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path, expired=True)
    with _serving(cert, key) as url:
        got = Fetcher(ca_bundle=str(cert), timeouts=Timeouts(connect=2, read=2)).get(url)
    assert isinstance(got, FetchFailure)
    assert got.kind == "tls"
    assert "expired" in got.message


def test_a_missing_ca_bundle_is_a_tls_failure_not_a_crash(
    https_server: tuple[str, Path], tmp_path: Path
) -> None:
    url, _ = https_server
    fetcher = Fetcher(ca_bundle=str(tmp_path / "nope.pem"), timeouts=Timeouts(connect=2, read=2))
    got = fetcher.get(url)
    assert isinstance(got, FetchFailure)
    assert got.kind == "tls"
    assert "nope.pem" in got.message
    assert got.recoverable


def test_a_ca_bundle_without_the_servers_ca_is_refused(https_server: tuple[str, Path]) -> None:
    url, cert = https_server
    other_dir = cert.parent / "other"
    other_dir.mkdir()
    other_cert, _ = _self_signed(other_dir)
    got = Fetcher(ca_bundle=str(other_cert), timeouts=Timeouts(connect=2, read=2)).get(url)
    assert isinstance(got, FetchFailure)
    assert got.kind == "tls"
