"""Four-eyes tried as an attacker would, against the running API (issue 13: F1 F2 F5 F9 F10).

`chalice local` serves the control plane on 127.0.0.1 (authorizer enforced, real clock) over
the session's moto table. Every scenario uses several real tokens — editors alice and bob, a
second admin carol, an editor dave whose token gets revoked — and shows the attack of the
issue now fails with a 4xx naming the rule, and that the honest path still works.
What production readers would get is read the way the publisher reads it (snapshot →
server document → the readers' compiler).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.apiclient import request_json
from tests.conftest import free_port
from vexil.devstack import procs

CONTROL_PLANE = Path(__file__).resolve().parents[2] / "control_plane"
BOOL = {"kind": "boolean", "variations": {"on": True, "off": False}}
ON = {"enabled": True, "default": {"variation": "on"}}
_n = count()


@dataclass
class Http:
    """JSON over real HTTP to the local API."""

    base: str
    admin: str

    def call(self, method: str, path: str, body: Any = None, *, token: str | None = None,
             if_match: int | None = None) -> tuple[int, Any]:
        return request_json(self.base + path, method, body, token=token or self.admin,
                            if_match=if_match)

    def ok(self, method: str, path: str, body: Any = None, *, status: int = 200,
           **kw: Any) -> Any:
        code, out = self.call(method, path, body, **kw)
        assert code == status, (method, path, code, out)
        return out

    def token(self, name: str, role: str = "editor") -> tuple[str, str]:
        """(token text, token id) of a new token with every project and environment."""
        out = self.ok("POST", "/v1/tokens", {"name": name, "role": role, "projects": ["*"],
                                             "environments": ["*"]}, status=201)
        return str(out["token"]), str(out["token_id"])


@dataclass
class People:
    """The cast: two editors, a second admin, and an editor whose token will be revoked."""

    alice: str
    bob: str
    carol: str
    dave: str
    dave_id: str


@pytest.fixture(scope="module")
def http(vexil_resources: dict[str, str]) -> Iterator[Http]:
    """`chalice local` on a free loopback port with a fresh admin token; stopped after."""
    from chalicelib.repository import DynamoRepository
    from chalicelib.tokens import bootstrap_admin_token

    admin, _ = bootstrap_admin_token(f"root-4eyes-{os.getpid()}",
                                     repo=DynamoRepository(vexil_resources["VEXIL_TABLE"]))
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "chalice"), "local", "--host", "127.0.0.1",
         "--port", str(port), "--stage", "local", "--no-autoreload"],
        cwd=CONTROL_PLANE, env=dict(os.environ), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    api = Http(f"http://127.0.0.1:{port}", admin)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if api.call("GET", "/v1/health")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert proc.poll() is None, "chalice local exited"
            assert time.monotonic() < deadline, "chalice local did not start"
            time.sleep(0.3)
        yield api
    finally:
        procs.stop(proc)


@pytest.fixture
def people(http: Http) -> People:
    """Fresh tokens per test (names are identities: a same-named token is the same person)."""
    i = next(_n)
    dave, dave_id = http.token(f"dave-{i}")
    return People(http.token(f"alice-{i}")[0], http.token(f"bob-{i}")[0],
                  http.token(f"carol-{i}", "admin")[0], dave, dave_id)


def _project(http: Http, *, protect_after_flag: bool) -> tuple[str, str]:
    """A project with staging and production; production protected.

    ``protect_after_flag``: flag ``checkout`` is created first (so production configures it)
    and production is protected afterwards; otherwise production is protected from the start
    and no flag exists yet.
    """
    p = f"fe{next(_n)}-{int(time.time() * 1000) % 10**8}"
    http.ok("POST", "/v1/projects", {"key": p}, status=201)
    for env in ("staging", "production"):
        protected = env == "production" and not protect_after_flag
        http.ok("POST", f"/v1/projects/{p}/environments",
                {"key": env, "protected": protected}, status=201)
    if protect_after_flag:
        http.ok("POST", f"/v1/projects/{p}/flags", {"key": "checkout", **BOOL}, status=201)
        http.ok("PATCH", f"/v1/projects/{p}/environments/production", {"protected": True},
                if_match=1)
    return p, f"/v1/projects/{p}/environments/production"


def _rule(body: Any) -> str:
    return str(body["error"]["message"])


def _served(project: str, environment: str, flag: str, default: Any) -> Any:
    """What a server reader of the environment gets for ``flag`` right now."""
    from chalicelib.publish.build import document_for
    from chalicelib.publish.snapshot import SnapshotReader

    from edge_reader.engine import ENGINE_VERSION, compile_environment

    reader = SnapshotReader(table=os.environ["VEXIL_TABLE"], dynamodb=boto3.client("dynamodb"),
                            kms=boto3.client("kms"))
    snapshot = reader.read(project, environment)
    assert snapshot is not None
    doc = document_for(snapshot, "server", None, str(ENGINE_VERSION))
    env = compile_environment(doc, strict=True, clock=time.time)
    return env.evaluate(flag, {"targetingKey": "u-1"}, default)


# --- F1: edit then approve ------------------------------------------------------------------

def test_f1_editor_of_a_change_request_cannot_approve_it(http: Http, people: People) -> None:
    _, base = _project(http, protect_after_flag=True)
    cr = http.ok("PUT", f"{base}/flags/checkout", ON, token=people.alice, if_match=1,
                 status=202)["change_request"]
    url = f"{base}/change-requests/{cr['id']}"
    evil = {"type": "flag.config.put", "flag": "checkout", "base_version": 1,
            "body": {"enabled": True, "default": {"variation": "off"}}}
    edited = http.ok("PUT", url, {"operation": evil}, token=people.bob, if_match=1)
    first, editor = edited["authors"]
    assert first == cr["author"]
    assert editor["name"].startswith("bob-")
    # The attack: the editor approves and applies their own content.
    code, body = http.call("POST", f"{url}/approve", token=people.bob, if_match=2)
    assert code == 403
    assert "four-eyes" in _rule(body)
    # The original author did not write this version, but is an author all the same.
    assert http.call("POST", f"{url}/approve", token=people.alice, if_match=2)[0] == 403
    code, body = http.call("POST", f"{url}/apply", token=people.bob, if_match=2)
    assert code == 409
    assert "four-eyes" in _rule(body)
    assert http.ok("GET", f"{base}/flags/checkout")["config"]["enabled"] is False
    # A third person reviews the edited content: then it ships, exactly as edited.
    http.ok("POST", f"{url}/approve", token=people.carol, if_match=2)
    out = http.ok("POST", f"{url}/apply", token=people.bob, if_match=3)
    assert out["result"]["config"] == evil["body"]


# --- F2: promote is bound to content ---------------------------------------------------------

def test_f2_promotion_applies_the_reviewed_content_not_the_source_now(
    http: Http, people: People
) -> None:
    p, base = _project(http, protect_after_flag=True)
    staging = f"/v1/projects/{p}/environments/staging/flags/checkout"
    reviewed = {"enabled": True, "default": {"variation": "on"}}
    http.ok("PUT", staging, reviewed, token=people.alice, if_match=1)
    promote = {"from": "staging", "to": "production"}
    cr = http.ok("POST", f"/v1/projects/{p}/flags/checkout/promote", promote,
                 token=people.alice, if_match=1, status=202)["change_request"]
    assert cr["operation"]["body"] == reviewed
    assert cr["operation"]["source_version"] == 2
    second = http.ok("POST", f"/v1/projects/{p}/flags/checkout/promote", promote,
                     token=people.alice, if_match=1, status=202)["change_request"]
    url = f"{base}/change-requests/{cr['id']}"
    http.ok("POST", f"{url}/approve", token=people.bob, if_match=1)
    # The attack: after approval, change the (unprotected) source, then apply.
    sneaky = {"enabled": True, "default": {"variation": "off"}}
    http.ok("PUT", staging, sneaky, token=people.alice, if_match=2)
    out = http.ok("POST", f"{url}/apply", token=people.alice, if_match=2)
    assert out["result"]["config"] == reviewed
    assert out["change_request"]["change_hash"] == cr["change_hash"]
    assert http.ok("GET", f"{base}/flags/checkout")["config"] == reviewed
    assert _served(p, "production", "checkout", None).value is True
    # A promotion filed against the old target version refuses once the target moved.
    url2 = f"{base}/change-requests/{second['id']}"
    http.ok("POST", f"{url2}/approve", token=people.bob, if_match=1)
    code, body = http.call("POST", f"{url2}/apply", token=people.alice, if_match=2)
    assert code == 412
    assert body["current_version"] == 2


# --- F5: new flags bypass approval -----------------------------------------------------------

def test_f5_a_new_flag_is_absent_from_a_protected_environment_until_approved(
    http: Http, people: People
) -> None:
    p, base = _project(http, protect_after_flag=False)
    # The attack: a one-variation boolean that serves true even "disabled".
    trap = {"key": "trap", "kind": "boolean", "variations": {"yes": True}}
    http.ok("POST", f"/v1/projects/{p}/flags", trap, token=people.alice, status=201)
    detail = _served(p, "production", "trap", False)
    assert (detail.value, detail.error_code) == (False, "FLAG_NOT_FOUND")
    assert http.call("GET", f"{base}/flags/trap")[0] == 404
    assert [f["key"] for f in http.ok("GET", f"{base}/flags")["items"]] == []
    # Staging (unprotected) got it directly, as before.
    assert _served(p, "staging", "trap", False).value is True
    # Configuring it in production is a change request like any other.
    cr = http.ok("PUT", f"{base}/flags/trap", {"enabled": False, "off_variation": "yes",
                                              "default": {"variation": "yes"}},
                 token=people.alice, if_match=0, status=202)["change_request"]
    assert cr["operation"]["base_version"] == 0
    assert cr["operation"]["definition_version"] == 1
    url = f"{base}/change-requests/{cr['id']}"
    assert http.call("POST", f"{url}/approve", token=people.alice, if_match=1)[0] == 403
    assert _served(p, "production", "trap", False).error_code == "FLAG_NOT_FOUND"
    http.ok("POST", f"{url}/approve", token=people.bob, if_match=1)
    http.ok("POST", f"{url}/apply", token=people.alice, if_match=2)
    assert _served(p, "production", "trap", False).value is True  # now reviewed: it serves


def test_f5_definition_changes_after_review_void_the_configuration_request(
    http: Http, people: People
) -> None:
    p, base = _project(http, protect_after_flag=False)
    link = {"key": "help-url", "kind": "string", "variations": {"docs": "https://docs.test"}}
    http.ok("POST", f"/v1/projects/{p}/flags", link, token=people.alice, status=201)
    cr = http.ok("PUT", f"{base}/flags/help-url", {"enabled": True,
                                                   "default": {"variation": "docs"}},
                 token=people.alice, if_match=0, status=202)["change_request"]
    url = f"{base}/change-requests/{cr['id']}"
    http.ok("POST", f"{url}/approve", token=people.bob, if_match=1)
    # The attack: the flag is not in production yet, so its definition changes directly...
    evil = {"kind": "string", "variations": {"docs": "https://attacker.test"}}
    http.ok("PUT", f"/v1/projects/{p}/flags/help-url", evil, token=people.alice, if_match=1)
    # ...but the approved configuration was reviewed against definition version 1.
    code, body = http.call("POST", f"{url}/apply", token=people.alice, if_match=2)
    assert code == 412
    assert "definition" in _rule(body)
    assert _served(p, "production", "help-url", "fallback").value == "fallback"
    # Once configured in production, a definition change is itself a change request there.
    cr2 = http.ok("PUT", f"{base}/flags/help-url", {"enabled": True,
                                                    "default": {"variation": "docs"}},
                  token=people.alice, if_match=0, status=202)["change_request"]
    url2 = f"{base}/change-requests/{cr2['id']}"
    http.ok("POST", f"{url2}/approve", token=people.bob, if_match=1)
    http.ok("POST", f"{url2}/apply", token=people.alice, if_match=2)
    assert _served(p, "production", "help-url", None).value == "https://attacker.test"
    back = {"kind": "string", "variations": {"docs": "https://docs.test"}}
    code, body = http.call("PUT", f"/v1/projects/{p}/flags/help-url", back, token=people.alice,
                           if_match=2)
    assert code == 202
    assert body["change_request"]["environment"] == "production"


# --- F9: change requests are compiled when filed and at apply --------------------------------

def test_f9_a_change_request_that_does_not_compile_is_refused(
    http: Http, people: People
) -> None:
    p, base = _project(http, protect_after_flag=True)
    # Production serves variation "off"; a definition without it cannot compile there.
    broken = {"kind": "boolean", "variations": {"on": True}}
    code, body = http.call("PUT", f"/v1/projects/{p}/flags/checkout", broken,
                           token=people.alice, if_match=1)
    assert code == 400, body
    paths = [d["path"] for d in body["error"]["details"]]
    assert any(path.startswith("environments.") and "checkout" in path for path in paths)
    assert http.ok("GET", f"{base}/change-requests")["items"] == []
    # Compiled again at apply, against the environment as it is then: a rule on a segment
    # that an approved deletion removed in between no longer compiles.
    seg = http.ok("POST", f"{base}/segments", {"key": "beta", "included": ["u-1"]},
                  token=people.alice, status=202)["change_request"]
    seg_url = f"{base}/change-requests/{seg['id']}"
    http.ok("POST", f"{seg_url}/approve", token=people.bob, if_match=1)
    http.ok("POST", f"{seg_url}/apply", token=people.alice, if_match=2)
    uses = {"enabled": True, "default": {"variation": "off"},
            "rules": [{"clauses": [{"op": "segment_match", "values": ["beta"]}],
                       "serve": {"variation": "on"}}]}
    cr = http.ok("PUT", f"{base}/flags/checkout", uses, token=people.alice, if_match=1,
                 status=202)["change_request"]
    gone = http.ok("DELETE", f"{base}/segments/beta", token=people.alice, if_match=1,
                   status=202)["change_request"]
    gone_url = f"{base}/change-requests/{gone['id']}"
    http.ok("POST", f"{gone_url}/approve", token=people.bob, if_match=1)
    http.ok("POST", f"{gone_url}/apply", token=people.alice, if_match=2)
    url = f"{base}/change-requests/{cr['id']}"
    http.ok("POST", f"{url}/approve", token=people.bob, if_match=1)
    code, body = http.call("POST", f"{url}/apply", token=people.alice, if_match=2)
    assert code == 400, body
    assert any("rules" in d["path"] for d in body["error"]["details"])
    assert http.ok("GET", url)["status"] == "approved"  # nothing half-written


# --- F10: an approval by a token revoked before apply ---------------------------------------

def test_f10_an_approval_by_a_revoked_token_does_not_count(
    http: Http, people: People
) -> None:
    _, base = _project(http, protect_after_flag=True)
    cr = http.ok("PUT", f"{base}/flags/checkout", ON, token=people.alice, if_match=1,
                 status=202)["change_request"]
    url = f"{base}/change-requests/{cr['id']}"
    http.ok("POST", f"{url}/approve", token=people.dave, if_match=1)
    http.ok("DELETE", f"/v1/tokens/{people.dave_id}", token=people.carol)
    code, body = http.call("POST", f"{url}/apply", token=people.alice, if_match=2)
    assert code == 409
    assert "token still active" in _rule(body)
    assert http.ok("GET", f"{base}/flags/checkout")["config"]["enabled"] is False
    # A live second approval makes it applicable.
    http.ok("POST", f"{url}/approve", token=people.bob, if_match=2)
    out = http.ok("POST", f"{url}/apply", token=people.alice, if_match=3)
    assert out["result"]["config"]["enabled"] is True
