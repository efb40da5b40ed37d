"""Bad input answers a 4xx naming the field; conditional writes answer 428/412."""

from __future__ import annotations

from tests.control_plane.conftest import BOOL_FLAG, World


def _paths(resp: object) -> list[str]:
    return [d["path"] for d in resp.json["error"]["details"]]  # type: ignore[attr-defined]


def test_invalid_semver_in_a_rule_is_reported_with_its_path(world: World) -> None:
    p = world.new_project(envs=("dev",))
    world.api.post(f"/v1/projects/{p}/flags", BOOL_FLAG)
    cfg = {"enabled": True, "default": {"variation": "off"}, "rules": [
        {"id": "ok", "clauses": [{"attribute": "v", "op": "in", "values": ["x"]}],
         "serve": {"variation": "on"}},
        {"id": "bad", "clauses": [{"attribute": "v", "op": "semver_gt", "values": ["1.x"]}],
         "serve": {"variation": "on"}}],
        "prerequisites": [{"flag": "missing", "variation": "on"}]}
    r = world.api.put(f"/v1/projects/{p}/environments/dev/flags/checkout", cfg, if_match=1)
    assert r.status_code == 400
    assert r.json["error"]["code"] == "invalid_request"
    assert sorted(_paths(r)) == ["prerequisites[0].flag", "rules[1].clauses[0].values[0]"]
    got = world.api.get(f"/v1/projects/{p}/environments/dev/flags/checkout").json
    assert got["version"] == 1  # nothing half-written


def test_unknown_fields_and_wrong_types(world: World) -> None:
    p = world.new_project(envs=("dev",))
    r = world.api.post(f"/v1/projects/{p}/flags",
                       {**BOOL_FLAG, "colour": "red", "client_visible": "yes"})
    assert r.status_code == 400
    assert sorted(_paths(r)) == ["client_visible", "colour"]
    r = world.api.post(f"/v1/projects/{p}/flags", {"key": "Bad Key", "kind": "boolean"})
    assert r.status_code == 400
    assert sorted(_paths(r)) == ["key", "variations"]
    # A definition whose variations do not match its kind fails in the engine, with a path.
    r = world.api.post(f"/v1/projects/{p}/flags",
                       {"key": "n", "kind": "number", "variations": {"a": "text"}})
    assert r.status_code == 400, r.json
    assert r.json["error"]["details"], r.json
    assert all(d["path"].startswith("environments.dev.flags.n") for d in r.json["error"]["details"])


def test_body_format_errors(world: World) -> None:
    api = world.api
    assert api.post("/v1/projects", raw=b"{not json").status_code == 400
    assert api.post("/v1/projects", raw=b"[1, 2]").status_code == 400
    r = api.post("/v1/projects", raw=b"key=x",
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415
    assert r.json["error"]["code"] == "unsupported_media_type"
    big = b'{"key": "x", "name": "' + b"a" * (256 * 1024) + b'"}'
    r = api.post("/v1/projects", raw=big)
    assert r.status_code == 413
    assert r.json["error"]["code"] == "payload_too_large"


def test_if_match_required_and_checked(world: World) -> None:
    p = world.new_project(envs=("dev",))
    world.api.post(f"/v1/projects/{p}/flags", BOOL_FLAG)
    url = f"/v1/projects/{p}/environments/dev/flags/checkout"
    cfg = {"enabled": True, "default": {"variation": "on"}}
    r = world.api.put(url, cfg)
    assert r.status_code == 428
    assert r.json["error"]["code"] == "precondition_required"
    assert world.api.put(url, cfg, if_match=1).status_code == 200
    r = world.api.put(url, cfg, if_match=1)  # a stale writer loses, and learns the version
    assert r.status_code == 412
    assert r.json["current_version"] == 2
    assert world.api.put(url, cfg, if_match="garbage").status_code == 400
    r = world.api.put(f"/v1/projects/{p}/flags/checkout", {"kind": "boolean",
                      "variations": {"on": True, "off": False}}, if_match=7)
    assert r.status_code == 412
    assert r.json["current_version"] == 1
    assert world.api.put(url, cfg, if_match='W/"2"').status_code == 200


def test_lost_update_impossible_under_a_race(world: World) -> None:
    """Two writers read version 1; whichever commits second gets 412 from DynamoDB itself."""
    import pytest
    from chalicelib.errors import PreconditionFailed
    from chalicelib.rbac import Principal
    from chalicelib.usecases import base, flag_configs
    from chalicelib.usecases.base import Call

    p = world.new_project(envs=("dev",))
    world.api.post(f"/v1/projects/{p}/flags", BOOL_FLAG)
    call = Call(Principal("t", "t", "admin", ("*",), ("*",)))
    # Both writers pass the read-time check, then commit one after the other.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(base, "match", lambda item, v, what: None)
        flag_configs.put_env_flag(world.ctx, call, p, "dev", "checkout",
                                  {"enabled": True, "default": {"variation": "on"}}, 1)
        with pytest.raises(PreconditionFailed) as err:
            flag_configs.put_env_flag(world.ctx, call, p, "dev", "checkout",
                                      {"enabled": False, "default": {"variation": "off"}}, 1)
        assert err.value.current_version == 2
    got = world.api.get(f"/v1/projects/{p}/environments/dev/flags/checkout").json
    assert got["config"]["enabled"] is True
    assert got["version"] == 2


def test_flag_metadata_accepts_numbers_and_booleans_as_the_flag_format_allows(
    world: World,
) -> None:
    p = world.new_project(envs=("dev",))
    meta = {"owner": "team-x", "integer": 2, "ratio": 0.5, "sunset": False}
    r = world.api.post(f"/v1/projects/{p}/flags", {**BOOL_FLAG, "metadata": meta})
    assert r.status_code in (200, 201), r.json
    got = world.api.get(f"/v1/projects/{p}/flags/checkout").json
    assert got["metadata"] == meta
    # Anything else is still refused, naming the entry.
    r = world.api.post(f"/v1/projects/{p}/flags",
                       {**BOOL_FLAG, "key": "other", "metadata": {"bad": ["x"], "ok": 1}})
    assert r.status_code == 400
    assert _paths(r) == ["metadata.bad"]
