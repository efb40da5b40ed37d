"""Readers that pin the publisher's key refuse expired pointers, cold or warm (F4).

Pointers are signed by the publisher's own ``PointerSigner`` on moto KMS and served by a
real HTTP server on 127.0.0.1 (``LoopbackCdn``). Time is moved with the client's ``clock``
(wall-clock seconds), never by sleeping.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from edge_reader import ClientStatus
from edge_reader.bundle import encode_pointer
from edge_reader.client import FlagClient
from tests.client.bundles import USER, BundleFactory, bool_flag, make_client
from tests.client.cdn import LoopbackCdn


class Clock:
    """Wall-clock seconds that a test moves forward by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _bundle_requests(cdn: LoopbackCdn, factory: BundleFactory, since: int) -> list[str]:
    return [r.path for r in cdn.requests[since:] if r.path != "/" + factory.pointer_path]


def _client(cdn: LoopbackCdn, factory: BundleFactory, pem: str, clock: Clock,
            **kw: object) -> FlagClient:
    return make_client(cdn, factory, signing_keys=pem, clock=clock, **kw)


def test_a_cold_reader_refuses_an_expired_genuine_pointer_before_any_download(
    cdn: LoopbackCdn, signed_factory: BundleFactory, publisher_pem: str
) -> None:
    clock = Clock()
    # A genuine, publisher-signed pointer that expired a minute ago (e.g. replayed by a cache).
    old = signed_factory.build(3, {"kill": bool_flag(on=True)}, expires_at=int(clock.now) - 60)
    signed_factory.publish(cdn, old)
    client = _client(cdn, signed_factory, publisher_pem, clock)
    result = client.refresh()
    assert (result.outcome, result.kind) == ("failed", "stale_pointer")
    assert "expired" in (result.reason or "")
    assert _bundle_requests(cdn, signed_factory, 0) == []  # refused before the bundle GET
    assert client.revision is None
    assert client.get_boolean("kill", USER, False) is False  # the caller's default
    report = client.status()
    assert (report.state, report.error_kind) == (ClientStatus.ERROR, "stale_pointer")


def test_a_signed_pointer_without_expiry_is_refused_by_a_verifying_reader(
    cdn: LoopbackCdn, signed_factory: BundleFactory, publisher_pem: str
) -> None:
    clock = Clock()
    signed = signed_factory.build(3, {"kill": bool_flag(on=True)})
    # What a publisher from before expiry existed wrote: signed, but no expires_at.
    assert signed_factory.signer is not None
    (legacy,) = signed_factory.signer.sign([replace(signed.pointer.unsigned(), expires_at=None)])
    signed_factory.publish(cdn, replace(signed, pointer=legacy,
                                        pointer_bytes=encode_pointer(legacy)))
    result = _client(cdn, signed_factory, publisher_pem, clock).refresh()
    assert (result.outcome, result.kind) == ("failed", "stale_pointer")
    assert "no expires_at" in (result.reason or "")


def test_a_warm_reader_keeps_serving_refuses_an_expired_pointer_and_says_so(
    cdn: LoopbackCdn, signed_factory: BundleFactory, publisher_pem: str
) -> None:
    clock = Clock()
    signed_factory.publish(cdn, signed_factory.build(4, {"kill": bool_flag(on=False)}))
    client = _client(cdn, signed_factory, publisher_pem, clock)
    assert client.refresh().outcome == "updated"
    assert client.status().state is ClientStatus.READY
    # The CDN now answers 304 for the pointer it holds, hour after hour: no heartbeat came.
    clock.now += 3600 + 1
    before = len(cdn.requests)
    result = client.refresh()
    assert (result.outcome, result.kind) == ("failed", "stale_pointer")
    assert _bundle_requests(cdn, signed_factory, before) == []  # a 304 costs no bundle GET
    assert client.revision == 4
    assert client.get_boolean("kill", USER, True) is False  # still what it held
    report = client.status()
    assert (report.state, report.error_kind) == (ClientStatus.STALE, "stale_pointer")
    assert "stale" in (report.reason or "")


