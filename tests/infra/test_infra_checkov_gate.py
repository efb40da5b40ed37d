"""infra/checkov_gate.py: a checkov JSON report passes only when truly clean."""

from __future__ import annotations

from typing import Any

from infra.checkov_gate import judge


def _report(**summary: int) -> dict[str, Any]:
    base = {"passed": 10, "failed": 0, "skipped": 0, "parsing_errors": 0, "resource_count": 50}
    return {"check_type": "terraform", "summary": {**base, **summary}, "results": {}}


def test_clean_report_passes() -> None:
    ok, lines = judge(_report(), min_resources=40)
    assert ok
    assert lines[-1] == "checkov: passed=10 failed=0 skipped=0 parsing_errors=0 resources=50"


def test_failed_check_fails() -> None:
    report = _report(failed=1)
    report["results"]["failed_checks"] = [
        {"check_id": "CKV_AWS_21", "resource": "aws_s3_bucket.x", "file_path": "/s3.tf",
         "check_name": "versioning"}
    ]
    ok, lines = judge(report)
    assert not ok
    assert lines[0].startswith("FAILED CKV_AWS_21 aws_s3_bucket.x")


def test_parsing_error_fails_although_checkov_exits_zero() -> None:
    ok, _ = judge(_report(parsing_errors=1))
    assert not ok


def test_empty_scan_fails() -> None:
    # checkov's bare summary (no results) when it found nothing to scan.
    bare = {"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0, "resource_count": 0}
    ok, lines = judge(bare, min_resources=1)
    assert not ok
    assert "scanned 0 resources" in lines[-1]


def test_skip_without_reason_fails() -> None:
    report = _report(skipped=1)
    report["results"]["skipped_checks"] = [
        {"check_id": "CKV_AWS_18", "resource": "aws_s3_bucket.logs",
         "check_result": {"suppress_comment": "No comment provided"}}
    ]
    ok, lines = judge(report)
    assert not ok
    assert "UNJUSTIFIED SKIP CKV_AWS_18" in lines[0]


def test_list_of_reports_is_summed() -> None:
    ok, lines = judge([_report(), _report(resource_count=5)], min_resources=55)
    assert ok
    assert "resources=55" in lines[-1]
