"""Every administration verb of the CLI against the real control plane (in-process
``chalice local`` on the session's moto): projects, environments (protect/unprotect),
SDK keys, segments, tokens and change requests, human output and ``--json``."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.apiclient import request_json
from vexil.cli import main


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    # The in-process API server logs its requests to the same stderr: drop those lines.
    err = "".join(ln for ln in err.splitlines(keepends=True) if '" HTTP/1.1' not in ln
                  and "HTTP/1.1\"" not in ln)
    return code, out, err


def _ok(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = _cli(capsys, *argv)
    assert code == 0, err
    assert "Traceback" not in err
    return out


def _scope(project: str, environment: str) -> tuple[str, ...]:
    return ("--project", project, "--environment", environment)


def _second_admin(capsys: pytest.CaptureFixture[str]) -> str:
    """Another person: a second admin token (four-eyes needs two)."""
    return _ok(capsys, "tokens", "create", "--name", f"reviewer-{uuid.uuid4().hex[:6]}",
               "--role", "admin").strip()


def test_projects_create_and_list(capsys: pytest.CaptureFixture[str], cli_env: dict[str, str],
                                  project: str) -> None:
    assert _ok(capsys, "projects", "create", project, "--name", "Shop") == (
        f"created project {project}\n")
    table = _ok(capsys, "projects", "list")
    header, *rows = table.splitlines()
    assert header.split() == ["PROJECT", "NAME", "CREATED"]
    assert any(r.split()[:2] == [project, "Shop"] for r in rows)
    listed = json.loads(_ok(capsys, "projects", "list", "--json"))
    assert {"project": project, "name": "Shop"}.items() <= next(
        p for p in listed if p["project"] == project).items()
    # Creating it twice is the API's 409, printed with its code and message.
    code, out, err = _cli(capsys, "projects", "create", project)
    assert code == 1
    assert out == ""
    assert err.startswith("vexil: error: POST /v1/projects: 409 conflict: ")
    assert project in err


def test_environments_protect_and_unprotect_through_a_change_request(
    capsys: pytest.CaptureFixture[str], cli_env: dict[str, str], project: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _ok(capsys, "projects", "create", project)
    assert _ok(capsys, "environments", "create", "prod", "--project", project) == (
        f"created environment {project}/prod\n")
    _ok(capsys, "environments", "create", "dev", "--project", project, "--protected")
    rows = {r.split()[0]: r.split() for r in
            _ok(capsys, "environments", "list", "--project", project).splitlines()[1:]}
    assert rows["prod"][2] == "no"
    assert rows["dev"][2] == "yes"

    # protect: the CLI reads the version and sends the If-Match the API requires.
    assert _ok(capsys, "environments", "protect", "prod", "--project", project) == (
        f"{project}/prod is now protected\n")
    assert "already protected" in _ok(capsys, "environments", "protect", "prod",
                                      "--project", project)
    envs = json.loads(_ok(capsys, "environments", "list", "--project", project, "--json"))
    assert {e["environment"]: e["protected"] for e in envs} == {"dev": True, "prod": True}

    # unprotect of a protected environment is itself a change needing another person.
    out = _ok(capsys, "environments", "unprotect", "prod", "--project", project)
    assert "awaits approval as change request cr-" in out
    cr_id = out.split("change request ")[1].split()[0]
    shown = _ok(capsys, "changes", "show", cr_id, *_scope(project, "prod"))
    assert "operation:  environment.patch on the environment" in shown
    assert "  ~ protected: true → false" in shown
    monkeypatch.setenv("VEXIL_TOKEN", _second_admin(capsys))
    assert _ok(capsys, "changes", "approve", cr_id, *_scope(project, "prod")) == (
        f"{cr_id}: approved\n")
    assert _ok(capsys, "changes", "apply", cr_id, *_scope(project, "prod")) == (
        f"{cr_id}: applied\n")
    envs = json.loads(_ok(capsys, "environments", "list", "--project", project, "--json"))
    assert {e["environment"]: e["protected"] for e in envs}["prod"] is False


def test_sdk_keys_create_list_revoke(capsys: pytest.CaptureFixture[str],
                                     cli_env: dict[str, str], project: str) -> None:
    _ok(capsys, "projects", "create", project)
    _ok(capsys, "environments", "create", "prod", "--project", project)
    scope = _scope(project, "prod")
    assert "no active SDK keys" in _ok(capsys, "sdk-keys", "list", *scope)
    code, out, err = _cli(capsys, "sdk-keys", "create", *scope, "--kind", "server")
    assert code == 0, err
    key = out.strip()
    assert out.count("\n") == 1
    assert key.startswith("vxl_srv_")
    assert "shown only this once" in err
    assert key not in err
    key_id = key.split("_")[2]
    client_key = _ok(capsys, "sdk-keys", "create", *scope, "--kind", "client",
                     "--tags", "web").strip()
    assert client_key.startswith("vxl_cli_")

    table = _ok(capsys, "sdk-keys", "list", *scope)
    assert key_id in table
    assert key.split("_")[3] not in table
    listed = json.loads(_ok(capsys, "sdk-keys", "list", *scope, "--json"))
    assert {k["kind"] for k in listed} == {"server", "client"}
    assert "revoked SDK key" in _ok(capsys, "sdk-keys", "revoke", key_id, *scope)
    assert key_id not in _ok(capsys, "sdk-keys", "list", *scope)
    revoked = [k for k in json.loads(_ok(capsys, "sdk-keys", "list", *scope, "--all", "--json"))
               if k["key_id"] == key_id]
    assert revoked
    assert revoked[0]["revoked_at"]


def test_segments_put_show_list_delete(capsys: pytest.CaptureFixture[str],
                                       cli_env: dict[str, str], project: str,
                                       tmp_path: object) -> None:
    _ok(capsys, "projects", "create", project)
    _ok(capsys, "environments", "create", "qa", "--project", project)
    scope = _scope(project, "qa")
    assert "no segments" in _ok(capsys, "segments", "list", *scope)
    assert "created segment beta" in _ok(capsys, "segments", "put", "beta", *scope,
                                         "--included", "u1,u2")
    # Options without a file change only those fields (If-Match on the version just read).
    assert "updated segment beta" in _ok(capsys, "segments", "put", "beta", *scope,
                                         "--excluded", "u3", "--description", "beta users")
    seg = json.loads(_ok(capsys, "segments", "show", "beta", *scope))
    assert (seg["included"], seg["excluded"], seg["description"], seg["version"]) == (
        ["u1", "u2"], ["u3"], "beta users", 2)
    header, row = _ok(capsys, "segments", "list", *scope).splitlines()
    assert header.split()[:4] == ["SEGMENT", "#INCLUDED", "#EXCLUDED", "#RULES"]
    assert row.split()[:5] == ["beta", "2", "1", "0", "2"]
    assert [s["key"] for s in json.loads(_ok(capsys, "segments", "list", *scope, "--json"))] == [
        "beta"]
    assert "deleted segment beta" in _ok(capsys, "segments", "delete", "beta", *scope)
    code, _, err = _cli(capsys, "segments", "show", "beta", *scope)
    assert code == 1
    assert ": 404 not_found: " in err


def test_changes_list_show_diff_and_review(capsys: pytest.CaptureFixture[str],
                                           cli_env: dict[str, str], project: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    api, token = cli_env["api"], cli_env["token"]
    _ok(capsys, "projects", "create", project)
    _ok(capsys, "environments", "create", "prod", "--project", project, "--protected")
    scope = _scope(project, "prod")
    assert _ok(capsys, "changes", "list", *scope) == (
        f"no pending change requests in {project}/prod\n")
    assert json.loads(_ok(capsys, "changes", "list", *scope, "--json")) == []

    # A segment change in the protected environment becomes a change request.
    out = _ok(capsys, "segments", "put", "vip", *scope, "--included", "alice")
    assert "is protected: creating it awaits approval as change request" in out
    status, body = request_json(f"{api}/v1/projects/{project}/flags", "POST", {
        "key": "banner", "kind": "boolean", "variations": {"on": True, "off": False}},
        token=token)
    assert status in (201, 202), body
    status, body = request_json(
        f"{api}/v1/projects/{project}/environments/prod/flags/banner", "PUT",
        {"enabled": True, "default": {"variation": "on"}}, token=token, if_match=0)
    assert status == 202, body
    cr_id = body["change_request"]["id"]

    table = _ok(capsys, "changes", "list", *scope)
    assert table.splitlines()[0].split() == ["ID", "STATUS", "OPERATION", "TARGET", "AUTHOR",
                                             "APPROVALS", "CREATED"]
    row = next(r for r in table.splitlines() if r.startswith(cr_id))
    assert "pending" in row
    assert "flag.config.put" in row
    assert "flag banner" in row
    assert "{" not in table  # names, not Python dicts
    shown = _ok(capsys, "changes", "show", cr_id, *scope)
    assert f"change request {cr_id}  [pending]  {project}/prod" in shown
    assert "operation:  flag.config.put on flag banner" in shown
    assert "approvals:  none yet" in shown
    assert "  (new)" in shown  # not configured in prod yet
    assert '  + enabled: true' in shown
    assert '  + default: {"variation": "on"}' in shown
    as_json = json.loads(_ok(capsys, "changes", "show", cr_id, *scope, "--json"))
    assert as_json["id"] == cr_id
    assert as_json["operation"]["type"] == "flag.config.put"

    monkeypatch.setenv("VEXIL_TOKEN", _second_admin(capsys))
    assert _ok(capsys, "changes", "reject", cr_id, *scope) == f"{cr_id}: rejected\n"
    assert cr_id not in _ok(capsys, "changes", "list", *scope)
    assert cr_id in _ok(capsys, "changes", "list", *scope, "--all")


def test_changes_show_diffs_an_edit_field_by_field(
    capsys: pytest.CaptureFixture[str], cli_env: dict[str, str], project: str
) -> None:
    _ok(capsys, "projects", "create", project)
    _ok(capsys, "environments", "create", "prod", "--project", project)
    scope = _scope(project, "prod")
    _ok(capsys, "segments", "put", "vip", *scope, "--included", "alice,bob",
        "--description", "old")
    _ok(capsys, "environments", "protect", "prod", "--project", project)
    out = _ok(capsys, "segments", "put", "vip", *scope, "--included", "alice,carol")
    cr_id = out.split("change request ")[1].split()[0]
    shown = _ok(capsys, "changes", "show", cr_id, *scope).splitlines()
    i = shown.index("changes against the current state:")
    diff = shown[i + 1:]
    assert diff[0] == "  ~ included:"
    assert '      -  "bob"' in diff
    assert '      +  "carol"' in diff
    assert not any("description" in ln for ln in diff)  # unchanged fields are not listed


def test_tokens_create_list_and_unknown_projects_refused(
    capsys: pytest.CaptureFixture[str], cli_env: dict[str, str], project: str
) -> None:
    code, out, err = _cli(capsys, "tokens", "create", "--name", "ci", "--role", "editor",
                          "--projects", f"{project}-typo")
    assert (code, out) == (2, "")
    assert err.startswith(f"vexil: error: tokens create: --projects: no such project: "
                          f"{project}-typo (existing: ")
    _ok(capsys, "projects", "create", project)
    name = f"ci-{uuid.uuid4().hex[:6]}"
    created = json.loads(_ok(capsys, "tokens", "create", "--name", name, "--role", "viewer",
                             "--projects", project, "--json"))
    assert created["token"].startswith("vxl_tok_")
    assert created["projects"] == [project]
    row = next(r for r in _ok(capsys, "tokens", "list").splitlines() if name in r)
    assert row.split()[1:6] == [name, "viewer", project, "*", "active"]
    assert created["token"] not in _ok(capsys, "tokens", "list")
    assert "revoked token" in _ok(capsys, "tokens", "revoke", created["token_id"])
    mine = [t for t in json.loads(_ok(capsys, "tokens", "list", "--json")) if t["name"] == name]
    assert mine[0]["revoked"] is True


def test_audit_verify_json(capsys: pytest.CaptureFixture[str], cli_env: dict[str, str],
                           project: str) -> None:
    _ok(capsys, "projects", "create", project)
    _ok(capsys, "environments", "create", "qa", "--project", project)
    _ok(capsys, "segments", "put", "s", *_scope(project, "qa"), "--included", "a")
    result = json.loads(_ok(capsys, "audit", "verify", *_scope(project, "qa"), "--json"))
    assert result["ok"] is True
    assert result["checked"] >= 1
    line = _ok(capsys, "audit", "verify", *_scope(project, "qa"))
    assert line.startswith(f"audit chain {project}/qa: OK ({result['checked']} records verified")
