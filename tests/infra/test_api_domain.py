"""The API's optional custom domain with mutual TLS (infra/api_domain.tf), read as data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.package import build_module
from tests.infra.infra_tf import INFRA, Tf


def _one(block: Any) -> Any:
    """python-hcl2 gives a nested block as a one-element list."""
    if isinstance(block, list):
        assert len(block) == 1, block
        return block[0]
    return block


@pytest.fixture(scope="module")
def tf() -> Tf:
    return Tf.load(INFRA)


def test_off_by_default(tf: Tf) -> None:
    for name in ("api_domain_name", "api_certificate_arn", "api_route53_zone_id",
                 "api_mtls_truststore_file"):
        assert tf.variables[name]["default"] == "", name
    assert tf.locals["api_custom_domain"] == '${var.api_domain_name != ""}'
    assert tf.locals["api_mtls"] == '${var.api_mtls_truststore_file != ""}'
    # Every resource of the option exists only when it is switched on.
    for (rtype, name), body in tf.resources.items():
        if name.startswith("api_truststore") or (rtype, name) in {
            ("aws_api_gateway_domain_name", "api"), ("aws_api_gateway_base_path_mapping", "api"),
            ("aws_route53_record", "api"),
        }:
            assert "local.api_" in str(body["count"]), (rtype, name)


def test_regional_domain_tls12_and_truststore_pinned_to_a_version(tf: Tf) -> None:
    domain = tf.resources[("aws_api_gateway_domain_name", "api")]
    assert _one(domain["endpoint_configuration"])["types"] == ["REGIONAL"]
    assert domain["security_policy"] == "TLS_1_2"
    assert domain["regional_certificate_arn"] == "${var.api_certificate_arn}"
    mtls = _one(_one(domain["dynamic"])["mutual_tls_authentication"])
    assert mtls["for_each"] == "${local.api_mtls ? [1] : []}"
    content = _one(mtls["content"])
    assert content["truststore_uri"].startswith("s3://${aws_s3_bucket.api_truststore[0].bucket}/")
    assert content["truststore_version"] == "${aws_s3_object.api_truststore[0].version_id}"
    mapping = tf.resources[("aws_api_gateway_base_path_mapping", "api")]
    assert mapping["stage_name"] == "${aws_api_gateway_stage.api.stage_name}"
    assert "base_path" not in mapping  # the stage at the domain's root: /v1/...


def test_truststore_bucket_is_private_versioned_encrypted_tls_only(tf: Tf) -> None:
    for rtype in ("aws_s3_bucket_public_access_block", "aws_s3_bucket_versioning",
                  "aws_s3_bucket_server_side_encryption_configuration",
                  "aws_s3_bucket_ownership_controls", "aws_s3_bucket_logging",
                  "aws_s3_bucket_policy"):
        assert (rtype, "api_truststore") in tf.resources, rtype
    block = tf.resources[("aws_s3_bucket_public_access_block", "api_truststore")]
    assert all(block[k] is True for k in ("block_public_acls", "block_public_policy",
                                          "ignore_public_acls", "restrict_public_buckets"))
    policy = tf.data[("aws_iam_policy_document", "api_truststore")]
    statement = _one(policy["statement"])
    assert statement["effect"] == "Deny"
    assert _one(statement["condition"])["variable"] == "aws:SecureTransport"


def test_mtls_switches_off_the_execute_api_endpoint(tf: Tf, tmp_path: Path) -> None:
    assert tf.locals["api_disable_default_endpoint"] == "${local.api_mtls}"
    call = tf.modules["control_plane"]
    assert call["disable_execute_api_endpoint"] == "${local.api_disable_default_endpoint}"
    module = Tf.load(build_module(module_dir=tmp_path / "chalice_app", config_only=True).parent)
    apis = dict(module.of_type("aws_api_gateway_rest_api"))
    assert len(apis) == 1
    body = next(iter(apis.values()))
    assert body["disable_execute_api_endpoint"] == "${var.disable_execute_api_endpoint}"
    assert module.variables["disable_execute_api_endpoint"]["type"] == "bool"


def test_api_url_output_follows_the_custom_domain(tf: Tf) -> None:
    value = tf.outputs["api_url"]["value"]
    assert "local.api_custom_domain" in value
    assert "https://${var.api_domain_name}" in value
