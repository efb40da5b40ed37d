"""Rollout bucketing through the API: peer hashes and gaps are stored as written; bad
bucketing is a 400 naming the field, and nothing is half-written."""

from __future__ import annotations

from typing import Any

from tests.control_plane.conftest import BOOL_FLAG, World

PEER_ROLLOUT: dict[str, Any] = {
    "bucketing": {"hash": "unleash", "buckets": 100}, "salt": "checkout", "missing": "skip",
    "variations": [{"variation": "on", "weight": 30}, {"weight": 70}],
}


def _details(resp: Any) -> list[tuple[str, str]]:
    return [(d["path"], d["message"]) for d in resp.json["error"]["details"]]


def test_a_peer_hash_rollout_with_a_gap_is_stored_as_written(world: World) -> None:
    p = world.new_project(envs=("dev",))
    world.api.post(f"/v1/projects/{p}/flags", BOOL_FLAG)
    url = f"/v1/projects/{p}/environments/dev/flags/checkout"
    cfg = {"enabled": True, "default": {"variation": "off"},
           "rules": [{"id": "unleash-30", "clauses": [], "serve": {"rollout": PEER_ROLLOUT}}]}
    r = world.api.put(url, cfg, if_match=1)
    assert r.status_code == 200, r.json
    got = world.api.get(url).json
    assert got["config"]["rules"][0]["serve"]["rollout"] == PEER_ROLLOUT


def test_bad_bucketing_is_a_400_naming_the_field(world: World) -> None:
    p = world.new_project(envs=("dev",))
    world.api.post(f"/v1/projects/{p}/flags", BOOL_FLAG)
    url = f"/v1/projects/{p}/environments/dev/flags/checkout"
    rollout = {**PEER_ROLLOUT, "bucketing": {"hash": "launchdarkley", "seed": 5},
               "missing": "never"}
    r = world.api.put(url, {"enabled": True, "default": {"rollout": rollout}}, if_match=1)
    assert r.status_code == 400
    details = _details(r)
    assert sorted(path for path, _ in details) == ["default.rollout.bucketing.hash",
                                                   "default.rollout.missing"], details
    hash_message = dict(details)["default.rollout.bucketing.hash"]
    assert "did you mean 'launchdarkly'?" in hash_message
    # Weights above the rollout's buckets are refused, naming the entry.
    rollout = {**PEER_ROLLOUT, "variations": [{"variation": "on", "weight": 101}]}
    r = world.api.put(url, {"enabled": True, "default": {"rollout": rollout}}, if_match=1)
    assert r.status_code == 400
    assert [path for path, _ in _details(r)] == ["default.rollout.variations[0].weight"]
    assert world.api.get(url).json["version"] == 1  # nothing half-written
