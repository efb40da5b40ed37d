"""Tear a Vexil deployment down: what ``terraform destroy`` cannot do on its own.

Usage (from the repository root, with AWS credentials for the account)::

    .venv/bin/python -m infra.teardown --prefix vexil --dry-run   # say what would go
    .venv/bin/python -m infra.teardown --prefix vexil --yes       # do it, then print destroy
    infra/teardown.sh ...                                          # the same

Steps, in this order (each one is why a plain ``terraform destroy`` fails):

1. stop writers: disable the heartbeat rule and the publisher's stream mapping, so no new
   pointer lands in a bucket after it was emptied;
2. empty every versioned bucket of the deployment — every object *version* and every
   *delete marker* (a versioned bucket with only delete markers left is not empty);
   objects under S3 Object Lock (the audit-anchor bucket) cannot be deleted before their
   retention ends and are reported, never bypassed;
3. switch off DynamoDB deletion protection on both tables;
4. list the ``prevent_destroy`` lines still in ``infra/*.tf`` (Terraform reads them as
   literals: they must be edited, and that edit belongs in a reviewed commit);
5. print ``terraform -chdir=infra destroy``.

``--dry-run`` reads only: it lists what each step would change and changes nothing.
Names are ``<prefix>-<suffix>`` from ``infra/resources.json``, as Terraform composes them.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import boto3
from botocore.exceptions import ClientError

from vexil.resources import ResourceNames, load_definition

INFRA = Path(__file__).resolve().parent
# S3 DeleteObjects takes at most this many keys per call.
DELETE_BATCH = 1000
_MISSING = {"NoSuchBucket", "ResourceNotFoundException", "404", "NotFound"}


@dataclass(frozen=True)
class Deployment:
    """The names a deployment's teardown touches."""

    buckets: tuple[str, ...]
    tables: tuple[str, ...]
    heartbeat_rule: str
    publisher_function: str

    @classmethod
    def for_prefix(cls, prefix: str | None) -> Deployment:
        """Names as ``infra/locals.tf`` composes them (bucket, logs, anchors, truststore)."""
        definition = load_definition()
        names = ResourceNames.for_prefix(prefix)
        p = prefix or str(definition["default_name_prefix"])
        return cls(
            buckets=(
                names.bucket,
                f"{names.bucket}-logs",
                f"{p}-{definition['anchors']['bucket_suffix']}",
                f"{p}-api-truststore",
            ),
            tables=(names.table, names.key_store_table),
            heartbeat_rule=f"{p}-heartbeat",
            publisher_function=f"{p}-publisher",
        )


@dataclass
class BucketReport:
    """What emptying one bucket found and did."""

    name: str
    exists: bool = True
    versions: int = 0
    delete_markers: int = 0
    deleted: int = 0
    refused: list[str] = field(default_factory=list)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _versions(s3: Any, bucket: str) -> Iterator[tuple[dict[str, str], bool]]:
    """Every (``{"Key", "VersionId"}``, is_delete_marker) of ``bucket``."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for item in page.get("Versions", []):
            yield {"Key": item["Key"], "VersionId": item["VersionId"]}, False
        for item in page.get("DeleteMarkers", []):
            yield {"Key": item["Key"], "VersionId": item["VersionId"]}, True


def empty_bucket(s3: Any, bucket: str, *, dry_run: bool) -> BucketReport:
    """Delete every version and delete marker of ``bucket`` (``dry_run``: count only).

    Deletes by version id, so nothing new is created (a plain delete would add markers).
    Object Lock refusals are collected in ``refused``; governance retention is never
    bypassed.
    """
    report = BucketReport(bucket)
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if _code(exc) in _MISSING:
            report.exists = False
            return report
        raise
    batch: list[dict[str, str]] = []
    for ref, is_marker in _versions(s3, bucket):
        if is_marker:
            report.delete_markers += 1
        else:
            report.versions += 1
        batch.append(ref)
        if len(batch) == DELETE_BATCH and not dry_run:
            _delete(s3, bucket, batch, report)
            batch = []
    if batch and not dry_run:
        _delete(s3, bucket, batch, report)
    return report


def _delete(s3: Any, bucket: str, batch: list[dict[str, str]], report: BucketReport) -> None:
    answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
    errors = answer.get("Errors", [])
    report.deleted += len(batch) - len(errors)
    report.refused += [f"{e.get('Key')} ({e.get('Code')})" for e in errors]


def disable_deletion_protection(ddb: Any, table: str, *, dry_run: bool) -> str:
    """Switch deletion protection off; return what was found / done, in words."""
    try:
        desc = ddb.describe_table(TableName=table)["Table"]
    except ClientError as exc:
        if _code(exc) in _MISSING:
            return "absent"
        raise
    if not desc.get("DeletionProtectionEnabled", False):
        return "deletion protection already off"
    if dry_run:
        return "deletion protection ON: would switch it off"
    ddb.update_table(TableName=table, DeletionProtectionEnabled=False)
    return "deletion protection switched off"


def stop_writers(session: Any, deployment: Deployment, *, dry_run: bool) -> list[str]:
    """Disable the heartbeat rule and the publisher's event source mappings."""
    lines: list[str] = []
    events = session.client("events")
    try:
        events.describe_rule(Name=deployment.heartbeat_rule)
        if not dry_run:
            events.disable_rule(Name=deployment.heartbeat_rule)
        lines.append(f"rule {deployment.heartbeat_rule}: "
                     + ("would disable" if dry_run else "disabled"))
    except ClientError as exc:
        if _code(exc) not in _MISSING:
            raise
        lines.append(f"rule {deployment.heartbeat_rule}: absent")
    lam = session.client("lambda")
    try:
        mappings = lam.list_event_source_mappings(
            FunctionName=deployment.publisher_function
        ).get("EventSourceMappings", [])
    except ClientError as exc:
        if _code(exc) not in _MISSING:
            raise
        mappings = []
    for mapping in mappings:
        if not dry_run:
            lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
        lines.append(f"stream mapping {mapping['UUID']}: "
                     + ("would disable" if dry_run else "disabled"))
    if not mappings:
        lines.append(f"stream mappings of {deployment.publisher_function}: none")
    return lines


