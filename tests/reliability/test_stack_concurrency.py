"""Concurrency proofs on the dev stack itself: `vexil dev up` as it runs, raced over HTTP.

The stack is started by ``vexil.devstack.stack.up`` (serialised moto, ``chalice local``,
the stream worker, the CDN stand-in) in a temporary state dir and stopped at the end. Every
request goes through ``chalice local``'s threaded server with a real token, so requests
interleave anywhere in the application and the emulator sees them as DynamoDB would.

Each write carries a marker unique to the attempt, so afterwards the table can be held
against every reply: a 200 whose marker is missing (a lost write) or a 409/412 whose marker
is present (a refused write that happened) fails the test, as do audit records, history
entries or revisions that do not match the successes one for one, and a chain that does
not verify.
"""

from __future__ import annotations

import io
import random
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import urllib3

from vexil.devstack import stack

pytestmark = pytest.mark.e2e

WRITERS = 50
ATTEMPTS = 6
FLAG = {"key": "limit", "kind": "boolean", "variations": {"on": True, "off": False}}


class Http:
    """JSON over HTTP to the stack's API on one keep-alive connection of its own.

    Racing threads each get their own ``Http``, connected (``warm``) one after another before
    the race: 50 threads connecting at the same instant overflow ``chalice local``'s listen
    backlog of 5, and a reset connection would leave a reply unknown. During the race only
    connection set-up is retried (the request was not sent), never a sent request.
    """

    def __init__(self, base: str) -> None:
        self.base = base
        self.pool = urllib3.connection_from_url(
            base, maxsize=1, block=True, timeout=urllib3.Timeout(connect=5, read=120),
            retries=urllib3.Retry(total=3, connect=3, read=0, status=0, other=0,
                                  redirect=0, backoff_factor=0.2))

    def warm(self) -> Http:
        """Open the connection with an idempotent request (retried if refused)."""
        r = self.pool.request("GET", "/v1/health",
                              retries=urllib3.Retry(total=5, backoff_factor=0.2))
        assert r.status == 200, r.status
        return self

    def call(self, method: str, path: str, token: str, body: Any = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """One request; (status, decoded JSON body or None)."""
        r = self.pool.urlopen(
            method, path, body=None if body is None else orjson.dumps(body),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                     **(headers or {})})
        return r.status, (orjson.loads(r.data) if r.data else None)

    def ok(self, method: str, path: str, token: str, body: Any = None,
           status: int = 200, headers: dict[str, str] | None = None) -> Any:
        """A request that must answer ``status``; its body."""
        got, doc = self.call(method, path, token, body, headers)
        assert got == status, (method, path, got, doc)
        return doc

    def pages(self, path: str, token: str) -> list[Any]:
        """Every item of a paginated listing, in order."""
        items: list[Any] = []
        cursor = None
        sep = "&" if "?" in path else "?"
        while True:
            doc = self.ok("GET", path + (f"{sep}cursor={cursor}" if cursor else ""), token)
            items += doc["items"]
            cursor = doc.get("next_cursor")
            if not cursor:
                return items


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Http, str]]:
    """The whole local stack on free ports; (API client, admin token). Stopped afterwards."""
    paths = stack.StatePaths(Path(tmp_path_factory.mktemp("stack-race")))
    info = stack.up(paths, fixed_ports=False, out=io.StringIO())
    try:
        yield Http(str(info["api"])), str(info["admin_token"])
    finally:
        assert stack.down(paths, out=io.StringIO()) == []


def _project(http: Http, admin: str, env: str) -> str:
    key = f"race-{uuid.uuid4().hex[:8]}"
    http.ok("POST", "/v1/projects", admin, {"key": key}, 201)
    http.ok("POST", f"/v1/projects/{key}/environments", admin, {"key": env}, 201)
    # The flag exists before any protection, so its creation needs no change request.
    http.ok("POST", f"/v1/projects/{key}/flags", admin, FLAG, 201)
    return key


