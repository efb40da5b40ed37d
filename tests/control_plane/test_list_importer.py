"""The list importer (chalicelib/list_importer.py, list_imports.process_next): the Lambda
drains the queue within its time, reports the queue's age, skips an import a live importer
holds and takes over one whose importer died — deleting the invisible batches the dead run
left, so later deltas are not blocked by them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chalicelib import keys, list_record
from chalicelib.list_importer import RESERVE_SECONDS, drain, handler
from chalicelib.repository import put, update
from chalicelib.usecases import list_imports
from chalicelib.usecases.list_imports import LEASE_SECONDS, QUEUE_PK, process_next, queue_age

from tests.control_plane.conftest import World
from tests.control_plane.test_list_segments import _setup, _upload


class _LambdaContext:
    def __init__(self, seconds: float) -> None:
        self.ms = int(seconds * 1000)

    def get_remaining_time_in_millis(self) -> int:
        return self.ms


def _queued(world: World, members: str, data: bytes) -> str:
    imports = members.replace("/members", "/imports")
    created = world.api.post(imports, {"format": "csv"}).json
    assert _upload(created["upload_url"], data) == 200
    r = world.api.post(f"{imports}/{created['import_id']}/start", {})
    assert r.status_code == 202, r.json
    return str(created["import_id"])


def test_the_lambda_drains_the_queue_and_reports_its_age(world: World) -> None:
    _, members = _setup(world)
    first = _queued(world, members, b"a\nb\n")
    second = _queued(world, members, b"c\n")
    clock = [world.ctx.now() + 42]
    ctx = replace(world.ctx, now=lambda: clock[0])
    assert queue_age(ctx) >= 42
    # Less time left than an import may need: nothing is started.
    assert drain(ctx, lambda: RESERVE_SECONDS - 1) == []
    report = handler({"source": "vexil.list-importer"}, _LambdaContext(900),
                     deps=lambda: ctx)
    assert sorted(report["processed"]) == sorted([first, second])
    assert report["queue_age_seconds"] == 0.0
    imports = members.replace("/members", "/imports")
    assert world.api.get(f"{imports}/{first}").json["status"] == "done"
    assert world.api.get(members).json["members"] == 3
    assert handler({}, _LambdaContext(900))["processed"] == []


def _claimed(world: World, members: str, import_id: str, claimed_at: float) -> dict[str, Any]:
    p = members.split("/")[3]
    item = world.ctx.repo.get(keys.list_imports_pk(p, "dev", "beta"),
                              keys.list_import_sk(import_id))
    assert item is not None
    world.ctx.repo.transact([update(str(item["pk"]), str(item["sk"]),
                                    "SET #s = :p, claimed_at = :t", names={"#s": "status"},
                                    p="processing", t=int(claimed_at))])
    return item


def test_an_import_held_by_a_live_importer_is_skipped_not_spun_on(world: World) -> None:
    _, members = _setup(world)
    import_id = _queued(world, members, b"a\n")
    _claimed(world, members, import_id, world.ctx.now())
    assert process_next(world.ctx) is None  # not ours: the loop would otherwise spin
    imports = members.replace("/members", "/imports")
    assert world.api.get(f"{imports}/{import_id}").json["status"] == "processing"


def test_a_dead_importers_import_is_reclaimed_and_its_orphans_removed(world: World) -> None:
    p, members = _setup(world)
    assert world.api.post(members, {"batch_id": "b1", "add": ["x"]}).status_code == 200
    import_id = _queued(world, members, b"a\nb\n")
    _claimed(world, members, import_id, world.ctx.now() - LEASE_SECONDS - 5)
    # The dead run had written an invisible batch at list_seq + 1 before it died.
    state = world.ctx.repo.get(keys.env_pk(p, "dev"), keys.list_sk("beta"))
    assert state is not None
    current = list_record.read_state(state)
    orphan_pk = keys.list_batches_pk(p, "dev", current.list_id)
    world.ctx.repo.transact([put({"pk": orphan_pk, "sk": keys.list_batch_sk(current.seq + 1),
                                  "batch_id": f"{import_id}-{current.seq + 1}",
                                  "adds": list_record.pack(list_record.to_array([7]))})])
    assert process_next(world.ctx) == import_id
    imports = members.replace("/members", "/imports")
    done = world.api.get(f"{imports}/{import_id}").json
    assert done["status"] == "done", done
    assert world.api.get(members).json["members"] == 3
    # The next delta's sequence number is free again.
    r = world.api.post(members, {"batch_id": "b2", "remove": ["x"]})
    assert r.status_code == 200, r.json
    assert world.api.get(members).json["members"] == 2
    queued = world.ctx.repo.query(QUEUE_PK, list_imports.QUEUE_SK_PREFIX)[0]
    assert import_id not in {q["import_id"] for q in queued}


def test_the_size_is_kept_in_the_state_item_exact_across_overlaps(world: World) -> None:
    from chalicelib.usecases import lists

    p, members = _setup(world)

    def batch(batch_id: str, **body: list[str]) -> None:
        r = world.api.post(members, {"batch_id": batch_id, **body})
        assert r.status_code == 200, r.json

    batch("b1", add=["a", "b", "c"])
    batch("b2", add=["c", "d"], remove=["zz"])  # c is already in, zz never was
    lists._FOLDS.clear()  # a cold container: the next write folds the batches once
    batch("b3", remove=["a", "nobody"])
    imported = _queued(world, members, b"d\ne\n")  # d is in, e is new
    assert process_next(world.ctx) == imported
    state = world.ctx.repo.get(keys.env_pk(p, "dev"), keys.list_sk("beta"))
    assert state is not None
    assert state["list_members"] == 4  # b c d e
    # GET …/members reads the state item only: with every batch item gone it still answers.
    pk = keys.list_batches_pk(p, "dev", str(state["list_id"]))
    from chalicelib.repository import delete

    for item in world.ctx.repo.query(pk, keys.LIST_BATCH_SK_PREFIX)[0]:
        world.ctx.repo.transact([delete(pk, str(item["sk"]))])
    got = world.api.get(members).json
    assert (got["members"], got["seq"]) == (4, 4)
