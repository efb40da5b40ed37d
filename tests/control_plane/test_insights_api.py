"""Evaluation insights through the API: SDK-key authentication of the ingest endpoint (as
an attacker would try it), bad payloads, the stale-flags view and code references."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.control_plane.conftest import World

INGEST = "/v1/insights/evaluations"
DAY = 86400


def _flag(world: World, project: str, key: str, metadata: dict[str, str] | None = None,
          enabled: bool = True) -> None:
    body: dict[str, Any] = {"key": key, "kind": "boolean", "variations": {"on": True, "off": False}}
    if metadata:
        body["metadata"] = metadata
    assert world.api.post(f"/v1/projects/{project}/flags", body).status_code == 201
    for env in ("staging", "production"):
        path = f"/v1/projects/{project}/environments/{env}/flags/{key}"
        cur = world.api.get(path).json
        r = world.api.put(path, {"enabled": enabled, "off_variation": "off",
                                 "default": {"variation": "on"}}, if_match=cur["version"])
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


def _counter(flag: str, variant: str | None = "on", reason: str = "STATIC", count: int = 5
             ) -> dict[str, Any]:
    return {"flag": flag, "variant": variant, "reason": reason, "count": count}


def _ingest(world: World, key: str, body: Any, **kw: Any) -> Any:
    return world.api.post(INGEST, body, token=key, **kw)


def _stale(world: World, project: str, env: str, days: int = 7, token: str | None = None
           ) -> dict[str, Any]:
    r = world.api.get(f"/v1/projects/{project}/environments/{env}/insights/stale?days={days}",
                      token=token)
    assert r.status_code == 200, r.json
    return {item["key"]: item for item in r.json["items"]} | {"_": r.json}


@pytest.fixture
def shop(world: World) -> tuple[str, dict[str, str]]:
    project = world.new_project()
    _flag(world, project, "checkout")
    _flag(world, project, "banner")
    keys = {env: _sdk_key(world, project, env) for env in ("staging", "production")}
    return project, keys


def test_a_summary_is_counted_in_its_environment_only(world: World, shop: Any) -> None:
    project, keys = shop
    r = _ingest(world, keys["staging"], _summary(project, "staging", [
        _counter("checkout", "on", "TARGETING_MATCH", 3), _counter("checkout", "on", "STATIC", 4),
        _counter("banner", None, "ERROR", 2)]))
    assert r.status_code == 200, r.json
    assert r.json["accepted"] == 3
    assert r.json["flags"] == 2
    staging = _stale(world, project, "staging")
    assert "checkout" not in staging  # evaluated, one variation, but configured just now
    assert "banner" not in staging  # evaluated (errors only): not a removal candidate
    production = _stale(world, project, "production")
    assert production["checkout"]["reasons"] == ["not_evaluated"]
    assert production["checkout"]["evaluations"] == 0


def test_a_key_cannot_write_another_environments_counters(world: World, shop: Any) -> None:
    project, keys = shop
    other = world.new_project()
    _flag(world, other, "checkout")
    other_key = _sdk_key(world, other, "staging")
    attempts = [
        (keys["staging"], project, "production"),  # same project, other environment
        (other_key, project, "staging"),  # another project's key
        (keys["production"], other, "staging"),  # into the other project
    ]
    for key, p, e in attempts:
        r = _ingest(world, key, _summary(p, e, [_counter("checkout", count=1000)]))
        assert r.status_code == 403, (p, e, r.json)
        assert r.json["error"]["message"]
    assert _stale(world, project, "production")["checkout"]["evaluations"] == 0
    assert _stale(world, other, "staging")["checkout"]["evaluations"] == 0


def test_wrong_secrets_tokens_and_revoked_keys_are_refused(world: World, shop: Any) -> None:
    project, keys = shop
    key = keys["staging"]
    body = _summary(project, "staging", [_counter("checkout")])
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    assert _ingest(world, forged, body).status_code == 401
    assert _ingest(world, world.admin_token, body).status_code == 401  # an API token is no key
    assert _ingest(world, "", body).status_code == 401
    assert _ingest(world, "vxl_srv_garbage", body).status_code == 401
    key_id = key.split("_")[2]
    r = world.api.delete(f"/v1/projects/{project}/environments/staging/sdk-keys/{key_id}")
    assert r.status_code == 200
    r = _ingest(world, key, body)
    assert r.status_code == 403
    assert "revoked" in r.json["error"]["message"]
    assert _stale(world, project, "staging")["checkout"]["evaluations"] == 0


def test_a_key_created_before_insights_is_refused_with_advice(world: World, shop: Any) -> None:
    project, _ = shop
    key = _sdk_key(world, project, "staging")
    from chalicelib import keys as table_keys
    from chalicelib.repository import put

    key_id = key.split("_")[2]
    pk, sk = table_keys.env_pk(project, "staging"), table_keys.sdk_key_sk(key_id)
    item = world.ctx.repo.get(pk, sk)
    item.pop("verifier")
    world.ctx.repo.transact([put(item)])  # the record as it was before this version
    r = _ingest(world, key, _summary(project, "staging", [_counter("checkout")]))
    assert r.status_code == 403
    assert "create a new key" in r.json["error"]["message"]


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda b: b["counters"][0].update(reason="MADE_UP"), "counters[0].reason"),
    (lambda b: b["counters"][0].update(count=0), "counters[0].count"),
    (lambda b: b["counters"][0].update(flag="Bad Key!"), "counters[0].flag"),
    (lambda b: b.update(counters=[_counter("checkout")] * 5001), "counters"),
    (lambda b: b.update(extra=1), "extra"),
    (lambda b: b.pop("project"), "project"),
])
def test_bad_summaries_are_400_and_count_nothing(world: World, shop: Any, mutate: Any,
                                                 field: str) -> None:
    project, keys = shop
    body = _summary(project, "staging", [_counter("checkout"), _counter("banner")])
    mutate(body)
    r = _ingest(world, keys["staging"], body)
    assert r.status_code == 400, r.json
    paths = [d["path"] for d in r.json["error"].get("details", [])]
    assert any(p.startswith(field) or field in p for p in paths), paths
    view = _stale(world, project, "staging")
    assert view["checkout"]["evaluations"] == 0
    assert view["banner"]["evaluations"] == 0


def test_an_oversized_summary_is_413(world: World, shop: Any) -> None:
    project, keys = shop
    body = _summary(project, "staging", [_counter("checkout")])
    raw = json.dumps(body).encode() + b" " * (1024 * 1024)
    assert world.api.call("POST", INGEST, token=keys["staging"], raw=raw).status_code == 413


def test_single_variation_expired_and_unreferenced_flags(world: World) -> None:
    project = world.new_project()
    _flag(world, project, "checkout")
    _flag(world, project, "banner", metadata={"expires": "2020-01-01"})
    _flag(world, project, "ramp")
    key = _sdk_key(world, project, "staging")
    world.clock.advance(8 * DAY)  # the configurations are now older than the window
    try:
        body = _summary(project, "staging", [
            _counter("checkout", "on", "SPLIT", 50), _counter("ramp", "on", "SPLIT", 5),
            _counter("ramp", "off", "SPLIT", 5)])
        assert _ingest(world, key, body).status_code == 200
        refs = {"revision": "abc", "flags": {"ramp": [{"path": "app.py", "line": 3}],
                                             "checkout": []}}
        r = world.api.put(f"/v1/projects/{project}/code-references/shop-web", refs)
        assert r.status_code == 200, r.json
        view = _stale(world, project, "staging")
        assert view["checkout"]["reasons"] == ["single_variation", "no_code_references"]
        assert view["checkout"]["serving"] == "on"
        assert view["checkout"]["evaluations"] == 50
        assert view["banner"]["reasons"] == ["not_evaluated", "expired", "no_code_references"]
        assert "ramp" not in view  # two variations served, referenced, no expiry
        assert view["_"]["code_references"] == {"flags": 1}  # ramp; checkout: none
        listed = world.api.get(f"/v1/projects/{project}/code-references").json["items"]
        assert listed[0]["repository"] == "shop-web"
        assert listed[0]["revision"] == "abc"
    finally:
        world.clock.advance(-8 * DAY)


def test_counts_older_than_the_window_do_not_count(world: World) -> None:
    project = world.new_project()
    _flag(world, project, "checkout")
    key = _sdk_key(world, project, "staging")
    world.clock.advance(2 * DAY)
    try:
        body = _summary(project, "staging", [_counter("checkout")])
        assert _ingest(world, key, body).status_code == 200
        world.clock.advance(10 * DAY)
        assert _stale(world, project, "staging", days=7)["checkout"]["reasons"] == \
            ["not_evaluated"]
        wide = _stale(world, project, "staging", days=11)["checkout"]
        assert wide["reasons"] == ["single_variation"]
        assert wide["evaluations"] == 5
    finally:
        world.clock.advance(-12 * DAY)


def test_the_stale_view_is_scoped_and_days_checked(world: World, shop: Any) -> None:
    project, _ = shop
    viewer = world.token("viewer", [project], ["production"])
    url = f"/v1/projects/{project}/environments/staging/insights/stale"
    assert world.api.get(url, token=viewer).status_code == 403
    r = world.api.get(url + "?days=0")
    assert r.status_code == 400
    assert r.json["error"]["details"][0]["path"] == "days"
    assert world.api.get(url + "?days=91").status_code == 400
    editor = world.token("editor", [project], ["production"])
    other = world.new_project()
    refs = {"flags": {"checkout": [{"path": "a.py", "line": 1}]}}
    assert world.api.put(f"/v1/projects/{other}/code-references/x", refs,
                         token=editor).status_code == 403
    r = world.api.put(f"/v1/projects/{project}/code-references/x", {"flags": {"Bad!": []}})
    assert r.status_code == 400
    # A whole number written as a float is a line (JSON Schema's integer), stored as an int;
    # schemathesis found it answered 500 (DynamoDB refuses floats).
    r = world.api.put(f"/v1/projects/{project}/code-references/y",
                      {"flags": {"checkout": [{"path": "a.py", "line": 12.0}]}})
    assert r.status_code == 200, r.json
    assert r.json["flags"]["checkout"] == [{"path": "a.py", "line": 12}]
    r = world.api.put(f"/v1/projects/{project}/code-references/y",
                      {"flags": {"checkout": [{"path": "a.py", "line": 1.5}]}})
    assert r.status_code == 400


def test_unknown_flags_and_variations_are_counted_once_per_day_not_per_name(
        world: World) -> None:
    """Flags the environment does not have (a reader on the wrong environment, a typo) and
    variations a flag does not have (an old bundle) get no items or attributes of their own:
    the day's summary sums them, the stale view shows them, and a flag served only
    variations it no longer has is no ``single_variation`` candidate."""
    project = world.new_project()
    _flag(world, project, "checkout")
    key = _sdk_key(world, project, "staging")
    world.clock.advance(8 * DAY)  # the configuration is now older than the window
    try:
        body = _summary(project, "staging", [
            _counter("checkout", "legacy", "SPLIT", 4), _counter("chekout", "on", count=6),
            _counter("chekout", "off", count=1)])
        r = _ingest(world, key, body)
        assert r.status_code == 200, r.json
        assert r.json["flags"] == 1
        assert r.json["unknown"] == {"flags": 1, "variants": 1, "evaluations": 11,
                                     "examples": ["chekout", "checkout/legacy"]}
        view = _stale(world, project, "staging")
        assert "checkout" not in view  # evaluated; served no known single variation
        assert view["_"]["unknown"] == {"flag_evaluations": 7, "variant_evaluations": 4,
                                        "by_key": {key.split("_")[2]: "chekout"}}
        # The same summary again: the sums grow, the names stored do not.
        assert _ingest(world, key, body).status_code == 200
        assert _stale(world, project, "staging")["_"]["unknown"]["flag_evaluations"] == 14
        world.clock.advance(8 * DAY)  # out of a 7-day window
        assert _stale(world, project, "staging")["_"]["unknown"]["flag_evaluations"] == 0
    finally:
        world.clock.advance(-16 * DAY)


def test_a_new_variation_is_counted_from_the_next_summary(world: World,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """The environment's flags are cached by its revision: a definition gaining a variation
    (which bumps the revision of every environment configuring it) is counted at once; the
    cache holds a bounded number of environments."""
    from chalicelib.usecases import insights

    project = world.new_project()
    _flag(world, project, "checkout")
    key = _sdk_key(world, project, "staging")
    beta = _summary(project, "staging", [_counter("checkout", "beta", count=2)])
    assert _ingest(world, key, beta).json["unknown"]["variants"] == 1
    definition = world.api.get(f"/v1/projects/{project}/flags/checkout").json
    r = world.api.put(f"/v1/projects/{project}/flags/checkout",
                      {"kind": "boolean", "variations": {"on": True, "off": False,
                                                         "beta": True}},
                      if_match=definition["version"])
    assert r.status_code == 200, r.json
    assert _ingest(world, key, beta).json["unknown"]["variants"] == 0
    counters = world.ctx.repo.query(f"INS#{project}#staging", "D#")[0]
    assert [(i["xv"], i["v:beta"]) for i in counters] == [(2, 2)]
    monkeypatch.setattr(insights, "MAX_CACHED_ENVIRONMENTS", 1)
    insights.known_flags(world.ctx, project, "production")
    assert len(insights._KNOWN) == 1
    assert next(iter(insights._KNOWN))[1:] == (project, "production")
