"""The edge's optional ``server_sdk_key`` (list segments at the edge, issue 18)."""

from __future__ import annotations

from typing import Any

import pytest

from edge_reader.bundle import generate_sdk_key
from edge_reader.edge._config import ConfigError, parse_config
from edge_reader.edge._factory import build_app

CLI = generate_sdk_key("cli").text
SRV = generate_sdk_key("srv").text


def _config(**env: Any) -> dict[str, Any]:
    return {"cdn": "http://127.0.0.1:9", "environments": [
        {"project": "shop", "environment": "prod", "sdk_key": CLI, **env}]}


def test_a_server_key_makes_the_edge_read_the_server_bundle() -> None:
    config = parse_config(_config(server_sdk_key=SRV))
    server_key = config.environments[0].server_sdk_key
    assert server_key is not None
    assert server_key.text == SRV
    app = build_app(config, mode="lambda")
    try:
        client = next(iter(app._tenants.values())).client
        assert client.identity.scope == "server"
    finally:
        app.close()
    plain = build_app(parse_config(_config()), mode="lambda")
    try:
        assert next(iter(plain._tenants.values())).client.identity.scope == "client"
    finally:
        plain.close()


@pytest.mark.parametrize("value", [CLI, "vxl_srv_nope", 7])
def test_only_a_server_key_is_accepted_there(value: object) -> None:
    with pytest.raises(ConfigError, match=r"environments\[0\]\.server_sdk_key"):
        parse_config(_config(server_sdk_key=value))
