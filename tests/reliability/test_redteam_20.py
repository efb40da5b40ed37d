"""Red team of today's features (issues 17-20): insights ingest and code references, list
segments (members, presigned imports), guarded rollouts, hostile flag content, and what
reaches the logs.

Every test drives the API as an attacker would — through the running app (the Chalice app on
the session's moto_server: real DynamoDB, S3, KMS and CloudWatch calls), with two or more
principals: the admin, a viewer, an editor of another project or environment, SDK keys of
this and of another environment, a revoked key, no credentials. A test marked
``xfail(strict=True)`` is an open hole: it describes the attack and what should happen, and
fails (turning the suite red) the day the hole is closed without removing the mark.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.control_plane.conftest import Api, FakeClock, World

INGEST = "/v1/insights/evaluations"
BOOL = {"kind": "boolean", "variations": {"on": True, "off": False}}
ON = {"enabled": True, "off_variation": "off", "default": {"variation": "on"}}
_n = itertools.count()


# --- helpers -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(vexil_resources: dict[str, str]) -> Iterator[World]:
    """The Chalice app on the session's moto table, as tests/control_plane wires it, with its
    own clock and admin; the process-wide context it replaces is restored afterwards."""
    import app as app_module
    from chalice.test import Client
    from chalicelib import web
    from chalicelib.repository import DynamoRepository
    from chalicelib.tokens import bootstrap_admin_token
    from chalicelib.usecases.base import Ctx

    previous = list(web._CTX)
    clock = FakeClock(1_790_000_000.0 + 3 * 86400)
    repo = DynamoRepository(vexil_resources["VEXIL_TABLE"])
    ctx = Ctx(repo, now=clock, kms_key_id=vexil_resources["VEXIL_KMS_KEY_ID"])
    web.set_ctx(ctx)
    admin, _ = bootstrap_admin_token("redteam-20", repo=repo, now=clock)
    try:
        with Client(app_module.app) as client:
            yield World(Api(client, admin), clock, ctx, admin)
    finally:
        web.set_ctx(previous[0] if previous else None)


def _project(world: World, envs: tuple[str, ...] = ("staging", "production"),
             protected: tuple[str, ...] = ()) -> str:
    """A new project (a key no other test of the session uses) with ``envs``."""
    key = f"rt20-{uuid.uuid4().hex[:10]}"
    assert world.api.post("/v1/projects", {"key": key}).status_code == 201
    for env in envs:
        r = world.api.post(f"/v1/projects/{key}/environments",
                           {"key": env, "protected": env in protected})
        assert r.status_code == 201, r.json
    return key


def _flag(world: World, project: str, key: str, envs: tuple[str, ...] = ("staging",)) -> None:
    assert world.api.post(f"/v1/projects/{project}/flags", {"key": key, **BOOL}
                          ).status_code == 201
    for env in envs:
        r = world.api.put(f"/v1/projects/{project}/environments/{env}/flags/{key}", ON,
                          if_match=1)
        assert r.status_code == 200, r.json


def _sdk_key(world: World, project: str, env: str, kind: str = "server") -> str:
    r = world.api.post(f"/v1/projects/{project}/environments/{env}/sdk-keys", {"kind": kind})
    assert r.status_code == 201, r.json
    return str(r.json["key"])


def _summary(project: str, env: str, counters: list[dict[str, Any]], **extra: Any
             ) -> dict[str, Any]:
    return {"format": 1, "sdk": {"name": "vexil-python", "version": "0.1.0"},
            "project": project, "environment": env, "window": {"start": 1, "end": 2},
            "dropped": 0, "counters": counters, **extra}


def _counter(flag: str, variant: str | None = "on", count: int = 1) -> dict[str, Any]:
    return {"flag": flag, "variant": variant, "reason": "STATIC", "count": count}


def _insight_items(world: World, project: str, env: str) -> list[dict[str, Any]]:
    from chalicelib import keys

    out: list[dict[str, Any]] = []
    for prefix in (keys.INSIGHTS_DAY_SK_PREFIX, keys.insights_summary_sk("")):
        items, _ = world.ctx.repo.query(keys.insights_pk(project, env), prefix)
        out += items
    return out


def _evaluations(world: World, project: str, env: str, flag: str) -> int:
    """The evaluations stored for ``flag`` (every day item of the environment)."""
    return sum(int(i.get("total", 0)) for i in _insight_items(world, project, env)
               if i.get("flag") == flag)


@pytest.fixture
def shop(world: World) -> dict[str, Any]:
    """Two projects; ``shop`` has staging + production (protected), a flag, keys of both
    environments (server and client), and the principals an attacker might hold."""
    project = _project(world, protected=("production",))
    other = _project(world)
    _flag(world, project, "checkout")
    _flag(world, other, "checkout")
    return {
        "project": project, "other": other,
        "srv": _sdk_key(world, project, "staging"),
        "cli": _sdk_key(world, project, "staging", "client"),
        "prod_srv": _sdk_key(world, project, "production"),
        "other_srv": _sdk_key(world, other, "staging"),
        "viewer": world.token("viewer", [project]),
        "editor": world.token("editor", [project]),
        "editor2": world.token("editor", [project]),
        "staging_editor": world.token("editor", [project], ["staging"]),
        "other_editor": world.token("editor", [other]),
    }


# --- insights ingest -----------------------------------------------------------------------


def test_ingest_is_opened_by_this_environments_sdk_keys_only(world: World, shop: Any
                                                             ) -> None:
    """Promised (docs/insights.md): a key of another environment or project is 403, an API
    token (even the admin's) or no credential is 401; both key kinds of the environment
    count. Counts forged with a refused credential land nowhere."""
    p = shop["project"]
    body = _summary(p, "staging", [_counter("checkout", count=7)])
    refused = {shop["prod_srv"]: 403, shop["other_srv"]: 403, world.admin_token: 401,
               shop["editor"]: 401, shop["viewer"]: 401, "": 401}
    for credential, status in refused.items():
        r = world.api.post(INGEST, body, token=credential)
        assert r.status_code == status, (credential[:12], r.json)
        assert "error" in r.json
    assert _evaluations(world, p, "staging", "checkout") == 0
    # Counts for another project's environment with this project's key: refused too.
    r = world.api.post(INGEST, _summary(shop["other"], "staging", [_counter("checkout")]),
                       token=shop["srv"])
    assert r.status_code == 403, r.json
    assert _evaluations(world, shop["other"], "staging", "checkout") == 0
    for key in (shop["srv"], shop["cli"]):
        assert world.api.post(INGEST, body, token=key).status_code == 200
    assert _evaluations(world, p, "staging", "checkout") == 14


@pytest.mark.parametrize("count", [0, -1, 1.5, True, "5", None, 2**53 + 1])
def test_counts_that_are_not_positive_integers_are_400_and_count_nothing(
        world: World, shop: Any, count: Any) -> None:
    p = shop["project"]
    body = _summary(p, "staging", [_counter("checkout"), {**_counter("checkout"),
                                                          "count": count}])
    r = world.api.post(INGEST, body, token=shop["srv"])
    assert r.status_code == 400, r.json
    assert any(d["path"].startswith("counters[1].count") for d in r.json["error"]["details"])
    assert _insight_items(world, p, "staging") == []


@pytest.mark.parametrize("raw", [
    b'{"format": 1, "counters": [{"count": NaN}]}',
    b'{"format": 1, "counters": [{"count": Infinity}]}',
    b'{"format": 1, "sdk": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    b'{"format": 1, "format": 1, "counters": []}' + b" x",
])
def test_hostile_json_is_400_never_a_500(world: World, shop: Any, raw: bytes
                                         ) -> None:
    r = world.api.call("POST", INGEST, token=shop["srv"], raw=raw)
    assert r.status_code == 400, r.json
    assert r.json["error"]["message"]


@pytest.mark.parametrize("flag", ["a#b", "D#2026-01-01#x", "../../x", "x" * 200, "Checkout!"])
def test_flag_keys_that_are_not_keys_are_400(world: World, shop: Any, flag: str
                                             ) -> None:
    """A flag key is part of a sort key (``D#<day>#<flag>``): anything but a key is refused."""
    p = shop["project"]
    r = world.api.post(INGEST, _summary(p, "staging", [_counter(flag)]), token=shop["srv"])
    assert r.status_code == 400, r.json
    assert any(d["path"] == "counters[0].flag" for d in r.json["error"]["details"])
    assert _insight_items(world, p, "staging") == []


def _day_summary(world: World, project: str, env: str) -> dict[str, Any]:
    (summary,) = [i for i in _insight_items(world, project, env) if "payloads" in i]
    return summary


def test_counts_of_flags_the_environment_does_not_have_cost_no_writes(
        world: World, shop: Any) -> None:
    """Found: ingest wrote one DynamoDB item per flag key named, configured or not: a client
    key (shipped in browsers) bought 5,000 UpdateItems per POST, and counts of unknown flags
    were never read. Should: items for the environment's flags only; the rest summed into
    one bounded counter of the day, shown in the stale view (a misconfigured SDK is
    visible); a flag created a moment ago is counted at once."""
    p = shop["project"]
    key_id = shop["cli"].split("_")[2]
    counters = [_counter("checkout")] + [_counter(f"ghost-{i}", count=2) for i in range(150)]
    r = world.api.post(INGEST, _summary(p, "staging", counters), token=shop["cli"])
    assert r.status_code == 200, r.json
    assert r.json["flags"] == 1
    assert r.json["unknown"]["flags"] == 150
    assert r.json["unknown"]["evaluations"] == 300
    flags = {str(i.get("flag")) for i in _insight_items(world, p, "staging") if i.get("flag")}
    assert flags == {"checkout"}, sorted(flags)[:5]
    summary = _day_summary(world, p, "staging")
    assert summary["unknown_flags"] == 300
    assert summary[f"unknown:{key_id}"] == "ghost-0"
    assert len(summary) < 20, sorted(summary)  # bounded: no attribute per name
    view = world.api.get(f"/v1/projects/{p}/environments/staging/insights/stale").json
    assert view["unknown"] == {"flag_evaluations": 300, "variant_evaluations": 0,
                               "by_key": {key_id: "ghost-0"}}
    # A flag configured after the environment's flags were cached is counted at once.
    _flag(world, p, "ghost-7")
    r = world.api.post(INGEST, _summary(p, "staging", [_counter("ghost-7", count=3)]),
                       token=shop["srv"])
    assert r.status_code == 200, r.json
    assert r.json["unknown"]["flags"] == 0
    assert _evaluations(world, p, "staging", "ghost-7") == 3


def test_a_flag_with_hundreds_of_variants_in_one_summary_is_counted_not_503(
        world: World, shop: Any) -> None:
    """Found: one flag's counters were ONE UpdateItem (an ``ADD`` per variant and reason);
    past ~300 of them DynamoDB refuses the expression (4 KB; moto already at ~200), so every
    summary naming such a flag answered 503 "nothing was written" — after writing the flags
    before it, which each retry then counted again."""
    p = shop["project"]
    counters = [_counter("checkout", f"variant-{i}") for i in range(450)]
    r = world.api.post(INGEST, _summary(p, "staging", counters), token=shop["srv"])
    assert r.status_code == 200, r.json
    assert _evaluations(world, p, "staging", "checkout") == 450


def test_made_up_variants_cannot_grow_a_flags_counters(world: World, shop: Any
                                                       ) -> None:
    """Found: variant names were stored as attributes (v:<variant>) whatever the flag's
    variations: 5,000 made-up names of 64 characters grew one flag-day item to ~350 KB, and
    past DynamoDB's 400 KB item limit every later summary naming the flag failed (503) for
    the rest of the day. Should: the flag's variations only; the rest in one counter."""
    p = shop["project"]
    counters = [_counter("checkout", f"v{i:03d}-" + "x" * 40) for i in range(300)]
    counters += [_counter("checkout", "on", 5), _counter("checkout", None)]
    r = world.api.post(INGEST, _summary(p, "staging", counters), token=shop["srv"])
    assert r.status_code == 200, r.json
    assert r.json["unknown"]["variants"] == 300
    (day_item,) = [i for i in _insight_items(world, p, "staging") if i.get("flag")] or [{}]
    variants = [k for k in day_item if k.startswith("v:")]
    assert variants == ["v:on"]  # the flag has two variations; one was reported
    assert (day_item["total"], day_item["xv"], day_item["nv"]) == (306, 300, 1)
    assert _day_summary(world, p, "staging")["unknown_variants"] == 300
    view = world.api.get(f"/v1/projects/{p}/environments/staging/insights/stale").json
    assert view["unknown"]["variant_evaluations"] == 300


def test_the_sdks_seen_per_day_are_bounded(world: World, shop: Any) -> None:
    """Found: the SDK name/version of every summary was ADDed to the day's summary item as a
    string set: a key holder (a client key ships in browsers) sending distinct names grew it
    to DynamoDB's 400 KB item limit, after which every summary of the environment failed
    (503) for the rest of the day. Should: one SDK per key (the last seen)."""
    p = shop["project"]
    for i in range(40):
        body = _summary(p, "staging", [_counter("checkout")],
                        sdk={"name": f"evil-{i}-" + "n" * 50, "version": "v" * 64})
        assert world.api.post(INGEST, body, token=shop["cli"]).status_code == 200
    assert world.api.post(INGEST, _summary(p, "staging", [_counter("checkout")]),
                          token=shop["srv"]).status_code == 200
    (summary,) = [i for i in _insight_items(world, p, "staging") if "payloads" in i]
    assert summary["payloads"] == 41
    sdks = {k: v for k, v in summary.items() if k.startswith("sdk")}
    assert len(sdks) == 2, sorted(sdks)  # one per key
    assert sorted(sdks.values())[0].startswith("evil-39-")
    assert "vexil-python/0.1.0" in sdks.values()


# --- code references -----------------------------------------------------------------------


def _refs(world: World, project: str, repository: str, body: Any, token: str | None = None
          ) -> Any:
    return world.api.put(f"/v1/projects/{project}/code-references/{repository}", body,
                         token=token)


def test_code_references_are_written_by_this_projects_writers_only(
        world: World, shop: Any) -> None:
    p = shop["project"]
    body = {"flags": {"checkout": [{"path": "app.py", "line": 3}]}, "revision": "abc"}
    for token, status in ((shop["viewer"], 403), (shop["other_editor"], 403),
                          (shop["srv"], 401), ("", 401)):
        r = _refs(world, p, "shop", body, token=token)
        assert r.status_code == status, (status, r.json)
    assert world.api.get(f"/v1/projects/{p}/code-references").json["items"] == []
    assert _refs(world, p, "shop", body, token=shop["editor"]).status_code == 200
    # The other project's editor cannot read them either.
    r = world.api.get(f"/v1/projects/{p}/code-references", token=shop["other_editor"])
    assert r.status_code == 403
    items = world.api.get(f"/v1/projects/{p}/code-references", token=shop["viewer"]
                          ).json["items"]
    assert [i["repository"] for i in items] == ["shop"]


@pytest.mark.parametrize("repository", ["..%2F..%2Fetc", "a%23b", "x" * 300, "%2e%2e",
                                        "a%2Fb"])
def test_repository_names_that_are_not_keys_are_400(world: World, shop: Any,
                                                    repository: str) -> None:
    p = shop["project"]
    r = _refs(world, p, repository, {"flags": {}})
    assert r.status_code in (400, 404), r.json  # 404: API Gateway finds no route for a '/'
    if r.status_code == 400:
        assert any(d["path"] == "repository" for d in r.json["error"]["details"])
    assert world.api.get(f"/v1/projects/{p}/code-references").json["items"] == []


def test_the_largest_accepted_upload_is_stored_and_a_larger_one_is_413(
        world: World, shop: Any) -> None:
    """350 KB of JSON must fit one DynamoDB item (400 KB), or the upload would be a 503."""
    p = shop["project"]
    refs = [{"path": "p" * 1000, "line": 1}] * 100
    flags = {f"f{i}": refs for i in range(3)}
    size = len(json.dumps({"flags": flags}))
    assert 300_000 < size < 350 * 1024, size
    r = _refs(world, p, "big", {"flags": flags})
    assert r.status_code == 200, r.json
    flags["f3"] = refs[:60]
    assert len(json.dumps({"flags": flags})) > 350 * 1024
    r = _refs(world, p, "big", {"flags": flags})
    assert r.status_code == 413, r.json
    stored = world.api.get(f"/v1/projects/{p}/code-references").json["items"]
    assert sorted(stored[0]["flags"]) == ["f0", "f1", "f2"]


# --- list segments -------------------------------------------------------------------------


def _list_segment(world: World, project: str, env: str, author: str | None = None,
                  approver: str | None = None) -> str:
    """A list segment ``vip`` in ``env`` (through a change request when protected); its URL."""
    seg = f"/v1/projects/{project}/environments/{env}/segments"
    r = world.api.post(seg, {"key": "vip", "type": "list", "context_kind": "user"},
                       token=author)
    if r.status_code == 202:
        cr = r.json["change_request"]
        crs = f"/v1/projects/{project}/environments/{env}/change-requests/{cr['id']}"
        r = world.api.post(f"{crs}/approve", if_match=cr["version"], token=approver)
        assert r.status_code == 200, r.json
        r = world.api.post(f"{crs}/apply", if_match=r.json["version"], token=author)
        assert r.status_code == 200, r.json
    else:
        assert r.status_code == 201, r.json
    return f"{seg}/vip"


def _upload(url: str, data: bytes) -> int:
    req = urllib.request.Request(url, data=data, method="PUT",
                                 headers={"Content-Type": "text/csv"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def _process(world: World, project: str, env: str, import_id: str) -> None:
    """What the importer (a thread of the stream worker locally) does with a queued import."""
    from chalicelib.usecases.list_imports import process_import

    process_import(world.ctx, project, env, "vip", import_id)


@pytest.fixture
def lists(world: World) -> dict[str, Any]:
    """A project with a list segment in staging (open) and production (protected), and the
    principals: two editors, a viewer, a staging-only editor, another project's editor."""
    p = _project(world, protected=("production",))
    other = _project(world)
    people = {name: world.token("editor", [p]) for name in ("alice", "bob")}
    return {"project": p, **people,
            "viewer": world.token("viewer", [p]),
            "staging_editor": world.token("editor", [p], ["staging"]),
            "other_editor": world.token("editor", [other]),
            "staging": _list_segment(world, p, "staging"),
            "production": _list_segment(world, p, "production", people["alice"],
                                        people["bob"])}


def test_members_and_imports_need_write_rights_on_that_environment(
        world: World, lists: Any) -> None:
    staging, production = lists["staging"], lists["production"]
    batch = {"batch_id": "b-1", "add": ["alice@example.com"]}
    attempts = [
        (lists["viewer"], staging), (lists["other_editor"], staging),
        (lists["staging_editor"], production), (lists["viewer"], production),
    ]
    for token, seg in attempts:
        assert world.api.post(f"{seg}/members", batch, token=token).status_code == 403
        assert world.api.post(f"{seg}/imports", {"format": "csv"}, token=token
                              ).status_code == 403
    assert world.api.post(f"{staging}/members", batch, token="").status_code == 401
    # A viewer reads the size (never the ids); another project's editor reads nothing.
    r = world.api.get(f"{staging}/members", token=lists["viewer"])
    assert r.status_code == 200
    assert r.json["members"] == 0
    assert world.api.get(f"{staging}/members", token=lists["other_editor"]).status_code == 403
    # The staging editor's import of staging cannot be started by the other project's editor.
    created = world.api.post(f"{staging}/imports", {"format": "csv"},
                             token=lists["staging_editor"]).json
    assert _upload(created["upload_url"], b"mallory\n") == 200
    start = f"{staging}/imports/{created['import_id']}/start"
    assert world.api.post(start, {}, token=lists["other_editor"]).status_code == 403
    assert world.api.post(start, {}, token=lists["viewer"]).status_code == 403
    assert world.api.get(f"{staging}/imports/{created['import_id']}",
                         token=lists["viewer"]).json["status"] == "awaiting_upload"


def test_the_upload_url_names_exactly_its_import_and_expires(world: World, lists: Any
                                                            ) -> None:
    p = lists["project"]
    created = world.api.post(f"{lists['staging']}/imports", {"format": "csv"},
                             token=lists["alice"]).json
    url = urllib.parse.urlsplit(created["upload_url"])
    query = urllib.parse.parse_qs(url.query)
    assert url.path.endswith(f"/imports/{p}/staging/vip/{created['import_id']}"), url.path
    if "X-Amz-Expires" in query:  # SigV4
        assert int(query["X-Amz-Expires"][0]) <= 900
    else:  # SigV2 query authentication: an absolute expiry
        assert int(query["Expires"][0]) <= time.time() + 901
    assert "/bundles/" not in url.path  # never under the prefix the CDN serves
    assert created["max_bytes"] <= 256 * 1024 * 1024


def test_an_upload_to_another_environments_url_does_not_start_an_import(
        world: World, lists: Any) -> None:
    """The production import's start must find ITS object, not the one Alice uploaded with
    the (unreviewed) staging import's URL."""
    staging = world.api.post(f"{lists['staging']}/imports", {"format": "csv"},
                             token=lists["alice"]).json
    prod = world.api.post(f"{lists['production']}/imports", {"format": "csv"},
                          token=lists["alice"]).json
    assert _upload(staging["upload_url"], b"mallory\n") == 200
    r = world.api.post(f"{lists['production']}/imports/{prod['import_id']}/start", {},
                       token=lists["alice"])
    assert r.status_code == 409, r.json
    assert world.api.get(f"{lists['production']}/members").json["members"] == 0


def test_bytes_replaced_after_the_apply_are_never_imported(world: World, lists: Any) -> None:
    """Four-eyes on a protected list: Bob approves Alice's file; Alice applies, then (her
    URL still valid) replaces the object before the importer reads it."""
    p, prod = lists["project"], lists["production"]
    alice, bob = lists["alice"], lists["bob"]
    created = world.api.post(f"{prod}/imports", {"format": "csv"}, token=alice).json
    assert _upload(created["upload_url"], b"reviewed-1\nreviewed-2\n") == 200
    r = world.api.post(f"{prod}/imports/{created['import_id']}/start", {}, token=alice)
    assert r.status_code == 202, r.json
    cr = r.json["change_request"]
    crs = f"/v1/projects/{p}/environments/production/change-requests/{cr['id']}"
    r = world.api.post(f"{crs}/approve", if_match=cr["version"], token=bob)
    assert r.status_code == 200, r.json
    assert world.api.post(f"{crs}/apply", if_match=r.json["version"], token=alice
                          ).status_code == 200
    assert _upload(created["upload_url"], b"mallory-1\nmallory-2\nmallory-3\n") == 200
    _process(world, p, "production", created["import_id"])
    status = world.api.get(f"{prod}/imports/{created['import_id']}").json
    members = world.api.get(f"{prod}/members").json["members"]
    # Either the approved version was read (versioned bucket) or the import failed.
    assert (status["status"], members) in (("done", 2), ("failed", 0)), (status, members)


def test_raw_ids_of_a_protected_batch_never_reach_the_audit_log(world: World, lists: Any
                                                               ) -> None:
    """Found: on a protected environment the ``change_request.create`` audit record (and
    every approve/apply record's ``before``) copied the whole ``segment.members`` operation:
    raw ids (e-mail addresses) in the append-only, hash-chained log, which can never be
    erased — while a direct batch audits only counts and a digest. Should: the same counts
    and digest, whoever files, approves or applies."""
    p, prod = lists["project"], lists["production"]
    batch = {"batch_id": "b-secret", "add": ["victim@example.com", "x@example.com"],
             "remove": ["gone@example.com"]}
    r = world.api.post(f"{prod}/members", batch, token=lists["alice"])
    assert r.status_code == 202, r.json
    cr = r.json["change_request"]
    env = f"/v1/projects/{p}/environments/production"
    assert _apply(world, env, cr, lists["alice"], lists["bob"]).status_code == 200
    assert world.api.get(f"{prod}/members").json["members"] == 2
    records = world.api.get(f"/v1/audit?project={p}&environment=production&limit=200"
                            ).json["items"]
    text = json.dumps(records)
    for raw in ("victim@example.com", "x@example.com", "gone@example.com"):
        assert raw not in text, raw
    filed = [r for r in records if r["action"] == "change_request.create"
             and r["after"]["operation"]["type"] == "segment.members"]
    assert [(r["after"]["operation"]["added"], r["after"]["operation"]["removed"])
            for r in filed] == [(2, 1)]
    applied = [r for r in records if r["action"] == "segment.members"]
    assert filed[0]["after"]["operation"]["ids_sha256"] == applied[0]["after"]["ids_sha256"]
    assert world.api.post("/v1/audit/verify", {"project": p, "environment": "production"}
                          ).json["ok"] is True


def test_a_batch_id_replayed_with_other_ids_is_refused(world: World, lists: Any) -> None:
    """Found: a batch id reused with different ids answered 200 'replayed' with the first
    batch's counts and dropped the new ids silently. Should: like Stripe idempotency keys and
    AWS client tokens, the same ids replay the first answer, other ids are 409 naming
    ``batch_id`` — whoever sends them, in an open or a protected environment."""
    seg = lists["staging"]
    assert world.api.post(f"{seg}/members", {"batch_id": "b-1", "add": ["a", "b"]},
                          token=lists["alice"]).status_code == 200
    r = world.api.post(f"{seg}/members", {"batch_id": "b-1", "add": ["c"]},
                       token=lists["bob"])
    assert world.api.get(f"{seg}/members").json["members"] == 2
    assert r.status_code == 409, r.json
    assert [d["path"] for d in r.json["error"]["details"]] == ["batch_id"]
    r = world.api.post(f"{seg}/members", {"batch_id": "b-1", "add": ["b", "a"]},
                       token=lists["bob"])
    assert r.status_code == 200, r.json
    assert r.json["replayed"] is True
    # Protected: a reused id is refused before any change request is filed, and a request
    # filed under an id that another batch then takes is refused when applied.
    prod = lists["production"]
    env = f"/v1/projects/{lists['project']}/environments/production"
    filed = [world.api.post(f"{prod}/members", {"batch_id": "p-1", "add": [member]},
                            token=lists["alice"]) for member in ("x", "y")]
    assert [f.status_code for f in filed] == [202, 202], [f.json for f in filed]
    first, second = (f.json["change_request"] for f in filed)
    assert _apply(world, env, first, lists["alice"], lists["bob"]).status_code == 200
    r = _apply(world, env, second, lists["alice"], lists["bob"])
    assert r.status_code == 409, r.json
    r = world.api.post(f"{prod}/members", {"batch_id": "p-1", "add": ["y"]},
                       token=lists["bob"])
    assert r.status_code == 409, r.json
    assert world.api.get(f"{prod}/members").json["members"] == 1


@pytest.mark.parametrize(("data", "fmt", "line"), [
    (b"ok\n" + b"[" * 100_000 + b"\n", "ndjson", 2),
    (b'"ok"\n"' + b"x" * 2000 + b'"\n', "ndjson", 2),
    (b"a\nb\n" + b"x" * 200_000 + b"\n", "csv", 3),
])
def test_a_hostile_import_file_fails_with_its_line_and_writes_nothing(
        world: World, lists: Any, data: bytes, fmt: str, line: int) -> None:
    seg = lists["staging"]
    created = world.api.post(f"{seg}/imports", {"format": fmt}, token=lists["alice"]).json
    assert _upload(created["upload_url"], data) == 200
    r = world.api.post(f"{seg}/imports/{created['import_id']}/start", {},
                       token=lists["alice"])
    assert r.status_code == 202, r.json
    _process(world, lists["project"], "staging", created["import_id"])
    status = world.api.get(f"{seg}/imports/{created['import_id']}").json
    assert status["status"] == "failed", status
    assert line in [e["line"] for e in status["errors"]], status["errors"]
    assert world.api.get(f"{seg}/members").json == {**world.api.get(f"{seg}/members").json,
                                                     "members": 0, "seq": 0}


# --- guarded rollouts ----------------------------------------------------------------------

OFF = {"enabled": True, "off_variation": "off", "default": {"variation": "off"}}


def _alarm(state: str = "OK") -> tuple[str, str]:
    """A real CloudWatch alarm (moto) in the API's account and region: (name, ARN)."""
    cw = boto3.client("cloudwatch")
    name = f"rt20-guard-{next(_n)}-{uuid.uuid4().hex[:6]}"
    cw.put_metric_alarm(AlarmName=name, MetricName="Errors", Namespace="Shop",
                        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1.0,
                        ComparisonOperator="GreaterThanThreshold")
    cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason="red team")
    (alarm,) = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return name, str(alarm["AlarmArn"])


def _apply(world: World, env_url: str, cr: dict[str, Any], author: str, approver: str
           ) -> Any:
    url = f"{env_url}/change-requests/{cr['id']}"
    r = world.api.post(f"{url}/approve", if_match=cr["version"], token=approver)
    assert r.status_code == 200, r.json
    return world.api.post(f"{url}/apply", if_match=r.json["version"], token=author)


@pytest.fixture
def ramp(world: World, lists: Any) -> dict[str, Any]:
    """``checkout`` serving ``off`` in staging and (approved) production; a strategy."""
    p, alice, bob = lists["project"], lists["alice"], lists["bob"]
    assert world.api.post(f"/v1/projects/{p}/flags", {"key": "checkout", **BOOL}
                          ).status_code == 201
    envs = {e: f"/v1/projects/{p}/environments/{e}" for e in ("staging", "production")}
    assert world.api.put(f"{envs['staging']}/flags/checkout", OFF, if_match=1
                         ).status_code == 200
    r = world.api.put(f"{envs['production']}/flags/checkout", OFF, if_match=0, token=alice)
    assert _apply(world, envs["production"], r.json["change_request"], alice, bob
                  ).status_code == 200
    r = world.api.post(f"/v1/projects/{p}/strategies",
                       {"key": "slow", "kind": "linear", "step_percent": 10,
                        "bake_seconds": 3600}, token=alice)
    assert r.status_code == 201, r.json
    return {**lists, **envs}


def test_rollouts_are_started_and_moved_by_this_environments_writers_only(
        world: World, ramp: Any) -> None:
    guard, _ = _alarm()
    body = {"target": "on", "strategy": "slow", "guards": [guard]}
    for env, token, status in (("staging", ramp["viewer"], 403),
                               ("staging", ramp["other_editor"], 403),
                               ("production", ramp["staging_editor"], 403),
                               ("staging", "", 401)):
        r = world.api.post(f"{ramp[env]}/flags/checkout/rollout", body, token=token)
        assert r.status_code == status, (env, r.json)
    rollout = f"{ramp['staging']}/flags/checkout/rollout"
    r = world.api.post(rollout, body, token=ramp["staging_editor"])
    assert r.status_code == 201, r.json
    version = r.json["version"]
    for action, payload in (("pause", {}), ("abort", {"rollback": True}), ("complete", {}),
                            ("resume", {})):
        for token in (ramp["viewer"], ramp["other_editor"]):
            r = world.api.post(f"{rollout}/{action}", payload, token=token, if_match=version)
            assert r.status_code == 403, (action, r.json)
    status = world.api.get(rollout, token=ramp["viewer"]).json
    assert (status["status"], status["version"]) == ("running", version)
    assert world.api.get(rollout, token=ramp["other_editor"]).status_code == 403


def test_a_guard_naming_another_accounts_or_regions_alarm_is_refused(
        world: World, ramp: Any) -> None:
    """Found: a guard given as an ARN was read by its bare name in the API's own account and
    region, so ``arn:…:eu-west-1:210987654321:alarm:checkout-5xx`` was satisfied by a
    same-named local alarm that watches something else — a rollout guarded by nothing the
    operator named. Should: only the alarm with that very ARN; otherwise 400."""
    name, arn = _alarm()
    elsewhere = [arn.replace(":us-east-1:", ":eu-west-1:"),
                 arn.replace(":123456789012:", ":210987654321:")]
    assert arn not in elsewhere, arn
    rollout = f"{ramp['staging']}/flags/checkout/rollout"
    for i, guard in enumerate(elsewhere):
        r = world.api.post(rollout, {"target": "on", "strategy": "slow",
                                     "guards": [name, guard]}, token=ramp["alice"])
        assert r.status_code == 400, (guard, r.json)
        assert [d["path"] for d in r.json["error"]["details"]] == ["guards[1]"], i
    assert world.api.get(rollout).status_code == 404
    r = world.api.post(rollout, {"target": "on", "strategy": "slow", "guards": [arn]},
                       token=ramp["alice"])
    assert r.status_code == 201, r.json


def test_the_approved_plan_runs_even_if_the_strategy_is_replaced_after_approval(
        world: World, ramp: Any) -> None:
    p, alice, bob, prod = ramp["project"], ramp["alice"], ramp["bob"], ramp["production"]
    guard, _ = _alarm()
    r = world.api.post(f"{prod}/flags/checkout/rollout",
                       {"target": "on", "strategy": "slow", "guards": [guard]}, token=alice)
    assert r.status_code == 202, r.json
    cr = r.json["change_request"]
    url = f"{prod}/change-requests/{cr['id']}"
    approved = world.api.post(f"{url}/approve", if_match=cr["version"], token=bob).json
    # Alice swaps the strategy behind the reviewed key for an all-at-once one.
    strategy = world.api.get(f"/v1/projects/{p}/strategies/slow").json
    assert world.api.delete(f"/v1/projects/{p}/strategies/slow", {}, token=alice,
                            if_match=strategy["version"]).status_code == 200
    assert world.api.post(f"/v1/projects/{p}/strategies",
                          {"key": "slow", "kind": "custom", "percents": [100],
                           "bake_seconds": 60}, token=alice).status_code == 201
    r = world.api.post(f"{url}/apply", if_match=approved["version"], token=alice)
    assert r.status_code == 200, r.json
    status = world.api.get(f"{prod}/flags/checkout/rollout").json
    assert status["percent"] == 10, status
    assert status["steps_total"] == 10, status


def test_resume_cannot_undo_an_approved_change_on_a_protected_environment(
        world: World, ramp: Any) -> None:
    """Found: on a protected environment, resume rewrote the fallthrough to the paused
    step's weights over an approved later change (here a reviewed pull-back to 'off'): one
    editor re-exposed what two people had agreed to withdraw. Should: 409, nothing written
    (abort and start anew — a change request); with no change since the pause it resumes."""
    alice, bob, prod = ramp["alice"], ramp["bob"], ramp["production"]
    guard, _ = _alarm()
    r = world.api.post(f"{prod}/flags/checkout/rollout",
                       {"target": "on", "strategy": "slow", "guards": [guard]}, token=alice)
    assert _apply(world, prod, r.json["change_request"], alice, bob).status_code == 200
    rollout = f"{prod}/flags/checkout/rollout"
    version = world.api.get(rollout).json["version"]
    r = world.api.post(f"{rollout}/pause", {}, token=alice, if_match=version)
    assert r.status_code == 200, r.json
    # Nothing changed since the pause: one writer resumes (and pauses again).
    r = world.api.post(f"{rollout}/resume", {}, token=bob, if_match=r.json["version"])
    assert r.status_code == 200, r.json
    r = world.api.post(f"{rollout}/pause", {}, token=alice, if_match=r.json["version"])
    assert r.status_code == 200, r.json
    flag = world.api.get(f"{prod}/flags/checkout").json
    r = world.api.put(f"{prod}/flags/checkout", OFF, token=bob, if_match=flag["version"])
    assert _apply(world, prod, r.json["change_request"], bob, alice).status_code == 200
    assert world.api.get(f"{prod}/flags/checkout").json["config"]["default"] == \
        {"variation": "off"}
    r = world.api.post(f"{rollout}/resume", {}, token=alice,
                       if_match=world.api.get(rollout).json["version"])
    assert world.api.get(f"{prod}/flags/checkout").json["config"]["default"] == \
        {"variation": "off"}
    assert r.status_code == 409, r.json
    assert world.api.get(rollout).json["status"] == "paused"
    # Staging (open): a pause and resume with no edit in between just continues.
    guard2, _ = _alarm()
    staging = f"{ramp['staging']}/flags/checkout/rollout"
    r = world.api.post(staging, {"target": "on", "strategy": "slow", "guards": [guard2]},
                       token=alice)
    assert r.status_code == 201, r.json
    r = world.api.post(f"{staging}/pause", {}, token=alice, if_match=r.json["version"])
    assert world.api.post(f"{staging}/resume", {}, token=bob, if_match=r.json["version"]
                          ).status_code == 200


# --- observability -------------------------------------------------------------------------


def test_no_secret_or_raw_id_reaches_the_logs_or_metrics(
        world: World, lists: Any, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request of today's features, with secrets in every place a careless log could
    pick them up (Authorization, query string, bodies, responses); then nothing of them in
    any log record (every attribute) nor in the EMF metric lines."""
    monkeypatch.setenv("VEXIL_METRICS", "emf")  # metrics printed as in Lambda
    p, seg = lists["project"], lists["staging"]
    _flag(world, p, "checkout")
    srv, cli = _sdk_key(world, p, "staging"), _sdk_key(world, p, "staging", "client")
    token = world.token("editor", [p])
    # The secret parts: after ``vxl_<kind>_<key id>_`` and ``vxl_tok_`` (base64url, which
    # may itself hold ``_``: split by position, never on the last ``_``).
    secrets_ = [srv.split("_", 3)[3], cli.split("_", 3)[3], token.removeprefix("vxl_tok_"),
                world.admin_token.removeprefix("vxl_tok_"), "raw-member@example.com",
                "query-secret-9f3c"]
    assert all(len(s) >= 16 for s in secrets_)
    caplog.set_level(logging.DEBUG)
    capsys.readouterr()
    summary = _summary(p, "staging", [_counter("checkout")])
    assert world.api.post(INGEST, summary, token=srv).status_code == 200
    assert world.api.post(INGEST, summary, token=cli).status_code == 200
    assert world.api.post(INGEST, summary, token=srv[:-3] + "AAA").status_code == 401
    assert world.api.post(INGEST, _summary(p, "production", [_counter("checkout")]),
                          token=srv).status_code == 403
    assert world.api.post(f"{seg}/members", {"batch_id": "b", "add": [secrets_[4]]},
                          token=token).status_code == 200
    created = world.api.post(f"{seg}/imports", {"format": "csv"}, token=token).json
    signature = [v for k, v in urllib.parse.parse_qsl(urllib.parse.urlsplit(
        created["upload_url"]).query) if k in ("Signature", "X-Amz-Signature")]
    assert signature
    assert len(signature[0]) > 20
    secrets_.append(signature[0])
    assert _upload(created["upload_url"], secrets_[4].encode() + b"\n") == 200
    assert world.api.post(f"{seg}/imports/{created['import_id']}/start", {},
                          token=token).status_code == 202
    _process(world, p, "staging", created["import_id"])
    assert world.api.get(f"/v1/projects/{p}/environments/staging/insights/stale"
                         f"?days=7&token={secrets_[5]}", token=token).status_code == 200
    assert world.api.post(f"{lists['production']}/members",
                          {"batch_id": "c", "add": ["x"]}, token=lists["viewer"]
                          ).status_code == 403
    logged = "\n".join(json.dumps(r.__dict__, default=repr) for r in caplog.records)
    printed = capsys.readouterr()
    assert '"request"' in logged
    assert "_aws" in printed.out
    for secret in secrets_:
        assert secret not in logged, secret
        assert secret not in printed.out + printed.err, secret


# --- hostile flag content: the API's strict compile, and `vexil import` ---------------------


def _clause(op: str = "in", value: str = "x") -> dict[str, Any]:
    return {"attribute": "email", "op": op, "values": [value]}


def _nested(depth: int) -> str:
    """A clause under ``depth`` alternating all/not groups, as JSON text (too deep for
    json.dumps)."""
    text = json.dumps(_clause())
    for i in range(depth):
        text = f'{{"not": {text}}}' if i % 2 else f'{{"all": [{text}]}}'
    return text


@pytest.mark.parametrize(("clause", "why"), [
    (json.dumps(_clause("regex_v9")), "an operator of a future engine"),
    (json.dumps(_clause("matches", "(a)\\1")), "a backreference RE2 cannot run"),
    (_nested(17), "groups nested deeper than 16"),
    (_nested(5_000), "groups nested 5,000 deep"),
])
def test_the_strict_control_plane_refuses_what_only_a_lenient_reader_would_degrade(
        world: World, lists: Any, clause: str, why: str) -> None:
    """Readers degrade what they do not know (forward compatibility); the control plane
    compiles strictly: 400 naming the rule, never stored, never a 500 — for any writer."""
    p = lists["project"]
    _flag(world, p, "gate")
    url = f"/v1/projects/{p}/environments/staging/flags/gate"
    body = json.dumps({**OFF, "rules": [{"id": "r", "clauses": ["CLAUSE"],
                                         "serve": {"variation": "on"}}]})
    raw = body.replace('"CLAUSE"', clause).encode()
    for token in (lists["alice"], world.admin_token):
        r = world.api.call("PUT", url, token=token, if_match=2, raw=raw)
        assert r.status_code == 400, (why, r.status_code, str(r.json)[:300])
        # The rule's path; "$" when the JSON parser itself refuses the depth (orjson: 1,024).
        assert any("rules" in d["path"] or d["path"] == "$"
                   for d in r.json["error"]["details"]), (why, r.json)
    assert world.api.get(url).json["version"] == 2


def test_a_catastrophic_backtracking_regex_is_accepted_because_re2_runs_it_linearly(
        world: World, lists: Any) -> None:
    from edge_reader.engine import compile_environment

    p = lists["project"]
    _flag(world, p, "gate")
    url = f"/v1/projects/{p}/environments/staging/flags/gate"
    body = {**OFF, "rules": [{"id": "r", "clauses": [_clause("matches", "^(a+)+$")],
                              "serve": {"variation": "on"}}]}
    assert world.api.put(url, body, if_match=2).status_code == 200
    env = compile_environment({"flags": {"gate": {**BOOL, **body}}})
    hostile = {"kind": "user", "key": "u", "email": "a" * 100_000 + "!"}
    assert env.evaluate("gate", hostile).value is False  # Python's re would not return
    assert env.evaluate("gate", {**hostile, "email": "aaaa"}).value is True


def _import(tmp_path: Any, name: str, text: str, system: str = "flagd"
            ) -> tuple[int, str]:
    from vexil.cli import main

    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    code = main(["import", "--from", system, str(path), "-o", str(tmp_path / "out.yaml")])
    return code, (tmp_path / "out.yaml").read_text() if (tmp_path / "out.yaml").exists() else ""


def _laughs(levels: int) -> str:
    lines = ["a0: &a0 [" + ", ".join(['"lol"'] * 10) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]"
              for i in range(1, levels)]
    return "\n".join(lines) + (
        "\nflags:\n  f:\n    state: ENABLED\n    defaultVariant: 'off'\n"
        "    variants: {'on': true, 'off': false}\n"
        f"    targeting: {{\"if\": [{{\"in\": [{{\"var\": \"email\"}}, *a{levels - 1}]}}, "
        "'on', 'off']}\n")


@pytest.mark.parametrize(("name", "text"), [
    ("deep.json", "[" * 100_000 + "]" * 100_000),
    ("laughs.yaml", _laughs(9)),  # 1 KB that expands to 10^9 strings
    ("cycle.yaml", "a: &a [*a]\nflags: {f: {state: ENABLED, variants: {x: *a}}}\n"),
    ("logic.json", json.dumps({"flags": {"f": {
        "state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": "off",
        "targeting": {"if": [json.loads('{"!": [' * 400 + '{"var": "x"}' + "]}" * 400),
                             "on", "off"]}}}})),
])
def test_a_hostile_export_is_refused_by_vexil_import_with_exit_2(
        tmp_path: Any, capsys: pytest.CaptureFixture[str], name: str, text: str) -> None:
    """Found: a 1 KB flagd YAML whose aliases expand to 10^9 values kept `vexil import`
    busy for hours (killed after 60 s); deep JSON or JSONLogic ended in "internal error:
    RecursionError" (exit 70). Should: a usage error naming the file (exit 2), at once."""
    code, out = _import(tmp_path, name, text)
    err = capsys.readouterr().err
    assert code == 2, err
    assert name in err, err
    assert "internal error" not in err, err
    assert out == ""


def test_flagd_yaml_is_read_as_flagd_reads_it_on_and_off_are_strings(
        tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """Found: PyYAML's YAML 1.1 made the variants ``on``/``off`` of a flagd YAML file the
    booleans True/False (flagd's Go reader, YAML 1.2, keeps them strings): "internal error:
    TypeError" (exit 70)."""
    code, out = _import(tmp_path, "flags.yaml", (
        "flags:\n  f:\n    state: ENABLED\n    defaultVariant: off\n"
        "    variants: {on: true, off: false}\n"))
    assert code == 0, capsys.readouterr().err
    assert '"on": true' in out, out
    assert 'variation: "off"' in out, out


def test_resume_keeps_an_approved_change_to_other_fields_on_a_protected_environment(
        world: World, ramp: Any) -> None:
    alice, bob, prod = ramp["alice"], ramp["bob"], ramp["production"]
    guard, _ = _alarm()
    r = world.api.post(f"{prod}/flags/checkout/rollout",
                       {"target": "on", "strategy": "slow", "guards": [guard]}, token=alice)
    assert _apply(world, prod, r.json["change_request"], alice, bob).status_code == 200
    rollout = f"{prod}/flags/checkout/rollout"
    r = world.api.post(f"{rollout}/pause", {}, token=alice,
                       if_match=world.api.get(rollout).json["version"])
    assert r.status_code == 200, r.json
    flag = world.api.get(f"{prod}/flags/checkout").json
    edited = {**flag["config"], "targets": [{"values": ["u-9"], "variation": "off"}]}
    r = world.api.put(f"{prod}/flags/checkout", edited, token=bob, if_match=flag["version"])
    assert _apply(world, prod, r.json["change_request"], bob, alice).status_code == 200
    r = world.api.post(f"{rollout}/resume", {}, token=alice,
                       if_match=world.api.get(rollout).json["version"])
    assert r.status_code == 200, r.json
    assert world.api.get(f"{prod}/flags/checkout").json["config"] == edited


def test_an_upload_nobody_imports_does_not_keep_raw_ids_in_the_bucket(
        world: World, lists: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found: the importer deletes a file it processed, but an upload refused as too large,
    never started, or whose change request was rejected stayed in the bucket for good (raw
    ids). Should: a refused file is deleted at once; the bucket's lifecycle expires the
    rest (``expire-abandoned-imports``, as infra/s3.tf configures AWS)."""
    from chalicelib.usecases import list_imports

    p, seg = lists["project"], lists["staging"]
    s3 = boto3.session.Session().client("s3")
    bucket = os.environ["VEXIL_BUCKET"]
    created = world.api.post(f"{seg}/imports", {"format": "csv"}, token=lists["alice"]).json
    monkeypatch.setattr(list_imports, "MAX_IMPORT_BYTES", 64)
    assert _upload(created["upload_url"], b"someone@example.com\n" * 10) == 200
    start = f"{seg}/imports/{created['import_id']}/start"
    r = world.api.post(start, {}, token=lists["alice"])
    assert r.status_code == 413, r.json
    prefix = f"imports/{p}/staging/vip/{created['import_id']}"
    listed = s3.list_object_versions(Bucket=bucket, Prefix=prefix)
    assert listed.get("Versions", []) == [], listed.get("Versions")
    # The import waits for a smaller file (same URL while it is valid).
    assert _upload(created["upload_url"], b"someone@example.com\n") == 200
    assert world.api.post(start, {}, token=lists["alice"]).status_code == 202
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    (expiry,) = [r for r in rules if r.get("Filter", {}).get("Prefix") == "imports/"]
    assert expiry["Status"] == "Enabled"
    assert 1 <= expiry["Expiration"]["Days"] <= 30


@pytest.mark.parametrize("rules", [2_000, 9_000])
def test_a_huge_configuration_is_a_4xx_never_a_503(world: World, lists: Any, rules: int
                                                  ) -> None:
    """Thousands of rules fit the API's body limit (1 MB) but maybe not one DynamoDB item
    (400 KB): either it is stored and readable, or refused with a 4xx — not a 503 that a
    client retries for ever."""
    p = lists["project"]
    _flag(world, p, "gate")
    url = f"/v1/projects/{p}/environments/staging/flags/gate"
    body = {**OFF, "rules": [{"id": f"r{i}", "clauses": [_clause("in", f"user-{i}")],
                              "serve": {"variation": "on"}} for i in range(rules)]}
    r = world.api.put(url, body, token=lists["alice"], if_match=2)
    assert r.status_code in (200, 400, 413), (r.status_code, str(r.json)[:300])
    stored = world.api.get(url).json
    assert stored["version"] == (3 if r.status_code == 200 else 2)


def test_the_controller_role_cannot_write_tokens_lists_insights_or_the_global_chain() -> None:
    """The controller's role (policy-rollout-controller.json) may write only partitions
    whose keys its IAM patterns match. Found: ``A#*`` also matched the global audit chain
    (``A#_global``), which docs/rollouts.md says it can never write. What is still open (IAM
    cannot condition on sort keys): ``E#*`` covers SDK-key records and change requests,
    ``P#*`` definitions, strategies and the environments' ``protected`` flag."""
    from fnmatch import fnmatchcase

    from chalicelib import keys

    policy = json.loads((Path(__file__).resolve().parents[2] / "control_plane" / ".chalice"
                         / "policy-rollout-controller.json").read_text())
    patterns = [p for s in policy["Statement"] if "Condition" in s
                for p in s["Condition"].get("ForAllValues:StringLike", {})
                .get("dynamodb:LeadingKeys", [])]
    writes = [s for s in policy["Statement"]
              if {"dynamodb:PutItem", "dynamodb:UpdateItem"} & set(s["Action"])]
    assert all("Condition" in s for s in writes)  # no unconditioned table write

    def writable(pk: str) -> bool:
        return any(fnmatchcase(pk, pattern) for pattern in patterns)

    needed = [keys.env_pk("shop", "prod"), keys.history_pk("shop", "prod", "f"),
              keys.audit_pk("shop", "prod"), keys.project_pk("shop")]
    assert all(writable(pk) for pk in needed), patterns
    forbidden = [keys.token_pk("ab" * 32), keys.global_audit_pk(), keys.GLOBAL_AUDIT_HEAD_PK,
                 keys.changeset_pk("shop", "cs-1"), keys.list_batches_pk("shop", "prod", "l"),
                 keys.list_imports_pk("shop", "prod", "s"), keys.insights_pk("shop", "prod"),
                 keys.code_refs_pk("shop")]
    assert [pk for pk in forbidden if writable(pk)] == []
