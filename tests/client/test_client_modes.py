"""Disk cache (last known good) and Lambda mode (no threads, refresh on use)."""

from __future__ import annotations

import os
import threading
import traceback
from pathlib import Path
from typing import Any

import orjson
import pytest

from edge_reader import ClientStatus
from edge_reader.client import DiskCache, Schedule
from edge_reader.client._cache import decode_cache_file, encode_cache_file
from tests.client.bundles import USER, BundleFactory, bool_flag, make_client
from tests.client.cdn import LoopbackCdn


def test_disk_cache_survives_a_restart_with_the_cdn_down(
    tmp_path: Path, cdn: LoopbackCdn, factory: BundleFactory
) -> None:
    factory.publish(cdn, factory.build(4, {"a": bool_flag(on=False)}))
    first = make_client(cdn, factory, cache_dir=tmp_path)
    assert first.refresh().revision == 4
    first.close()
    cache_files = list(tmp_path.glob("*.vexilcache"))
    assert len(cache_files) == 1
    assert b'"flags"' not in cache_files[0].read_bytes()  # still encrypted at rest

    cdn.fault(factory.pointer_path, status=503)
    second = make_client(cdn, factory, cache_dir=tmp_path, mode="lambda", start=True)
    assert second.wait_until_ready(0)
    assert second.get_boolean("a", USER, True) is False
    report = second.status()
    assert report.revision == 4
    assert report.source == "disk"
    assert report.state is ClientStatus.STALE
    assert "503" in (report.reason or "")


def test_tampered_cache_file_is_ignored(
    tmp_path: Path, cdn: LoopbackCdn, factory: BundleFactory
) -> None:
    built = factory.build(4, {"a": bool_flag()})
    cache = DiskCache(tmp_path, "shop", "prod", "server")
    bad = bytearray(built.ciphertext)
    bad[-10] ^= 0xFF
    assert cache.store(built.pointer_bytes, bytes(bad))
    client = make_client(cdn, factory, cache_dir=tmp_path, mode="offline", start=True)
    assert client.revision is None


def test_newer_of_cache_and_bootstrap_wins(
    tmp_path: Path, cdn: LoopbackCdn, factory: BundleFactory
) -> None:
    built = factory.build(9, {"a": bool_flag(on=False)})
    DiskCache(tmp_path, "shop", "prod", "server").store(built.pointer_bytes, built.ciphertext)
    boot = tmp_path / "boot.vexilcache"
    older = factory.build(3, {"a": bool_flag(on=True)})
    boot.write_bytes(encode_cache_file(older.pointer_bytes, older.ciphertext))
    client = make_client(
        cdn, factory, cache_dir=tmp_path, bootstrap_file=boot, mode="offline", start=True
    )
    assert client.revision == 9


def test_cache_file_round_trip_and_garbage() -> None:
    data = encode_cache_file(b'{"p":1}', b"\x00\x01cipher")
    got = decode_cache_file(data)
    assert got is not None
    assert got.pointer_bytes == b'{"p":1}'
    assert got.ciphertext == b"\x00\x01cipher"
    assert decode_cache_file(b"garbage") is None
    assert decode_cache_file(data[:20]) is None


