"""The OpenFeature provider, exercised only through the OpenFeature SDK's client."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
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


# ---------------------------------------------------------------------- datetimes in context

_CUTOFF = "2024-01-01T12:00:00Z"


def _since_cutoff(attribute: str, op: str) -> dict[str, Any]:
    """on when ``attribute`` is ``op`` (before/after) the cutoff instant, off otherwise."""
    flag = targeted_flag("unused")
    flag["rules"][0]["clauses"] = [
        {"context_kind": "user", "attribute": attribute, "op": op, "values": [_CUTOFF]}
    ]
    return flag


@pytest.fixture
def dated(
    cdn: LoopbackCdn, factory: BundleFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    # A local zone far from UTC: a naive datetime read as local time would be 5 h off.
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    factory.publish(cdn, factory.build(1, {
        "after": _since_cutoff("signup", "after"),
        "before": _since_cutoff("signup", "before"),
        "nested": _since_cutoff("/account/created", "after"),
    }))
    api.set_provider_and_wait(VexilProvider(make_client(cdn, factory, start=True)))
    yield api.get_client()
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(("signup", "after"), [
    (datetime(2024, 1, 1, 12, 0, 0, 1000), True),  # naive = UTC: 1 ms past the cutoff
    (datetime(2024, 1, 1, 11, 59, 59, 999000), False),
    (datetime(2024, 1, 1, 13, 0, 1, tzinfo=timezone(timedelta(hours=1))), True),
    (datetime(2024, 1, 1, 12, 59, 59, tzinfo=timezone(timedelta(hours=1))), False),
    (datetime(2024, 1, 1, 6, 59, 59, tzinfo=timezone(timedelta(hours=-5))), False),
])
def test_a_datetime_attribute_is_compared_as_an_instant(
    dated: Any, signup: datetime, after: bool
) -> None:
    ctx = EvaluationContext("u-1", {"signup": signup})
    got_after = dated.get_boolean_details("after", False, ctx)
    assert got_after.error_code is None
    assert got_after.value is after
    assert got_after.reason == (Reason.TARGETING_MATCH if after else Reason.DEFAULT)
    assert dated.get_boolean_value("before", False, ctx) is (not after)


def test_a_nested_datetime_is_converted_too(dated: Any) -> None:
    late = EvaluationContext("u-1", {"account": {"created": datetime(2024, 2, 1)}})
    early = EvaluationContext("u-1", {"account": {"created": datetime(2023, 2, 1)}})
    assert dated.get_boolean_value("nested", False, late) is True
    assert dated.get_boolean_value("nested", True, early) is False


# ---------------------------------------------------------------------- refused readers


@pytest.mark.parametrize("status", [401, 403])
def test_refused_at_start_is_fatal_and_recovers_when_allowed(
    cdn: LoopbackCdn, factory: BundleFactory, status: int
) -> None:
    cdn.fault(factory.pointer_path, status=status)
    provider = VexilProvider(
        make_client(cdn, factory, poll_interval=0.05, first_retry=0.05, max_backoff=0.1,
                    start=True),
        init_timeout=0.3,
    )
    with pytest.raises(Exception, match=f"no flags loaded.*{status}"):
        api.set_provider_and_wait(provider)
    client = api.get_client()
    assert client.get_provider_status() is ProviderStatus.FATAL
    detail = client.get_boolean_details("b", False, EvaluationContext("u"))
    assert detail.value is False
    assert detail.error_code == ErrorCode.PROVIDER_FATAL
    ready = threading.Event()
    api.add_handler(ProviderEvent.PROVIDER_READY, lambda d: ready.set())
    factory.publish(cdn, factory.build(1, _flags()))
    cdn.clear_faults()
    assert ready.wait(10)
    assert client.get_provider_status() is ProviderStatus.READY
    assert client.get_boolean_value("b", False, EvaluationContext("u")) is True


@pytest.mark.parametrize(("status", "code", "provider_status"), [
    (403, ErrorCode.PROVIDER_FATAL, ProviderStatus.FATAL),
    (401, ErrorCode.PROVIDER_FATAL, ProviderStatus.FATAL),
    (503, ErrorCode.GENERAL, ProviderStatus.ERROR),  # an outage: retrying may help
])
def test_error_event_after_start_maps_refusal_to_fatal(
    cdn: LoopbackCdn, factory: BundleFactory, status: int, code: ErrorCode,
    provider_status: ProviderStatus,
) -> None:
    # The answer comes after initialize gave up (still NOT_READY then), so the ERROR state is
    # reported by the provider's own event, not by the failed initialize.
    cdn.fault(factory.pointer_path, status=status, delay=2.0)
    provider = VexilProvider(make_client(cdn, factory, start=True), init_timeout=0.2)
    codes: list[ErrorCode | None] = []
    seen = threading.Event()

    def on_error(details: EventDetails) -> None:
        codes.append(details.error_code)
        if details.error_code == code:
            seen.set()

    with pytest.raises(Exception, match="no flags loaded"):
        api.set_provider_and_wait(provider)
    api.add_handler(ProviderEvent.PROVIDER_ERROR, on_error)
    assert seen.wait(15), codes
    assert api.get_client().get_provider_status() is provider_status
    other = ErrorCode.GENERAL if code == ErrorCode.PROVIDER_FATAL else ErrorCode.PROVIDER_FATAL
    assert other not in codes


def test_stale_event_when_data_ages_past_its_limit_without_a_failed_fetch(
    cdn: LoopbackCdn, factory: BundleFactory
) -> None:
    # Polls every 60 s and every one of them succeeds; the data is stale after 0.5 s. No
    # refresh runs, none fails: only the clock can say it.
    factory.publish(cdn, factory.build(1, _flags()))
    client = make_client(cdn, factory, poll_interval=60, stale_after=0.5, start=True)
    stale = threading.Event()
    api.add_handler(ProviderEvent.PROVIDER_STALE, lambda d: stale.set())
    api.set_provider_and_wait(VexilProvider(client))
    assert api.get_client().get_provider_status() is ProviderStatus.READY
    assert stale.wait(10)
    assert api.get_client().get_provider_status() is ProviderStatus.STALE
    assert client.status().error_kind is None  # nothing failed
    assert "stale after" in (client.status().reason or "")
    # Still serving what it holds.
    assert api.get_client().get_boolean_value("b", False, EvaluationContext("u")) is True
    # One poll only (pointer, bundle): the STALE came from the clock, not from a fetch.
    assert sum(1 for s in cdn.requests if s.path.endswith("current.json")) == 1


def test_a_key_the_bundle_was_not_made_for_is_fatal(
    cdn: LoopbackCdn, factory: BundleFactory
) -> None:
    # The CDN serves the environment's genuine pointer and bundle, encrypted for the
    # environment's key; this reader holds another (revoked, or another environment's) key.
    from edge_reader.bundle import generate_sdk_key

    factory.publish(cdn, factory.build(1, _flags()))
    stranger = generate_sdk_key(factory.sdk_key.kind)
    provider = VexilProvider(
        make_client(cdn, factory, sdk_key=stranger, poll_interval=0.05, start=True),
        init_timeout=0.5,
    )
    with pytest.raises(Exception, match=r"no flags loaded.*no encrypted data key"):
        api.set_provider_and_wait(provider)
    client = api.get_client()
    assert client.get_provider_status() is ProviderStatus.FATAL
    detail = client.get_boolean_details("b", False, EvaluationContext("u"))
    assert detail.value is False
    assert detail.error_code == ErrorCode.PROVIDER_FATAL
