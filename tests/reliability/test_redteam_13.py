"""Issue 13's fixes attacked on the running local stack (`vexil dev up --demo`): what broke.

Each test is one finding of the red-team pass, written the way it was found — real HTTP
against the stack's API, real S3 calls against its moto_server with the access an attacker
would have, a real FlagClient that pins the publisher's key. Each failed before its fix
(the serialised emulator with per-item rollback; the publisher's bundle-existence check).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.apiclient import request_json
from tests.e2e.test_local_stack import _client, stack  # noqa: F401  (the e2e stack fixture)

pytestmark = pytest.mark.e2e

CONTROL_PLANE = Path(__file__).resolve().parents[2] / "control_plane"
BOOL = {"kind": "boolean", "variations": {"on": True, "off": False}}
REVIEWED = {"enabled": True, "off_variation": "off", "default": {"variation": "on"}}
EDITED = {"enabled": True, "off_variation": "on", "default": {"variation": "off"}}
Stack = tuple[Path, dict[str, Any]]
Request = tuple[str, str, Any, str, int]  # method, path, body, token, If-Match
_seq = iter(range(1_000_000))


def _call(info: dict[str, Any], method: str, path: str, body: Any = None, *,
          token: str | None = None, if_match: int | None = None) -> tuple[int, Any]:
    """One JSON request to the stack's API; (status, parsed body)."""
    return request_json(info["api"] + path, method, body,
                        token=token or info["admin_token"], if_match=if_match)


def _ok(info: dict[str, Any], method: str, path: str, body: Any = None, *,
        status: int = 200, **kw: Any) -> Any:
    code, out = _call(info, method, path, body, **kw)
    assert code == status, (method, path, code, out)
    return out