def test_cache_write_failure_is_not_fatal(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert DiskCache(blocker / "sub", "p", "e", "server").store(b"{}", b"x") is False


def test_lambda_mode_never_starts_a_thread(
    cdn: LoopbackCdn, factory: BundleFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    factory.publish(cdn, factory.build(1, {"a": bool_flag(on=True)}))
    rev2 = factory.build(2, {"a": bool_flag(on=False, version=2)})
    # The loopback CDN and moto start threads of their own, so count only threads whose
    # start() was called from edge_reader code (any frame on the stack under edge_reader/).
    started_by_reader: list[str] = []
    real_start = threading.Thread.start

    def spying_start(self: threading.Thread) -> None:
        if any("edge_reader" + os.sep in f.filename for f in traceback.extract_stack()):
            started_by_reader.append(self.name)
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", spying_start)
    client = make_client(cdn, factory, mode="lambda", start=True, lambda_ttl=0.0)
    for _ in range(5):
        assert client.get_boolean("a", USER, False) is True
    factory.publish(cdn, rev2)
    assert client.get_boolean("a", USER, True) is False  # ttl 0: refreshed on use
    client.close()
    assert started_by_reader == []
    # Only the reader's own threads count (the publisher tests leave a snapshot pool behind).
    assert not [t.name for t in threading.enumerate() if t.name.startswith("vexil-poller")]


def test_the_spy_would_see_a_poller_thread(
    cdn: LoopbackCdn, factory: BundleFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Guards the test above: the same spy does catch background mode's thread.
    factory.publish(cdn, factory.build(1, {"a": bool_flag(on=True)}))
    started: list[str] = []
    real_start = threading.Thread.start

    def spying_start(self: threading.Thread) -> None:
        if any("edge_reader" + os.sep in f.filename for f in traceback.extract_stack()):
            started.append(self.name)
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", spying_start)
    client = make_client(cdn, factory, mode="background", start=True)
    client.close()
    assert started == ["vexil-poller-shop-prod"]


def test_lambda_mode_respects_ttl(cdn: LoopbackCdn, factory: BundleFactory) -> None:
    factory.publish(cdn, factory.build(1, {"a": bool_flag()}))
    client = make_client(cdn, factory, mode="lambda", start=True, lambda_ttl=3600)
    for _ in range(10):
        client.get_boolean("a", USER, False)
    assert len(cdn.requests_for(factory.pointer_path)) == 1


def test_lambda_mode_hard_timeout_falls_back(cdn: LoopbackCdn, factory: BundleFactory) -> None:
    factory.publish(cdn, factory.build(1, {"a": bool_flag(on=True)}))
    client = make_client(
        cdn, factory, mode="lambda", start=True, lambda_ttl=0.0, lambda_timeout=0.2
    )
    cdn.fault(factory.pointer_path, delay=1.5)
    assert client.get_boolean("a", USER, False) is True  # served what it holds
    report = client.status()
    assert report.state is ClientStatus.STALE
    assert report.error_kind == "timeout"


def test_backoff_schedule() -> None:
    class Fixed:
        def uniform(self, a: float, b: float) -> float:
            return 1.0

    s = Schedule(interval=30, jitter=0.1, first_retry=1, max_backoff=20)
    rng: Any = Fixed()
    assert s.delay(0, rng) == 30
    assert [s.delay(n, rng) for n in (1, 2, 3, 4, 5, 6, 50)] == [1, 2, 4, 8, 16, 20, 20]


def test_jitter_stays_within_bounds() -> None:
    import random

    s = Schedule(interval=10, jitter=0.2)
    rng = random.Random(1)
    delays = [s.delay(0, rng) for _ in range(200)]
    assert all(8 <= d <= 12 for d in delays)
    assert len({round(d, 3) for d in delays}) > 50  # actually spread out


def test_verified_bundle_replaces_a_plaintext_bootstrap_of_any_revision(
    tmp_path: Path, cdn: LoopbackCdn, factory: BundleFactory
) -> None:
    boot = tmp_path / "boot.json"
    boot.write_bytes(orjson.dumps(factory.document(50, {"a": bool_flag(on=True)})))
    factory.publish(cdn, factory.build(3, {"a": bool_flag(on=False)}))
    cdn.fault(factory.pointer_path, status=503)
    client = make_client(cdn, factory, bootstrap_file=boot, mode="lambda", start=True)
    try:
        assert client.revision == 50
        cdn.clear_faults()
        assert client.refresh().outcome == "updated"
        assert client.revision == 3
        assert client.get_boolean("a", USER, True) is False
    finally:
        client.close()
