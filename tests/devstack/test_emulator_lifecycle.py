"""The emulator applies the bundle bucket's lifecycle rules (infra/s3.tf) as S3 does.

The launcher runs in its own process with a lifecycle "day" of 0.1 s and maintenance every
0.2 s, so a 30-day rule acts after 3 s; waits are longer than those lifetimes, never
shorter (a slow machine only waits more).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chalicelib.publish.store import SUPERSEDED_TAG

from tests.devstack.launcher import Launcher
from tests.infra.infra_tf import INFRA, Tf, first
from vexil.resources import (
    SUPERSEDED_BUNDLE_EXPIRATION_DAYS,
    bundle_lifecycle_rules,
    load_definition,
)

BUCKET = "lifecycle-test"
PREFIX = load_definition()["bucket"]["bundle_prefix"]
KEEP = load_definition()["bucket"]["keep_noncurrent_bundles"]
SHORT = {"VEXIL_EMULATOR_LIFECYCLE_DAY": "0.1", "VEXIL_EMULATOR_MAINTAIN_EVERY": "0.2"}


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    running = Launcher(tmp_path / "moto.state", env=SHORT).wait_ready()
    try:
        s3 = running.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_lifecycle_configuration(
            Bucket=BUCKET, LifecycleConfiguration={"Rules": bundle_lifecycle_rules()})
        yield running
    finally:
        running.stop()


def _versions(s3: Any, key: str) -> tuple[list[str], list[str]]:
    """(object version ids, delete marker ids) of ``key``, newest first."""
    page = s3.list_object_versions(Bucket=BUCKET, Prefix=key)
    return ([v["VersionId"] for v in page.get("Versions", []) if v["Key"] == key],
            [m["VersionId"] for m in page.get("DeleteMarkers", []) if m["Key"] == key])


def _wait(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the lifecycle never acted"
        time.sleep(0.1)


def test_tagged_bundles_expire_and_nothing_else(launcher: Launcher) -> None:
    s3 = launcher.client("s3")
    old, live, other = f"{PREFIX}p/e/1-a.bundle", f"{PREFIX}p/e/2-b.bundle", "console/x.js"
    for key in (old, live, other):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x" * 1000)
    s3.put_object_tagging(Bucket=BUCKET, Key=old, Tagging={"TagSet": [dict(SUPERSEDED_TAG)]})
    # Tagged outside the bundle prefix: no rule's filter matches it.
    s3.put_object_tagging(Bucket=BUCKET, Key=other, Tagging={"TagSet": [dict(SUPERSEDED_TAG)]})
    # Expiry (3 s) puts a marker, the noncurrent rule deletes the bytes, the marker goes.
    _wait(lambda: _versions(s3, old) == ([], []))
    maintained = launcher.census()["maintained"]
    assert maintained["s3_expired"] == 1
    assert maintained["s3_versions_deleted"] == 2  # the bundle and its delete marker
    for key in (live, other):
        assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"x" * 1000
        assert len(_versions(s3, key)[0]) == 1


def test_pointer_keeps_current_and_newest_noncurrent_versions(launcher: Launcher) -> None:
    s3 = launcher.client("s3")
    pointer = f"{PREFIX}p/e/current.json"
    written = [s3.put_object(Bucket=BUCKET, Key=pointer, Body=str(n).encode())["VersionId"]
               for n in range(KEEP + 6)]
    _wait(lambda: len(_versions(s3, pointer)[0]) == KEEP + 1)
    time.sleep(1.0)  # several more runs: nothing more goes
    versions, markers = _versions(s3, pointer)
    assert versions == list(reversed(written))[:KEEP + 1]
    assert markers == []
    assert s3.get_object(Bucket=BUCKET, Key=pointer)["Body"].read() == str(KEEP + 5).encode()


def test_local_rules_are_the_terraform_rules() -> None:
    tf = Tf.load(INFRA)
    rules = {r["id"]: r for r in
             tf.resources[("aws_s3_bucket_lifecycle_configuration", "bundles")]["rule"]}
    local = {r["ID"]: r for r in bundle_lifecycle_rules()}
    assert set(local) == set(rules)
    keep = first(rules["keep-last-pointer-versions"]["noncurrent_version_expiration"])
    assert local["keep-last-pointer-versions"]["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": keep["noncurrent_days"],
        "NewerNoncurrentVersions": tf.resolve(keep["newer_noncurrent_versions"])}
    superseded = rules["expire-superseded-bundles"]
    assert local["expire-superseded-bundles"]["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": first(superseded["noncurrent_version_expiration"])["noncurrent_days"]}
    variable = tf.variables["superseded_bundle_expiration_days"]
    assert variable["default"] == SUPERSEDED_BUNDLE_EXPIRATION_DAYS
    assert first(rules["clean-delete-markers"]["expiration"])["expired_object_delete_marker"]
    imports = rules["expire-abandoned-imports"]
    assert local["expire-abandoned-imports"]["Filter"] == {"Prefix": first(imports["filter"])[
        "prefix"]}
    assert local["expire-abandoned-imports"]["Expiration"] == {
        "Days": first(imports["expiration"])["days"]}


def test_rules_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "moto.state"
    # Days of an hour: nothing can expire before the restart.
    first_run = Launcher(state, env={**SHORT, "VEXIL_EMULATOR_LIFECYCLE_DAY": "3600"})
    try:
        s3 = first_run.wait_ready().client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_lifecycle_configuration(
            Bucket=BUCKET, LifecycleConfiguration={"Rules": bundle_lifecycle_rules()})
        key, live = f"{PREFIX}p/e/1-a.bundle", f"{PREFIX}p/e/2-b.bundle"
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
        s3.put_object(Bucket=BUCKET, Key=live, Body=b"y")
        s3.put_object_tagging(Bucket=BUCKET, Key=key, Tagging={"TagSet": [dict(SUPERSEDED_TAG)]})
        first_run.wait_saved()
    finally:
        first_run.stop()
    second = Launcher(state, env=SHORT).wait_ready()
    try:
        s3 = second.client("s3")
        # The restored rules expire the tagged bundle (no rules were sent to this process).
        _wait(lambda: _versions(s3, key) == ([], []))
        assert s3.get_object(Bucket=BUCKET, Key=live)["Body"].read() == b"y"
        assert second.census()["maintained"]["s3_expired"] == 1
    finally:
        second.stop()
