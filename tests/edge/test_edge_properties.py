"""Whatever arrives, the OFREP app answers with a well-formed response and never raises."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_reader.bundle import generate_sdk_key
from edge_reader.client import FlagClient
from edge_reader.edge import EdgeEnvironment, OfrepApp, parse_config
from edge_reader.engine._lazy import LazyEnvironment
from tests.edge.edgekit import client_flags

KEY = generate_sdk_key("cli")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OfrepApp]:
    doc = {
        "format": 1,
        "project": "shop",
        "environment": "prod",
        "revision": 1,
        "flags": client_flags(),
        "segments": {},
    }
    boot: Path = tmp_path_factory.mktemp("edge") / "flags.json"
    boot.write_bytes(orjson.dumps(doc))
    config = parse_config(
        {
            "cdn": "http://127.0.0.1:9",
            "environments": [{"project": "shop", "environment": "prod", "sdk_key": KEY.text}],
        }
    )

    def offline(env: EdgeEnvironment) -> FlagClient:
        return FlagClient(
            project=env.project,
            environment=env.environment,
            scope="client",
            mode="offline",
            bootstrap_file=boot,
        )

    application = OfrepApp(config, offline)
    yield application
    application.close()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(orjson.dumps),
    st.dictionaries(st.text(max_size=8), json_values, max_size=4).map(
        lambda ctx: orjson.dumps({"context": ctx})
    ),
)
paths = st.sampled_from(
    [
        "/ofrep/v1/evaluate/flags",
        "/ofrep/v1/evaluate/flags/",
        "/ofrep/v1/evaluate/flags/t",
        "/ofrep/v1/evaluate/flags/secret",
        "/ofrep/v1/evaluate/flags/%zz",
        "/healthz",
        "/",
        "/ofrep/v1/configuration",
        "/ofrep/v1/evaluate/flags/b?x=1",
    ]
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    method=st.sampled_from(["POST", "GET", "OPTIONS", "DELETE"]),
    path=paths,
    body=bodies,
    authed=st.booleans(),
)
def test_never_raises_and_always_answers_json(
    app: OfrepApp, method: str, path: str, body: bytes, authed: bool
) -> None:
    headers = {"authorization": f"Bearer {KEY.text}"} if authed else {}
    response = app.handle(method, path, headers, body)
    assert response.status in {200, 204, 304, 400, 401, 403, 404, 405, 413, 503}
    if response.body:
        parsed = orjson.loads(response.body)
        assert isinstance(parsed, dict)
    single = path.split("?", maxsplit=1)[0].rstrip("/") != "/ofrep/v1/evaluate/flags"
    if response.status == 200 and path.startswith("/ofrep/v1/evaluate/flags") and method == "POST":
        if single:
            assert parsed["key"]
            assert "reason" in parsed
        else:
            assert isinstance(parsed["flags"], list)


def test_bootstrap_backed_app_serves(app: OfrepApp) -> None:
    response = app.handle(
        "POST",
        "/ofrep/v1/evaluate/flags/t",
        {"x-api-key": KEY.text},
        b'{"context":{"targetingKey":"u","country":"DE"}}',
    )
    assert response.status == 200
    assert orjson.loads(response.body)["value"] is True


@pytest.mark.parametrize(
    ("header", "match"),
    [
        ('"abc"', True),
        ('W/"abc"', True),
        ('"x", "abc"', True),
        ("*", True),
        ('"abd"', False),
        ("", False),
    ],
)
def test_if_none_match_forms(header: str, match: bool) -> None:
    from edge_reader.edge._app import _etag_matches

    assert _etag_matches(header, '"abc"') is match


def test_a_single_flag_request_compiles_only_that_flag(tmp_path: Path) -> None:
    """Readers compile each flag on first use (engine/_lazy.py); the edge's single-flag path
    must not list every client-visible flag (which compiles them all) — only bulk does."""
    doc = {"format": 1, "project": "shop", "environment": "prod", "revision": 1,
           "flags": client_flags(), "segments": {}}
    boot = tmp_path / "flags.json"
    boot.write_bytes(orjson.dumps(doc))
    config = parse_config({"cdn": "http://127.0.0.1:9", "environments": [
        {"project": "shop", "environment": "prod", "sdk_key": KEY.text}]})
    application = OfrepApp(config, lambda env: FlagClient(
        project=env.project, environment=env.environment, scope="client", mode="offline",
        bootstrap_file=boot))
    try:
        (client,) = application.clients
        snap = client.snapshot()
        assert snap is not None
        assert isinstance(snap.env, LazyEnvironment)
        total = snap.env.deferred_flags
        assert total == len(client_flags())
        single = application.handle("POST", "/ofrep/v1/evaluate/flags/t", {"x-api-key": KEY.text},
                                    b'{"context":{"targetingKey":"u","country":"DE"}}')
        assert single.status == 200
        assert snap.env.deferred_flags == total - 1
        bulk = application.handle("POST", "/ofrep/v1/evaluate/flags", {"x-api-key": KEY.text},
                                  b'{"context":{"targetingKey":"u","country":"DE"}}')
        assert bulk.status == 200
        keys = {f["key"] for f in orjson.loads(bulk.body)["flags"]}
        assert keys == {k for k, f in client_flags().items() if f.get("client_visible")}
    finally:
        application.close()
