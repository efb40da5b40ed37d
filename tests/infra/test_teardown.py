"""infra.teardown against the local emulator: a deployment named ``tdN`` with versioned
buckets (overwritten objects, delete markers), a table with deletion protection; the dry
run changes nothing, the real run empties every bucket and lifts the protection."""

from __future__ import annotations

import io
import itertools
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra.teardown import Deployment, empty_bucket, prevent_destroy_lines, teardown

ROOT = Path(__file__).resolve().parents[2]
_seq = itertools.count()


@pytest.fixture
def deployment(vexil_resources: dict[str, str]) -> Deployment:
    prefix = f"td{next(_seq)}x{os.getpid()}"
    dep = Deployment.for_prefix(prefix)
    s3 = boto3.client("s3")
    # Three of the four buckets (the truststore is optional), each versioned, with history.
    for bucket in dep.buckets[:3]:
        _create_bucket(s3, bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        for i in range(3):
            s3.put_object(Bucket=bucket, Key="bundles/p/e/current.json", Body=b"v%d" % i)
        s3.put_object(Bucket=bucket, Key="gone.txt", Body=b"x")
        s3.delete_object(Bucket=bucket, Key="gone.txt")  # leaves a delete marker
    boto3.client("events").put_rule(Name=dep.heartbeat_rule,
                                    ScheduleExpression="rate(15 minutes)", State="ENABLED")
    ddb = boto3.client("dynamodb")
    ddb.create_table(TableName=dep.tables[0], BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     DeletionProtectionEnabled=True)
    return dep


def _create_bucket(s3: Any, bucket: str) -> None:
    region = boto3.session.Session().region_name or "us-east-1"
    # us-east-1 is the one region S3 refuses as an explicit location constraint.
    extra = {} if region == "us-east-1" else {
        "CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **extra)


def _count(bucket: str) -> tuple[int, int]:
    page = boto3.client("s3").list_object_versions(Bucket=bucket)
    return len(page.get("Versions", [])), len(page.get("DeleteMarkers", []))


def _rule_state(name: str) -> str:
    return str(boto3.client("events").describe_rule(Name=name)["State"])


def _protected(table: str) -> bool:
    desc = boto3.client("dynamodb").describe_table(TableName=table)["Table"]
    return bool(desc.get("DeletionProtectionEnabled"))


def test_dry_run_reports_and_changes_nothing(deployment: Deployment) -> None:
    out = io.StringIO()
    rc = teardown(boto3.session.Session(), deployment, dry_run=True, out=out)
    text = out.getvalue()
    assert rc == 0, text
    assert "DRY RUN" in text
    for bucket in deployment.buckets[:3]:
        assert f"{bucket}: would delete 4 versions + 1 delete markers" in text
        assert _count(bucket) == (4, 1)
    assert f"{deployment.buckets[3]}: absent" in text
    assert f"{deployment.tables[0]}: deletion protection ON: would switch it off" in text
    assert f"{deployment.tables[1]}: absent" in text
    assert _protected(deployment.tables[0])
    assert f"rule {deployment.heartbeat_rule}: would disable" in text
    assert _rule_state(deployment.heartbeat_rule) == "ENABLED"
    assert "terraform -chdir=infra destroy" in text


def test_real_run_empties_versions_and_markers_and_lifts_protection(
    deployment: Deployment,
) -> None:
    out = io.StringIO()
    rc = teardown(boto3.session.Session(), deployment, dry_run=False, out=out)
    text = out.getvalue()
    for bucket in deployment.buckets[:3]:
        assert f"{bucket}: deleted 5 of 5 (4 versions + 1 delete markers)" in text
        assert _count(bucket) == (0, 0)
        boto3.client("s3").delete_bucket(Bucket=bucket)  # empty: the delete succeeds
    assert not _protected(deployment.tables[0])
    assert f"rule {deployment.heartbeat_rule}: disabled" in text
    assert _rule_state(deployment.heartbeat_rule) == "DISABLED"
    boto3.client("events").delete_rule(Name=deployment.heartbeat_rule)
    boto3.client("dynamodb").delete_table(TableName=deployment.tables[0])
    # The repository's prevent_destroy lines still guard: the run says so and exits 1.
    assert rc == 1
    for where in prevent_destroy_lines():
        assert where in text


def test_batches_larger_than_one_delete_call(vexil_resources: dict[str, str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import infra.teardown as td

    monkeypatch.setattr(td, "DELETE_BATCH", 2)
    bucket = f"td-batch-{os.getpid()}"
    s3: Any = boto3.client("s3")
    _create_bucket(s3, bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"k{i % 2}", Body=b"x")
    report = empty_bucket(s3, bucket, dry_run=False)
    assert (report.versions, report.deleted, report.refused) == (5, 5, [])
    assert _count(bucket) == (0, 0)
    s3.delete_bucket(Bucket=bucket)


def test_prevent_destroy_lines_name_the_guarded_resources() -> None:
    lines = prevent_destroy_lines()
    files = {line.split(":")[0] for line in lines}
    assert {"infra/dynamodb.tf", "infra/s3.tf", "infra/anchors.tf"} <= files


def test_command_line_needs_dry_run_or_yes(vexil_resources: dict[str, str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "infra.teardown", "--prefix", "nothere"],
                          cwd=ROOT, capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 2
    assert "one of the arguments --dry-run --yes is required" in proc.stderr
    proc = subprocess.run([str(ROOT / "infra" / "teardown.sh"), "--prefix", "nothere",
                           "--dry-run"], cwd=ROOT, capture_output=True, text=True, check=False,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "nothere-bundles: absent" in proc.stdout
    assert "nothere-main: absent" in proc.stdout