def test_status_turns_stale_when_the_held_pointer_expires_between_refreshes(
    cdn: LoopbackCdn, signed_factory: BundleFactory, publisher_pem: str
) -> None:
    clock = Clock()
    signed_factory.publish(cdn, signed_factory.build(4, {"a": bool_flag(on=True)}))
    client = _client(cdn, signed_factory, publisher_pem, clock)
    assert client.refresh().ok
    clock.now += 3600 + 1  # no refresh ran: the clock alone makes it stale
    report = client.status()
    assert (report.state, report.error_kind) == (ClientStatus.STALE, "stale_pointer")


def test_a_heartbeat_renewal_refreshes_expiry_without_a_bundle_download(
    cdn: LoopbackCdn, signed_factory: BundleFactory, publisher_pem: str
) -> None:
    clock = Clock()
    first = signed_factory.build(5, {"a": bool_flag(on=True)})
    signed_factory.publish(cdn, first)
    client = _client(cdn, signed_factory, publisher_pem, clock)
    assert client.refresh().outcome == "updated"
    # The heartbeat re-signs the same revision with a later expiry, 50 minutes on.
    assert signed_factory.signer is not None
    (renewed,) = signed_factory.signer.sign(
        [replace(first.pointer.unsigned(), expires_at=int(clock.now) + 3000 + 3600)])
    cdn.put(signed_factory.pointer_path, encode_pointer(renewed))
    clock.now += 3000
    before = len(cdn.requests)
    assert client.refresh().outcome == "unchanged"
    assert _bundle_requests(cdn, signed_factory, before) == []
    clock.now += 3000  # past the first pointer's expiry, inside the renewed one's
    assert client.status().state is ClientStatus.READY
    assert client.refresh().outcome == "unchanged"  # a 304 now, checked against the renewal


def test_a_reader_without_signing_keys_ignores_expiry(
    cdn: LoopbackCdn, signed_factory: BundleFactory
) -> None:
    clock = Clock()
    signed_factory.publish(cdn, signed_factory.build(
        3, {"a": bool_flag(on=True)}, expires_at=int(clock.now) - 60))
    client = make_client(cdn, signed_factory, clock=clock)
    assert client.refresh().outcome == "updated"  # no key, no way to trust an expiry
    assert client.status().state is ClientStatus.READY


def test_an_expired_disk_cache_is_served_but_reported_stale(
    cdn: LoopbackCdn, signed_factory: BundleFactory, publisher_pem: str, tmp_path: Path
) -> None:
    clock = Clock()
    signed_factory.publish(cdn, signed_factory.build(6, {"a": bool_flag(on=True)}))
    warm = _client(cdn, signed_factory, publisher_pem, clock, cache_dir=tmp_path)
    assert warm.refresh().outcome == "updated"
    clock.now += 7200
    cdn.fault("/" + signed_factory.pointer_path, status=503)  # the CDN is down at restart
    cold = _client(cdn, signed_factory, publisher_pem, clock, cache_dir=tmp_path)
    cold.start()
    try:
        assert cold.revision == 6
        assert cold.get_boolean("a", USER, False) is True
        report = cold.status()
        assert (report.state, report.error_kind) == (ClientStatus.STALE, "stale_pointer")
    finally:
        cold.close()


def test_vexil_eval_refuses_an_expired_pointer_from_a_url(
    cdn: LoopbackCdn, signed_factory: BundleFactory, publisher_pem: str
) -> None:
    from edge_reader.client.cli_eval import evaluate_from_source

    url = cdn.url(signed_factory.pointer_path)
    signed_factory.publish(cdn, signed_factory.build(
        3, {"a": bool_flag(on=False)}, expires_at=int(time.time()) - 1))
    refused = evaluate_from_source(url, "a", USER, signed_factory.sdk_key, default=True,
                                   signing_keys=publisher_pem)
    assert refused.value is True
    assert "stale_pointer" in (refused.error_message or "")
    signed_factory.publish(cdn, signed_factory.build(4, {"a": bool_flag(on=False)}))
    fresh = evaluate_from_source(url, "a", USER, signed_factory.sdk_key, default=True,
                                 signing_keys=publisher_pem)
    assert (fresh.value, fresh.error_code) == (False, None)
