"""The publisher's CloudWatch metrics (EMF lines on stdout): what a platform team alarms on."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from chalicelib.publish.publisher import Publisher, PublishError

from tests.publisher.tablekit import TableKit


def emf_metrics(text: str) -> list[dict[str, Any]]:
    """Every EMF record printed: {"name", "value", "unit", "dimensions", "namespace"}."""
    found: list[dict[str, Any]] = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        aws = record.get("_aws") if isinstance(record, dict) else None
        if not aws:
            continue
        for directive in aws["CloudWatchMetrics"]:
            dims = {d: record[d] for group in directive["Dimensions"] for d in group}
            for metric in directive["Metrics"]:
                value = record[metric["Name"]]
                # powertools writes values as a list (one entry per data point).
                value = value[0] if isinstance(value, list) and len(value) == 1 else value
                found.append({"name": metric["Name"], "unit": metric.get("Unit"),
                              "value": value, "dimensions": dims,
                              "namespace": directive["Namespace"]})
    return found


@pytest.fixture(autouse=True)
def _metrics_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEXIL_METRICS", "emf")  # as in Lambda and the local stack


def _named(metrics: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [m for m in metrics if m["name"] == name]


def test_a_publish_reports_latency_size_and_flag_count(
        kit: TableKit, publisher: Publisher, capfd: pytest.CaptureFixture[str]) -> None:
    committed = "2026-11-24T06:01:02.000Z"
    kit.env(revision=3, updated_at=committed)
    kit.flag("a")
    kit.flag("b")
    publisher.clock = lambda: datetime.fromisoformat(committed).timestamp() + 1.25
    capfd.readouterr()

    publisher.publish(kit.project, "prod")

    metrics = emf_metrics(capfd.readouterr().out)
    [latency] = _named(metrics, "CommitToLiveMs")
    assert latency["value"] == pytest.approx(1250.0)
    assert latency["unit"] == "Milliseconds"
    assert latency["dimensions"] == {}
    where = {"Project": kit.project, "Environment": "prod"}
    [flags] = _named(metrics, "FlagCount")
    assert (flags["value"], flags["dimensions"]) == (2, where)
    [size] = _named(metrics, "BundleBytes")
    assert size["dimensions"] == where
    assert size["unit"] == "Bytes"
    assert size["value"] > 100
    assert len(_named(metrics, "Publishes")) == 1
    assert not _named(metrics, "PublishFailures")


def test_a_publish_with_nothing_new_reports_no_latency(
        kit: TableKit, publisher: Publisher, capfd: pytest.CaptureFixture[str]) -> None:
    kit.env(revision=1)
    kit.flag("a")
    publisher.publish(kit.project, "prod")
    capfd.readouterr()

    publisher.publish(kit.project, "prod")  # same revision: nothing goes live

    metrics = emf_metrics(capfd.readouterr().out)
    assert not _named(metrics, "CommitToLiveMs")
    assert not _named(metrics, "Publishes")


def test_a_failed_publish_counts_once_overall_and_once_by_stage(
        kit: TableKit, publisher: Publisher, capfd: pytest.CaptureFixture[str]) -> None:
    kit.env(revision=1)
    kit.flag("a")
    kit.raw_config("a", "{not json")
    capfd.readouterr()

    with pytest.raises(PublishError):
        publisher.publish(kit.project, "prod")

    metrics = emf_metrics(capfd.readouterr().out)
    [overall] = _named(metrics, "PublishFailures")
    assert overall["dimensions"] == {}
    assert overall["value"] == 1
    [by_stage] = _named(metrics, "PublishFailuresByStage")
    assert by_stage["dimensions"] == {"Stage": "snapshot"}
