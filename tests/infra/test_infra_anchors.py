"""Terraform for audit anchors: an Object Lock bucket only the publisher writes, and the
rights the publisher (write) and the API (verify) need, agreeing with the code."""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from typing import Any

import pytest
from chalicelib.anchors import ANCHOR_PREFIX, Anchor, object_key
from chalicelib.audit import Chain

from tests.infra.infra_tf import INFRA, ROOT, SHARED, Tf, all_blocks, first


@pytest.fixture(scope="module")
def tf() -> Tf:
    return Tf.load(INFRA)


def _policy(name: str) -> dict[str, dict[str, Any]]:
    doc = json.loads((ROOT / f"control_plane/.chalice/policy-{name}.json").read_text())
    return {st["Sid"]: st for st in doc["Statement"]}


def _keys() -> list[str]:
    return [object_key(Anchor.of_head(Chain.for_environment("shop", "prod"), 3, "ab" * 32, "t")),
            object_key(Anchor.of_head(Chain.global_chain(), 9, "cd" * 32, "t"))]


def test_prefix_is_the_shared_one() -> None:
    assert SHARED["anchors"]["prefix"] == ANCHOR_PREFIX


def test_anchor_bucket_is_object_locked_private_encrypted_logged(tf: Tf) -> None:
    bucket = tf.resources[("aws_s3_bucket", "anchors")]
    assert bucket["object_lock_enabled"] is True
    assert tf.resolve(bucket["bucket"]).endswith(SHARED["anchors"]["bucket_suffix"])
    lock = tf.resources[("aws_s3_bucket_object_lock_configuration", "anchors")]
    retention = first(first(lock["rule"])["default_retention"])
    assert retention == {"mode": "${var.anchor_retention_mode}",
                         "days": "${var.anchor_retention_days}"}
    assert tf.variables["anchor_retention_mode"]["default"] == "COMPLIANCE"
    assert tf.variables["anchor_retention_days"]["default"] >= 365
    versioning = tf.resources[("aws_s3_bucket_versioning", "anchors")]
    assert first(versioning["versioning_configuration"])["status"] == "Enabled"
    pab = tf.resources[("aws_s3_bucket_public_access_block", "anchors")]
    assert all(pab[k] is True for k in ("block_public_acls", "block_public_policy",
                                         "ignore_public_acls", "restrict_public_buckets"))
    sse = tf.resources[("aws_s3_bucket_server_side_encryption_configuration", "anchors")]
    assert first(first(sse["rule"])["apply_server_side_encryption_by_default"])[
        "sse_algorithm"] == "aws:kms"
    assert tf.resources[("aws_s3_bucket_logging", "anchors")]["target_bucket"] == (
        "${aws_s3_bucket.logs.id}")


def test_only_the_publisher_may_put_anchors(tf: Tf) -> None:
    body = tf.data[("aws_iam_policy_document", "anchors_bucket")]
    st = {s["sid"]: s for s in all_blocks(body, "statement")}
    deny = st["OnlyThePublisherWritesAnchors"]
    assert deny["effect"] == "Deny"
    assert deny["actions"] == ["s3:PutObject"]
    cond = first(deny["condition"])
    assert (cond["test"], cond["variable"], cond["values"]) == (
        "ArnNotEquals", "aws:PrincipalArn", ["${local.publisher_role_arn}"])


def test_publisher_writes_and_api_reads_exactly_the_anchor_keys() -> None:
    publisher, api = _policy("publisher"), _policy("api")
    write = publisher["WriteAuditAnchors"]
    assert write["Action"] == ["s3:GetObject", "s3:PutObject"]
    read = api["ReadAuditAnchors"]
    assert read["Action"] == ["s3:GetObject"]
    for resource in (write["Resource"], read["Resource"]):
        pattern = resource.replace("${anchor_bucket_arn}/", "")
        assert all(fnmatchcase(k, pattern) for k in _keys())
        assert not fnmatchcase("bundles/shop/prod/current.json", pattern)
    assert api["ListAuditAnchors"]["Condition"] == {
        "StringLike": {"s3:prefix": f"{ANCHOR_PREFIX}*"}}
    assert api["ReadSigningPublicKey"]["Action"] == ["kms:GetPublicKey"]
    assert api["ReadSigningPublicKey"]["Resource"] == "${signing_key_arn}"
    # The API never signs: verifying needs only the public half.
    assert not any("kms:Sign" in st["Action"] for st in api.values())


def test_the_api_role_may_read_the_public_key_in_the_key_policy(tf: Tf) -> None:
    body = tf.data[("aws_iam_policy_document", "signing_key")]
    st = {s["sid"]: s for s in all_blocks(body, "statement")}["ControlPlaneReadsPublicKey"]
    assert st["actions"] == ["kms:GetPublicKey"]
    assert first(st["principals"])["identifiers"] == ["${local.control_plane_role_arn}"]


def test_module_gets_the_anchor_bucket_and_every_generations_public_key(tf: Tf) -> None:
    module = tf.modules["control_plane"]
    assert module["anchor_bucket_name"] == "${aws_s3_bucket.anchors.bucket}"
    assert module["anchor_bucket_arn"] == "${aws_s3_bucket.anchors.arn}"
    assert module["anchor_trusted_keys_pem"] == "${local.signing_public_keys_pem}"
    assert "var.signing_key_generations" in tf.locals["signing_public_keys_pem"]


def test_anchor_failures_are_counted_from_the_publishers_log_message(tf: Tf) -> None:
    from chalicelib.publish.anchoring import FAILURE_MESSAGE

    metric = tf.resources[("aws_cloudwatch_log_metric_filter", "anchor_failures")]
    assert f'$.message = "{FAILURE_MESSAGE}"' in metric["pattern"]
    assert 'function_names["publisher"]' in metric["log_group_name"]
    alarm = tf.resources[("aws_cloudwatch_metric_alarm", "anchor_failures")]
    assert alarm["metric_name"] == first(metric["metric_transformation"])["name"]
