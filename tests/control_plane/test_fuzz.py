"""Hypothesis: random JSON bodies against every write route never produce a 5xx."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.control_plane.conftest import BOOL_FLAG, World

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                               max_size=4),
    max_leaves=12,
)


def _fields(spec: Any) -> list[str]:
    from chalicelib.schemas import REQUESTS

    schema = REQUESTS.get(spec.request or "", {})
    return sorted(schema.get("properties", {}))


def _bodies(spec: Any) -> st.SearchStrategy[Any]:
    names = _fields(spec)
    shaped = st.fixed_dictionaries(
        {}, optional={n: JSON | st.sampled_from(["on", "off", "dev", "checkout", "1.2.3"])
                      for n in names}) if names else st.just({})
    return st.one_of(JSON, shaped, shaped)


def _write_routes() -> list[Any]:
    from chalicelib.routes import ROUTES

    return [r for r in ROUTES if r.method != "GET"]


@pytest.fixture(scope="module")
def fuzz_project(world: World) -> str:
    p = world.new_project(envs=("dev", "prod"), protected=("prod",))
    assert world.api.post(f"/v1/projects/{p}/flags", BOOL_FLAG).status_code == 201
    return p


@pytest.mark.parametrize("spec", _write_routes(), ids=lambda s: f"{s.method} {s.path}")
def test_random_bodies_never_5xx(world: World, fuzz_project: str, spec: Any) -> None:
    params = {"project": fuzz_project, "env": "dev", "flag": "checkout", "segment": "seg",
              "key_id": "nope", "cr_id": "nope", "token_id": "tok_nope", "version": "1",
              "strategy": "nope", "repository": "repo", "import_id": "nope"}
    path = re.sub(r"{(\w+)}", lambda m: params[m.group(1)], spec.path)

    @settings(max_examples=8, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(body=_bodies(spec), raw=st.none() | st.binary(max_size=40), etag=st.sampled_from(
        [None, '"1"', '"2"', "x"]))
    def run(body: Any, raw: bytes | None, etag: str | None) -> None:
        data = raw if raw is not None else json.dumps(body).encode()
        r = world.api.call(spec.method, path, raw=data, if_match=etag)
        assert r.status_code < 500, (body, r.status_code, r.body)
        if r.status_code >= 400:
            assert set(r.json) >= {"error"}, r.json
            assert r.json["error"]["code"]
            assert r.json["error"]["message"]

    run()
