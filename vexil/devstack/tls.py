"""A throw-away certificate authority and server certificate for the local CDN stand-in.

The local stack serves bundles over HTTPS exactly like CloudFront does, so readers run
with TLS verification on. We generate a CA once per state directory and a server
certificate for ``127.0.0.1`` / ``localhost`` signed by it; clients trust the CA file
(``ca_bundle`` in ``.vexil/dev.json``), never the system store.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Long enough that a dev machine never sees an expiry, short enough to be obviously local.
_VALIDITY = dt.timedelta(days=365)


@dataclass(frozen=True)
class TlsFiles:
    """Paths of the generated PEM files."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


def _write_private(path: Path, data: bytes) -> None:
    # Keys are written 0600 from the first byte: never world-readable, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Vexil local stack"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def ensure_tls(directory: Path) -> TlsFiles:
    """Return the CA and server certificate under ``directory``, creating them if absent.

    Idempotent: existing files are reused so a client that already trusts the CA keeps
    working across ``dev down`` / ``dev up``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(
        ca_cert=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server-key.pem",
    )
    if files.ca_cert.exists() and files.server_cert.exists() and files.server_key.exists():
        return files

    now = dt.datetime.now(dt.UTC)
    ca_name = _name("Vexil local CA")
    ca_key, ca_cert = _self_signed_ca(ca_name, now)

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )

    # The CA's private key is not kept: nothing else is ever signed with it.
    files.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.server_cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    _write_private(
        files.server_key,
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    return files


# --------------------------------------------------------------------- client certificates
# The mutual-TLS mode of the local API (``vexil dev up --mtls``) trusts a CA of its own,
# separate from the server CA above: on AWS the API's truststore (api_domain.tf) holds the
# operator's client CA, which has nothing to do with the server certificate. Unlike the
# server CA, its key is kept (0600), since issuing client certificates is its whole job.


@dataclass(frozen=True)
class ClientCert:
    """A client certificate and its key (PEM files)."""

    cert: Path
    key: Path


def _client_ca_paths(directory: Path) -> tuple[Path, Path]:
    return directory / "client-ca.pem", directory / "client-ca-key.pem"


def ensure_client_ca(directory: Path, *, common_name: str = "Vexil local client CA") -> Path:
    """Return the client CA certificate under ``directory`` (the mTLS truststore), creating
    it and its private key (mode 0600) if absent."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = _client_ca_paths(directory)
    if cert_path.exists() and key_path.exists():
        return cert_path
    key, cert = _self_signed_ca(_name(common_name), dt.datetime.now(dt.UTC))
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def issue_client_cert(ca_directory: Path, out_directory: Path, name: str) -> ClientCert:
    """Issue a client certificate (``clientAuth``, subject CN ``name``) from the client CA
    in ``ca_directory`` into ``out_directory/<name>.pem`` and ``<name>-key.pem`` (0600)."""
    cert_path, key_path = _client_ca_paths(ca_directory)
    ca_cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    ca_key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{key_path} is not an EC private key")
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    out_directory.mkdir(parents=True, exist_ok=True)
    files = ClientCert(cert=out_directory / f"{name}.pem", key=out_directory / f"{name}-key.pem")
    _write_private(files.key, _key_pem(key))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return files


def _self_signed_ca(
    name: x509.Name, now: dt.datetime
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new P-256 key and a self-signed CA certificate for it (no intermediates: path
    length 0), valid from five minutes ago for ``_VALIDITY``."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return key, cert
