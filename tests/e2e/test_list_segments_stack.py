"""Issue 18, "Done when": a 100,000-member list through the whole local stack.

API (chalice local) → DynamoDB stream → stream worker → publisher → S3 → nginx (the CDN)
→ FlagClient verifying the publisher's signature: members are on, non-members off; remove
1,000 and the reader follows; kill the CDN in the middle of a refresh (after the new
bundle, before its shards) and the reader keeps serving the old list.
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_reader import FlagClient
from edge_reader.client._http import HttpTransport
from edge_reader.client._transport import Request, Response
from vexil.api import ApiClient
from vexil.devstack import procs, stack

pytestmark = pytest.mark.e2e

MEMBERS = 100_000
BATCH = 10_000
FLAG = {"key": "beta-ui", "kind": "boolean", "variations": {"on": True, "off": False},
        "client_visible": True}
CONFIG = {"enabled": True, "default": {"variation": "off"}, "rules": [
    {"id": "beta", "clauses": [{"op": "segment_match", "values": ["beta"]}],
     "serve": {"variation": "on"}}]}


class CdnKiller:
    """The reader's transport; once armed, the first list object request stops nginx first
    (so the refresh has its new pointer and bundle, and loses the CDN for the shards)."""

    def __init__(self, ca_bundle: str, kill: Callable[[], None]) -> None:
        self.inner = HttpTransport(ca_bundle=ca_bundle)
        self.kill = kill
        self.armed = False
        self.killed = False

    def handle_request(self, request: Request) -> Response:
        if self.armed and "/lists/" in request.url and not self.killed:
            self.killed = True
            self.kill()
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[stack.StatePaths,
                                                                    dict[str, Any]]]:
    paths = stack.StatePaths(Path(tmp_path_factory.mktemp("lists-stack")))
    info = stack.up(paths, fixed_ports=False, out=io.StringIO())
    try:
        yield paths, info
    finally:
        assert stack.down(paths, out=io.StringIO()) == []


def _eventually(check: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"not true within {timeout} s")


def test_a_hundred_thousand_members_through_the_cdn(
        dev: tuple[stack.StatePaths, dict[str, Any]], tmp_path: Path) -> None:
    paths, info = dev
    api = ApiClient(info["api"], info["admin_token"], ca_bundle=info["ca_bundle"], timeout=60)
    p = f"lists-{uuid.uuid4().hex[:6]}"
    api.request("POST", "/v1/projects", body={"key": p})
    api.request("POST", f"/v1/projects/{p}/environments", body={"key": "prod"})
    env = f"/v1/projects/{p}/environments/prod"
    api.request("POST", f"{env}/segments", body={"key": "beta", "type": "list"})
    api.request("POST", f"/v1/projects/{p}/flags", body=FLAG)
    api.request("PUT", f"{env}/flags/beta-ui", body=CONFIG, if_match='"1"')
    sdk_key = api.request("POST", f"{env}/sdk-keys", body={"kind": "server"}).body["key"]
    ids = [f"customer-{i:06d}@example.com" for i in range(MEMBERS)]
    for n in range(0, MEMBERS, BATCH):
        api.request("POST", f"{env}/segments/beta/members",
                    body={"batch_id": f"load-{n}", "add": ids[n:n + BATCH]})
    assert api.get(f"{env}/segments/beta/members").body["members"] == MEMBERS
    _only_writers_change_members(info, api, p, f"{env}/segments/beta/members")

    def kill_cdn() -> None:
        record = procs.read(paths.run, "cdn")
        assert record is not None
        assert procs.stop(record, run_dir=paths.run) == []

    killer = CdnKiller(info["ca_bundle"], kill_cdn)
    client = FlagClient(project=p, environment="prod", sdk_key=sdk_key, cdn_url=info["cdn"],
                        ca_bundle=info["ca_bundle"], signing_keys=info["signing_public_key"],
                        transport=killer, cache_dir=str(tmp_path), poll_interval=0.5,
                        jitter=0.0, first_retry=0.3, max_backoff=1.0)
    try:
        def on(key: str) -> bool:
            return client.get_boolean("beta-ui", {"key": key}, False)

        def loaded() -> int:
            snap = client.snapshot()
            slot = snap.env.lists.get("beta") if snap is not None else None
            return slot.members.count if slot is not None and slot.members else -1

        # the stream worker may publish while the batches arrive: wait for the whole list
        _eventually(lambda: loaded() == MEMBERS)
        assert all(on(i) for i in ids[::100])  # 1,000 members
        assert not any(on(f"stranger-{i}@example.com") for i in range(1000))

        # the OFREP edge with a server key evaluates the list for browsers (client key)
        cli_key = api.request("POST", f"{env}/sdk-keys", body={"kind": "client"}).body["key"]
        _edge_serves_the_list(info, p, cli_key, sdk_key, member=ids[5], stranger="nobody")

        # remove 1,000: the reader follows
        api.request("POST", f"{env}/segments/beta/members",
                    body={"batch_id": "rm-1", "remove": ids[:1000]})
        _eventually(lambda: not on(ids[999]))
        assert not any(on(i) for i in ids[:1000])
        assert all(on(i) for i in ids[1000:2000])

        # kill the CDN mid-refresh: the new bundle arrives, its shards cannot
        killer.armed = True
        before = client.revision
        api.request("POST", f"{env}/segments/beta/members",
                    body={"batch_id": "rm-2", "remove": ids[1000:2000]})
        _eventually(lambda: killer.killed and (client.revision or 0) > (before or 0))
        snap = client.snapshot()
        assert snap is not None
        slot = snap.env.lists["beta"]
        assert slot.stale
        assert slot.members is not None
        assert slot.members.count == MEMBERS - 1000  # the last good list
        assert all(on(i) for i in ids[1000:2000])  # still the old list: kept, not dropped
        assert not on(ids[0])
        assert not on("stranger-1@example.com")
    finally:
        client.close()
        api.close()


def _edge_serves_the_list(info: dict[str, Any], p: str, cli_key: str, srv_key: str, *,
                          member: str, stranger: str) -> None:
    import json

    from edge_reader.edge._config import parse_config
    from edge_reader.edge._factory import build_app

    def ask(app: Any, key: str) -> Any:
        resp = app.handle("POST", "/ofrep/v1/evaluate/flags/beta-ui",
                          {"authorization": f"Bearer {cli_key}",
                           "content-type": "application/json"},
                          json.dumps({"context": {"targetingKey": key}}).encode())
        return json.loads(resp.body) if resp.status == 200 else None

    base = {"cdn": info["cdn"], "ca_bundle": info["ca_bundle"], "poll_interval": 0.5,
            "signing_keys": [info["signing_public_key"]]}
    with_lists = build_app(parse_config({**base, "environments": [
        {"project": p, "environment": "prod", "sdk_key": cli_key, "server_sdk_key": srv_key}]}))
    client_only = build_app(parse_config({**base, "environments": [
        {"project": p, "environment": "prod", "sdk_key": cli_key}]}))
    try:
        _eventually(lambda: (ask(with_lists, member) or {}).get("value") is True)
        assert ask(with_lists, stranger)["value"] is False
        # a client-scope edge has no list: the member is off (the detail says why)
        _eventually(lambda: ask(client_only, member) is not None)
        assert ask(client_only, member)["value"] is False
    finally:
        with_lists.close()
        client_only.close()


def _only_writers_change_members(info: dict[str, Any], admin: ApiClient, p: str,
                                 members: str) -> None:
    """Against the running API (chalice local, real authorizer), with several tokens."""
    from vexil.errors import ApiError

    def token(role: str, projects: list[str]) -> ApiClient:
        text = admin.request("POST", "/v1/tokens", body={
            "name": f"{role}-{uuid.uuid4().hex[:6]}", "role": role, "projects": projects,
            "environments": ["*"]}).body["token"]
        return ApiClient(info["api"], text, ca_bundle=info["ca_bundle"])

    viewer, outsider = token("viewer", [p]), token("editor", ["elsewhere"])
    batch = {"batch_id": "intruder", "add": ["mallory@example.com"]}
    for who in (viewer, outsider):
        with pytest.raises(ApiError) as refused:
            who.request("POST", members, body=batch)
        assert refused.value.status == 403
    assert viewer.get(members).body["members"] == MEMBERS
    with pytest.raises(ApiError) as hidden:
        outsider.get(members)
    assert hidden.value.status == 403
    imports = members.replace("/members", "/imports")
    with pytest.raises(ApiError) as no_upload:
        viewer.request("POST", imports, body={"format": "csv"})
    assert no_upload.value.status == 403
    viewer.close()
    outsider.close()
