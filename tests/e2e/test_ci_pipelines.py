"""The CI pipelines of examples/ci/ run against the local stack, step by step.

Each pipeline file is parsed (GitHub Actions and GitLab CI as YAML, the Jenkinsfile's
``sh '''...'''`` steps by stage); its shell steps run in order, in a throw-away "flags
repository", with the variables the CI system would set: the API URL, two tokens from the
"secret store" (a viewer token for plan, an editor token for apply), the CLI wheel, and the
code-host API the plan is posted to (a local HTTP server that records the comment).
Review: the plan is posted and archived and nothing is written. Merge: apply writes the
flag; a second plan has nothing to do. The apply job with the viewer token fails.

What stands in for the CI system: ``uses:`` actions are not run (checkout = the working
directory, setup-python = a fresh virtualenv first on PATH); the CLI is installed from a
wheel of this checkout with pip, offline (``PIP_NO_INDEX``), its dependencies taken from the
test virtualenv (``PYTHONPATH``) — the packaging tests prove a clean install resolves them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from tests.apiclient import request_json
from tests.e2e.test_local_stack import _pids, _vexil

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CI = ROOT / "examples" / "ci"


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def ci_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    state = tmp_path_factory.mktemp("vexil-ci")
    up = _vexil(state, "dev", "up", "--random-ports")
    pids = _pids(state)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        info: dict[str, Any] = json.loads((state / "dev.json").read_text())
        tokens = {}
        for name, role in (("ci-plan", "viewer"), ("ci-apply", "editor")):
            status, body = request_json(info["api"] + "/v1/tokens", "POST",
                                        {"name": name, "role": role, "projects": ["*"],
                                         "environments": ["*"]},
                                        token=info["admin_token"])
            assert status == 201, body
            tokens[role] = body["token"]
        info["ci_tokens"] = tokens
        yield info
    finally:
        down = _vexil(state, "dev", "down", timeout=60)
        assert down.returncode == 0, down.stdout + down.stderr
        for pid in pids:
            assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


@pytest.fixture(scope="module")
def cli_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out),
                    str(ROOT)], check=True, capture_output=True, timeout=300)
    wheels = sorted(out.glob("vexil-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


class _Recorder(BaseHTTPRequestHandler):
    """The code host's API: records every POST (path, headers, JSON body)."""

    posts: list[dict[str, Any]]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        headers = {k.lower(): v for k, v in self.headers.items()}  # names are case-insensitive
        self.posts.append({"path": self.path, "headers": headers,
                           "body": json.loads(self.rfile.read(length) or b"null")})
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture
def code_host() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    posts: list[dict[str, Any]] = []
    handler = type("Recorder", (_Recorder,), {"posts": posts})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", posts
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A checked-out flags repository with a fresh Python (setup-python) first on PATH."""
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "python")], check=True,
                   timeout=120)
    (tmp_path / "repo" / "flags").mkdir(parents=True)
    return tmp_path


# ----------------------------------------------------------------------------- helpers


def _project(info: dict[str, Any], project: str) -> None:
    """An administrator creates the project and environment; CI (an editor) writes flags."""
    base = info["api"] + "/v1/projects"
    for url, body in ((base, {"key": project, "name": project}),
                      (f"{base}/{project}/environments",
                       {"key": "staging", "name": "staging", "protected": False})):
        status, answer = request_json(url, "POST", body, token=info["admin_token"])
        assert status == 201, answer


def _flags(repo: Path, project: str, *, enabled: bool) -> None:
    doc = {"project": project, "environment": "staging", "flags": {
        "new-checkout": {"kind": "boolean", "variations": {"on": True, "off": False},
                         "enabled": enabled, "off_variation": "off",
                         "default": {"variation": "on"}}}}
    (repo / "flags" / f"{project}.staging.yaml").write_text(yaml.safe_dump(doc))


def _base_env(workspace: Path, info: dict[str, Any], wheel: Path) -> dict[str, str]:
    return {
        "PATH": f"{workspace / 'python' / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workspace),
        "LANG": "C.UTF-8",
        # Offline install of the wheel; its dependencies come from the test environment.
        "PIP_NO_INDEX": "1",
        "PYTHONPATH": sysconfig.get_paths()["purelib"],
        "VEXIL_STATE_DIR": str(workspace / "no-dev-json"),  # the CLI must not find dev.json
        "VEXIL_API": info["api"],
        "VEXIL_CLI_WHEEL": str(wheel),
    }


def _run(script: str, env: dict[str, str], cwd: Path, shell: list[str]) -> int:
    proc = subprocess.run([*shell, script], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=300, check=False)
    sys.stdout.write(f"$ {script[:200]}\n{proc.stdout}{proc.stderr}\n")
    return proc.returncode


def _installed_from_wheel(env: dict[str, str], cwd: Path, python: Path) -> None:
    out = subprocess.run([str(python), "-c", "import vexil; print(vexil.__file__)"],
                         env=env, cwd=cwd, capture_output=True, text=True, check=True)
    assert "site-packages" in out.stdout, out.stdout
    assert str(ROOT) not in out.stdout


def _flag(info: dict[str, Any], project: str) -> tuple[int, Any]:
    return request_json(
        f"{info['api']}/v1/projects/{project}/environments/staging/flags/new-checkout", "GET",
        token=info["admin_token"])


# ------------------------------------------------------------------------ GitHub Actions

_GH_EXPR = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


def _gh_job(doc: dict[str, Any], name: str, context: dict[str, str]) -> list[tuple[str, dict[
        str, str]]]:
    """The ``run:`` steps of one job with their ``env:`` (job + step), expressions resolved."""
    job = doc["jobs"][name]

    def resolve(values: dict[str, Any]) -> dict[str, str]:
        return {k: _GH_EXPR.sub(lambda m: context[m.group(1)], str(v)) for k, v in
                values.items()}

    job_env = resolve(job.get("env", {}))
    return [(step["run"], {**job_env, **resolve(step.get("env", {}))})
            for step in job["steps"] if "run" in step]


def _gh_run(doc: dict[str, Any], job: str, context: dict[str, str], env: dict[str, str],
            cwd: Path) -> int:
    for script, step_env in _gh_job(doc, job, context):
        # GitHub's default shell for run steps: bash --noprofile --norc -eo pipefail {0}.
        rc = _run(script, {**env, **step_env}, cwd, ["bash", "--noprofile", "--norc",
                                                     "-eo", "pipefail", "-c"])
        if rc:
            return rc
    return 0


def test_github_actions_plan_on_review_apply_on_merge(
    ci_stack: dict[str, Any], cli_wheel: Path, workspace: Path,
    code_host: tuple[str, list[dict[str, Any]]],
) -> None:
    info, (host, posts) = ci_stack, code_host
    doc = yaml.safe_load((CI / "github-actions.yml").read_text())
    triggers = doc.get("on", doc.get(True))
    assert set(triggers) == {"pull_request", "push"}
    repo, project = workspace / "repo", "ci-gha"
    _project(info, project)
    _flags(repo, project, enabled=True)
    outputs = workspace / "github_output"
    env = {**_base_env(workspace, info, cli_wheel), "GITHUB_API_URL": host,
           "GITHUB_REPOSITORY": "acme/flags", "GITHUB_SHA": "abc123",
           "GITHUB_OUTPUT": str(outputs)}
    context = {"vars.VEXIL_API": info["api"], "vars.VEXIL_CLI_WHEEL": str(cli_wheel),
               "secrets.VEXIL_PLAN_TOKEN": info["ci_tokens"]["viewer"],
               "secrets.VEXIL_APPLY_TOKEN": info["ci_tokens"]["editor"],
               "secrets.GITHUB_TOKEN": "ghs_fake", "github.event.pull_request.number": "7"}

    # Review: plan, comment, nothing written.
    assert _gh_run(doc, "plan", context, env, repo) == 0
    _installed_from_wheel(env, repo, workspace / "python" / "bin" / "python")
    assert "changed=1" in outputs.read_text()
    assert [p["path"] for p in posts] == ["/repos/acme/flags/issues/7/comments"]
    assert posts[0]["headers"]["authorization"] == "Bearer ghs_fake"
    comment = posts[0]["body"]["body"]
    assert comment.startswith("Vexil plan")
    assert "new-checkout" in comment
    assert f"flags/{project}.staging.yaml" in (repo / "plan.md").read_text()
    assert _flag(info, project)[0] == 404

    # Merge with the wrong secret (the read-only plan token): apply must fail, write nothing.
    wrong = {**context, "secrets.VEXIL_APPLY_TOKEN": info["ci_tokens"]["viewer"]}
    assert _gh_run(doc, "apply", wrong, env, repo) != 0
    assert _flag(info, project)[0] == 404

    # Merge: apply writes; a new plan has nothing to do.
    assert _gh_run(doc, "apply", context, env, repo) == 0
    status, flag = _flag(info, project)
    assert status == 200, flag
    assert flag["config"]["enabled"] is True
    outputs.write_text("")
    assert _gh_run(doc, "plan", context, env, repo) == 0
    assert "changed=0" in outputs.read_text()


# ----------------------------------------------------------------------------- GitLab CI


def _gitlab_script(doc: dict[str, Any], job: str) -> str:
    lines = [*doc.get("default", {}).get("before_script", []), *doc[job]["script"]]
    return "\n".join(lines)


def _gitlab_env(doc: dict[str, Any], job: str, env: dict[str, str]) -> dict[str, str]:
    # Job variables may reference other variables ($VEXIL_PLAN_TOKEN), as GitLab expands them.
    job_vars = {k: re.sub(r"\$(\w+)", lambda m: env[m.group(1)], str(v))
                for k, v in doc[job].get("variables", {}).items()}
    return {**env, **job_vars}


def test_gitlab_ci_plan_on_merge_request_apply_on_default_branch(
    ci_stack: dict[str, Any], cli_wheel: Path, workspace: Path,
    code_host: tuple[str, list[dict[str, Any]]],
) -> None:
    info, (host, posts) = ci_stack, code_host
    doc = yaml.safe_load((CI / "gitlab-ci.yml").read_text())
    assert doc["vexil-plan"]["rules"][0]["if"] == '$CI_PIPELINE_SOURCE == "merge_request_event"'
    assert doc["vexil-apply"]["rules"][0]["if"] == "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"
    repo, project = workspace / "repo", "ci-gitlab"
    _project(info, project)
    _flags(repo, project, enabled=False)
    env = {**_base_env(workspace, info, cli_wheel),
           "VEXIL_PLAN_TOKEN": info["ci_tokens"]["viewer"],
           "VEXIL_APPLY_TOKEN": info["ci_tokens"]["editor"],
           "GITLAB_NOTE_TOKEN": "glpat-fake", "CI_API_V4_URL": host + "/api/v4",
           "CI_PROJECT_ID": "42", "CI_MERGE_REQUEST_IID": "9",
           "CI_PROJECT_PATH": "acme/flags", "CI_COMMIT_SHA": "def456"}
    shell = ["bash", "-eo", "pipefail", "-c"]

    plan_env = _gitlab_env(doc, "vexil-plan", env)
    assert plan_env["VEXIL_TOKEN"] == info["ci_tokens"]["viewer"]
    assert _run(_gitlab_script(doc, "vexil-plan"), plan_env, repo, shell) == 0
    _installed_from_wheel(plan_env, repo, workspace / "python" / "bin" / "python")
    assert [p["path"] for p in posts] == ["/api/v4/projects/42/merge_requests/9/notes"]
    assert posts[0]["headers"]["private-token"] == "glpat-fake"
    assert "new-checkout" in posts[0]["body"]["body"]
    assert (repo / doc["vexil-plan"]["artifacts"]["paths"][0]).is_file()
    assert _flag(info, project)[0] == 404

    apply_env = _gitlab_env(doc, "vexil-apply", env)
    assert _run(_gitlab_script(doc, "vexil-apply"), apply_env, repo, shell) == 0
    status, flag = _flag(info, project)
    assert status == 200, flag
    assert flag["config"]["enabled"] is False


# ----------------------------------------------------------------------------- Jenkins

_STAGE = re.compile(r"stage\('([^']+)'\)")
_SH = re.compile(r"sh '''(.*?)'''", re.S)
_CRED = re.compile(r"credentialsId: '([^']+)', variable: '([^']+)'")


def _jenkins_stages(text: str) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Stage name -> (its ``sh '''...'''`` scripts, credential id -> variable)."""
    marks = list(_STAGE.finditer(text))
    stages = {}
    for i, mark in enumerate(marks):
        body = text[mark.end(): marks[i + 1].start() if i + 1 < len(marks) else len(text)]
        # Groovy ''' strings: \\ is one backslash.
        scripts = [s.replace("\\\\", "\\") for s in _SH.findall(body)]
        stages[mark.group(1)] = (scripts, dict(_CRED.findall(body)))
    return stages