def prevent_destroy_lines(infra: Path = INFRA) -> list[str]:
    """``file:line`` of every ``prevent_destroy = true`` left in ``infra/*.tf``."""
    found = []
    for tf in sorted(infra.glob("*.tf")):
        for number, line in enumerate(tf.read_text(encoding="utf-8").splitlines(), 1):
            if re.match(r"\s*prevent_destroy\s*=\s*true\b", line):
                found.append(f"infra/{tf.name}:{number}")
    return found


def teardown(session: Any, deployment: Deployment, *, dry_run: bool, out: TextIO) -> int:
    """Run steps 1-5; return 0 when ``terraform destroy`` can follow, else 1."""
    mode = "DRY RUN: nothing is changed" if dry_run else "changing the account"
    print(f"==> teardown ({mode})", file=out)
    print("==> [1] stop writers", file=out)
    for line in stop_writers(session, deployment, dry_run=dry_run):
        print(f"    {line}", file=out)
    print("==> [2] empty versioned buckets (versions and delete markers)", file=out)
    s3 = session.client("s3")
    blocked = False
    for bucket in deployment.buckets:
        rep = empty_bucket(s3, bucket, dry_run=dry_run)
        if not rep.exists:
            print(f"    {bucket}: absent", file=out)
            continue
        found = f"{rep.versions} versions + {rep.delete_markers} delete markers"
        done = (f"would delete {found}" if dry_run
                else f"deleted {rep.deleted} of {rep.versions + rep.delete_markers} ({found})")
        print(f"    {bucket}: {done}", file=out)
        for refused in rep.refused:
            print(f"    !! refused (Object Lock retention?): {refused}", file=out)
        blocked |= bool(rep.refused)
    print("==> [3] DynamoDB deletion protection", file=out)
    ddb = session.client("dynamodb")
    for table in deployment.tables:
        print(f"    {table}: {disable_deletion_protection(ddb, table, dry_run=dry_run)}",
              file=out)
    print("==> [4] prevent_destroy in infra/*.tf (edit them to false in a reviewed commit)",
          file=out)
    guarded = prevent_destroy_lines()
    for where in guarded:
        print(f"    {where}", file=out)
    print("==> [5] then, from the repository root:", file=out)
    print("terraform -chdir=infra destroy", file=out)
    if blocked:
        print("!! some objects are locked: destroy will fail on their bucket until their "
              "retention ends (docs/deploy.md, Tear down)", file=out)
    return 1 if blocked or (guarded and not dry_run) else 0


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; see the module docstring. Needs ``--dry-run`` or ``--yes``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefix", help="name_prefix of the deployment (default: resources.json)")
    parser.add_argument("--region", help="aws_region of the deployment (default: the profile's)")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--dry-run", action="store_true", help="report only, change nothing")
    group.add_argument("--yes", action="store_true", help="really delete and disable")
    args = parser.parse_args(argv)
    session = boto3.session.Session(region_name=args.region)
    try:
        return teardown(session, Deployment.for_prefix(args.prefix), dry_run=args.dry_run,
                        out=sys.stdout)
    except ClientError as exc:
        print(f"infra.teardown: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