def _token(http: Http, admin: str, role: str, project: str) -> str:
    doc = http.ok("POST", "/v1/tokens", admin,
                  {"name": f"{role}-{uuid.uuid4().hex[:6]}", "role": role,
                   "projects": [project], "environments": ["*"]}, 201)
    return str(doc["token"])


def _race(workers: list[Any]) -> None:
    """Run every worker on its own thread from one barrier; re-raise the first failure."""
    start = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def run(work: Any) -> None:
        start.wait()
        try:
            work()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    assert not any(t.is_alive() for t in threads)
    if errors:
        raise errors[0]


def _markers(config: dict[str, Any]) -> list[str]:
    return list(config["targets"][0]["values"])


def test_50_writers_read_modify_write_with_if_match_lose_nothing(dev: tuple[Http, str]) -> None:
    http, admin = dev
    p = _project(http, admin, "staging")
    path = f"/v1/projects/{p}/environments/staging/flags/limit"
    editors = [_token(http, admin, "editor", p) for _ in range(3)]  # several principals
    seed = {"enabled": True, "off_variation": "off", "default": {"variation": "off"},
            "targets": [{"context_kind": "user", "values": ["seed"], "variation": "on"}]}
    base = http.ok("GET", path, admin)["version"]
    status, doc = http.call("PUT", path, admin, seed, {"If-Match": f'"{base}"'})
    assert status == 200, doc
    v0 = int(doc["version"])
    env0 = http.ok("GET", f"/v1/projects/{p}/environments/staging", admin)
    audit0 = len(http.pages(f"/v1/audit?project={p}&environment=staging&limit=200", admin))

    replies: list[tuple[str, int, Any]] = []
    lock = threading.Lock()
    conns = [Http(http.base).warm() for _ in range(WRITERS)]

    def writer(n: int) -> None:
        token, conn = editors[n % len(editors)], conns[n]
        for attempt in range(ATTEMPTS):
            got, current = conn.call("GET", path, token)
            assert got == 200, current
            marker = f"w{n}a{attempt}"
            config = {**current["config"]}
            config["targets"] = [{**config["targets"][0],
                                  "values": [*_markers(current["config"]), marker]}]
            status, body = conn.call("PUT", path, token, config,
                                     {"If-Match": f'"{current["version"]}"'})
            with lock:
                replies.append((marker, status, body))
            if status not in (409, 412):
                return
            # Back off with jitter, as a real client would: spreads the retries so that many
            # writers succeed and the proof covers many successes, not one per round.
            time.sleep(random.uniform(0, 0.4 * (attempt + 1)))

    _race([lambda n=n: writer(n) for n in range(WRITERS)])

    assert {m.split("a")[0] for m, _, _ in replies} == {f"w{n}" for n in range(WRITERS)}
    unexpected = [(m, s, b) for m, s, b in replies if s not in (200, 409, 412)]
    assert not unexpected, unexpected[:5]
    won = {m: int(b["version"]) for m, s, b in replies if s == 200}
    print("rmw replies:", {c: sum(1 for _, s, _ in replies if s == c) for c in (200, 409, 412)})
    assert won, "no writer succeeded"
    assert any(s == 412 for _, s, _ in replies), "no race happened"
    # The flag holds exactly the successful writes: none lost, no refused one applied.
    final = http.ok("GET", path, admin)
    stored = _markers(final["config"])[1:]
    assert sorted(stored) == sorted(won), {"lost": set(won) - set(stored),
                                           "refused_but_written": set(stored) - set(won)}
    assert final["version"] == v0 + len(won)
    assert sorted(won.values()) == list(range(v0 + 1, v0 + 1 + len(won)))
    # History: one entry per success, each adding exactly that writer's marker.
    history = {h["version"]: h for h in
               http.pages(f"{path}/history?limit=200", admin) if h["version"] > v0}
    assert sorted(history) == sorted(won.values())
    for marker, version in won.items():
        assert _markers(history[version]["config"])[-1] == marker
    # Audit: one record per success, in version order; the chain verifies.
    records = http.pages(f"/v1/audit?project={p}&environment=staging&limit=200", admin)[audit0:]
    assert [_markers(r["after"])[-1] for r in records] == \
        [m for m, _ in sorted(won.items(), key=lambda kv: kv[1])]
    env = http.ok("GET", f"/v1/projects/{p}/environments/staging", admin)
    assert int(env["revision"]) == int(env0["revision"]) + len(won)
    verify = http.ok("POST", "/v1/audit/verify", admin, {"project": p, "environment": "staging"})
    assert verify["ok"] is True, verify