def _project(info: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """A project with staging (open) and production (protected), and three editors."""
    project = f"rt{next(_seq)}x{os.getpid()}"
    _ok(info, "POST", "/v1/projects", {"key": project, "name": project}, status=201)
    for env, protected in (("staging", False), ("production", True)):
        _ok(info, "POST", f"/v1/projects/{project}/environments",
            {"key": env, "name": env, "protected": protected}, status=201)
    people = {}
    for name in ("alice", "bob", "carol"):
        out = _ok(info, "POST", "/v1/tokens", {"name": f"{name}-{project}", "role": "editor",
                                               "projects": [project], "environments": ["*"]},
                  status=201)
        people[name] = str(out["token"])
    return project, people


def _approved_request(info: dict[str, Any], project: str, people: dict[str, str],
                      flag: str) -> tuple[str, int]:
    """Alice creates ``flag`` and files its first production configuration; Bob approves.
    Returns (change request id, its version)."""
    base = f"/v1/projects/{project}"
    _ok(info, "POST", base + "/flags", {"key": flag, **BOOL}, status=201,
        token=people["alice"])
    filed = _ok(info, "PUT", f"{base}/environments/production/flags/{flag}", REVIEWED,
                status=202, token=people["alice"], if_match=0)
    cr = filed["change_request"]
    approved = _ok(info, "POST", f"{base}/environments/production/change-requests/"
                   f"{cr['id']}/approve", {}, token=people["bob"], if_match=cr["version"])
    return str(cr["id"]), int(approved["version"])


def _race(info: dict[str, Any], *calls: Request, stagger: float = 0.0) -> list[tuple[int, Any]]:
    """Send ``calls`` together (a barrier releases them; the first waits ``stagger`` seconds
    more, so that across iterations their transactions overlap at different points); their
    results in order."""
    out: list[tuple[int, Any]] = [(0, None)] * len(calls)
    gate = threading.Barrier(len(calls))

    def run(i: int) -> None:
        method, path, body, token, if_match = calls[i]
        gate.wait()
        if i == 0:
            time.sleep(stagger)
        out[i] = _call(info, method, path, body, token=token, if_match=if_match)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def test_racing_edit_and_apply_of_an_approved_request_leave_one_consistent_winner(
    stack: Stack,  # noqa: F811
) -> None:
    """Found: with both racers holding the request's ETag, the stack answered 200 to writes
    that are nowhere afterwards (apply 200, request still `approved`, production has no
    configuration), 200 to an edit while the request kept its approval, and damaged the
    production audit chain so that every later write there answers 409 ("audit chain is
    inconsistent") — issue 13 F6, still open on the dev stack's moto_server.
    Should: exactly one racer wins; the request, production and the audit chain agree."""
    _, info = stack
    project, people = _project(info)
    base = f"/v1/projects/{project}"
    for i in range(24):
        flag = f"race-{i}"
        cid, version = _approved_request(info, project, people, flag)
        cr_path = f"{base}/environments/production/change-requests/{cid}"
        edited = {"operation": {"type": "flag.config.put", "flag": flag, "base_version": 0,
                                "body": EDITED}}
        edit, apply = _race(info, ("PUT", cr_path, edited, people["alice"], version),
                            ("POST", cr_path + "/apply", {}, people["carol"], version),
                            stagger=0.01 * i)
        assert sorted([edit[0] == 200, apply[0] == 200]) == [False, True], (i, edit, apply)
        cr = _ok(info, "GET", cr_path)
        code, config = _call(info, "GET", f"{base}/environments/production/flags/{flag}")
        if apply[0] == 200:
            assert cr["status"] == "applied", (i, cr)
            assert code == 200, (i, code, config)
            assert config["config"] == REVIEWED, (i, config)
        else:
            assert cr["status"] == "pending", (i, cr)
            assert cr["approvals"] == [], (i, cr)
            assert code == 404, (i, code, config)
    verified = _ok(info, "POST", "/v1/audit/verify",
                   {"project": project, "environment": "production"})
    assert verified["ok"] is True, verified


def test_racing_definition_write_and_apply_report_only_writes_that_happened(
    stack: Stack,  # noqa: F811
) -> None:
    """Found: a direct definition write racing the apply of the flag's first production
    configuration got 200 (with `version: 2` in the body) while the definition stayed at
    version 1, and an apply got 200 (`status: applied`) while production has no
    configuration of the flag. Should: whatever wins, a 200 is a write that is there."""
    _, info = stack
    project, people = _project(info)
    base = f"/v1/projects/{project}"
    for i in range(24):
        flag = f"def-race-{i}"
        cid, version = _approved_request(info, project, people, flag)
        new_def = {"kind": "boolean", "variations": {"on": False, "off": False}}
        define, apply = _race(
            info, ("PUT", f"{base}/flags/{flag}", new_def, people["alice"], 1),
            ("POST", f"{base}/environments/production/change-requests/{cid}/apply", {},
             people["carol"], version), stagger=0.01 * i)
        definition = _ok(info, "GET", f"{base}/flags/{flag}")
        code, config = _call(info, "GET", f"{base}/environments/production/flags/{flag}")
        if define[0] == 200:
            assert definition["version"] == 2, (i, define, apply, definition)
        if apply[0] == 200:
            assert code == 200, (i, define, apply, code, config)
            assert config["config"] == REVIEWED, (i, apply, config)
        assert not (define[0] == 200 and apply[0] == 200), (i, define, apply)


def _heartbeat(state: Path, info: dict[str, Any]) -> dict[str, Any]:
    """One publisher heartbeat against the stack — what its 15-minute timer runs."""
    from vexil.devstack.aws import local_aws_env

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VEXIL_"))}
    env.update(local_aws_env(info["aws_endpoint"]))
    env.update(VEXIL_TABLE=info["table"], VEXIL_BUCKET=info["bucket"],
               VEXIL_KMS_KEY_ID=info["kms_key_id"],
               VEXIL_KEY_STORE_TABLE=info["key_store_table"],
               VEXIL_SIGNING_KEY_ID=info["signing_key_id"],
               VEXIL_LOCAL_CDN_CACHE_DIR=str(state / "nginx" / "cache"))
    done = subprocess.run(
        [sys.executable, "-c", "import json; from chalicelib.publish.stream import"
         " handle_heartbeat; print(json.dumps(handle_heartbeat()))"],
        cwd=CONTROL_PLANE, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _s3(info: dict[str, Any]) -> Any:
    import boto3

    from vexil.devstack.aws import FAKE_CREDENTIALS

    return boto3.session.Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=FAKE_CREDENTIALS["AWS_REGION"],
    ).client("s3", endpoint_url=info["aws_endpoint"])


def test_a_deleted_live_bundle_is_restored_by_the_heartbeat(stack: Stack) -> None:  # noqa: F811
    """Found: with bucket write, deleting the bundle object the live pointer names leaves
    every cold reader on its defaults (`http_404`, PROVIDER_NOT_READY) until the next table
    write; the heartbeat keeps the pointer (`published: 0`) and never puts the bundle back.
    The heartbeat repairs a deleted or forged *pointer*; a pointer whose bundle is gone is a
    claim storage no longer backs. Should: after one heartbeat a cold reader is READY."""
    state, info = stack
    project, people = _project(info)
    base = f"/v1/projects/{project}"
    _ok(info, "POST", base + "/flags", {"key": "kill", **BOOL}, status=201,
        token=people["alice"])
    _ok(info, "PUT", f"{base}/environments/staging/flags/kill", REVIEWED,
        token=people["alice"], if_match=1)
    key = _ok(info, "POST", f"{base}/environments/staging/sdk-keys", {"kind": "server"},
              status=201)["key"]
    reader = _client(info, project, "staging", key)  # waits for the publish
    try:
        assert reader.get_boolean("kill", {"targetingKey": "u"}, False) is True
    finally:
        reader.close()
    s3 = _s3(info)
    pointer = json.loads(s3.get_object(Bucket=info["bucket"],
                                       Key=f"bundles/{project}/staging/current.json")["Body"]
                         .read())
    s3.delete_object(Bucket=info["bucket"], Key=pointer["key"])  # the attacker's one write
    _heartbeat(state, info)
    # A CDN edge that has not cached the bundle (CloudFront has many; the stand-in has one):
    # empty the stand-in's cache, as the publisher's own purge does for pointers.
    for entry in (state / "nginx" / "cache").rglob("*"):
        if entry.is_file():
            entry.unlink()
    from edge_reader import FlagClient

    cold = FlagClient(project=project, environment="staging", sdk_key=key,
                      cdn_url=info["cdn"], ca_bundle=info["ca_bundle"], poll_interval=0.5,
                      jitter=0.0, first_retry=0.3, max_backoff=1.0,
                      signing_keys=info["signing_public_key"])
    try:
        assert cold.wait_until_ready(20), cold.status()
        assert cold.get_boolean("kill", {"targetingKey": "u"}, False) is True
    finally:
        cold.close()
