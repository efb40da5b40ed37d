"""Dry-run impact (POST .../environments/{e}/impact): counts per variation before and after a
proposed configuration, evaluated by the readers' engine; bounded; read permission; no write.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.control_plane.conftest import BOOL_FLAG, World

ROLLOUT_10 = {"enabled": True, "off_variation": "off", "default": {"rollout": {
    "variations": [{"variation": "on", "weight": 10000}, {"variation": "off", "weight": 90000}],
    "bucket_by": "key", "salt": "checkout"}}}


def _rollout(on_weight: int) -> dict[str, Any]:
    return {"enabled": True, "off_variation": "off", "default": {"rollout": {
        "variations": [{"variation": "on", "weight": on_weight},
                       {"variation": "off", "weight": 100000 - on_weight}],
        "bucket_by": "key", "salt": "checkout"}}}


@pytest.fixture
def shop(world: World) -> str:
    project = world.new_project()
    assert world.api.post(f"/v1/projects/{project}/flags", BOOL_FLAG).status_code == 201
    path = f"/v1/projects/{project}/environments/staging/flags/checkout"
    r = world.api.put(path, _rollout(10000), if_match=1)
    assert r.status_code == 200, r.json
    return project


def _impact(world: World, project: str, body: dict[str, Any], *, token: str | None = None,
            env: str = "staging") -> Any:
    return world.api.post(f"/v1/projects/{project}/environments/{env}/impact", body,
                          token=token)


def test_a_ramp_moves_contexts_from_off_to_on_only(world: World, shop: str) -> None:
    r = _impact(world, shop, {"flag": "checkout", "config": _rollout(50000),
                              "sample": {"generate": 2000, "seed": 7}, "max_changed": 5})
    assert r.status_code == 200, r.json
    out = r.json
    assert out["sample_size"] == 2000
    assert out["base_version"] == 2
    assert sum(out["before"].values()) == sum(out["after"].values()) == 2000
    # 10 % → 50 %: roughly 200 → 1000 on; ramping up only ever adds contexts to "on".
    assert 120 < out["before"]["on"] < 280
    assert 880 < out["after"]["on"] < 1120
    assert out["changed_count"] == out["after"]["on"] - out["before"]["on"]
    assert len(out["changed"]) == 5
    assert out["changed_truncated"] is True
    for change in out["changed"]:
        assert change["before"]["variant"] == "off"
        assert change["after"]["variant"] == "on"
        assert change["after"]["reason"] == "SPLIT"
        assert change["context"]["targetingKey"].startswith("user-")


def test_uploaded_contexts_and_the_rule_that_decided(world: World, shop: str) -> None:
    proposal = {**_rollout(0), "rules": [{"id": "eu", "clauses": [
        {"attribute": "country", "op": "in", "values": ["DE", "FR"]}],
        "serve": {"variation": "on"}}]}
    contexts = [{"targetingKey": f"u{i}", "country": c} for i, c in enumerate(["DE", "US", "FR"])]
    r = _impact(world, shop, {"flag": "checkout", "config": proposal,
                              "sample": {"contexts": contexts}})
    assert r.status_code == 200, r.json
    assert r.json["after"] == {"on": 2, "off": 1}
    changed = {c["context"]["country"]: c["after"] for c in r.json["changed"]}
    assert "DE" in changed  # u0 is outside the old 10 % rollout (u2 happens to be inside)
    for country, after in changed.items():
        if country == "US":  # it could only have left the old 10 % rollout
            assert after["reason"] == "SPLIT"
            continue
        assert after["rule_index"] == 0
        assert after["rule_id"] == "eu"
        assert after["reason"] == "TARGETING_MATCH"


def test_generated_attributes_follow_their_distribution(world: World, shop: str) -> None:
    proposal = {**_rollout(0), "rules": [{"clauses": [
        {"attribute": "country", "op": "in", "values": ["DE"]}], "serve": {"variation": "on"}}]}
    sample = {"generate": 1000, "seed": 3, "attributes": {
        "country": {"values": ["DE", "US"], "weights": [1, 3]}, "age": {"min": 18, "max": 99},
        "plan": {"value": "pro"}}}
    r = _impact(world, shop, {"flag": "checkout", "config": proposal, "sample": sample})
    assert r.status_code == 200, r.json
    assert 180 < r.json["after"]["on"] < 320  # a quarter are DE
    # Deterministic for one seed: the same request counts the same.
    again = _impact(world, shop, {"flag": "checkout", "config": proposal, "sample": sample})
    assert again.json["after"] == r.json["after"]


def test_nothing_is_written(world: World, shop: str) -> None:
    path = f"/v1/projects/{shop}/environments/staging"
    before = world.api.get(path).json
    r = _impact(world, shop, {"flag": "checkout", "config": _rollout(100000),
                              "sample": {"generate": 10}})
    assert r.status_code == 200
    assert world.api.get(path).json == before
    assert world.api.get(path + "/flags/checkout").json["version"] == 2


@pytest.mark.parametrize(("body", "field"), [
    ({"flag": "checkout", "config": {"enabled": True, "default": {"variation": "nope"}},
      "sample": {"generate": 5}}, "default"),
    ({"flag": "checkout", "config": {"enabled": True}, "sample": {"generate": 0}},
     "sample"),
    ({"flag": "checkout", "config": {"enabled": True}, "sample": {"nothing": 1}}, "sample"),
    ({"flag": "checkout", "sample": {"generate": 5}}, "config"),
    ({"flag": "checkout", "config": {"enabled": True},
      "sample": {"generate": 5, "attributes": {"x": {"min": 9, "max": 1}}}},
     "sample.attributes.x"),
    ({"flag": "checkout", "config": {"enabled": True},
      "sample": {"generate": 5, "attributes": {"x": {"values": ["a"], "weights": [1, 2]}}}},
     "sample.attributes.x.weights"),
])
def test_bad_input_is_a_400_naming_the_field(world: World, shop: str, body: dict[str, Any],
                                             field: str) -> None:
    r = _impact(world, shop, body)
    assert r.status_code == 400, r.json
    paths = [d["path"] for d in r.json["error"]["details"]]
    assert any(p.startswith(field) for p in paths), paths


def test_unknown_flag_is_a_404(world: World, shop: str) -> None:
    r = _impact(world, shop, {"flag": "nope", "config": {"enabled": True},
                              "sample": {"generate": 1}})
    assert r.status_code == 404


@pytest.mark.parametrize("sample", [{"generate": 10_001},
                                    {"contexts": [{"targetingKey": "k"}] * 5001}])
def test_oversize_samples_are_a_413(world: World, shop: str, sample: dict[str, Any]) -> None:
    r = _impact(world, shop, {"flag": "checkout", "config": _rollout(1), "sample": sample})
    assert r.status_code == 413, r.json
    assert "limit" in r.json["error"]["message"]


def test_a_reader_may_ask_and_a_token_scoped_elsewhere_may_not(world: World, shop: str
                                                                ) -> None:
    body = {"flag": "checkout", "config": _rollout(20000), "sample": {"generate": 10}}
    viewer = world.token("viewer", [shop], ["staging"])
    assert _impact(world, shop, body, token=viewer).status_code == 200
    production_only = world.token("viewer", [shop], ["production"])
    assert _impact(world, shop, body, token=production_only).status_code == 403
    other_project = world.token("editor", ["elsewhere"], ["*"])
    assert _impact(world, shop, body, token=other_project).status_code == 403


def test_no_token_is_a_401(world: World, shop: str) -> None:
    body = {"flag": "checkout", "config": _rollout(20000), "sample": {"generate": 10}}
    assert _impact(world, shop, body, token="").status_code == 401
    assert _impact(world, shop, body, token="vxl_tok_bogus").status_code == 401


def test_a_flag_not_yet_configured_counts_as_the_callers_default(world: World) -> None:
    project = world.new_project(protected=("production",))
    assert world.api.post(f"/v1/projects/{project}/flags", BOOL_FLAG).status_code == 201
    r = _impact(world, project, {"flag": "checkout", "config": _rollout(100000),
                                 "sample": {"generate": 20}}, env="production")
    assert r.status_code == 200, r.json
    assert r.json["base_version"] == 0
    assert r.json["before"] == {"(default value)": 20}
    assert r.json["after"] == {"on": 20}
    assert r.json["changed"][0]["before"]["reason"] == "NOT_CONFIGURED"
