"""Input and transport hardening, tried as an attacker would against the running local API.

One `python -m vexil.devstack.apiserver` (the local stack's API: chalice local's app, config
and authorizer, plus a read timeout) on 127.0.0.1 for the module, against the session's moto
table; several tokens. Each test is one promise of docs/security.md (issue 13, part 5).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.apiclient import request_json
from tests.conftest import free_port
from tests.control_plane.conftest import World
from vexil.devstack import procs
from vexil.devstack.httpserve import READ_TIMEOUT_SECONDS

CONTROL_PLANE = Path(__file__).resolve().parents[2] / "control_plane"
BOOL = {"on": True, "off": False}
OFF = {"variation": "off"}


@dataclass
class Server:
    """The running API: its URL and the files its stdout/stderr go to."""

    base: str
    port: int
    out: Path
    err: Path

    def call(self, method: str, path: str, body: Any = None, token: str | None = None,
             if_match: int | None = None) -> tuple[int, Any]:
        """One request; (status, decoded JSON body or None)."""
        return request_json(self.base + path, method, body, token=token, if_match=if_match,
                            timeout=20)

    def logs(self) -> str:
        """Everything the server wrote so far (stdout: app log; stderr: access log)."""
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")


@pytest.fixture(scope="module")
def server(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("apiserver")
    port = free_port()
    out, err = tmp / "stdout.log", tmp / "stderr.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": str(CONTROL_PLANE.parent)}
    with out.open("wb") as fout, err.open("wb") as ferr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vexil.devstack.apiserver", "--host", "127.0.0.1",
             "--port", str(port), "--stage", "local"],
            cwd=CONTROL_PLANE, env=env, stdout=fout, stderr=ferr,
        )
    srv = Server(f"http://127.0.0.1:{port}", port, out, err)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if srv.call("GET", "/v1/health")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert proc.poll() is None, srv.logs()
            assert time.monotonic() < deadline, "the API server did not start"
            time.sleep(0.3)
        yield srv
    finally:
        assert procs.stop(proc) == []


def _project(world: World, server: Server, protected: tuple[str, ...] = ()) -> str:
    p = world.new_project(envs=("staging", "production"), protected=protected)
    status, body = server.call("POST", f"/v1/projects/{p}/flags",
                               {"key": "checkout", "kind": "boolean", "variations": BOOL},
                               token=world.admin_token)
    assert status == 201, body
    return p


def _fields(body: Any) -> list[str]:
    return [d["path"] for d in body["error"]["details"]]


# --- F7: limit and cursor -------------------------------------------------------------------

def _paginated(p: str) -> list[str]:
    e = f"/v1/projects/{p}/environments/staging"
    return [f"/v1/projects/{p}/flags", f"{e}/flags", f"{e}/flags/checkout/history",
            f"{e}/segments", f"{e}/change-requests",
            f"/v1/audit?project={p}&environment=staging"]


@pytest.mark.parametrize("limit", ["%C2%B2", "%D9%A3", "%EF%BC%95", "1%C2%B2", "0", "201",
                                   "9" * 5000, "-1", "+5", "%205"])
def test_bad_limit_is_400_naming_limit_on_every_paginated_route(
    world: World, server: Server, limit: str,
) -> None:
    p = _project(world, server)
    for route in _paginated(p):
        sep = "&" if "?" in route else "?"
        status, body = server.call("GET", f"{route}{sep}limit={limit}", token=world.admin_token)
        assert status == 400, (route, body)
        assert _fields(body) == ["limit"], (route, body)
        # The same route with a good limit answers: the 400 is about the parameter.
        assert server.call("GET", f"{route}{sep}limit=5", token=world.admin_token)[0] == 200


@pytest.mark.parametrize("cursor", ["%C3%A9", "YzE6%C2%B2", "%F0%9F%98%80", "a%0A", "x" * 3000,
                                    "bm90LWEtY3Vyc29y"])
def test_bad_cursor_is_400_naming_cursor_on_every_paginated_route(
    world: World, server: Server, cursor: str,
) -> None:
    p = _project(world, server)
    for route in _paginated(p):
        sep = "&" if "?" in route else "?"
        status, body = server.call("GET", f"{route}{sep}cursor={cursor}", token=world.admin_token)
        assert status == 400, (route, body)
        assert _fields(body) == ["cursor"], (route, body)


def test_unicode_digit_version_in_the_path_is_400(world: World, server: Server) -> None:
    p = _project(world, server)
    base = f"/v1/projects/{p}/environments/staging/flags/checkout/history"
    for bad in ("%C2%B2", "%D9%A3", "9" * 5000):
        status, body = server.call("GET", f"{base}/{bad}", token=world.admin_token)
        assert status == 400, body
        assert _fields(body) == ["version"]
    assert server.call("GET", f"{base}/1", token=world.admin_token)[0] == 200


# --- F7: depth -----------------------------------------------------------------------------

def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("depth", [70, 100, 300, 900])
def test_deep_json_variation_is_400_naming_the_variation(
    world: World, server: Server, depth: int,
) -> None:
    p = _project(world, server)
    flag = {"key": "deep", "kind": "json", "variations": {"a": _nested(depth), "b": {}}}
    status, body = server.call("POST", f"/v1/projects/{p}/flags", flag, token=world.admin_token)
    assert status == 400, body
    # The request check (deeper than 80) or the compiler's (deeper than 64) names it.
    assert _fields(body), body
    assert all("variations.a" in f for f in _fields(body)), body
    assert "deeper than" in json.dumps(body)


@pytest.mark.parametrize("depth", [70, 300, 900])
def test_deep_json_schema_is_400_naming_the_schema(
    world: World, server: Server, depth: int,
) -> None:
    p = _project(world, server)
    schema: Any = {"type": "object"}
    for _ in range(depth // 2):
        schema = {"type": "object", "properties": {"x": schema}}
    flag = {"key": "deep", "kind": "json", "variations": {"a": {}, "b": {}}, "schema": schema}
    status, body = server.call("POST", f"/v1/projects/{p}/flags", flag, token=world.admin_token)
    assert status == 400, body
    assert _fields(body), body
    assert all(".schema" in f or f.startswith("schema") for f in _fields(body)), body


def test_deep_request_body_is_400_naming_the_field_and_writes_nothing(
    world: World, server: Server,
) -> None:
    status, body = server.call("POST", "/v1/projects", {"key": "deep-body", "x": _nested(500)},
                               token=world.admin_token)
    assert status == 400, body
    assert _fields(body)[0].startswith("x[0]"), body
    assert server.call("GET", "/v1/projects/deep-body", token=world.admin_token)[0] == 404


def test_a_shallow_json_variation_is_still_accepted(world: World, server: Server) -> None:
    p = _project(world, server)
    flag = {"key": "ok", "kind": "json", "variations": {"a": _nested(60), "b": {}}}
    status, body = server.call("POST", f"/v1/projects/{p}/flags", flag, token=world.admin_token)
    assert status == 201, body


# --- the key rule and the parsers ----------------------------------------------------------

@pytest.mark.parametrize("key", ["x\n", "x\n\n", "\nx", "x\r", "X", "x y", "é"])
def test_project_key_with_a_newline_or_bad_character_is_400(
    world: World, server: Server, key: str,
) -> None:
    status, body = server.call("POST", "/v1/projects", {"key": key}, token=world.admin_token)
    assert status == 400, body
    assert _fields(body) == ["key"]
    listed = server.call("GET", "/v1/projects?limit=200", token=world.admin_token)[1]
    assert key not in [item["project"] for item in listed["items"]]


def test_flag_environment_and_segment_keys_with_a_newline_are_400(
    world: World, server: Server,
) -> None:
    p = _project(world, server)
    token = world.admin_token
    status, body = server.call("POST", f"/v1/projects/{p}/flags",
                               {"key": "f\n", "kind": "boolean", "variations": BOOL}, token=token)
    assert (status, _fields(body)) == (400, ["key"]), body
    status, body = server.call("POST", f"/v1/projects/{p}/environments", {"key": "e\n"},
                               token=token)
    assert (status, _fields(body)) == (400, ["key"]), body
    # A key in the URL path never names a stored flag (refused, or not found).
    status, body = server.call("GET", f"/v1/projects/{p}/flags/checkout%0A", token=token)
    assert status in (400, 404), body


@pytest.mark.parametrize(("op", "value"), [("semVerEqual", "1.0.0\n"),
                                           ("before", "2030-01-01T00:00:00Z\n")])
def test_semver_and_date_values_with_a_trailing_newline_are_refused(
    world: World, server: Server, op: str, value: str,
) -> None:
    p = _project(world, server)
    rule = {"id": "r1", "clauses": [{"attribute": "v", "op": op, "values": [value]}],
            "serve": {"variation": "on"}}
    status, body = server.call("PUT", f"/v1/projects/{p}/environments/staging/flags/checkout",
                               {"enabled": True, "rules": [rule], "default": OFF},
                               token=world.admin_token, if_match=1)
    assert status == 400, body
    assert any(f.startswith("rules[0]") for f in _fields(body)), body
    good = {**rule, "clauses": [{"attribute": "v", "op": op, "values": [value.strip()]}]}
    status, body = server.call("PUT", f"/v1/projects/{p}/environments/staging/flags/checkout",
                               {"enabled": True, "rules": [good], "default": OFF},
                               token=world.admin_token, if_match=1)
    assert status == 200, body


# --- F8: refusals from outside the project's scope -------------------------------------------

def _denied_records(server: Server, token: str, p: str, env: str) -> list[dict[str, Any]]:
    status, body = server.call("GET", f"/v1/audit?project={p}&environment={env}&limit=200",
                               token=token)
    assert status == 200, body
    return [a for a in body["items"] if a["outcome"] == "denied"]


def _denied_lines(server: Server, token_id: str) -> list[dict[str, Any]]:
    lines = []
    for line in server.out.read_text(errors="replace").splitlines():
        if line.startswith("{") and '"event":"denied"' in line:
            entry = json.loads(line)
            if entry["token_id"] == token_id:
                lines.append(entry)
    return lines


def test_outsider_refusals_are_logged_and_counted_not_chained(
    world: World, server: Server,
) -> None:
    p = _project(world, server, protected=("production",))
    other = world.new_project(envs=("dev",))
    outsider = world.token("editor", [other], ["*"], name=f"outsider-{p}")
    outsider_id = server.call("GET", "/v1/tokens/self", token=outsider)[1]["token_id"]
    for _ in range(20):
        status, _body = server.call(
            "PUT", f"/v1/projects/{p}/environments/production/flags/checkout",
            {"enabled": True}, token=outsider, if_match=1)
        assert status == 403
    assert _denied_records(server, world.admin_token, p, "production") == []
    time.sleep(0.5)  # the server's stdout is a pipe to a file; give it a moment
    lines = _denied_lines(server, outsider_id)
    counts = [entry["count_in_window"] for entry in lines]
    # Rate-counted: the first 10 of a window are logged one by one, then one per 100.
    assert 10 <= len(lines) < 20, counts
    assert counts[:10] == list(range(1, 11)) or counts[-10:] == list(range(11, 21)), counts
    assert all((e["project"], e["environment"], e["action"])
               == (p, "production", "denied:putEnvironmentFlag") for e in lines), lines[:1]
    assert world.api.post("/v1/audit/verify", {"project": p, "environment": "production"}
                          ).json["ok"]


def test_in_scope_refusal_on_a_protected_environment_stays_in_the_chain(
    world: World, server: Server,
) -> None:
    p = _project(world, server, protected=("production",))
    viewer = world.token("viewer", [p], ["*"], name=f"viewer-{p}")
    status, _ = server.call("PUT", f"/v1/projects/{p}/environments/production/flags/checkout",
                            {"enabled": True}, token=viewer, if_match=1)
    assert status == 403
    denied = _denied_records(server, world.admin_token, p, "production")
    assert [d["actor"]["name"] for d in denied] == [f"viewer-{p}"]
    # An unprotected environment's chain gets no record, in scope or not.
    status, _ = server.call("PUT", f"/v1/projects/{p}/environments/staging/flags/checkout",
                            {"enabled": True}, token=viewer, if_match=1)
    assert status == 403
    assert _denied_records(server, world.admin_token, p, "staging") == []


# --- tokens in query strings, and read timeouts ----------------------------------------------

def test_a_token_in_a_query_string_is_never_logged(world: World, server: Server) -> None:
    secret = "vxl_tok_" + "Q" * 40
    for path in (f"/v1/projects?token={secret}", f"/v1/projects?access_token={secret}&limit=5",
                 f"/v1/health?token={secret}"):
        status, _ = server.call("GET", path, token=None)
        assert status in (200, 401)
        status, _ = server.call("GET", path, token=secret)
        assert status == (200 if path.startswith("/v1/health") else 401)
    time.sleep(0.5)
    logs = server.logs()
    assert "/v1/projects" in logs  # the access log is there, without its query string
    assert secret not in logs
    assert "Q" * 40 not in logs


def _dropped_after(port: int, payload: bytes, wait: float) -> float:
    """Send ``payload`` and stop; seconds until the server closed the connection."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(payload)
        try:
            while sock.recv(4096):
                pass  # a 408/400 reply before the close is fine too
        except TimeoutError:
            pytest.fail(f"connection still open after {wait} s")
        except ConnectionResetError:
            pass
    return time.monotonic() - started


@pytest.mark.parametrize("payload", [
    b"POST /v1/projects HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 100\r\n\r\n{\"key\":",
    b"GET /v1/health HTTP/1.1\r\nHost: x\r\n",
    b"GET /v1/hea",
])
def test_an_unfinished_request_is_dropped_within_seconds(server: Server, payload: bytes) -> None:
    _dropped_after(server.port, payload, wait=READ_TIMEOUT_SECONDS * 3)
    # And the server still answers others.
    assert server.call("GET", "/v1/health")[0] == 200
