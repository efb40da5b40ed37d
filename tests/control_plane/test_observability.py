"""Structured request logs and metrics of the API, checked against a real local server.

Two tokens: the admin and a reader that tries a write. Every request leaves one JSON line
with the request id the response carried and the principal's token id — never a token.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from chalicelib import observability
from chalicelib.observability import Metric

from tests.conftest import free_port
from tests.control_plane.conftest import World
from tests.publisher.test_publish_metrics import emf_metrics
from vexil.devstack import procs

ROOT = Path(__file__).resolve().parents[2]
CONTROL_PLANE = ROOT / "control_plane"


def _call(url: str, token: str, method: str = "GET", body: Any = None
          ) -> tuple[int, dict[str, str]]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers)


def _wait_up(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/v1/health", timeout=5):
                return
        except (urllib.error.URLError, ConnectionError):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "API did not start"
            time.sleep(0.3)


def _request_lines(log: Path) -> list[dict[str, Any]]:
    lines = []
    for raw in log.read_text().splitlines():
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("message") == "request":
            lines.append(record)
    return lines


def test_every_request_is_one_json_line_with_its_id_and_principal_and_no_secret(
        world: World, tmp_path: Path) -> None:
    project = world.new_project()
    reader = world.token("viewer", name="obs-viewer")
    port = free_port()
    log = tmp_path / "api.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vexil.devstack.apiserver", "--host", "127.0.0.1",
             "--port", str(port), "--stage", "local"],
            # Unbuffered as the stack runs it: EMF records are print()ed, not logged.
            cwd=CONTROL_PLANE, env={**os.environ, "PYTHONUNBUFFERED": "1", "VEXIL_METRICS": "emf"},
            stdout=out,
            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_up(base, proc, log)
        ok_status, ok_headers = _call(f"{base}/v1/projects/{project}", world.admin_token)
        # The reader tries a write: 403, counted, logged with who tried.
        denied_status, denied_headers = _call(
            f"{base}/v1/projects/{project}/environments", reader, "POST", {"key": "qa"})
        time.sleep(0.5)  # the server flushes its line after answering
    finally:
        procs.stop(proc)
    assert (ok_status, denied_status) == (200, 403)
    text = log.read_text()
    lines = {line["request_id"]: line for line in _request_lines(log)}
    ok = lines[ok_headers["X-Request-Id"]]
    assert ok["operation"]
    assert ok["status"] == 200
    assert ok["method"] == "GET"
    assert ok["principal"]["role"] == "admin"
    assert ok["service"] == "vexil-api"
    denied = lines[denied_headers["X-Request-Id"]]
    assert denied["status"] == 403
    assert denied["principal"]["name"] == "obs-viewer"
    assert denied["principal"]["token_id"]
    assert denied["principal"]["role"] == "viewer"
    for secret in (world.admin_token, reader):
        assert secret not in text
        # Nor its secret part alone (base64url after the prefix; it may hold "_" itself).
        assert secret.removeprefix("vxl_tok_") not in text
    assert any(m["name"] == "DeniedRequests" for m in emf_metrics(text))


@pytest.fixture
def metrics_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """EMF on, as in Lambda or the local stack."""
    monkeypatch.setenv("VEXIL_METRICS", "emf")


@pytest.mark.usefixtures("metrics_on")
def test_emit_writes_one_emf_record_with_dimensions(capfd: pytest.CaptureFixture[str]) -> None:
    observability.emit(Metric.FLAG_COUNT, 7, Project="shop", Environment="prod")
    [metric] = emf_metrics(capfd.readouterr().out)
    assert metric == {"name": "FlagCount", "unit": "Count", "value": 7,
                      "dimensions": {"Project": "shop", "Environment": "prod"},
                      "namespace": observability.NAMESPACE}


def test_no_metric_is_printed_where_nobody_collects_them(
        monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    # The API served inside another process (tests, tools): its stdout is not ours.
    monkeypatch.delenv("VEXIL_METRICS", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    observability.emit(Metric.PUBLISHES)
    assert not emf_metrics(capfd.readouterr().out)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "vexil-api")  # in Lambda: on by default
    observability.emit(Metric.PUBLISHES)
    assert [m["name"] for m in emf_metrics(capfd.readouterr().out)] == ["Publishes"]


@pytest.mark.usefixtures("metrics_on")
def test_a_refused_metric_value_is_logged_never_raised(
        capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    observability.emit(Metric.BUNDLE_BYTES, float("nan"))  # CloudWatch drops NaN records
    assert not emf_metrics(capfd.readouterr().out)
    assert "metric not emitted" in caplog.text


def test_terraform_alarms_and_dashboard_name_the_metrics_the_code_emits() -> None:
    """infra/observability.tf reads metric names and publish stages the code owns."""
    tf = (ROOT / "infra" / "observability.tf").read_text()
    names = set(re.findall(r'= "([A-Za-z]+)"', tf.split("metric_names = {")[1].split("}")[0]))
    assert names <= {m.value for m in Metric}
    publisher = (CONTROL_PLANE / "chalicelib" / "publish" / "publisher.py").read_text()
    stages = set(re.findall(r'_fail\([^"]*f?"([a-z0-9-]+)', publisher))
    declared = set(re.findall(r'"([a-z0-9-]+)"', tf.split("publish_stages =")[1].split("]")[0]))
    assert stages == declared
