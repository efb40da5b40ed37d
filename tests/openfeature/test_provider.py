"""The OpenFeature provider, exercised only through the OpenFeature SDK's client."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason
from openfeature.provider import ProviderStatus

from edge_reader.openfeature import VexilProvider
from tests.client.bundles import BundleFactory, bool_flag, make_client, string_flag, targeted_flag
from tests.client.cdn import LoopbackCdn


@pytest.fixture(autouse=True)
def _clean_api() -> Iterator[None]:
    yield
    api.shutdown()


def _flags() -> dict[str, Any]:
    return {
        "b": bool_flag(on=True, metadata={"owner": "team-x"}),
        "s": string_flag("hello"),
        "t": targeted_flag("DE"),
        "n": {
            "kind": "number",
            "variations": {"one": 1, "pi": 3.5},
            "enabled": True,
            "default": {"variation": "one"},
            "version": 1,
        },
        "f": {
            "kind": "number",
            "variations": {"pi": 3.5},
            "enabled": True,
            "default": {"variation": "pi"},
            "version": 1,
        },
        "j": {
            "kind": "json",
            "variations": {"cfg": {"limit": 5, "tags": ["a"]}},
            "enabled": True,
            "default": {"variation": "cfg"},
            "version": 1,
        },
    }


def _ready_provider(cdn: LoopbackCdn, factory: BundleFactory) -> VexilProvider:
    factory.publish(cdn, factory.build(1, _flags()))
    provider = VexilProvider(make_client(cdn, factory, poll_interval=0.05, start=True))
    api.set_provider_and_wait(provider)
    return provider


def test_values_and_details_map_one_to_one(cdn: LoopbackCdn, factory: BundleFactory) -> None:
    _ready_provider(cdn, factory)
    client = api.get_client()
    assert client.get_provider_status() is ProviderStatus.READY
    ctx = EvaluationContext(targeting_key="u-1", attributes={"country": "DE"})
    assert client.get_boolean_value("b", False, ctx) is True
    assert client.get_string_value("s", "x", ctx) == "hello"
    assert client.get_integer_value("n", 0, ctx) == 1
    assert client.get_float_value("f", 0.0, ctx) == 3.5
    assert client.get_object_value("j", {}, ctx) == {"limit": 5, "tags": ["a"]}
    details = client.get_boolean_details("t", False, ctx)
    assert details.value is True
    assert details.reason == Reason.TARGETING_MATCH
    assert details.variant == "on"
    meta = client.get_boolean_details("b", False, ctx).flag_metadata
    assert meta["owner"] == "team-x"


def test_attributes_drive_targeting(cdn: LoopbackCdn, factory: BundleFactory) -> None:
    _ready_provider(cdn, factory)
    client = api.get_client()
    fr = EvaluationContext(targeting_key="u-2", attributes={"country": "FR"})
    assert client.get_boolean_value("t", True, fr) is False


def test_errors_return_default_with_code(cdn: LoopbackCdn, factory: BundleFactory) -> None:
    _ready_provider(cdn, factory)
    client = api.get_client()
    ctx = EvaluationContext(targeting_key="u-1")
    missing = client.get_boolean_details("nope", True, ctx)
    assert missing.value is True
    assert missing.error_code == ErrorCode.FLAG_NOT_FOUND
    assert missing.reason == Reason.ERROR
    mismatch = client.get_string_details("b", "d", ctx)
    assert mismatch.value == "d"
    assert mismatch.error_code == ErrorCode.TYPE_MISMATCH


def test_configuration_changed_event_lists_flags(cdn: LoopbackCdn, factory: BundleFactory) -> None:
    _ready_provider(cdn, factory)
    got: list[EventDetails] = []
    seen = threading.Event()

    def on_change(details: EventDetails) -> None:
        got.append(details)
        seen.set()

    api.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, on_change)
    flags = _flags()
    flags["s"] = string_flag("bye", version=2)
    factory.publish(cdn, factory.build(2, flags))
    assert seen.wait(10)
    assert got[0].flags_changed == ["s"]
    assert api.get_client().get_string_value("s", "x", EvaluationContext("u")) == "bye"


def test_stale_and_ready_events(cdn: LoopbackCdn, factory: BundleFactory) -> None:
    _ready_provider(cdn, factory)
    stale, ready = threading.Event(), threading.Event()
    api.add_handler(ProviderEvent.PROVIDER_STALE, lambda d: stale.set())
    cdn.fault(factory.pointer_path, status=503)
    assert stale.wait(10)
    assert api.get_client().get_provider_status() is ProviderStatus.STALE
    # Still serving the last known good bundle.
    assert api.get_client().get_boolean_value("b", False, EvaluationContext("u")) is True
    api.add_handler(ProviderEvent.PROVIDER_READY, lambda d: ready.set())
    ready.clear()
    cdn.clear_faults()
    assert ready.wait(10)
    assert api.get_client().get_provider_status() is ProviderStatus.READY


def test_init_timeout_gives_error_then_ready_when_bundle_arrives(
    cdn: LoopbackCdn, factory: BundleFactory
) -> None:
    provider = VexilProvider(
        make_client(
            cdn, factory, poll_interval=0.05, first_retry=0.05, max_backoff=0.1, start=True
        ),
        init_timeout=0.2,
    )
    error = threading.Event()
    ready = threading.Event()
    # The SDK runs handlers on its own executor, hence events rather than lists.
    api.add_handler(ProviderEvent.PROVIDER_ERROR, lambda d: error.set())
    with pytest.raises(Exception, match="no flags loaded"):
        api.set_provider_and_wait(provider)
    assert error.wait(10)
    assert api.get_client().get_provider_status() is ProviderStatus.ERROR
    before = api.get_client().get_boolean_details("b", False, EvaluationContext("u"))
    assert before.value is False
    assert before.error_code == ErrorCode.PROVIDER_NOT_READY
    api.add_handler(ProviderEvent.PROVIDER_READY, lambda d: ready.set())
    factory.publish(cdn, factory.build(1, _flags()))
    assert ready.wait(10)
    assert api.get_client().get_boolean_value("b", False, EvaluationContext("u")) is True


def test_shutdown_closes_the_client(cdn: LoopbackCdn, factory: BundleFactory) -> None:
    provider = _ready_provider(cdn, factory)
    api.shutdown()
    assert provider.client._poller is not None
    assert not provider.client._poller.alive
