"""Changesets: many changes as one revision, one audit record, all or nothing.

API-level tests (the Chalice app on the session's moto table) plus storage-fault tests that
call the use case with a repository wrapper failing the k-th transaction, and a reader
(the publisher's snapshot) looking between every chunk of a 1,000-flag changeset.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import boto3
import pytest

from tests.control_plane.conftest import World

BOOL = {"kind": "boolean", "variations": {"on": True, "off": False}}
ON = {"enabled": True, "off_variation": "off", "default": {"variation": "on"}}


def _flag(key: str, config: dict[str, Any] | None = None, base: int = 0) -> list[dict[str, Any]]:
    """A new flag: its definition and its configuration in the target environment."""
    return [{"kind": "definition", "key": key, "action": "put", "base_version": base,
             "body": BOOL},
            {"kind": "config", "key": key, "action": "put", "base_version": base,
             "body": config or ON}]


def _many(n: int, prefix: str = "f") -> list[dict[str, Any]]:
    return [c for i in range(n) for c in _flag(f"{prefix}{i:05d}")]


def _env(world: World, p: str, e: str) -> dict[str, Any]:
    return dict(world.api.get(f"/v1/projects/{p}/environments/{e}").json)


def _flags(world: World, p: str, e: str) -> dict[str, int]:
    items = world.api.get(f"/v1/projects/{p}/environments/{e}/flags?limit=200").json["items"]
    return {i["key"]: i["version"] for i in items}


def _post(world: World, p: str, e: str, changes: list[dict[str, Any]], **kw: Any) -> Any:
    return world.api.post(f"/v1/projects/{p}/environments/{e}/changesets",
                          {"changes": changes, "reason": "test"}, **kw)


def test_a_changeset_is_one_revision_and_one_audit_record(world: World) -> None:
    p = world.new_project(envs=("dev", "qa"))
    before = {e: _env(world, p, e)["revision"] for e in ("dev", "qa")}
    seg = {"kind": "segment", "key": "staff", "action": "put", "base_version": 0,
           "body": {"included": ["u-1"]}}
    r = _post(world, p, "dev", [seg, *_flag("a"), *_flag("b")])
    assert r.status_code == 200, r.json
    assert r.json["revision"] == before["dev"] + 1
    assert r.json["count"] == 5
    # A new definition reaches qa too (disabled, as POST /flags does): one revision there.
    assert r.json["revisions"] == {"dev": before["dev"] + 1, "qa": before["qa"] + 1}
    assert _flags(world, p, "dev") == {"a": 1, "b": 1}
    qa = world.api.get(f"/v1/projects/{p}/environments/qa/flags/a").json
    assert qa["config"]["enabled"] is False
    audit = world.api.get(f"/v1/audit?project={p}&environment=dev&limit=200").json["items"]
    mine = [a for a in audit if a["action"] == "changeset.apply"]
    assert len(mine) == 1
    after = mine[0]["after"]
    assert after["changeset"] == r.json["changeset"]
    assert after["manifest_sha256"] == r.json["manifest_sha256"]
    assert {(c["kind"], c["key"]) for c in after["changes"]} == {
        ("segment", "staff"), ("definition", "a"), ("config", "a"), ("definition", "b"),
        ("config", "b")}
    assert all(len(c["sha256"]) == 64 for c in after["changes"])
    assert world.api.post("/v1/audit/verify", {"project": p, "environment": "dev"}).json["ok"]


def test_updates_and_deletes_with_base_versions(world: World) -> None:
    p = world.new_project(envs=("dev",))
    assert _post(world, p, "dev", [*_flag("a"), *_flag("b")]).status_code == 200
    off = {"enabled": False, "off_variation": "off", "default": {"variation": "off"}}
    r = _post(world, p, "dev", [
        {"kind": "config", "key": "a", "action": "put", "base_version": 1, "body": off},
        {"kind": "definition", "key": "b", "action": "delete", "base_version": 1}])
    assert r.status_code == 200, r.json
    assert _flags(world, p, "dev") == {"a": 2}


def test_every_conflicting_item_is_named_and_nothing_is_written(world: World) -> None:
    p = world.new_project(envs=("dev",))
    assert _post(world, p, "dev", [*_flag("a"), *_flag("b")]).status_code == 200
    rev = _env(world, p, "dev")["revision"]
    stale = [*_flag("new"),
             {"kind": "config", "key": "a", "action": "put", "base_version": 7, "body": ON},
             *_flag("b")]  # b exists: base 0 is stale for its definition and its config
    r = _post(world, p, "dev", stale)
    assert r.status_code == 412, r.json
    named = {(c["index"], c["key"], c["current_version"]) for c in r.json["conflicts"]}
    assert named == {(2, "a", 1), (3, "b", 1), (4, "b", 1)}
    assert [d["path"] for d in r.json["error"]["details"]] == [
        "changes[2]", "changes[3]", "changes[4]"]
    assert _env(world, p, "dev")["revision"] == rev
    assert "new" not in _flags(world, p, "dev")


@pytest.mark.parametrize(("change", "path"), [
    ({"kind": "config", "key": "x", "action": "put", "base_version": 0}, "changes[0].body"),
    ({"kind": "flag", "key": "x", "action": "put", "base_version": 0, "body": {}},
     "changes[0].kind"),
    ({"kind": "segment", "key": "Bad Key", "action": "delete", "base_version": 1},
     "changes[0].key"),
    ({"kind": "segment", "key": "s", "action": "delete", "base_version": 0},
     "changes[0].base_version"),
    ({"kind": "segment", "key": "s", "action": "delete", "base_version": 2, "body": {}},
     "changes[0].body"),
])
def test_bad_items_are_400_naming_the_field(world: World, change: dict[str, Any],
                                            path: str) -> None:
    p = world.new_project(envs=("dev",))
    r = _post(world, p, "dev", [change])
    assert r.status_code == 400, r.json
    assert path in [d["path"] for d in r.json["error"]["details"]], r.json


def test_a_configuration_needs_a_definition(world: World) -> None:
    p = world.new_project(envs=("dev",))
    r = _post(world, p, "dev", [
        {"kind": "config", "key": "ghost", "action": "put", "base_version": 0, "body": ON}])
    assert r.status_code == 400, r.json
    assert r.json["error"]["details"][0]["path"] == "changes[0].key"
    assert _flags(world, p, "dev") == {}


def test_duplicates_and_empty_sets_are_refused(world: World) -> None:
    p = world.new_project(envs=("dev",))
    r = _post(world, p, "dev", [*_flag("a"), *_flag("a")])
    assert r.status_code == 400
    assert "changes[2].key" in [d["path"] for d in r.json["error"]["details"]]
    r = _post(world, p, "dev", [])
    assert r.status_code == 400
    assert r.json["error"]["details"][0]["path"] == "changes"


def test_compile_errors_name_the_item_and_path(world: World) -> None:
    p = world.new_project(envs=("dev",))
    bad = {"enabled": True, "rules": [{"id": "r", "clauses": [
        {"attribute": "country", "op": "inn", "values": ["DE"]}], "serve": {"variation": "on"}}],
        "default": {"variation": "nope"}}
    rev = _env(world, p, "dev")["revision"]
    r = _post(world, p, "dev", [*_flag("ok"), *_flag("broken", bad)])
    assert r.status_code == 400, r.json
    paths = [d["path"] for d in r.json["error"]["details"]]
    assert any(x.startswith("changes[3].body.rules[0].clauses[0]") for x in paths), paths
    assert any(x.startswith("changes[3].body.default") for x in paths), paths
    assert _env(world, p, "dev")["revision"] == rev
    assert _flags(world, p, "dev") == {}


def test_a_new_environment_of_an_existing_project_applies_first_time(world: World) -> None:
    p = world.new_project(envs=("dev",))
    assert _post(world, p, "dev", [*_flag("a")]).status_code == 200
    assert world.api.post(f"/v1/projects/{p}/environments", {"key": "qa"}).status_code == 201
    # qa got a's default configuration (version 1) when it was created: the plan for qa
    # updates it, and leaves the shared definition alone.
    r = _post(world, p, "qa", [
        {"kind": "config", "key": "a", "action": "put", "base_version": 1, "body": ON}])
    assert r.status_code == 200, r.json
    assert r.json["revisions"] == {"qa": r.json["revision"]}


# --- protected environments: one change request, four eyes, one revision -------------------


def test_protected_environment_one_change_request_second_token_applies(world: World) -> None:
    p = world.new_project(envs=("dev", "prod"), protected=("prod",))
    alice = world.token("editor", [p], ["*"], name=f"alice-{p}")
    bob = world.token("editor", [p], ["*"], name=f"bob-{p}")
    rev = _env(world, p, "prod")["revision"]
    r = _post(world, p, "prod", _many(30), token=alice)
    assert r.status_code == 202, r.json
    cr = r.json["change_request"]
    assert cr["environment"] == "prod"
    assert cr["operation"]["type"] == "changeset"
    assert len(cr["operation"]["changes"]) == 60
    assert _env(world, p, "prod")["revision"] == rev
    url = f"/v1/projects/{p}/environments/prod/change-requests/{cr['id']}"
    assert world.api.post(f"{url}/approve", if_match=1, token=alice).status_code == 403
    assert world.api.post(f"{url}/apply", if_match=1, token=alice).status_code == 409
    assert world.api.post(f"{url}/approve", if_match=1, token=bob).status_code == 200
    done = world.api.post(f"{url}/apply", if_match=2, token=alice)
    assert done.status_code == 200, done.json
    assert done.json["result"]["revision"] == rev + 1
    assert _env(world, p, "prod")["revision"] == rev + 1
    assert len(_flags(world, p, "prod")) == 30
    assert world.api.get(url).json["status"] == "applied"


def test_definition_change_reaching_a_protected_env_is_reviewed_there(world: World) -> None:
    p = world.new_project(envs=("dev", "prod"))
    assert _post(world, p, "dev", [*_flag("a")]).status_code == 200
    prod = f"/v1/projects/{p}/environments/prod"
    assert world.api.patch(prod, {"protected": True}, if_match=1).status_code == 200
    described = {**BOOL, "description": "shared"}
    r = _post(world, p, "dev", [
        {"kind": "definition", "key": "a", "action": "put", "base_version": 1,
         "body": described}])
    assert r.status_code == 202, r.json
    cr = r.json["change_request"]
    assert cr["environment"] == "prod"  # the environment to review in
    assert cr["operation"]["environment"] == "dev"


def test_an_env_scoped_editor_cannot_change_definitions(world: World) -> None:
    p = world.new_project(envs=("dev", "prod"))
    dev_only = world.token("editor", [p], ["dev"])
    assert _post(world, p, "dev", _flag("a"), token=dev_only).status_code == 403
    config_only = [{"kind": "segment", "key": "s", "action": "put", "base_version": 0,
                    "body": {"included": ["u"]}}]
    assert _post(world, p, "dev", config_only, token=dev_only).status_code == 200
    assert _post(world, p, "prod", config_only, token=dev_only).status_code == 403


# --- storage faults, killed appliers, readers in between -----------------------------------


class _Faulty:
    """The repository with transaction number ``fail_at`` failing (1-based), and a hook after
    every successful one."""

    def __init__(self, repo: Any, fail_at: int | None = None,
                 exc: BaseException | None = None,
                 after: Callable[[], None] | None = None) -> None:
        self.repo, self.fail_at, self.exc, self.after = repo, fail_at, exc, after
        self.count = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.repo, name)

    def transact(self, steps: Sequence[Any]) -> None:
        self.count += 1
        if self.count == self.fail_at:
            raise self.exc or RuntimeError("injected storage fault")
        self.repo.transact(steps)
        if self.after is not None:
            self.after()


class _Killed(BaseException):
    """A process killed mid-way: no rollback runs (BaseException passes the handler)."""


def _run(world: World, repo: Any, p: str, e: str, changes: list[dict[str, Any]]) -> Any:
    from chalicelib.rbac import Principal
    from chalicelib.usecases import changesets
    from chalicelib.usecases.base import Call

    admin = Principal("t-admin", "root", "admin", ("*",), ("*",))
    return changesets.apply_changeset(replace(world.ctx, repo=repo), Call(admin, "test"),
                                      p, e, changes)


def _seed(world: World, envs: tuple[str, ...] = ("dev",)) -> str:
    p = world.new_project(envs=envs)
    assert _post(world, p, "dev", _flag("keep")).status_code == 200
    return p


@pytest.mark.parametrize("fail_at", [1, 2, 3, 5])
def test_a_storage_fault_mid_way_leaves_nothing(world: World, fail_at: int) -> None:
    # 150 flags: 300 items + 2 manifest/history... → lock, 7 chunks, final commit.
    p = _seed(world)
    before = (_env(world, p, "dev"), _flags(world, p, "dev"))
    faulty = _Faulty(world.ctx.repo, fail_at)
    with pytest.raises(Exception, match=r"injected storage fault|nothing was changed"):
        _run(world, faulty, p, "dev", _many(150))
    after = _env(world, p, "dev")
    assert after["revision"] == before[0]["revision"]
    assert after["audit_seq"] == before[0]["audit_seq"]
    assert _flags(world, p, "dev") == before[1]
    assert "cs_lock" not in world.ctx.repo.get(f"P#{p}", "ENV#dev")
    # And the environment takes the next changeset normally.
    assert _post(world, p, "dev", _flag("next")).status_code == 200


def test_a_fault_in_the_final_commit_rolls_everything_back(world: World) -> None:
    p = _seed(world)
    rev = _env(world, p, "dev")["revision"]
    counting = _Faulty(world.ctx.repo)
    _run(world, counting, p, "dev", _many(60, "c"))  # learn how many transactions it takes
    final = counting.count - 1  # lock, chunks, final commit, then forget (the journal)
    p2 = _seed(world)
    faulty = _Faulty(world.ctx.repo, fail_at=final)
    with pytest.raises(Exception, match=r"injected storage fault|nothing was changed"):
        _run(world, faulty, p2, "dev", _many(60, "c"))
    assert _flags(world, p2, "dev") == {"keep": 1}
    assert _env(world, p, "dev")["revision"] == rev + 1


def test_a_killed_applier_is_rolled_back_by_the_next_writer(world: World) -> None:
    p = _seed(world, envs=("dev", "qa"))
    before_qa = _flags(world, p, "qa")
    rev = _env(world, p, "dev")["revision"]
    with pytest.raises(_Killed):
        _run(world, _Faulty(world.ctx.repo, 4, _Killed()), p, "dev", _many(150, "k"))
    env = world.ctx.repo.get(f"P#{p}", "ENV#dev")
    assert "cs_lock" in env  # the dead applier's lock, with half its chunks written
    written, _ = world.ctx.repo.query(f"P#{p}", "FLAGDEF#")
    assert len(written) > 1  # some of the dead applier's chunks are in the table
    url = f"/v1/projects/{p}/environments/dev/flags/keep"
    off = {"enabled": False, "off_variation": "off", "default": {"variation": "off"}}
    r = world.api.put(url, off, if_match=1)
    assert r.status_code == 409
    assert "changeset" in r.json["error"]["message"]
    world.clock.advance(120)  # the lease expires
    r = world.api.put(url, off, if_match=1)
    assert r.status_code == 200, r.json
    assert _flags(world, p, "dev") == {"keep": 2}
    assert _flags(world, p, "qa") == before_qa
    assert _env(world, p, "dev")["revision"] == rev + 1  # only the direct write
    assert "cs_lock" not in world.ctx.repo.get(f"P#{p}", "ENV#qa")


def test_a_reader_between_chunks_never_sees_a_mixed_state(world: World) -> None:
    from chalicelib.publish.snapshot import SnapshotLocked, SnapshotReader

    p = _seed(world)
    reader = SnapshotReader(table=world.ctx.repo.table_name,
                            dynamodb=boto3.client("dynamodb"), kms=boto3.client("kms"))
    first = reader.read(p, "dev")
    assert first is not None
    assert set(first.flags) == {"keep"}
    seen: list[tuple[int, int] | str] = []

    def look() -> None:
        try:
            snap = reader.read(p, "dev")
        except SnapshotLocked:
            seen.append("locked")
            return
        assert snap is not None
        seen.append((snap.revision, len(snap.flags)))

    changes = [c for i in range(1000) for c in _flag(f"r{i:04d}")]
    _run(world, _Faulty(world.ctx.repo, after=look), p, "dev", changes)
    states = {s for s in seen if s != "locked"}
    assert states <= {(first.revision, 1), (first.revision + 1, 1001)}, states
    assert seen.count("locked") >= 20  # 2,000+ items: every chunk was looked at, locked
    assert seen[-1] == (first.revision + 1, 1001) or seen[-2] == (first.revision + 1, 1001)


def test_the_manifest_of_a_big_changeset_is_readable_and_matches_its_audit_record(
        world: World) -> None:
    p = world.new_project(envs=("dev",))
    r = _post(world, p, "dev", _many(600, "m"))  # 1,200 entries: two manifest items
    assert r.status_code == 200, r.json
    audit = world.api.get(f"/v1/audit?project={p}&environment=dev&limit=200").json["items"]
    (record,) = [a for a in audit if a["action"] == "changeset.apply"]
    assert "changes" not in record["after"]  # too many to inline
    assert record["after"]["manifest_items"] == 2
    got = world.api.get(f"/v1/projects/{p}/environments/dev/changesets/{r.json['changeset']}")
    assert got.status_code == 200
    assert got.json["count"] == 1200
    assert got.json["manifest_sha256"] == record["after"]["manifest_sha256"]
    assert got.json["changes"][1]["kind"] == "config"
    missing = world.api.get(f"/v1/projects/{p}/environments/dev/changesets/cs-nope")
    assert missing.status_code == 404


def test_a_protected_changeset_too_big_for_one_change_request_is_413(world: World) -> None:
    p = world.new_project(envs=("prod",), protected=("prod",))
    r = _post(world, p, "prod", _many(2500, "big"))  # ~400 KB of operation
    assert r.status_code == 413, r.json
    assert r.json["error"]["details"][0]["path"] == "changes"
    crs = world.api.get(f"/v1/projects/{p}/environments/prod/change-requests").json["items"]
    assert crs == []
