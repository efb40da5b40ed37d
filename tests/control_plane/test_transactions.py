"""Entity, audit record and revision change together or not at all."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tests.control_plane.conftest import BOOL_FLAG, World


class FailingAuditPut:
    """Repository wrapper: the audit record put of the next transaction is made to fail.

    The fault is real DynamoDB behaviour (a condition that cannot hold), so the whole
    TransactWriteItems is cancelled by moto exactly as AWS would.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.armed = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def transact(self, steps: Sequence[dict[str, Any]]) -> None:
        if self.armed:
            patched = []
            for step in steps:
                put = step.get("Put")
                if put and str(put["Item"]["pk"]).startswith("A#"):
                    patched.append(
                        {"Put": {**put, "ConditionExpression": "attribute_exists(pk)"}})
                else:
                    patched.append(step)
            steps = patched
        self.inner.transact(steps)


def test_failed_audit_put_leaves_flag_and_revision_unchanged(world: World) -> None:
    from chalicelib import keys
    from chalicelib.usecases.base import Ctx
    from chalicelib.web import set_ctx

    p = world.new_project(envs=("dev",))
    world.api.post(f"/v1/projects/{p}/flags", BOOL_FLAG)
    before_env = world.api.get(f"/v1/projects/{p}/environments/dev").json
    url = f"/v1/projects/{p}/environments/dev/flags/checkout"
    before_flag = world.api.get(url).json
    faulty = FailingAuditPut(world.ctx.repo)
    set_ctx(Ctx(faulty, now=world.clock, kms_key_id=world.ctx.kms_key_id))
    try:
        r = world.api.put(url, {"enabled": True, "default": {"variation": "on"}}, if_match=1)
    finally:
        set_ctx(world.ctx)
    assert r.status_code == 409, r.json
    assert world.api.get(url).json == before_flag
    assert world.api.get(f"/v1/projects/{p}/environments/dev").json == before_env
    repo = world.ctx.repo
    assert repo.get(keys.history_pk(p, "dev", "checkout"), keys.history_sk(2)) is None
    ok = world.api.post("/v1/audit/verify", {"project": p, "environment": "dev"}).json
    assert {k: ok[k] for k in ("ok", "checked", "first_break")} == {
        "ok": True, "checked": 1, "first_break": None}
    # Disarmed, the same write goes through and everything moves together.
    r = world.api.put(url, {"enabled": True, "default": {"variation": "on"}}, if_match=1)
    assert r.status_code == 200
    env = world.api.get(f"/v1/projects/{p}/environments/dev").json
    assert (env["revision"], env["audit_seq"]) == (before_env["revision"] + 1, 2)


def test_definition_write_bumps_every_environment_in_one_transaction(world: World) -> None:
    from chalicelib.usecases.base import Ctx
    from chalicelib.web import set_ctx

    p = world.new_project(envs=("a", "b", "c"))
    world.api.post(f"/v1/projects/{p}/flags", BOOL_FLAG)
    revs = [world.api.get(f"/v1/projects/{p}/environments/{e}").json["revision"] for e in "abc"]
    set_ctx(Ctx(FailingAuditPut(world.ctx.repo), now=world.clock))
    try:
        r = world.api.put(f"/v1/projects/{p}/flags/checkout",
                          {"kind": "boolean", "variations": {"on": True, "off": False},
                           "description": "x"}, if_match=1)
    finally:
        set_ctx(world.ctx)
    assert r.status_code == 409
    assert [world.api.get(f"/v1/projects/{p}/environments/{e}").json["revision"]
            for e in "abc"] == revs
    assert world.api.get(f"/v1/projects/{p}/flags/checkout").json["version"] == 1
