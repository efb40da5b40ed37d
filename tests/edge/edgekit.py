"""Builds a published client-scope bundle on the loopback CDN plus an edge config for it."""

from __future__ import annotations

from typing import Any

from edge_reader.bundle import SdkKey
from tests.client.bundles import BundleFactory, bool_flag, string_flag, targeted_flag
from tests.client.cdn import LoopbackCdn


def client_flags() -> dict[str, Any]:
    return {
        "b": bool_flag(on=True, metadata={"owner": "web"}),
        "s": string_flag("hello"),
        "t": targeted_flag("DE"),
        "n": {
            "kind": "number",
            "variations": {"one": 1},
            "enabled": True,
            "default": {"variation": "one"},
            "version": 1,
            "client_visible": True,
        },
        "f": {
            "kind": "number",
            "variations": {"pi": 3.5},
            "enabled": True,
            "default": {"variation": "pi"},
            "version": 1,
            "client_visible": True,
        },
        "j": {
            "kind": "json",
            "variations": {"cfg": {"limit": 5}},
            "enabled": True,
            "default": {"variation": "cfg"},
            "version": 1,
            "client_visible": True,
        },
        "dark": {
            "kind": "boolean",
            "variations": {"on": True, "off": False},
            "enabled": False,
            "default": {"variation": "on"},
            "version": 1,
            "client_visible": True,
        },
        # Must never be served by the edge even if a bundle contained it.
        "secret": bool_flag(on=True, client_visible=False),
    }


def publish_client_bundle(
    cdn: LoopbackCdn,
    factory: BundleFactory,
    client_key: SdkKey,
    revision: int = 1,
    flags: dict[str, Any] | None = None,
) -> BundleFactory:
    scoped = factory.for_scope("client", client_key)
    scoped.publish(cdn, scoped.build(revision, flags if flags is not None else client_flags()))
    return scoped


def edge_config(cdn: LoopbackCdn, client_key: SdkKey, **extra: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "cdn": cdn.base,
        "ca_bundle": None,
        "environments": [{"project": "shop", "environment": "prod", "sdk_key": client_key.text}],
        "poll_interval": 0.05,
    }
    cfg.update(extra)
    return cfg
