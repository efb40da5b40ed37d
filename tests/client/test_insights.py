"""The reader's evaluation summaries: a bounded table filled by the getters, flushed to a
real HTTP endpoint on loopback (retries, drops, refusals), in background and Lambda mode."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from edge_reader.client import _insights
from edge_reader.client._insights import Insights, Window
from tests.client.bundles import USER, BundleFactory, bool_flag, make_client, string_flag
from tests.client.cdn import LoopbackCdn
from tests.client.ingest import IngestServer


@pytest.fixture
def ingest() -> Iterator[IngestServer]:
    server = IngestServer()
    yield server
    server.close()


def _counts(body: dict[str, Any]) -> dict[tuple[str, str | None, str], int]:
    return {(c["flag"], c["variant"], c["reason"]): c["count"] for c in body["counters"]}


def _ready_client(cdn: LoopbackCdn, factory: BundleFactory, ingest: IngestServer, **kw: Any
                  ) -> Any:
    built = factory.build(1, {"checkout": bool_flag(), "theme": string_flag("dark")})
    factory.publish(cdn, built)
    client = make_client(cdn, factory, insights_url=ingest.url, **kw)
    assert client.refresh().ok
    return client


def test_getters_count_per_flag_variant_and_reason(cdn: LoopbackCdn, factory: BundleFactory,
                                                   ingest: IngestServer) -> None:
    client = _ready_client(cdn, factory, ingest, mode="lambda")
    for _ in range(3):
        assert client.get_boolean("checkout", USER, False) is True
    assert client.get_string("theme", USER, "x") == "dark"
    client.get_boolean("theme", USER, False)  # type mismatch: the default, reason ERROR
    client.get_boolean("missing", USER, False)
    client.evaluate("checkout", USER, False)
    result = client.flush_insights(force=True)
    assert result is not None
    assert result.sent == 1
    body = ingest.bodies[0]
    assert ingest.auth[0] == f"Bearer {factory.sdk_key.text}"
    assert (body["project"], body["environment"]) == (factory.project, factory.environment)
    assert body["sdk"] == {"name": "vexil-python", "version": _insights.SDK_VERSION}
    assert _counts(body) == {
        ("checkout", "on", "STATIC"): 4,  # three getters and evaluate()
        ("theme", "v", "STATIC"): 1,
        ("theme", None, "ERROR"): 1,  # the type mismatch
        ("missing", None, "ERROR"): 1,
    }
    assert body["window"]["start"] <= body["window"]["end"]
    # The window was taken: the next flush has nothing to send.
    assert client.flush_insights(force=True) == _insights.FlushResult()
    assert len(ingest.bodies) == 1
    client.close()


def test_the_table_is_bounded_and_reports_its_drops() -> None:
    table = Insights(url="http://127.0.0.1:9/x", sdk_key_text="k", project="p",
                     environment="e", max_entries=3)
    for i in range(5):
        table.record(f"flag-{i}", "on", "STATIC")
    table.record("flag-0", "on", "STATIC")  # an existing entry still counts when full
    assert table.window.size() == 3
    window = table.take_window()
    assert window.counters()[("flag-0", "on", "STATIC")] == 2
    assert window.dropped == 2
    (body, n), = table.payloads(window, window.started)
    assert orjson.loads(body)["dropped"] == 2
    assert n == 3
    assert table.window.size() == 0  # a fresh window


def test_detail_slots_count_by_identity_and_report_by_value() -> None:
    from edge_reader.engine import ErrorCode, EvaluationDetail, Reason

    table = Insights(url="http://127.0.0.1:9/x", sdk_key_text="k", project="p",
                     environment="e", max_entries=10)
    on = EvaluationDetail(True, "on", Reason.SPLIT)
    off = EvaluationDetail(False, "off", Reason.SPLIT)
    off_copy = EvaluationDetail(False, "off", Reason.SPLIT)  # equal, another object
    for detail in (on, off, on, off_copy, on):
        table.add("f", detail)
    for _ in range(3):  # errors are built per call: never given a slot
        table.add("f", EvaluationDetail(None, None, Reason.ERROR, ErrorCode.TYPE_MISMATCH))
    slot = table.slots["f"]
    assert slot[0] is on
    assert slot[1] == 3
    assert slot[2] is off
    assert slot[3] == 1
    assert table.take_window().counters() == {
        ("f", "on", "SPLIT"): 3, ("f", "off", "SPLIT"): 2, ("f", None, "ERROR"): 3}


def test_big_windows_are_split_and_the_drop_count_sent_once() -> None:
    table = Insights(url="http://127.0.0.1:9/x", sdk_key_text="k", project="p",
                     environment="e")
    window = Window(started=1.0, dropped=7)
    for i in range(_insights.MAX_COUNTERS_PER_PAYLOAD * 2 + 1):
        window.other[(f"f{i}", "on", "SPLIT")] = 1
    payloads = table.payloads(window, 2.0)
    assert [n for _, n in payloads] == [_insights.MAX_COUNTERS_PER_PAYLOAD] * 2 + [1]
    assert [orjson.loads(b)["dropped"] for b, _ in payloads] == [7, 0, 0]
    assert table.payloads(Window(started=1.0), 2.0) == []


def test_failed_flushes_are_retried_then_dropped(cdn: LoopbackCdn, factory: BundleFactory,
                                                 ingest: IngestServer) -> None:
    client = _ready_client(cdn, factory, ingest, mode="lambda")
    ingest.statuses = [503, 503, 503]
    client.get_boolean("checkout", USER, False)
    first = client.flush_insights(force=True)
    assert first == _insights.FlushResult(failed=1)
    client.get_boolean("checkout", USER, False)
    # The first window again (attempt 2: 503) and the new one (503): both kept.
    assert client.flush_insights(force=True) == _insights.FlushResult(failed=2)
    # Attempt 3 of the first is its last (200 now); the second gets its second attempt.
    assert client.flush_insights(force=True) == _insights.FlushResult(sent=2, counters=2)
    assert [sum(_counts(b).values()) for b in ingest.bodies] == [1, 1, 1, 1, 1]
    client.close()


def test_attempts_are_bounded(ingest: IngestServer) -> None:
    table = Insights(url=ingest.url, sdk_key_text="k", project="p", environment="e")
    ingest.statuses = [500] * 10
    table.record("f", "on", "STATIC")
    results = [table.flush() for _ in range(_insights.MAX_ATTEMPTS)]
    assert [r.failed for r in results[:-1]] == [1] * (_insights.MAX_ATTEMPTS - 1)
    assert results[-1].dropped == 1
    assert len(ingest.bodies) == _insights.MAX_ATTEMPTS
    assert table.dropped_payloads == 1


def test_a_refused_key_turns_insights_off(ingest: IngestServer) -> None:
    table = Insights(url=ingest.url, sdk_key_text="k", project="p", environment="e")
    ingest.statuses = [403]
    table.record("f", "on", "STATIC")
    assert table.flush().dropped == 1
    assert table.enabled is False
    table.record("f", "on", "STATIC")
    assert table.flush() == _insights.FlushResult()
    assert len(ingest.bodies) == 1


def test_a_bad_request_is_dropped_not_retried(ingest: IngestServer) -> None:
    table = Insights(url=ingest.url, sdk_key_text="k", project="p", environment="e")
    ingest.statuses = [400]
    table.record("f", "on", "STATIC")
    assert table.flush().dropped == 1
    assert table.enabled is True
    assert table.flush() == _insights.FlushResult()


def test_an_unreachable_endpoint_never_raises() -> None:
    table = Insights(url="http://127.0.0.1:1/v1/insights/evaluations", sdk_key_text="k",
                     project="p", environment="e", timeout=0.5)
    table.record("f", "on", "STATIC")
    assert table.flush().failed == 1


def test_the_poller_thread_flushes_when_due(cdn: LoopbackCdn, factory: BundleFactory,
                                            ingest: IngestServer) -> None:
    built = factory.build(1, {"checkout": bool_flag()})
    factory.publish(cdn, built)
    client = make_client(cdn, factory, insights_url=ingest.url, poll_interval=0.05,
                         insights_flush_interval=0.05, start=True)
    try:
        assert client.wait_until_ready(10)
        client.get_boolean("checkout", USER, False)
        assert ingest.wait_for(1)
        assert sum(_counts(ingest.bodies[0]).values()) == 1
    finally:
        client.close()


def test_close_sends_the_last_window(cdn: LoopbackCdn, factory: BundleFactory,
                                     ingest: IngestServer) -> None:
    client = _ready_client(cdn, factory, ingest, mode="lambda")
    client.get_boolean("checkout", USER, False)
    client.close()
    assert len(ingest.bodies) == 1


def test_insights_are_off_without_url_key_or_when_asked(
        cdn: LoopbackCdn, factory: BundleFactory, ingest: IngestServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VEXIL_INSIGHTS_URL", raising=False)
    assert make_client(cdn, factory).insights is None
    assert make_client(cdn, factory, insights_url=ingest.url, insights=False).insights is None
    assert make_client(cdn, factory, insights_url=ingest.url, mode="offline").insights is None
    monkeypatch.setenv("VEXIL_INSIGHTS_URL", "http://127.0.0.1:5/")
    table = make_client(cdn, factory).insights
    assert table is not None
    assert table.url == "http://127.0.0.1:5/v1/insights/evaluations"
    with pytest.raises(ValueError, match="insights_url"):
        make_client(cdn, factory, insights_url="ftp://x")