def test_change_request_filings_racing_denied_writes_keep_the_chain_whole(
    dev: tuple[Http, str],
) -> None:
    http, admin = dev
    p = _project(http, admin, "prod")
    path = f"/v1/projects/{p}/environments/prod/flags/limit"
    env_path = f"/v1/projects/{p}/environments/prod"
    version = http.ok("GET", env_path, admin)["version"]
    http.ok("PATCH", env_path, admin, {"protected": True}, headers={"If-Match": f'"{version}"'})
    editors = [_token(http, admin, "editor", p) for _ in range(2)]
    viewer = _token(http, admin, "viewer", p)
    before = http.ok("GET", path, admin)
    env0 = http.ok("GET", env_path, admin)
    audit0 = len(http.pages(f"/v1/audit?project={p}&environment=prod&limit=200", admin))

    replies: list[tuple[str, str, int, Any]] = []
    lock = threading.Lock()
    conns = [Http(http.base).warm() for _ in range(WRITERS)]

    def attempt(kind: str, n: int, conn: Http) -> None:
        token = editors[n % 2] if kind == "file" else viewer
        marker = f"{kind}-{n}"
        config = {**before["config"], "enabled": not before["config"].get("enabled", False)}
        status, body = conn.call("PUT", path, token, config,
                                 {"If-Match": f'"{before["version"]}"', "X-Vexil-Reason": marker})
        with lock:
            replies.append((kind, marker, status, body))

    half = WRITERS // 2
    _race([*(lambda n=n: attempt("file", n, conns[n]) for n in range(half)),
           *(lambda n=n: attempt("deny", n, conns[half + n]) for n in range(WRITERS - half))])

    assert len(replies) == WRITERS  # every attempt got a reply
    print("race replies:", {(k, c): sum(1 for kk, _, s, _ in replies if (kk, s) == (k, c))
                            for k in ("file", "deny") for c in (202, 403, 409)})
    filed = {b["change_request"]["id"]: m for k, m, s, b in replies if k == "file" and s == 202}
    assert filed, "no change request was filed"
    assert all(s in (202, 409) for k, _, s, _ in replies if k == "file"), replies
    assert all(s == 403 for k, _, s, _ in replies if k == "deny"), replies
    # Every 202 is one stored change request, and a 409 left none behind.
    stored = http.pages(f"/v1/projects/{p}/environments/prod/change-requests?limit=200", admin)
    assert {c["id"]: c["reason"] for c in stored} == filed
    # Nothing reached the environment: same config, same version, same revision.
    after = http.ok("GET", path, admin)
    assert (after["version"], after["config"]) == (before["version"], before["config"])
    env = http.ok("GET", env_path, admin)
    assert env["revision"] == env0["revision"]
    # The chain: one create record per filed request, denied records only for the viewer's
    # refused attempts (recording a denial is best effort: at most one each), and it verifies.
    records = http.pages(f"/v1/audit?project={p}&environment=prod&limit=200", admin)[audit0:]
    creates = [r for r in records if r["action"] == "change_request.create"]
    assert sorted(r["after"]["id"] for r in creates) == sorted(filed)
    denied = [r for r in records if r["outcome"] == "denied"]
    assert len(denied) <= WRITERS - half
    assert len(creates) + len(denied) == len(records), records
    verify = http.ok("POST", "/v1/audit/verify", admin, {"project": p, "environment": "prod"})
    assert verify["ok"] is True, verify
