"""Connection settings precedence, and the local CA / certificate."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest
from cryptography import x509

from vexil.devstack.tls import ensure_tls
from vexil.errors import UsageError
from vexil.settings import resolve


def test_flags_beat_env_beat_dev_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "dev.json").write_text(json.dumps(
        {"api": "http://dev/", "admin_token": "dev-token", "ca_bundle": "/dev/ca.pem"}))
    monkeypatch.delenv("VEXIL_API", raising=False)
    monkeypatch.delenv("VEXIL_TOKEN", raising=False)
    monkeypatch.delenv("VEXIL_CA_BUNDLE", raising=False)
    s = resolve(api=None, token=None, ca_bundle=None, state_dir=tmp_path)
    assert (s.api, s.token, s.ca_bundle) == ("http://dev", "dev-token", "/dev/ca.pem")
    monkeypatch.setenv("VEXIL_API", "http://env")
    monkeypatch.setenv("VEXIL_TOKEN", "env-token")
    s = resolve(api=None, token=None, ca_bundle=None, state_dir=tmp_path)
    assert (s.api, s.token) == ("http://env", "env-token")
    s = resolve(api="http://flag", token="flag-token", ca_bundle=None, state_dir=tmp_path)
    assert (s.api, s.token) == ("http://flag", "flag-token")


def test_missing_token_and_broken_dev_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VEXIL_TOKEN", raising=False)
    with pytest.raises(UsageError, match="no API token"):
        resolve(api="http://x", token=None, ca_bundle=None, state_dir=tmp_path)
    (tmp_path / "dev.json").write_text("{not json")
    with pytest.raises(UsageError, match=r"dev\.json: unreadable"):
        resolve(api="http://x", token="t", ca_bundle=None, state_dir=tmp_path)


def test_tls_files_are_generated_once_with_a_private_key(tmp_path: Path) -> None:
    files = ensure_tls(tmp_path / "tls")
    assert files.server_key.stat().st_mode & 0o777 == 0o600
    cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    assert cert.issuer == ca.subject
    cert.verify_directly_issued_by(ca)
    # No CA private key is left behind: nothing else can ever be signed by this CA.
    assert sorted(p.name for p in (tmp_path / "tls").iterdir()) == [
        "ca.pem", "server-key.pem", "server.pem"]
    before = files.server_cert.read_bytes()
    assert ensure_tls(tmp_path / "tls") == files
    assert files.server_cert.read_bytes() == before
