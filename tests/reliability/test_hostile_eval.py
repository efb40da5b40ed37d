"""Hostile evaluation input: odd contexts against every operator, and the browser → edge
boundary (OFREP) with arbitrary bodies, keys and headers. Nothing raises, nothing 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_reader.bundle import SdkKey
from edge_reader.engine import CompiledEnvironment, EvaluationDetail, compile_environment
from tests.client.bundles import BundleFactory
from tests.client.cdn import LoopbackCdn
from tests.edge.edgekit import edge_config, publish_client_bundle

OPS: list[tuple[str, list[Any]]] = [
    ("in", ["DE", 1, True]), ("not_in", ["x"]), ("equals", ["a"]), ("starts_with", ["a"]),
    ("ends_with", ["z"]), ("contains", ["mid"]), ("matches", [r"^(a+)+$"]), ("lt", [10]),
    ("lte", [10.5]), ("gt", [-1]), ("gte", [0]), ("semver_eq", ["1.2.3"]),
    ("semver_lt", ["2.0.0-rc.1"]), ("semver_gte", ["1.0.0"]), ("before", ["2030-01-01T00:00:00Z"]),
    ("after", [1_700_000_000_000]), ("exists", [True]), ("segment_match", ["seg"]),
    ("ip_in_cidr", ["10.0.0.0/8", "::1/128"]),
]
ATTRS = ["country", "/address/city", "key", "kind", "version", "ip", "name"]


def _environment() -> CompiledEnvironment:
    flags: dict[str, Any] = {}
    for i, (op, values) in enumerate(OPS):
        flags[f"f{i}"] = {
            "kind": "boolean", "variations": {"on": True, "off": False}, "enabled": True,
            "off_variation": "off",
            "rules": [{"id": f"r{j}", "clauses": [{"context_kind": "user", "attribute": attr,
                                                   "op": op, "values": values}],
                       "serve": {"variation": "on"}} for j, attr in enumerate(ATTRS)],
            "default": {"rollout": {"variations": [{"variation": "on", "weight": 50000},
                                                   {"variation": "off", "weight": 50000}],
                                    "bucket_by": "/address/city"}}}
    segments = {"seg": {"context_kind": "user", "included": ["u-1"], "excluded": [],
                        "rules": [{"id": "s", "clauses": [{"context_kind": "user",
                                                           "attribute": "country", "op": "in",
                                                           "values": ["FR"]}]}]}}
    return compile_environment({"flags": flags, "segments": segments}, strict=True)


ENV = _environment()

ODD = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**200), 2**200)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=50)
    | st.sampled_from(["1.2.3", "1.2.3-rc.1+b", "2030-01-01T00:00:00Z", "10.1.2.3", "::1",
                       "a" * 10_000 + "!", "\x00\ud7ff\u202e", "-0", "NaN", "9" * 400]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                               max_size=4),
    max_leaves=20,
)
CONTEXT = st.dictionaries(
    st.sampled_from([*ATTRS, "targetingKey", "address", "", "/", "~0", "kind"]) | st.text(
        max_size=6), ODD, max_size=8)
MULTI = st.fixed_dictionaries({"kind": st.just("multi"),
                               "user": CONTEXT, "org": CONTEXT | ODD})


def _check(detail: EvaluationDetail) -> None:
    assert detail.reason is not None
    assert detail.value in (True, False, "fallback")


@pytest.mark.timeout(120)
@settings(max_examples=150, deadline=None, database=None)
@given(context=CONTEXT | MULTI | ODD)
def test_odd_contexts_never_raise_against_any_operator(context: Any) -> None:
    for key in ENV.flag_keys:
        _check(ENV.evaluate(key, context, "fallback"))
    details = ENV.evaluate_all(context if isinstance(context, dict) else {})
    assert set(details) == set(ENV.flag_keys)


@pytest.mark.timeout(60)
def test_huge_contexts_evaluate() -> None:
    huge = {"targetingKey": "k" * 1_000_000, "country": ["DE"] * 100_000,
            "address": {"city": "x" * 1_000_000}, "name": "a" * 1_000_000 + "!",
            "nested": [[[[[[[[[[{}]]]]]]]]]]}
    for key in ENV.flag_keys:
        _check(ENV.evaluate(key, huge, "fallback"))
    deep: Any = {}
    for _ in range(10_000):
        deep = {"address": deep}
    for key in ENV.flag_keys:
        _check(ENV.evaluate(key, {"targetingKey": "u", "address": deep}, "fallback"))


@pytest.fixture
def edge_app(cdn: LoopbackCdn, factory: BundleFactory, client_key: SdkKey) -> Iterator[Any]:
    from edge_reader.edge import build_app, parse_config

    publish_client_bundle(cdn, factory, client_key)
    app = build_app(parse_config(edge_config(cdn, client_key)), mode="lambda")
    yield app
    app.close()


@pytest.mark.timeout(120)
def test_ofrep_edge_survives_hostile_requests(edge_app: Any, client_key: SdkKey) -> None:
    ok = edge_app.handle("POST", "/ofrep/v1/evaluate/flags/b",
                         {"authorization": f"Bearer {client_key.text}"},
                         orjson.dumps({"context": {"targetingKey": "u"}}))
    assert ok.status == 200, ok.body

    @settings(max_examples=200, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        method=st.sampled_from(["POST", "GET", "PUT", "OPTIONS", "DELETE", "PATCH"]),
        path=st.sampled_from(["/ofrep/v1/evaluate/flags", "/ofrep/v1/evaluate/flags/",
                              "/ofrep/v1/configuration", "/healthz"])
        | st.builds(lambda k: "/ofrep/v1/evaluate/flags/" + k,
                    st.sampled_from(["b", "secret", "%00", "..%2f..", "a" * 5000]) | st.text()),
        auth=st.sampled_from([client_key.text, client_key.text, "", "vxl_cli_x",
                              "Bearer vxl_cli_aaaaaaaaaa_" + "A" * 43]) | st.text(max_size=60),
        # stdlib json: huge integers, NaN/Infinity and lone surrogates get through as text
        body=st.binary(max_size=200) | st.builds(
            lambda c: json.dumps({"context": c}).encode(), CONTEXT | ODD),
        etag=st.none() | st.text(max_size=40),
    )
    def run(method: str, path: str, auth: str, body: bytes, etag: str | None) -> None:
        headers = {"authorization": auth if auth.startswith("Bearer") else f"Bearer {auth}"}
        if etag is not None:
            headers["if-none-match"] = etag
        response = edge_app.handle(method, path, headers, body)
        assert response.status < 500, (method, path, response.status, response.body)
        if response.status >= 400 and response.body:
            payload = orjson.loads(response.body)
            assert payload.get("errorCode") or payload.get("errorDetails"), payload
        if response.status == 200 and "secret" in path:
            raise AssertionError("a client_visible=false flag was served to a browser")

    run()
