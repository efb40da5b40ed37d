"""How the CLI finds and talks to the API, and how it fails: the token's source in a 401,
one prefix, --version and --help, quiet broken pipes, dev.json found from any directory or via
VEXIL_HOME (for the API and for AWS-direct commands), and client certificates (mutual TLS)."""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from vexil.cli import main

ROOT = Path(__file__).resolve().parents[2]
CONNECTION_ENV = ("VEXIL_API", "VEXIL_TOKEN", "VEXIL_CA_BUNDLE", "VEXIL_STATE_DIR",
                  "VEXIL_HOME", "VEXIL_CLIENT_CERT", "VEXIL_CLIENT_KEY")


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    # The in-process API server logs its requests to the same stderr: drop those lines.
    err = "".join(ln for ln in err.splitlines(keepends=True) if 'HTTP/1.1"' not in ln)
    return code, out, err


@pytest.fixture
def bare(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No connection settings from the environment; the cwd is an empty directory."""
    for var in CONNECTION_ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _dev_json(folder: Path, **values: str) -> Path:
    state = folder / ".vexil"
    state.mkdir(parents=True, exist_ok=True)
    path = state / "dev.json"
    path.write_text(json.dumps(values), encoding="utf-8")
    return path


# --- errors -----------------------------------------------------------------------------------


def test_401_says_where_the_refused_token_came_from(
    capsys: pytest.CaptureFixture[str], bare: Path, api_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, out, err = _cli(capsys, "projects", "list", "--api", api_url,
                          "--token", "vxl_tok_forged")
    assert (code, out) == (1, "")
    assert err == ("vexil: error: GET /v1/projects: 401: Unauthorized — the token from "
                   "--token is missing, unknown, revoked or expired\n")
    monkeypatch.setenv("VEXIL_TOKEN", "vxl_tok_forged")
    code, _, err = _cli(capsys, "projects", "list", "--api", api_url)
    assert code == 1
    assert "the token from $VEXIL_TOKEN is missing" in err
    monkeypatch.delenv("VEXIL_TOKEN")
    dev = _dev_json(bare, api=api_url, admin_token="vxl_tok_stale")
    code, _, err = _cli(capsys, "projects", "list")
    assert code == 1
    assert f"the token from {dev} is missing" in err
    assert err.count("vexil:") == 1


def test_usage_errors_have_one_prefix_and_name_the_command(
    capsys: pytest.CaptureFixture[str], bare: Path
) -> None:
    code, _, err = _cli(capsys, "tokens", "create", "--name", "x", "--role", "root")
    assert code == 2
    assert err.startswith("vexil: error: tokens create: argument --role: invalid choice")
    assert err.count("vexil:") == 1
    assert err.strip().endswith("(see `vexil tokens create --help`)")


def test_version_and_help(capsys: pytest.CaptureFixture[str], bare: Path) -> None:
    from importlib.metadata import version

    code, out, _ = _cli(capsys, "--version")
    assert (code, out) == (0, f"vexil {version('vexil')}\n")
    code, out, _ = _cli(capsys, "--help")
    assert code == 0
    for verb in ("projects", "environments", "sdk-keys", "segments", "changes", "tokens"):
        assert f"    {verb} " in out
    assert "``" not in out  # no raw RST markup


def test_every_option_has_help_text() -> None:
    from vexil.cli import build_parser

    def walk(parser: object, where: str) -> Iterator[str]:
        for action in parser._actions:  # type: ignore[attr-defined]
            if action.choices and isinstance(action.choices, dict):  # sub-parsers
                for name, sub in action.choices.items():
                    yield from walk(sub, f"{where} {name}")
            elif not action.help:
                yield f"{where}: {'/'.join(action.option_strings) or action.dest}"

    assert list(walk(build_parser(), "vexil")) == []


# --- broken pipes -----------------------------------------------------------------------------


def _big_document(folder: Path) -> Path:
    """A plain environment document whose one flag serves ~400 kB of JSON (> a pipe buffer)."""
    doc = folder / "env.json"
    value = {"items": [f"item-{i:06d}-" + "x" * 30 for i in range(10_000)]}
    doc.write_text(json.dumps({"flags": {"big": {
        "kind": "json", "variations": {"v": value}, "enabled": True,
        "default": {"variation": "v"}}}, "segments": {}}), encoding="utf-8")
    return doc


def test_output_piped_into_head_ends_quietly(bare: Path) -> None:
    cli = subprocess.Popen(
        [sys.executable, "-m", "vexil.cli", "eval", "big", "--source", str(_big_document(bare))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    assert cli.stdout is not None
    head = subprocess.run(["head", "-c1"], stdin=cli.stdout, capture_output=True, check=True)
    cli.stdout.close()  # head is the only reader; when it exits, the pipe is broken
    _, err = cli.communicate(timeout=60)
    assert head.stdout == b"{"
    assert err == b""  # no traceback, no "Exception ignored ... BrokenPipeError"
    assert cli.returncode == 141  # 128 + SIGPIPE, what a shell reports for `cat`


def test_listing_into_a_closed_pipe_ends_quietly(
    bare: Path, api_url: str, admin_token: str
) -> None:
    env = {**os.environ, "VEXIL_API": api_url, "VEXIL_TOKEN": admin_token}
    cli = subprocess.Popen([sys.executable, "-m", "vexil.cli", "tokens", "list", "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env)
    assert cli.stdout is not None
    cli.stdout.close()  # the reader is gone before the CLI has written anything
    _, err = cli.communicate(timeout=60)
    assert err == b""
    assert cli.returncode == 141


# --- dev.json discovery -----------------------------------------------------------------------


def test_dev_json_is_found_from_a_subdirectory(
    capsys: pytest.CaptureFixture[str], bare: Path, api_url: str, admin_token: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _dev_json(bare, api=api_url, admin_token=admin_token)
    deep = bare / "services" / "checkout" / "src"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    code, out, err = _cli(capsys, "projects", "list", "--json")
    assert code == 0, err
    assert isinstance(json.loads(out), list)


def test_vexil_home_names_the_checkout_or_its_state_directory(
    capsys: pytest.CaptureFixture[str], bare: Path, api_url: str, admin_token: str,
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory,
) -> None:
    home = tmp_path_factory.mktemp("checkout")
    _dev_json(home, api=api_url, admin_token=admin_token)
    code, _, err = _cli(capsys, "projects", "list")  # bare cwd: nothing to find
    assert code == 2
    assert "no API URL" in err
    for value in (home, home / ".vexil"):
        monkeypatch.setenv("VEXIL_HOME", str(value))
        code, out, err = _cli(capsys, "projects", "list", "--json")
        assert code == 0, err
        assert isinstance(json.loads(out), list)


def test_backup_outside_the_checkout_uses_the_stacks_aws_endpoint(
    capsys: pytest.CaptureFixture[str], bare: Path, moto_endpoint: str,
    vexil_resources: dict[str, str], monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    table = vexil_resources["VEXIL_TABLE"]
    home = tmp_path_factory.mktemp("checkout")
    _dev_json(home, aws_endpoint=moto_endpoint, table=table)
    # What a fresh shell has: no AWS settings at all (this was NoRegionError, exit 70).
    for var in ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "VEXIL_TABLE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(bare / "no-aws-config"))
    monkeypatch.setenv("VEXIL_HOME", str(home))
    for argv in (["backup", "export", "b1.json"], ["backup", "export", "b2.json", "--table",
                                                    table]):
        code, _, err = _cli(capsys, *argv)
        assert code == 0, err
        document = json.loads((bare / argv[2]).read_text(encoding="utf-8"))
        assert document["format"] == "vexil-backup/1"
        assert document["items"]
    assert "AWS_ENDPOINT_URL" not in os.environ  # restored after the command


# --- mutual TLS -------------------------------------------------------------------------------


def _cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name | None = None,
          issuer_key: ec.EllipticCurvePrivateKey | None = None, *, ca: bool = False,
          ip: str | None = None) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(hours=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
            critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def _write_pair(folder: Path, name: str, cert: x509.Certificate,
                key: ec.EllipticCurvePrivateKey) -> tuple[str, str]:
    cert_file, key_file = folder / f"{name}.pem", folder / f"{name}-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


@pytest.fixture
def mtls_api(tmp_path: Path) -> Iterator[dict[str, str]]:
    """An HTTPS server on 127.0.0.1 that requires a client certificate from one CA and
    answers ``GET /v1/projects`` with the caller's certificate name."""
    ca_key, other_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(
        ec.SECP256R1())
    ca = _cert("test CA", ca_key, ca=True)
    other_ca = _cert("someone else's CA", other_key, ca=True)
    files: dict[str, str] = {}
    files["ca"], _ = _write_pair(tmp_path, "ca", ca, ca_key)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert, server_key_file = _write_pair(
        tmp_path, "server", _cert("127.0.0.1", server_key, ca.subject, ca_key, ip="127.0.0.1"),
        server_key)
    for name, issuer, issuer_key in (("client", ca, ca_key), ("stranger", other_ca, other_key)):
        key = ec.generate_private_key(ec.SECP256R1())
        files[name], files[f"{name}_key"] = _write_pair(
            tmp_path, name, _cert(f"{name} cli", key, issuer.subject, issuer_key), key)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            peer = self.connection.getpeercert()
            who = dict(x[0] for x in peer["subject"])["commonName"]
            body = json.dumps({"items": [{"project": who, "name": "via mTLS"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=files["ca"])
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(server_cert, server_key_file)
    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            pass  # refused handshakes are the point of these tests, not noise for stderr

    server = Server(("127.0.0.1", 0), Handler)
    # The handshake runs in the handler's thread, as in a real server (not in accept()).
    server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                    do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {**files, "url": f"https://127.0.0.1:{server.server_address[1]}"}
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_client_certificate_accepted_missing_and_wrong(
    capsys: pytest.CaptureFixture[str], bare: Path, mtls_api: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = ("projects", "list", "--api", mtls_api["url"], "--token", "t",
            "--ca-bundle", mtls_api["ca"])
    code, out, err = _cli(capsys, *base, "--client-cert", mtls_api["client"],
                          "--client-key", mtls_api["client_key"])
    assert code == 0, err
    assert out.splitlines()[1].split()[0] == "client"  # the server saw our certificate
    code, out, err = _cli(capsys, *base)
    assert code == 1
    assert err.startswith(f"vexil: error: cannot reach the API at {mtls_api['url']}: ")
    # (the server's alert, or a dropped connection if it comes first: the hint either way)
    assert "(--client-cert/--client-key or $VEXIL_CLIENT_CERT/$VEXIL_CLIENT_KEY)" in err
    code, out, err = _cli(capsys, *base, "--client-cert", mtls_api["stranger"],
                          "--client-key", mtls_api["stranger_key"])
    assert code == 1
    assert f"is the client certificate {mtls_api['stranger']} one it trusts?" in err
    # The same from the environment, as CI jobs pass secrets.
    monkeypatch.setenv("VEXIL_CLIENT_CERT", mtls_api["client"])
    monkeypatch.setenv("VEXIL_CLIENT_KEY", mtls_api["client_key"])
    code, out, err = _cli(capsys, *base, "--json")
    assert code == 0, err
    assert json.loads(out)[0]["project"] == "client cli"


def test_unreadable_client_certificate_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], bare: Path, mtls_api: dict[str, str]
) -> None:
    code, _, err = _cli(capsys, "projects", "list", "--api", mtls_api["url"], "--token", "t",
                        "--ca-bundle", mtls_api["ca"], "--client-cert", str(bare / "nope.pem"))
    assert code == 2
    assert err.startswith(f"vexil: error: cannot load client certificate {bare / 'nope.pem'}")
    code, _, err = _cli(capsys, "projects", "list", "--api", mtls_api["url"], "--token", "t",
                        "--client-key", mtls_api["client_key"])
    assert code == 2
    assert "--client-key given without --client-cert" in err
