"""N clients race on one flag through the real HTTP API (`chalice local`'s server, in-process).

The race is real in the application: each request reads the flag, checks If-Match and then
commits a conditional transaction, with threads interleaving anywhere between those steps.
The session's moto runs behind ``vexil.devstack.motoserver`` (one request at a time, as
DynamoDB isolates transactions), so the application's clients race it unrestrained. The same
proofs with 50 writers on the running dev stack: ``test_stack_concurrency.py``. The
conditional-write logic itself is also tested directly, without HTTP.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.reliability.conftest import Plane

N_CLIENTS = 8
ROUNDS = 3


@pytest.fixture
def http_plane(plane_factory: Callable[..., Plane]) -> Iterator[tuple[Plane, str]]:
    """The app served by chalice's local server (thread per request) on 127.0.0.1."""
    import app as app_module
    from chalice.config import Config
    from chalice.local import create_local_server

    plane = plane_factory()
    server = create_local_server(app_module.app, Config.create(chalice_stage="local"),
                                 "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server.server_address[:2]
    try:
        yield plane, f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server.server_close()
        thread.join(10)


def _put(base: str, path: str, token: str, body: Any, version: int) -> tuple[int, Any]:
    req = urllib.request.Request(
        base + path, method="PUT", data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                 "If-Match": f'"{version}"'})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def test_racing_clients_get_2xx_or_412_and_the_last_success_wins(
    http_plane: tuple[Plane, str], publisher: Any
) -> None:
    plane, base = http_plane
    p = plane.project()
    plane.flag(p, {"key": "limit", "kind": "number",
                   "variations": {f"v{i}": i for i in range(N_CLIENTS * ROUNDS + 1)}})
    path = f"/v1/projects/{p}/environments/prod/flags/limit"
    rev0, audit0 = int(plane.env_item(p)["revision"]), len(plane.audit(p))

    results: list[tuple[str, int, Any]] = []
    lock = threading.Lock()
    start = threading.Barrier(N_CLIENTS)

    def client(n: int) -> None:
        start.wait()
        for r in range(ROUNDS):
            # everyone read version 1 first: version races are guaranteed in round one
            version = 1 if r == 0 else int(plane.api.get(path).json["version"])
            variant = f"v{n * ROUNDS + r + 1}"
            status, body = _put(base, path, plane.admin_token,
                                {"enabled": True, "default": {"variation": variant}}, version)
            with lock:
                results.append((variant, status, body))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(N_CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == N_CLIENTS * ROUNDS
    statuses = sorted({s for _, s, _ in results})
    assert set(statuses) <= {200, 412}, [(s, b) for _, s, b in results if s not in (200, 412)]
    winners = [(b["version"], v) for v, s, b in results if s == 200]
    assert 412 in statuses
    assert winners
    versions = sorted(v for v, _ in winners)
    assert versions == list(range(2, 2 + len(winners)))  # one winner per version, no gaps
    for _, s, b in results:
        if s == 412:
            assert b["error"]["code"] == "precondition_failed"
            assert isinstance(b["current_version"], int)
    # final state = the write that got the highest version
    last_variant = max(winners)[1]
    final = plane.api.get(path).json
    assert final["version"] == max(versions)
    assert final["config"]["default"] == {"variation": last_variant}
    # the audit log holds exactly the successful writes, in version order
    records = plane.audit(p)[audit0:]
    assert [r["after"]["default"]["variation"] for r in records] == \
        [v for _, v in sorted(winners)]
    assert int(plane.env_item(p)["revision"]) == rev0 + len(winners)
    verify = plane.api.post("/v1/audit/verify", {"project": p, "environment": "prod"}).json
    assert verify["ok"] is True, verify
    # and the bundle ends at the final revision with the final value
    publisher.publish(p, "prod")
    from tests.reliability.readers import live_revision

    assert live_revision(p) == rev0 + len(winners)


def test_the_conditional_write_logic_directly(plane: Plane) -> None:
    """Without HTTP or threads: a stale version is refused and nothing is half-written."""
    from chalicelib.errors import PreconditionFailed
    from chalicelib.rbac import Principal
    from chalicelib.usecases import flag_configs
    from chalicelib.usecases.base import Call

    p = plane.project()
    plane.flag(p)
    call = Call(Principal("t", "t", "admin", ("*",), ("*",)), "direct")
    rev = int(plane.env_item(p)["revision"])
    on = {"enabled": True, "off_variation": "off", "default": {"variation": "on"}}
    flag_configs.put_env_flag(plane.ctx, call, p, "prod", "checkout", on, 1)
    with pytest.raises(PreconditionFailed) as info:
        flag_configs.put_env_flag(plane.ctx, call, p, "prod", "checkout",
                                  {**on, "enabled": False}, 1)
    assert info.value.current_version == 2
    assert int(plane.env_item(p)["revision"]) == rev + 1
    got = flag_configs.get_env_flag(plane.ctx, p, "prod", "checkout")
    assert got["config"]["enabled"] is True
