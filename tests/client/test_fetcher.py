"""The fetcher against a real HTTP server on 127.0.0.1: every answer a CDN can give."""

from __future__ import annotations

import socket
import time

import pytest

from edge_reader.client import Fetched, Fetcher, FetchFailure, NotModified, Timeouts
from edge_reader.client._http import HttpTransport, _still_open
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
    assert "Content-Length 5000" in got.message  # refused before reading the body


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
    cdn.put("b.json", b"y")
    fetcher = Fetcher()
    for _ in range(5):
        assert isinstance(fetcher.get(cdn.url("a.json")), Fetched)
        assert isinstance(fetcher.get(cdn.url("b.json"), '"stale"'), Fetched)
    got = fetcher.get(cdn.url("a.json"), fetcher.get(cdn.url("a.json")).etag)  # type: ignore[union-attr]
    assert isinstance(got, NotModified)
    # Seen from the server: twelve requests, one TCP connection.
    assert len(cdn.requests) == 12
    assert cdn.connections() == 1
    fetcher.close()


def test_error_answers_keep_the_connection_too(cdn: LoopbackCdn) -> None:
    cdn.put("a.json", b"x")
    fetcher = Fetcher()
    assert isinstance(fetcher.get(cdn.url("missing.json")), FetchFailure)
    assert isinstance(fetcher.get(cdn.url("a.json")), Fetched)
    assert cdn.connections() == 1


def test_a_connection_the_server_closed_while_idle_is_replaced(cdn: LoopbackCdn) -> None:
    cdn.put("a.json", b"x")
    cdn.fault("a.json", close_after=True)  # answers, then hangs up without saying so
    fetcher = Fetcher()
    for _ in range(3):
        assert isinstance(fetcher.get(cdn.url("a.json")), Fetched)
    assert cdn.connections() == 3


def test_an_idle_connection_is_reused_only_while_the_server_keeps_it_open(
    cdn: LoopbackCdn,
) -> None:
    cdn.put("a.json", b"x")
    transport = HttpTransport()
    request = Request(url=cdn.url("a.json"))
    assert transport.handle_request(request).status == 200
    (conn,) = transport._idle[("http", "127.0.0.1", cdn.server.server_address[1])]
    assert _still_open(conn)
    cdn.fault("a.json", close_after=True)
    assert transport.handle_request(request).status == 200  # the server hangs up after this
    (conn,) = transport._idle[("http", "127.0.0.1", cdn.server.server_address[1])]
    deadline = time.monotonic() + 5
    while _still_open(conn) and time.monotonic() < deadline:
        time.sleep(0.01)  # wait for the FIN to arrive
    assert not _still_open(conn)
    transport.close()


def test_a_reused_connection_dropped_mid_request_is_retried_once_on_a_fresh_one(
    cdn: LoopbackCdn,
) -> None:
    cdn.put("a.json", b"x")
    fetcher = Fetcher()
    assert isinstance(fetcher.get(cdn.url("a.json")), Fetched)
    cdn.fault("a.json", drop=1)  # the next request is read, then the connection is closed
    got = fetcher.get(cdn.url("a.json"))
    assert isinstance(got, Fetched)
    assert got.body == b"x"
    assert len(cdn.requests) == 3
    assert cdn.connections() == 2


def test_a_fresh_connection_dropped_without_an_answer_is_a_failure_not_retried(
    cdn: LoopbackCdn,
) -> None:
    cdn.put("a.json", b"x")
    cdn.fault("a.json", drop=5)
    got = Fetcher().get(cdn.url("a.json"))
    assert isinstance(got, FetchFailure)
    assert got.kind == "protocol"
    assert got.recoverable
    assert len(cdn.requests) == 1


def test_the_request_carries_the_conditional_and_identity_headers(cdn: LoopbackCdn) -> None:
    cdn.put("a.json", b"x")
    Fetcher(user_agent="vexil-test/9").get(cdn.url("a.json?v=1"), '"abc"')
    (seen,) = cdn.requests
    headers = {k.lower(): v for k, v in seen.headers.items()}
    assert seen.path == "/a.json"
    assert headers["if-none-match"] == '"abc"'
    assert headers["user-agent"] == "vexil-test/9"
    assert headers["accept-encoding"] == "identity"
    assert headers["host"] == cdn.base.removeprefix("http://")


def test_redirects_are_not_followed(cdn: LoopbackCdn) -> None:
    cdn.put("a.json", b"x")
    cdn.put("elsewhere.json", b"y")
    cdn.fault("a.json", location=cdn.url("elsewhere.json"))
    got = Fetcher().get(cdn.url("a.json"))
    assert isinstance(got, FetchFailure)
    assert got.status == 302
    assert cdn.requests_for("elsewhere.json") == []


def test_a_chunked_body_is_read_whole(cdn: LoopbackCdn) -> None:
    body = bytes(range(256)) * 100
    cdn.put("a.bin", body)
    cdn.fault("a.bin", chunked=True)
    got = Fetcher().get(cdn.url("a.bin"))
    assert isinstance(got, Fetched)
    assert got.body == body


def test_a_chunked_body_cut_short_is_truncated(cdn: LoopbackCdn) -> None:
    cdn.put("a.bin", b"x" * 20_000)
    cdn.fault("a.bin", chunked=True, truncate_to=9000)
    got = Fetcher().get(cdn.url("a.bin"))
    assert isinstance(got, FetchFailure)
    assert got.kind == "truncated"


def test_an_oversized_body_without_content_length_is_refused_while_reading(
    cdn: LoopbackCdn,
) -> None:
    cdn.put("big.bin", b"x" * 50_000)
    cdn.fault("big.bin", chunked=True)
    got = Fetcher(max_body=10_000).get(cdn.url("big.bin"))
    assert isinstance(got, FetchFailure)
    assert got.kind == "too_large"


def test_a_stall_in_the_middle_of_the_body_times_out(cdn: LoopbackCdn) -> None:
    cdn.put("a.bin", b"x" * 10_000)
    cdn.fault("a.bin", stall_after=100, delay=1.0)
    got = Fetcher(timeouts=Timeouts(connect=1.0, read=0.2)).get(cdn.url("a.bin"))
    assert isinstance(got, FetchFailure)
    assert got.kind == "timeout"


def test_the_connect_timeout_does_not_cap_reading(cdn: LoopbackCdn) -> None:
    cdn.put("a.json", b"x")
    cdn.fault("a.json", delay=0.5)
    got = Fetcher(timeouts=Timeouts(connect=0.05, read=5.0)).get(cdn.url("a.json"))
    assert isinstance(got, Fetched)


@pytest.mark.timeout(30)  # a hang guard: the read timeout below must not apply to connecting
def test_a_server_that_never_accepts_hits_the_connect_timeout() -> None:
    # A listening socket whose accept queue is full drops further SYNs: connect() hangs.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = server.getsockname()[1]
        fillers = []
        try:
            for _ in range(3):
                filler = socket.socket()
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.1", port))
                fillers.append(filler)
            got = Fetcher(timeouts=Timeouts(connect=0.3, read=120)).get(
                f"http://127.0.0.1:{port}/x"
            )
        finally:
            for filler in fillers:
                filler.close()
    assert isinstance(got, FetchFailure)
    assert got.kind == "timeout"
    assert "connect" in got.message


def test_an_unsupported_url_is_a_failure() -> None:
    got = Fetcher().get("ftp://127.0.0.1/x")
    assert isinstance(got, FetchFailure)
    assert got.kind == "protocol"


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
