"""The fetcher against a real HTTP server on 127.0.0.1: every answer a CDN can give."""

from __future__ import annotations

import socket

import pytest

from edge_reader.client import Fetched, Fetcher, FetchFailure, NotModified, Timeouts
from edge_reader.client._transport import Request, Response, TransportError
from tests.client.cdn import LoopbackCdn


def test_200_returns_body_and_etag(cdn: LoopbackCdn) -> None:
    cdn.put("a.json", b'{"x":1}')
    got = Fetcher().get(cdn.url("a.json"))
    assert isinstance(got, Fetched)
    assert got.body == b'{"x":1}'
    assert got.etag is not None
    assert got.etag.startswith('"')


def test_304_when_etag_matches(cdn: LoopbackCdn) -> None:
    cdn.put("a.json", b"hello")
    fetcher = Fetcher()
    first = fetcher.get(cdn.url("a.json"))
    assert isinstance(first, Fetched)
    second = fetcher.get(cdn.url("a.json"), first.etag)
    assert isinstance(second, NotModified)
    assert cdn.requests_for("a.json") == [200, 304]


def test_changed_object_is_fetched_again_despite_old_etag(cdn: LoopbackCdn) -> None:
    cdn.put("a.json", b"v1")
    fetcher = Fetcher()
    first = fetcher.get(cdn.url("a.json"))
    assert isinstance(first, Fetched)
    cdn.put("a.json", b"v2")
    second = fetcher.get(cdn.url("a.json"), first.etag)
    assert isinstance(second, Fetched)
    assert second.body == b"v2"


@pytest.mark.parametrize(
    ("status", "recoverable"),
    [
        (403, False),
        (401, False),
        (404, False),
        (500, True),
        (502, True),
        (503, True),
        (429, True),
        (408, True),
    ],
)
def test_http_errors_are_classified(cdn: LoopbackCdn, status: int, recoverable: bool) -> None:
    cdn.put("a.json", b"x")
    cdn.fault("a.json", status=status)
    got = Fetcher().get(cdn.url("a.json"))
    assert isinstance(got, FetchFailure)
    assert got.status == status
    assert got.recoverable is recoverable
    assert str(status) in got.describe()


def test_missing_object_is_404_not_recoverable(cdn: LoopbackCdn) -> None:
    got = Fetcher().get(cdn.url("nothing.json"))
    assert isinstance(got, FetchFailure)
    assert got.status == 404
    assert not got.recoverable


def test_slow_server_times_out(cdn: LoopbackCdn) -> None:
    cdn.put("a.json", b"x")
    cdn.fault("a.json", delay=1.0)
    got = Fetcher(timeouts=Timeouts(connect=1.0, read=0.2)).get(cdn.url("a.json"))
    assert isinstance(got, FetchFailure)
    assert got.kind == "timeout"
    assert got.recoverable


def test_budget_caps_the_read_timeout(cdn: LoopbackCdn) -> None:
    cdn.put("a.json", b"x")
    cdn.fault("a.json", delay=1.0)
    got = Fetcher(timeouts=Timeouts(connect=5, read=30)).get(cdn.url("a.json"), budget=0.2)
    assert isinstance(got, FetchFailure)
    assert got.kind == "timeout"


def test_truncated_body_is_a_recoverable_failure(cdn: LoopbackCdn) -> None:
    cdn.put("a.bin", b"x" * 10_000)
    cdn.fault("a.bin", truncate_to=100)
    got = Fetcher().get(cdn.url("a.bin"))
    assert isinstance(got, FetchFailure)
    assert got.kind == "truncated"
    assert got.recoverable


def test_oversized_body_is_refused(cdn: LoopbackCdn) -> None:
    cdn.put("big.bin", b"x" * 5000)
    got = Fetcher(max_body=1000).get(cdn.url("big.bin"))
    assert isinstance(got, FetchFailure)
    assert got.kind == "too_large"


def test_wrong_content_is_returned_as_bytes_for_the_verifier(cdn: LoopbackCdn) -> None:
    # The fetcher does not judge content; verification rejects it (see test_verification).
    cdn.put("a.json", b"<html>captive portal</html>")
    got = Fetcher().get(cdn.url("a.json"))
    assert isinstance(got, Fetched)
    assert got.body.startswith(b"<html>")


def test_connection_refused_is_recoverable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    got = Fetcher(timeouts=Timeouts(connect=0.5, read=0.5)).get(f"http://127.0.0.1:{port}/x")
    assert isinstance(got, FetchFailure)
    assert got.kind == "connect"
    assert got.recoverable
    assert got.status is None


def test_keep_alive_reuses_one_connection(cdn: LoopbackCdn) -> None:
    cdn.put("a.json", b"x")
    fetcher = Fetcher()
    for _ in range(5):
        assert isinstance(fetcher.get(cdn.url("a.json")), Fetched)
    pool = fetcher._transport._pool  # type: ignore[attr-defined]
    conn_pool = pool.connection_from_url(cdn.url("a.json"))
    assert conn_pool.num_connections == 1


def test_https_to_a_plain_http_port_fails_cleanly(cdn: LoopbackCdn) -> None:
    cdn.put("a.json", b"x")
    url = cdn.url("a.json").replace("http://", "https://")
    got = Fetcher(timeouts=Timeouts(connect=1, read=1)).get(url)
    assert isinstance(got, FetchFailure)
    assert got.recoverable


class _Exploding:
    def handle_request(self, request: Request) -> Response:
        raise RuntimeError("bug in a custom transport")

    def close(self) -> None:
        pass


class _Raising:
    def handle_request(self, request: Request) -> Response:
        raise TransportError("timeout", "injected")

    def close(self) -> None:
        pass


def test_a_broken_transport_becomes_a_failure_not_an_exception() -> None:
    got = Fetcher(_Exploding()).get("http://example.invalid/x")
    assert isinstance(got, FetchFailure)
    assert "RuntimeError" in got.message


def test_transport_errors_keep_their_kind() -> None:
    got = Fetcher(_Raising()).get("http://example.invalid/x")
    assert isinstance(got, FetchFailure)
    assert got.kind == "timeout"
