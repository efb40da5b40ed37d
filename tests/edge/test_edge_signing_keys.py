"""The OFREP edge verifies the publisher when its config lists ``signing_keys``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from edge_reader.bundle import SdkKey
from edge_reader.bundle.signing import load_trusted_key
from edge_reader.edge import ConfigError, build_app, load_config, parse_config
from tests.client.bundles import BundleFactory, bool_flag, forge_with_sdk_key
from tests.client.cdn import LoopbackCdn
from tests.edge.edgekit import edge_config, publish_client_bundle

SINGLE = "/ofrep/v1/evaluate/flags/"
CTX = orjson.dumps({"context": {"targetingKey": "u-1", "country": "DE"}})


def test_signing_keys_in_the_config_make_every_client_verify(
    cdn: LoopbackCdn, signed_factory: BundleFactory, client_key: SdkKey, publisher_pem: str,
    tmp_path: Path,
) -> None:
    scoped = publish_client_bundle(cdn, signed_factory, client_key, revision=1,
                                   flags={"b": bool_flag(on=True)})
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "publisher.pem").write_text(publisher_pem, encoding="ascii")
    config_file = tmp_path / "edge.json"
    # A relative path is read next to the config file, wherever the edge's cwd is.
    config_file.write_bytes(orjson.dumps(edge_config(cdn, client_key,
                                                     signing_keys=["keys/publisher.pem"])))
    config = load_config(config_file)
    assert config.signing_keys == (load_trusted_key(publisher_pem),)
    app = build_app(config, mode="lambda")
    headers = {"authorization": f"Bearer {client_key.text}"}
    try:
        assert orjson.loads(app.handle("POST", SINGLE + "b", headers, CTX).body)["value"] is True
        (client,) = app.clients
        assert client.verifies_publisher
        # A bundle made with the (public) client key alone is refused; the edge keeps serving.
        scoped.publish(cdn, forge_with_sdk_key(scoped, 2, {"b": bool_flag(on=False)}))
        result = client.refresh()
        assert (result.kind, client.revision) == ("bad_signature", 1)
        assert orjson.loads(app.handle("POST", SINGLE + "b", headers, CTX).body)["value"] is True
    finally:
        app.close()


def test_an_edge_without_signing_keys_does_not_verify(
    cdn: LoopbackCdn, factory: BundleFactory, client_key: SdkKey
) -> None:
    publish_client_bundle(cdn, factory, client_key)
    app = build_app(parse_config(edge_config(cdn, client_key)), mode="lambda")
    try:
        app.handle("POST", SINGLE + "b", {"authorization": f"Bearer {client_key.text}"}, CTX)
        assert [c.verifies_publisher for c in app.clients] == [False]
    finally:
        app.close()


@pytest.mark.parametrize(
    ("keys", "says"),
    [
        ([], "non-empty list"),
        ("one.pem", "non-empty list"),
        ([7], "non-empty list"),
        (["missing.pem"], r"signing_keys\[0\]: cannot read"),
        (["-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"],
         r"signing_keys\[0\]: signing key: not a public key"),
    ],
)
def test_bad_signing_keys_are_config_errors_naming_the_entry(
    cdn: LoopbackCdn, client_key: SdkKey, tmp_path: Path, keys: Any, says: str
) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_config(edge_config(cdn, client_key, signing_keys=keys), base=tmp_path)
