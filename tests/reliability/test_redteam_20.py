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
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import boto3
import pytest

from tests.control_plane.conftest import World, world  # noqa: F401  (the app fixture)

INGEST = "/v1/insights/evaluations"
BOOL = {"kind": "boolean", "variations": {"on": True, "off": False}}
ON = {"enabled": True, "off_variation": "off", "default": {"variation": "on"}}
_n = itertools.count()


# --- helpers -------------------------------------------------------------------------------


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
def shop(world: World) -> dict[str, Any]:  # noqa: F811
    """Two projects; ``shop`` has staging + production (protected), a flag, keys of both
    environments (server and client), and the principals an attacker might hold."""
    project = world.new_project(protected=("production",))
    other = world.new_project()
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


def test_ingest_is_opened_by_this_environments_sdk_keys_only(world: World, shop: Any  # noqa: F811
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
        world: World, shop: Any, count: Any) -> None:  # noqa: F811
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
def test_hostile_json_is_400_never_a_500(world: World, shop: Any, raw: bytes  # noqa: F811
                                         ) -> None:
    r = world.api.call("POST", INGEST, token=shop["srv"], raw=raw)
    assert r.status_code == 400, r.json
    assert r.json["error"]["message"]


@pytest.mark.parametrize("flag", ["a#b", "D#2026-01-01#x", "../../x", "x" * 200, "Checkout!"])
def test_flag_keys_that_are_not_keys_are_400(world: World, shop: Any, flag: str  # noqa: F811
                                             ) -> None:
    """A flag key is part of a sort key (``D#<day>#<flag>``): anything but a key is refused."""
    p = shop["project"]
    r = world.api.post(INGEST, _summary(p, "staging", [_counter(flag)]), token=shop["srv"])
    assert r.status_code == 400, r.json
    assert any(d["path"] == "counters[0].flag" for d in r.json["error"]["details"])
    assert _insight_items(world, p, "staging") == []


@pytest.mark.xfail(strict=True, reason=(
    "hole: ingest writes one DynamoDB item per flag key named, configured or not: a client "
    "key (shipped in browsers) buys 5,000 UpdateItems per POST, and counts of unknown flags "
    "are never read (the stale view lists configured flags only)"))
def test_counts_of_flags_the_environment_does_not_have_cost_no_writes(
        world: World, shop: Any) -> None:  # noqa: F811
    p = shop["project"]
    counters = [_counter("checkout")] + [_counter(f"ghost-{i}") for i in range(150)]
    r = world.api.post(INGEST, _summary(p, "staging", counters), token=shop["cli"])
    assert r.status_code in (200, 400), r.json
    flags = {str(i.get("flag")) for i in _insight_items(world, p, "staging") if i.get("flag")}
    assert flags <= {"checkout"}, sorted(flags)[:5]


@pytest.mark.xfail(strict=True, reason=(
    "hole: variant names are stored as attributes (v:<variant>) whatever the flag's "
    "variations: 5,000 made-up names of 64 characters grow one flag-day item to ~350 KB, "
    "and past DynamoDB's 400 KB item limit every later summary naming the flag fails "
    "(503) for the rest of the day"))
def test_made_up_variants_cannot_grow_a_flags_counters(world: World, shop: Any  # noqa: F811
                                                       ) -> None:
    p = shop["project"]
    counters = [_counter("checkout", f"v{i:03d}-" + "x" * 40) for i in range(300)]
    r = world.api.post(INGEST, _summary(p, "staging", counters), token=shop["srv"])
    assert r.status_code in (200, 400), r.json
    (day_item,) = [i for i in _insight_items(world, p, "staging") if i.get("flag")] or [{}]
    variants = [k for k in day_item if k.startswith("v:")]
    assert len(variants) <= 2, len(variants)  # the flag has two variations


@pytest.mark.xfail(strict=True, reason=(
    "hole: the SDK name/version of every summary is ADDed to the day's summary item as a "
    "string set with no bound: a key holder sending distinct names grows it to DynamoDB's "
    "400 KB limit, after which every summary of the environment fails (503) that day"))
def test_the_sdks_seen_per_day_are_bounded(world: World, shop: Any) -> None:  # noqa: F811
    p = shop["project"]
    for i in range(40):
        body = _summary(p, "staging", [_counter("checkout")],
                        sdk={"name": f"evil-{i}-" + "n" * 50, "version": "v" * 64})
        assert world.api.post(INGEST, body, token=shop["cli"]).status_code == 200
    (summary,) = [i for i in _insight_items(world, p, "staging") if "sdks" in i]
    assert len(summary["sdks"]) <= 32, len(summary["sdks"])


# --- code references -----------------------------------------------------------------------


def _refs(world: World, project: str, repository: str, body: Any, token: str | None = None
          ) -> Any:
    return world.api.put(f"/v1/projects/{project}/code-references/{repository}", body,
                         token=token)


def test_code_references_are_written_by_this_projects_writers_only(
        world: World, shop: Any) -> None:  # noqa: F811
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
def test_repository_names_that_are_not_keys_are_400(world: World, shop: Any,  # noqa: F811
                                                    repository: str) -> None:
    p = shop["project"]
    r = _refs(world, p, repository, {"flags": {}})
    assert r.status_code in (400, 404), r.json  # 404: API Gateway finds no route for a '/'
    if r.status_code == 400:
        assert any(d["path"] == "repository" for d in r.json["error"]["details"])
    assert world.api.get(f"/v1/projects/{p}/code-references").json["items"] == []


def test_the_largest_accepted_upload_is_stored_and_a_larger_one_is_413(
        world: World, shop: Any) -> None:  # noqa: F811
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
