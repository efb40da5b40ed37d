"""The control plane's structured logs and CloudWatch metrics: one owner for every name.

Logs are JSON lines from aws-lambda-powertools' ``Logger`` (one per request in the API, with
the request id and the principal — token id, name and role, never a secret). Metrics are
CloudWatch *embedded metric format* (EMF) lines that powertools prints to stdout: in Lambda,
CloudWatch Logs turns them into metrics with no API call and no latency on the request;
locally they land in the stack's log files (``vexil dev logs``), in the same shape.

Dimensions are chosen for cost (every distinct name + dimension set is one custom metric,
$0.30 a month): service-wide metrics carry none (alarms read them), the two per-environment
metrics carry ``Project`` and ``Environment`` (two custom metrics per environment), failures
are emitted twice: without dimensions (one alarm) and by publish ``Stage`` (a handful of
values, for the dashboard). docs/operations.md lists them.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit, single_metric

NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Vexil")

api_logger = Logger(service="vexil-api")
"""The API's structured logger (request lines and warnings)."""


class Metric(StrEnum):
    """Every metric the control plane emits (infra/observability.tf reads the same names)."""

    COMMIT_TO_LIVE_MS = "CommitToLiveMs"      # env revision committed → its pointer live
    BUNDLE_BYTES = "BundleBytes"              # per environment: the server bundle's size
    FLAG_COUNT = "FlagCount"                  # per environment: flags in the published revision
    PUBLISHES = "Publishes"                   # environments published (a new revision live)
    PUBLISH_FAILURES = "PublishFailures"      # the previous bundle stays live (alarmed)
    PUBLISH_FAILURES_BY_STAGE = "PublishFailuresByStage"  # the same, by Stage (dashboard)
    CHANGE_REQUESTS_OPENED = "ChangeRequestsOpened"
    CHANGE_REQUESTS_APPROVED = "ChangeRequestsApproved"
    CHANGE_REQUESTS_APPLIED = "ChangeRequestsApplied"
    DENIED_REQUESTS = "DeniedRequests"        # 403s: a caller tried what its role forbids
    SERVER_ERRORS = "ServerErrors"            # 5xx answered by the API (storage unavailable)
    LIST_IMPORT_QUEUE_AGE = "ListImportQueueAgeSeconds"  # oldest queued list import (alarmed)


_UNITS: Mapping[Metric, MetricUnit] = {
    Metric.COMMIT_TO_LIVE_MS: MetricUnit.Milliseconds,
    Metric.BUNDLE_BYTES: MetricUnit.Bytes,
    Metric.LIST_IMPORT_QUEUE_AGE: MetricUnit.Seconds,
}


def metrics_on() -> bool:
    """True where someone collects the EMF lines: in Lambda (CloudWatch Logs), or where
    ``VEXIL_METRICS=emf`` says so (the local stack's API and worker). Elsewhere — the API
    served inside a test or a tool's process — stdout belongs to that process's caller."""
    default = "emf" if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") else "off"
    return os.environ.get("VEXIL_METRICS", default) == "emf"


def emit(metric: Metric, value: float = 1, **dimensions: str) -> None:
    """Write one EMF metric line now (stdout) when :func:`metrics_on`. Never raises: a
    metric must not fail the request or the publish it describes; a refused value is
    logged instead."""
    if not metrics_on():
        return
    if not math.isfinite(value):
        # EMF would carry NaN/inf and CloudWatch drops the whole record: refuse it here.
        api_logger.warning("metric not emitted", metric=metric.value, error="not a finite number")
        return
    try:
        with single_metric(name=metric.value, unit=_UNITS.get(metric, MetricUnit.Count),
                           value=value, namespace=NAMESPACE,
                           default_dimensions=dict(dimensions) or None):
            pass
    except Exception as exc:  # powertools validates names, units and values
        api_logger.warning("metric not emitted", metric=metric.value,
                           error=f"{type(exc).__name__}: {exc}")


def request_id(context: Mapping[str, Any]) -> str:
    """API Gateway's request id (``requestContext.requestId``), or a fresh one where there
    is none (``chalice local``), so every request line can be found from a response."""
    value = context.get("requestId")
    return value if isinstance(value, str) and value else f"local-{uuid.uuid4()}"


def log_request(*, request_id: str, operation: str, method: str, route: str,
                params: Mapping[str, str], status: int, duration_ms: float,
                principal: Mapping[str, str] | None) -> None:
    """The one structured line per API request: the route template and its path parameters
    (keys, never secrets), never the query string — it may carry a secret pasted by
    mistake — nor any header."""
    api_logger.info("request", request_id=request_id, operation=operation, method=method,
                    route=route, params=dict(params), status=status,
                    duration_ms=round(duration_ms, 2), principal=principal)
    if status == 403:
        emit(Metric.DENIED_REQUESTS)
    elif status >= 500:
        emit(Metric.SERVER_ERRORS)
