"""plan / apply / export against the real control plane (chalice local on moto)."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from vexil.api import ApiClient
from vexil.cli import main
from vexil.devstack.demo import DEMO_FLAGS
from vexil.errors import ApiError

pytestmark = pytest.mark.usefixtures("cli_env")


def _write(tmp_path: Path, project: str, environment: str,
           flags: dict[str, Any], segments: dict[str, Any] | None = None) -> str:
    path = tmp_path / f"{environment}.yaml"
    path.write_text(yaml.safe_dump({"project": project, "environment": environment,
                                    "flags": flags, "segments": segments or {}}),
                    encoding="utf-8")
    return str(path)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _api(cli_env: dict[str, str]) -> ApiClient:
    return ApiClient(cli_env["api"], cli_env["token"])


def test_apply_creates_everything_then_plan_is_empty_and_apply_is_idempotent(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, project: str, cli_env: dict[str, str]
) -> None:
    flags = copy.deepcopy(DEMO_FLAGS)
    segments = {"beta": {"included": ["u-1", "u-2"], "description": "beta testers"}}
    f = _write(tmp_path, project, "staging", flags, segments)

    code, out, err = _cli(capsys, "plan", "-f", f, "--detailed-exitcode")
    assert code == 2, err
    assert f"+ project {project}" in out
    assert "+ flag checkout-config (json, enabled)" in out

    code, out, err = _cli(capsys, "apply", "-f", f, "--reason", "test")
    assert code == 0, err
    assert "Applied" in out

    code, out, err = _cli(capsys, "plan", "-f", f, "--detailed-exitcode")
    assert code == 0, (out, err)
    assert f"No changes: {project}/staging matches {f}." in out

    code, out, _ = _cli(capsys, "apply", "-f", f)
    assert code == 0
    assert "Applied" not in out  # nothing to do the second time

    # The API really holds what the file says.
    api = _api(cli_env)
    got = api.get(f"/v1/projects/{project}/environments/staging/flags/free-shipping").body
    assert got["config"]["rules"][0]["clauses"][0]["values"][0] == "AT"
    assert got["definition"]["kind"] == "boolean"


def test_export_round_trips_through_plan(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, project: str
) -> None:
    f = _write(tmp_path, project, "staging", copy.deepcopy(DEMO_FLAGS),
               {"beta": {"included": ["u-1"]}})
    assert _cli(capsys, "apply", "-f", f)[0] == 0
    exported = tmp_path / "exported.yaml"
    code, _, err = _cli(capsys, "export", "--project", project, "--environment", "staging",
                        "-o", str(exported))
    assert code == 0, err
    text = exported.read_text(encoding="utf-8")
    assert "checkout-enabled:" in text
    code, out, _ = _cli(capsys, "plan", "-f", str(exported), "--detailed-exitcode")
    assert code == 0, out


def test_change_shows_a_field_diff_and_applies_conditionally(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, project: str, cli_env: dict[str, str]
) -> None:
    flags = copy.deepcopy(DEMO_FLAGS)
    f = _write(tmp_path, project, "staging", flags)
    assert _cli(capsys, "apply", "-f", f)[0] == 0
    flags["new-search"]["default"]["rollout"]["variations"][0]["weight"] = 25000
    flags["new-search"]["default"]["rollout"]["variations"][1]["weight"] = 75000
    f = _write(tmp_path, project, "staging", flags)
    code, out, _ = _cli(capsys, "plan", "-f", f)
    assert code == 0
    assert "~ flag configuration new-search" in out
    assert "default.rollout.variations[0].weight: 10000 -> 25000" in out
    assert "0 errors, 0 warnings; 0 to create, 1 to update, 0 to delete." in out

    # Someone else edits the flag between plan and apply: apply must not overwrite it.
    from vexil.apply import apply_plan
    from vexil.errors import VexilError
    from vexil.flagsfile import load
    from vexil.plan import build_plan
    from vexil.remote import Writer, fetch_state

    api = _api(cli_env)
    plan = build_plan(load(f), fetch_state(api, project, "staging"))
    current = fetch_state(api, project, "staging").flags["new-search"]
    Writer(api, project, "staging", None).put_configuration(
        "new-search", {**current.configuration, "enabled": False},
        current.configuration_version)
    with pytest.raises(VexilError) as exc:
        apply_plan(plan, Writer(api, project, "staging", None))
    assert "412" in exc.value.message
    assert "run `vexil plan` again" in exc.value.message


def test_protected_environment_gets_change_requests_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, project: str, cli_env: dict[str, str]
) -> None:
    api = _api(cli_env)
    api.request("POST", "/v1/projects", body={"key": project})
    api.request("POST", f"/v1/projects/{project}/environments",
                body={"key": "production", "protected": True})
    f = _write(tmp_path, project, "production", copy.deepcopy(DEMO_FLAGS))
    code, out, err = _cli(capsys, "apply", "-f", f)
    assert code == 0, err
    assert "protected: configuration changes become change requests" in out
    assert "change request cr-" in out
    assert "change request(s) await approval" in out
    # The flag is not in production until someone approves (its readers get FLAG_NOT_FOUND).
    with pytest.raises(ApiError) as missing:
        api.get(f"/v1/projects/{project}/environments/production/flags/checkout-enabled")
    assert missing.value.status == 404
    # Applying again files nothing new.
    code, out, _ = _cli(capsys, "apply", "-f", f)
    assert code == 0
    assert "proposed in CR cr-" in out
    assert f"awaiting approval in {project}/production" in out
    assert "Applied" not in out


def test_prune_deletes_flags_not_in_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, project: str
) -> None:
    flags = {k: copy.deepcopy(DEMO_FLAGS[k]) for k in ("new-search", "checkout-enabled")}
    assert _cli(capsys, "apply", "-f", _write(tmp_path, project, "staging", flags))[0] == 0
    del flags["new-search"]
    f = _write(tmp_path, project, "staging", flags)
    code, out, _ = _cli(capsys, "plan", "-f", f)
    assert "? flag new-search: not in the file" in out
    code, out, err = _cli(capsys, "apply", "-f", f, "--prune")
    assert code == 0, err
    assert "- flag new-search" in out
    code, out, _ = _cli(capsys, "plan", "-f", f, "--detailed-exitcode")
    assert code == 0, out


def test_api_validation_error_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, project: str
) -> None:
    f = _write(tmp_path, project, "staging", copy.deepcopy(DEMO_FLAGS))
    code, _, err = _cli(capsys, "apply", "-f", f, "--token", "vxl_tok_not-a-real-token")
    assert code == 1
    # (the session's in-process moto logs its requests to the same stderr)
    lines = [ln for ln in err.strip().splitlines() if "HTTP/1.1" not in ln]
    assert len(lines) == 1, err
    assert lines[0].startswith("vexil: error: GET /v1/projects/")
    assert "401" in lines[0]
    assert "Traceback" not in err


def test_change_request_approved_by_someone_else_then_applied(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, project: str, cli_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = _api(cli_env)
    api.request("POST", "/v1/projects", body={"key": project})
    api.request("POST", f"/v1/projects/{project}/environments",
                body={"key": "production", "protected": True})
    flags = {"checkout-enabled": copy.deepcopy(DEMO_FLAGS["checkout-enabled"])}
    f = _write(tmp_path, project, "production", flags)
    assert _cli(capsys, "apply", "-f", f)[0] == 0
    code, out, _ = _cli(capsys, "changes", "list", "--project", project,
                        "--environment", "production")
    assert code == 0
    (line,) = [ln for ln in out.splitlines() if "flag.config.put" in ln]
    cr_id = line.split()[0]
    assert "pending" in line

    # The author cannot approve their own change.
    code, _, err = _cli(capsys, "changes", "approve", cr_id, "--project", project,
                        "--environment", "production")
    assert code == 1
    assert "403" in err or "409" in err

    code, reviewer, err = _cli(capsys, "tokens", "create", "--name", "reviewer",
                               "--role", "admin")
    assert code == 0, err
    monkeypatch.setenv("VEXIL_TOKEN", reviewer.strip())
    code, out, err = _cli(capsys, "changes", "approve", cr_id, "--project", project,
                          "--environment", "production")
    assert code == 0, err
    assert f"{cr_id}: approved" in out
    code, out, err = _cli(capsys, "changes", "apply", cr_id, "--project", project,
                          "--environment", "production")
    assert code == 0, err
    got = api.get(f"/v1/projects/{project}/environments/production/flags/checkout-enabled").body
    assert got["config"]["enabled"] is True
    code, out, _ = _cli(capsys, "plan", "-f", f, "--detailed-exitcode")
    assert code == 0, out


def test_tokens_bootstrap_list_revoke(
    capsys: pytest.CaptureFixture[str], cli_env: dict[str, str],
    vexil_resources: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A name of its own: the session's table is shared with other tests that bootstrap.
    name = f"ops-bootstrap-{uuid.uuid4().hex[:8]}"
    code, out, err = _cli(capsys, "tokens", "bootstrap", "--name", name,
                          "--table", vexil_resources["VEXIL_TABLE"])
    assert code == 0, err
    token = out.strip()
    assert token.startswith("vxl_tok_")
    code, out, _ = _cli(capsys, "tokens", "list", "--json")
    assert code == 0
    mine = [t for t in json.loads(out) if t["name"] == name]
    assert len(mine) == 1
    assert token not in out  # never the secret
    assert mine[0]["role"] == "admin"
    code, out, err = _cli(capsys, "tokens", "revoke", mine[0]["token_id"], "--reason", "test")
    assert code == 0, err
    monkeypatch.setenv("VEXIL_TOKEN", token)
    code, _, err = _cli(capsys, "tokens", "list")
    assert code == 1
    assert "401" in err


def test_definition_change_in_a_project_with_a_protected_env_is_filed_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, project: str, cli_env: dict[str, str]
) -> None:
    api = _api(cli_env)
    flags = {"checkout-enabled": copy.deepcopy(DEMO_FLAGS["checkout-enabled"])}
    api.request("POST", "/v1/projects", body={"key": project})
    api.request("POST", f"/v1/projects/{project}/environments", body={"key": "production"})
    assert _cli(capsys, "apply", "-f", _write(tmp_path, project, "staging", flags))[0] == 0
    # Production configures the flag (it existed before being protected): a definition
    # change now changes what production serves.
    api.request("PATCH", f"/v1/projects/{project}/environments/production",
                body={"protected": True}, if_match='"1"')
    flags["checkout-enabled"]["description"] = "changed"
    f = _write(tmp_path, project, "staging", flags)
    code, out, err = _cli(capsys, "apply", "-f", f)
    assert code == 0, err
    assert "change request cr-" in out  # filed in production, the protected environment
    # Proposed is not applied: a CI drift check must still see it (exit 2), and where.
    code, out, _ = _cli(capsys, "plan", "-f", f, "--detailed-exitcode")
    assert code == 2, out
    assert "= flag definition checkout-enabled: proposed in CR cr-" in out
    assert f"awaiting approval in {project}/production" in out
    assert "No changes" not in out


BROKEN_RULES = [
    {"clauses": [{"attribute": "plan", "op": "inn", "values": ["pro"]}],
     "serve": {"variation": "onn"}},
]


def test_plan_shows_every_error_at_file_line_and_apply_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, project: str, cli_env: dict[str, str]
) -> None:
    flags = copy.deepcopy(DEMO_FLAGS)
    flags["checkout-enabled"]["rules"] = BROKEN_RULES
    rollout = flags["new-search"]["default"]["rollout"]["variations"]
    rollout[0]["weight"], rollout[1]["weight"] = 25, 75
    f = _write(tmp_path, project, "staging", flags)
    lines = Path(f).read_text(encoding="utf-8").splitlines()

    def line_of(text: str) -> int:
        return next(i for i, ln in enumerate(lines, 1) if text in ln)

    code, out, _ = _cli(capsys, "plan", "-f", f)
    assert code == 1, out
    assert (f"{f}:{line_of('op: inn')}: error: flags.checkout-enabled.rules[0].clauses[0].op: "
            "unknown operator 'inn' (did you mean 'in'?)") in out
    assert (f"{f}:{line_of('variation: onn')}: error: flags.checkout-enabled.rules[0].serve"
            ".variation: unknown variation 'onn' (did you mean 'on'?)") in out
    assert "weights sum to 100, not 100000" in out
    assert "write weights 25000, 75000" in out
    assert "2 errors, 1 warning; 6 to create, 0 to update, 0 to delete." in out

    code, out, _ = _cli(capsys, "plan", "-f", f, "--detailed-exitcode")
    assert code == 1
    code, out, err = _cli(capsys, "apply", "-f", f, "--yes")
    assert code == 1
    assert "apply refused: 2 errors" in err
    with pytest.raises(ApiError) as missing:
        _api(cli_env).get(f"/v1/projects/{project}")
    assert missing.value.status == 404  # nothing written, not even the project

    # The API answers the same mistake with the same suggestion (one owner: the engine).
    api = _api(cli_env)
    good = copy.deepcopy(DEMO_FLAGS)
    assert _cli(capsys, "apply", "-f", _write(tmp_path, project, "staging", good))[0] == 0
    url = f"/v1/projects/{project}/environments/staging/flags/checkout-enabled"
    current = api.get(url)
    config = {k: v for k, v in current.body["config"].items() if k != "version"}
    with pytest.raises(ApiError) as refused:
        api.request("PUT", url, body={**config, "rules": BROKEN_RULES[:1]},
                    if_match=current.etag)
    assert refused.value.status == 400
    messages = [d["message"] for d in refused.value.details]
    assert "unknown operator 'inn' (did you mean 'in'?)" in messages


def test_warnings_need_yes_without_a_terminal_and_counts_agree(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, project: str
) -> None:
    flags = copy.deepcopy(DEMO_FLAGS)
    rollout = flags["new-search"]["default"]["rollout"]["variations"]
    rollout[0]["weight"], rollout[1]["weight"] = 25, 75
    f = _write(tmp_path, project, "staging", flags)
    code, out, _ = _cli(capsys, "plan", "-f", f, "--json")
    assert code == 0
    planned = json.loads(out)
    assert planned["counts"] == {"create": 6, "update": 0, "delete": 0, "awaiting": 0,
                                 "errors": 0, "warnings": 1}
    (warning,) = planned["warnings"]
    assert (warning["code"], warning["file"], warning["entity"]) == (
        "weights_percent", f, "flag new-search")
    code, _, err = _cli(capsys, "apply", "-f", f)
    assert code == 1
    assert "re-run with --yes" in err
    code, out, err = _cli(capsys, "apply", "-f", f, "--yes")
    assert code == 0, err
    assert "Applied 6 to create, 0 to update, 0 to delete." in out  # plan's numbers


def test_detailed_exitcode_sees_a_prune_proposed_in_another_environment(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, project: str, cli_env: dict[str, str]
) -> None:
    """The issue's case: `apply --prune` on dev files the definition delete in prod (the
    protected environment); plan on dev must then say where it waits, and exit 2."""
    api = _api(cli_env)
    flags = {k: copy.deepcopy(DEMO_FLAGS[k]) for k in ("new-search", "checkout-enabled")}
    api.request("POST", "/v1/projects", body={"key": project})
    api.request("POST", f"/v1/projects/{project}/environments", body={"key": "prod"})
    assert _cli(capsys, "apply", "-f", _write(tmp_path, project, "dev", flags))[0] == 0
    api.request("PATCH", f"/v1/projects/{project}/environments/prod",
                body={"protected": True}, if_match='"1"')
    del flags["new-search"]
    f = _write(tmp_path, project, "dev", flags)
    code, out, err = _cli(capsys, "apply", "-f", f, "--prune")
    assert code == 0, err
    assert "change request cr-" in out
    code, out, _ = _cli(capsys, "plan", "-f", f, "--prune", "--detailed-exitcode")
    assert code == 2, out
    assert "= flag new-search: proposed in CR cr-" in out
    assert f"awaiting approval in {project}/prod" in out
    assert "No changes" not in out
    code, out, _ = _cli(capsys, "plan", "-f", f, "--prune", "--json")
    (pending,) = json.loads(out)["pending_change_requests"]
    assert (pending["action"], pending["key"], pending["environment"]) == (
        "delete", "new-search", "prod")
    assert pending["change_request"].startswith("cr-")
