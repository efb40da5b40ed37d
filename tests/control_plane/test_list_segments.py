"""List segments through the API, the publisher and a reader (issue 18).

API-level: create a list segment, delta batches (limits, duplicates, idempotency by batch
id, 4xx naming the field), protected environments (change request, four-eyes, apply),
audit without raw ids. Then the real publisher (built as the Lambda builds it) turns the
batches into shards on moto's S3, and a FlagClient reading moto's S3 over HTTP loads them
and evaluates membership; a delta rewrites only the shards it touches.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from chalicelib.publish.publisher import Publisher, publisher_from_env

from edge_reader import FlagClient
from tests.control_plane.conftest import World
from tests.reliability.readers import OriginProxy

FLAG = {"key": "beta-ui", "kind": "boolean", "variations": {"on": True, "off": False},
        "client_visible": True}
CONFIG = {"enabled": True, "default": {"variation": "off"}, "rules": [
    {"id": "beta", "clauses": [{"op": "segment_match", "values": ["beta"]}],
     "serve": {"variation": "on"}}]}


def _setup(world: World, protected: tuple[str, ...] = ()) -> tuple[str, str]:
    p = world.new_project(envs=("dev", "prod"), protected=protected)
    api = world.api
    seg = f"/v1/projects/{p}/environments/dev/segments"
    r = api.post(seg, {"key": "beta", "type": "list", "context_kind": "user"})
    assert r.status_code == 201, r.json
    assert api.post(f"/v1/projects/{p}/flags", FLAG).status_code == 201
    r = api.put(f"/v1/projects/{p}/environments/dev/flags/beta-ui", CONFIG, if_match=1)
    assert r.status_code == 200, r.json
    return p, f"{seg}/beta/members"


def test_batches_are_hashed_counted_and_idempotent(world: World) -> None:
    p, members = _setup(world)
    api = world.api
    rev = api.get(f"/v1/projects/{p}/environments/dev").json["revision"]
    r = api.post(members, {"batch_id": "b-1", "add": ["alice", "bob", "alice", "carol"]})
    assert r.status_code == 200, r.json
    assert r.json == {"segment": "beta", "batch_id": "b-1", "added": 3, "removed": 0,
                      "duplicates": 1, "seq": 1}
    assert api.get(f"/v1/projects/{p}/environments/dev").json["revision"] == rev + 1
    # A retry (the same ids, in any order, duplicates or not) replays the first answer...
    again = api.post(members, {"batch_id": "b-1", "add": ["carol", "bob", "alice"]})
    assert again.status_code == 200
    assert again.json["replayed"] is True
    assert again.json["seq"] == 1
    assert again.json["added"] == 3
    # ...the same batch id with other ids is refused (an idempotency key names one payload)
    for other in ({"add": ["zed"]}, {"add": ["alice", "bob", "carol", "zed"]},
                  {"add": ["alice", "bob"], "remove": ["carol"]}):
        refused = api.post(members, {"batch_id": "b-1", **other})
        assert refused.status_code == 409, refused.json
        assert [d["path"] for d in refused.json["error"]["details"]] == ["batch_id"]
        assert "already used for other ids" in refused.json["error"]["message"]
    assert api.get(f"/v1/projects/{p}/environments/dev").json["revision"] == rev + 1
    assert api.post(members, {"batch_id": "b-2", "remove": ["bob", "nobody"]}).status_code == 200
    state = api.get(members).json
    assert state["members"] == 2
    assert state["seq"] == 2
    # the audit names counts and a digest, never the ids
    records = api.get(f"/v1/audit?project={p}&environment=dev&limit=200").json["items"]
    batch = [r for r in records if r["action"] == "segment.members"]
    assert len(batch) == 2
    assert "alice" not in str(batch)
    assert len(batch[-1]["after"]["ids_sha256"]) == 64


@pytest.mark.parametrize(("body", "field"), [
    ({"batch_id": "b", "add": [f"u{i}" for i in range(10_001)]}, "add"),
    ({"batch_id": "b", "add": [f"u{i}" for i in range(6000)],
      "remove": [f"v{i}" for i in range(4001)]}, "add"),
    ({"batch_id": "b", "add": ["x"], "remove": ["x"]}, "remove"),
    ({"batch_id": "b", "add": ["ok", ""]}, "add[1]"),
    ({"batch_id": "b", "add": ["ok", 7]}, "add[1]"),
    ({"add": ["x"]}, "batch_id"),
    ({"batch_id": "no spaces", "add": ["x"]}, "batch_id"),
])
def test_bad_batches_are_400_naming_the_field(world: World, body: dict[str, Any],
                                              field: str) -> None:
    _, members = _setup(world)
    r = world.api.post(members, body)
    assert r.status_code == 400, r.json
    paths = [d["path"] for d in r.json["error"]["details"]]
    assert any(path == field or path.startswith(field) for path in paths), r.json
    assert world.api.get(members).json["seq"] == 0  # nothing half-written


def test_unknown_and_rule_segments_are_refused(world: World) -> None:
    p, members = _setup(world)
    api = world.api
    r = api.post(members.replace("/beta/", "/nope/"), {"batch_id": "b", "add": ["x"]})
    assert r.status_code == 404, r.json
    seg = f"/v1/projects/{p}/environments/dev/segments"
    assert api.post(seg, {"key": "staff", "included": ["a"]}).status_code == 201
    r = api.post(f"{seg}/staff/members", {"batch_id": "b", "add": ["x"]})
    assert r.status_code == 409
    assert "not a list segment" in r.json["error"]["message"]
    # a list segment cannot carry inline members, nor a `list` (publisher-managed)
    r = api.post(seg, {"key": "l2", "type": "list", "included": ["a"]})
    assert r.status_code == 400, r.json
    r = api.post(seg, {"key": "l3", "type": "list", "list": {"manifest": "x"}})
    assert r.status_code == 400, r.json


def test_a_protected_environment_files_a_change_request(world: World) -> None:
    p = world.new_project(envs=("prod",), protected=("prod",))
    api = world.api
    author = world.token("editor", [p])
    approver = world.token("editor", [p])
    # creating the segment in a protected environment is itself a change request
    seg = f"/v1/projects/{p}/environments/prod/segments"
    r = api.post(seg, {"key": "beta", "type": "list"}, token=author)
    assert r.status_code == 202, r.json
    cr = r.json["change_request"]["id"]
    crs = f"/v1/projects/{p}/environments/prod/change-requests/{cr}"
    assert api.post(crs + "/approve", if_match=1, token=approver).status_code == 200
    assert api.post(crs + "/apply", if_match=2, token=author).status_code == 200
    r = api.post(f"{seg}/beta/members", {"batch_id": "b1", "add": ["alice"]}, token=author)
    assert r.status_code == 202, r.json
    cr = r.json["change_request"]["id"]
    crs = f"/v1/projects/{p}/environments/prod/change-requests/{cr}"
    assert api.get(f"{seg}/beta/members").json["seq"] == 0
    assert api.post(crs + "/approve", if_match=1, token=author).status_code == 403  # four eyes
    assert api.post(crs + "/approve", if_match=1, token=approver).status_code == 200
    r = api.post(crs + "/apply", if_match=2, token=author)
    assert r.status_code == 200, r.json
    assert api.get(f"{seg}/beta/members").json == {
        "segment": "beta", "seq": 1, "members": 1,
        "updated_at": api.get(f"{seg}/beta/members").json["updated_at"]}


def test_a_viewer_cannot_change_members(world: World) -> None:
    p, members = _setup(world)
    viewer = world.token("viewer", [p])
    other_project = world.token("editor", ["elsewhere"])
    assert world.api.post(members, {"batch_id": "b", "add": ["x"]},
                          token=viewer).status_code == 403
    assert world.api.post(members, {"batch_id": "b", "add": ["x"]},
                          token=other_project).status_code == 403
    assert world.api.get(members, token=viewer).status_code == 200
    assert world.api.get(members).json["seq"] == 0


@pytest.fixture
def publisher(vexil_resources: dict[str, str]) -> Publisher:
    return publisher_from_env(boto3.session.Session())


@pytest.fixture
def reader_key(world: World) -> Any:
    return lambda p, env: world.api.post(
        f"/v1/projects/{p}/environments/{env}/sdk-keys", {"kind": "server"}).json["key"]


@pytest.fixture
def origin() -> Iterator[OriginProxy]:
    proxy = OriginProxy()
    yield proxy
    proxy.stop()


def _client(origin: OriginProxy, p: str, key: str, cache_dir: str) -> FlagClient:
    return FlagClient(project=p, environment="dev", sdk_key=key,
                      pointer_url=origin.pointer_url(p, "dev"), mode="lambda",
                      cache_dir=cache_dir)


def test_published_lists_reach_a_reader_and_deltas_rewrite_few_shards(
        world: World, publisher: Publisher, reader_key: Any, origin: OriginProxy,
        tmp_path: Any) -> None:
    p, members = _setup(world)
    api = world.api
    key = reader_key(p, "dev")
    ids = [f"user-{i}@example.com" for i in range(20_000)]
    for n in range(0, len(ids), 10_000):
        r = api.post(members, {"batch_id": f"load-{n}", "add": ids[n:n + 10_000]})
        assert r.status_code == 200, r.json
    outcome = publisher.publish(p, "dev")
    assert outcome.published
    assert outcome.lists["beta"].members == 20_000
    assert outcome.lists["beta"].shards_written == 256
    client = _client(origin, p, key, str(tmp_path))
    assert client.refresh().ok
    assert client.get_boolean("beta-ui", {"key": ids[123]}, False) is True
    assert client.get_boolean("beta-ui", {"key": "stranger@example.com"}, True) is False
    hit = client.get_boolean_details("beta-ui", {"key": ids[9]}, False)
    assert hit.error_message is None
    assert hit.variant == "on"
    # a small delta touches a handful of shards only
    api.post(members, {"batch_id": "rm-1", "remove": ids[:3]})
    outcome = publisher.publish(p, "dev")
    assert 1 <= outcome.lists["beta"].shards_written <= 3
    assert client.refresh().ok
    assert client.get_boolean("beta-ui", {"key": ids[0]}, True) is False
    assert client.get_boolean("beta-ui", {"key": ids[5]}, False) is True
    client.close()
    # the client-scope bundle never carries the list (nor its secret)
    doc = _server_doc_scopes(publisher, p)
    assert "list" in doc["server"]["segments"]["beta"]
    assert doc["client"]["segments"]["beta"] == {"type": "list", "context_kind": "user",
                                                 "version": 1}


def _server_doc_scopes(publisher: Publisher, p: str) -> dict[str, Any]:
    from chalicelib.publish.build import build_scopes, with_lists

    snap = publisher.reader.read(p, "dev")
    assert snap is not None
    refs = {s: publisher.lists.publish(p, "dev", s, st).ref  # type: ignore[union-attr]
            for s, st in snap.lists.items()}
    return {b.scope: with_lists(b, refs).document for b in build_scopes(snap, engine="1")}


def _upload(url: str, data: bytes) -> int:
    import urllib.request

    req = urllib.request.Request(url, data=data, method="PUT",
                                 headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return int(resp.status)


def _import(world: World, members: str, data: bytes, **body: Any) -> dict[str, Any]:
    from chalicelib.usecases.list_imports import process_next

    imports = members.replace("/members", "/imports")
    r = world.api.post(imports, body)
    assert r.status_code == 201, r.json
    created = r.json
    assert created["status"] == "awaiting_upload"
    assert _upload(created["upload_url"], data) == 200
    r = world.api.post(f"{imports}/{created['import_id']}/start", {})
    assert r.status_code == 202, r.json
    assert r.json["status"] == "queued"
    assert process_next(world.ctx) == created["import_id"]
    return dict(world.api.get(f"{imports}/{created['import_id']}").json)


def test_a_bulk_import_goes_through_a_presigned_upload_and_is_processed_async(
        world: World) -> None:
    p, members = _setup(world)
    rev = world.api.get(f"/v1/projects/{p}/environments/dev").json["revision"]
    lines = "id\n" + "".join(f"user-{i}\n" for i in range(25_000)) + "user-7\n"
    done = _import(world, members, lines.encode())
    assert done["status"] == "done", done
    assert done["result"] == {"ids": 25_000, "duplicates": 1, "added": 25_000, "removed": 0,
                              "seq": 3}
    assert world.api.get(members).json["members"] == 25_000
    # the uploaded file (raw ids) is gone once processed
    s3 = boto3.session.Session().client("s3")
    listed = s3.list_object_versions(Bucket=os.environ["VEXIL_BUCKET"],
                                     Prefix=f"imports/{p}/dev/beta/")
    assert listed.get("Versions", []) == []
    # the whole import is ONE revision and one audit record
    assert world.api.get(f"/v1/projects/{p}/environments/dev").json["revision"] == rev + 1
    # replace: the list becomes the file
    done = _import(world, members, b'"user-1"\n{"id": "new"}\n', format="ndjson",
                   mode="replace")
    assert done["status"] == "done", done
    assert done["result"]["removed"] == 24_999
    assert world.api.get(members).json["members"] == 2


def test_a_malformed_import_fails_with_line_numbers_and_writes_nothing(world: World) -> None:
    _, members = _setup(world)
    done = _import(world, members, b'"a"\nnot json\n{"id": 3}\n', format="ndjson")
    assert done["status"] == "failed"
    assert [e["line"] for e in done["errors"]] == [2, 3]
    assert "not JSON" in done["errors"][0]["message"]
    seq_before = world.api.get(members).json["seq"]
    done = _import(world, members, b"\xff\xfe\n", format="csv")
    assert done["status"] == "failed"
    assert done["errors"][0]["message"] == "not UTF-8"
    assert world.api.get(members).json["seq"] == seq_before


def test_an_import_must_be_uploaded_before_it_starts(world: World) -> None:
    _, members = _setup(world)
    imports = members.replace("/members", "/imports")
    created = world.api.post(imports, {"format": "csv"}).json
    r = world.api.post(f"{imports}/{created['import_id']}/start", {})
    assert r.status_code == 409, r.json
    assert world.api.post(imports, {"format": "xml"}).status_code == 400
    assert world.api.get(f"{imports}/imp-nope").status_code == 404


def test_a_protected_import_is_a_change_request_bound_to_the_uploaded_file(
        world: World) -> None:
    from chalicelib.usecases.list_imports import process_next

    p = world.new_project(envs=("prod",), protected=("prod",))
    api = world.api
    author, approver = world.token("editor", [p]), world.token("editor", [p])
    seg = f"/v1/projects/{p}/environments/prod/segments"
    cr = api.post(seg, {"key": "beta", "type": "list"}, token=author).json["change_request"]
    crs = f"/v1/projects/{p}/environments/prod/change-requests"
    assert api.post(f"{crs}/{cr['id']}/approve", if_match=1, token=approver).status_code == 200
    assert api.post(f"{crs}/{cr['id']}/apply", if_match=2, token=author).status_code == 200
    imports = f"{seg}/beta/imports"

    def filed(data: bytes) -> tuple[str, str]:
        created = api.post(imports, {"format": "csv"}, token=author).json
        assert _upload(created["upload_url"], data) == 200
        r = api.post(f"{imports}/{created['import_id']}/start", {}, token=author)
        assert r.status_code == 202, r.json
        change = r.json["change_request"]
        assert change["operation"]["type"] == "segment.import"
        assert api.post(f"{crs}/{change['id']}/approve", if_match=1,
                        token=approver).status_code == 200
        return created, change["id"]

    created, cr_id = filed(b"alice\nbob\n")
    assert api.get(f"{imports}/{created['import_id']}").json["status"] == "awaiting_upload"
    assert api.post(f"{crs}/{cr_id}/apply", if_match=2, token=author).status_code == 200
    assert process_next(world.ctx) == created["import_id"]
    assert api.get(f"{imports}/{created['import_id']}").json["status"] == "done"
    assert api.get(f"{seg}/beta/members").json["members"] == 2
    # bytes replaced after the approval are refused, never imported
    created, cr_id = filed(b"carol\n")
    assert _upload(created["upload_url"], b"mallory\n") == 200
    r = api.post(f"{crs}/{cr_id}/apply", if_match=2, token=author)
    assert r.status_code == 409, r.json
    assert "changed after approval" in r.json["error"]["message"]
    assert api.get(f"{seg}/beta/members").json["members"] == 2
