"""The control plane accepts issue 17's format additions and keeps refusing what only a
newer engine could read (strict writers): 400 naming the path, nothing written."""

from __future__ import annotations

from typing import Any

from tests.control_plane.conftest import BOOL_FLAG, World

DE = {"attribute": "country", "op": "in", "values": ["DE"]}


def _paths(resp: Any) -> list[str]:
    return [d["path"] for d in resp.json["error"]["details"]]


def _setup(world: World) -> str:
    p = world.new_project(envs=("dev",))
    assert world.api.post(f"/v1/projects/{p}/flags", BOOL_FLAG).status_code == 201
    assert world.api.post(f"/v1/projects/{p}/flags", {**BOOL_FLAG, "key": "parent"}
                          ).status_code == 201
    return p


def test_every_addition_is_accepted(world: World) -> None:
    p = _setup(world)
    cfg = {"enabled": True, "off_variation": "off",  # no default: the caller's default
           "prerequisites": [{"flag": "parent", "variations": ["on", "off"]},
                             {"flag": "parent", "off": True, "negate": True}],
           "rules": [{"id": "r", "serve": {"variation": "on"}, "clauses": [
               {"any": [DE, {"not": {**DE, "values": ["fr"], "case_insensitive": True}}]},
               {"attribute": "plan", "op": "not_in", "values": ["free"], "when_absent": True},
               {"now": True, "op": "after", "values": ["2026-01-01T00:00:00Z"]}]}]}
    r = world.api.put(f"/v1/projects/{p}/environments/dev/flags/checkout", cfg, if_match=1)
    assert r.status_code == 200, r.json
    got = world.api.get(f"/v1/projects/{p}/environments/dev/flags/checkout").json
    assert got["version"] == 2
    assert got["config"]["rules"][0]["clauses"] == cfg["rules"][0]["clauses"]


def test_what_only_a_newer_engine_reads_is_refused_with_its_path(world: World) -> None:
    p = _setup(world)
    url = f"/v1/projects/{p}/environments/dev/flags/checkout"
    cfg = {"enabled": True, "default": {"variation": "off"}, "rules": [
        {"id": "ok", "clauses": [DE], "serve": {"variation": "on"}},
        {"id": "newer", "serve": {"variation": "on"}, "clauses": [
            {"any": [DE, {"attribute": "e", "op": "matches_glob", "values": ["*"]}]},
            {**DE, "locale": "de"},
            {"xor": [DE]}]}]}
    r = world.api.put(url, cfg, if_match=1)
    assert r.status_code == 400
    assert r.json["error"]["code"] == "invalid_request"
    assert sorted(_paths(r)) == [
        "rules[1].clauses[0].any[1].op", "rules[1].clauses[1].locale",
        "rules[1].clauses[2].attribute", "rules[1].clauses[2].op", "rules[1].clauses[2].xor"]
    messages = " ".join(d["message"] for d in r.json["error"]["details"])
    assert "unknown operator 'matches_glob'" in messages
    assert world.api.get(url).json["version"] == 1  # nothing half-written


def test_bad_additions_are_400s_naming_the_field(world: World) -> None:
    p = _setup(world)
    url = f"/v1/projects/{p}/environments/dev/flags/checkout"
    cfg = {"enabled": True, "prerequisites": [{"flag": "parent", "variations": ["on", "of"]}],
           "rules": [{"serve": {"variation": "on"}, "clauses": [
               {"attribute": "n", "op": "lt", "values": [1], "case_insensitive": True},
               {"now": True, "attribute": "t", "op": "after", "values": [0]}]}]}
    r = world.api.put(url, cfg, if_match=1)
    assert r.status_code == 400
    assert sorted(_paths(r)) == ["prerequisites[0].variations[1]",
                                 "rules[0].clauses[0].case_insensitive",
                                 "rules[0].clauses[1].attribute"]