def test_jenkinsfile_plan_on_change_request_apply_on_main(
    ci_stack: dict[str, Any], cli_wheel: Path, workspace: Path,
) -> None:
    info = ci_stack
    text = (CI / "Jenkinsfile").read_text()
    stages = _jenkins_stages(text)
    assert list(stages) == ["Install the Vexil CLI", "Plan", "Apply"]
    assert "when { changeRequest() }" in text
    assert "when { branch 'main' }" in text
    repo, project = workspace / "repo", "ci-jenkins"
    _project(info, project)
    _flags(repo, project, enabled=True)
    venv_bin = repo / ".vexil-venv" / "bin"
    base = _base_env(workspace, info, cli_wheel)
    env = {**base, "WORKSPACE": str(repo), "PATH": f"{venv_bin}:{base['PATH']}",
           "JOB_NAME": "flags/main", "BUILD_NUMBER": "5", "GIT_COMMIT": "0a1b2c"}
    credentials = {"vexil-plan-token": info["ci_tokens"]["viewer"],
                   "vexil-apply-token": info["ci_tokens"]["editor"]}

    def run_stage(name: str) -> None:
        scripts, creds = stages[name]
        assert scripts, name
        stage_env = {**env, **{var: credentials[cid] for cid, var in creds.items()}}
        for script in scripts:
            # Jenkins runs sh steps as `sh -xe <script>`.
            assert _run(script, stage_env, repo, ["sh", "-xe", "-c"]) == 0, name

    run_stage("Install the Vexil CLI")
    _installed_from_wheel(env, repo, venv_bin / "python")
    run_stage("Plan")
    plan = (repo / "plan.md").read_text()
    assert f"### flags/{project}.staging.yaml\n" in plan
    assert "new-checkout" in plan
    assert _flag(info, project)[0] == 404
    run_stage("Apply")
    status, flag = _flag(info, project)
    assert status == 200, flag
    assert flag["config"]["enabled"] is True
    assert os.environ.get("VEXIL_TOKEN") != credentials["vexil-apply-token"]
