"""infra/edge.tf (the OFREP edge on AWS) agrees with the code it deploys and keeps the
promises of issue 15 item 3: an origin of the same distribution under /ofrep/* with no
caching, a WAF rate rule, least-privilege IAM, alarms, outputs."""

from __future__ import annotations

import re
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from edge_reader.bundle import generate_sdk_key, pointer_object_key
from edge_reader.edge import lambda_handler, parse_config
from infra import edge_package
from tests.infra.infra_tf import INFRA, SHARED, Tf


@pytest.fixture(scope="module")
def tf() -> Tf:
    return Tf.load(INFRA)


def dynamic(body: dict[str, Any], name: str) -> dict[str, Any]:
    found = [d[name] for d in body.get("dynamic", []) if name in d]
    assert len(found) == 1, name
    content: dict[str, Any] = found[0]["content"][0]
    return content


def test_ofrep_behaviour_is_uncached_and_reaches_the_edge_api(tf: Tf) -> None:
    dist = tf.resources[("aws_cloudfront_distribution", "bundles")]
    behaviour = dynamic(dist, "ordered_cache_behavior")
    origin = dynamic(dist, "origin")
    assert behaviour["path_pattern"] == "/ofrep/*"
    assert behaviour["target_origin_id"] == origin["origin_id"]
    assert "POST" in behaviour["allowed_methods"]
    assert behaviour["cached_methods"] == ["GET", "HEAD"]
    # AWS's managed CachingDisabled policy: POSTs (and everything else) never cached.
    assert tf.locals["cf_caching_disabled_policy_id"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
    assert behaviour["cache_policy_id"] == "${local.cf_caching_disabled_policy_id}"
    # The bundles' response-headers policy answers CORS for any origin; the edge's must not.
    assert behaviour["response_headers_policy_id"].startswith(
        "${aws_cloudfront_response_headers_policy.edge."
    )
    assert "cors_config" not in tf.resources[("aws_cloudfront_response_headers_policy", "edge")]
    assert "aws_apigatewayv2_api.edge[0].api_endpoint" in origin["domain_name"]
    assert origin["custom_origin_config"][0]["origin_protocol_policy"] == "https-only"


def test_the_origin_secret_cloudfront_sends_is_the_one_the_function_checks(tf: Tf) -> None:
    origin = dynamic(tf.resources[("aws_cloudfront_distribution", "bundles")], "origin")
    header = origin["custom_header"][0]
    assert tf.locals["edge_origin_header"] == lambda_handler.ORIGIN_HEADER
    assert header["name"] == "${local.edge_origin_header}"
    env = tf.resources[("aws_lambda_function", "edge")]["environment"][0]["variables"]
    assert header["value"] == env["VEXIL_EDGE_ORIGIN_SECRET"] == "${var.edge_origin_secret}"
    assert tf.variables["edge_origin_secret"]["sensitive"] is True
    fn = tf.resources[("aws_lambda_function", "edge")]
    assert "length(var.edge_origin_secret) >= 32" in str(fn["lifecycle"])


def test_the_function_config_is_one_the_edge_parses(tf: Tf) -> None:
    fn = tf.resources[("aws_lambda_function", "edge")]
    text = fn["environment"][0]["variables"]["VEXIL_EDGE_CONFIG_JSON"]
    keys = set(re.findall(r"(\w+) = ", text))
    assert keys == {
        "s3_bucket", "environments", "cors_origins", "signing_keys", "lambda_ttl",
        "lambda_timeout",
    }
    pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    env = {"project": "shop", "environment": "prod", "sdk_key": generate_sdk_key("cli").text}
    parsed = parse_config({
        "s3_bucket": "vexil-bundles", "environments": [env], "cors_origins": ["https://a.b"],
        "signing_keys": [pem], "lambda_ttl": 15, "lambda_timeout": 1.0,
    })
    # Every key Terraform writes is one the parser reads (a misspelt key would be ignored).
    assert parsed.s3_bucket == "vexil-bundles"
    assert parsed.cors_origins == ("https://a.b",)
    assert len(parsed.signing_keys) == 1
    assert parsed.lambda_ttl == 15
    assert fn["handler"] == edge_package.HANDLER == "edge_reader.edge.lambda_handler.handler"
    assert fn["runtime"] == f"python{edge_package.PYTHON_VERSION}"
    assert fn["filename"] == "${local.edge_zip}"
    assert tf.locals["edge_zip"].endswith(
        str(edge_package.EDGE_ZIP.relative_to(INFRA.parent / "infra"))
    )


def test_the_role_reads_only_client_scope_objects(tf: Tf) -> None:
    statements = tf.data[("aws_iam_policy_document", "edge_runtime")]["statement"]
    by_sid = {s["sid"]: s for s in statements}
    assert by_sid["ReadClientScopeBundles"]["actions"] == ["s3:GetObject"]
    pattern = tf.locals["edge_readable_objects"]
    assert pattern == (
        "${aws_s3_bucket.bundles.arn}/${local.bundle_prefix}*/scopes/client/*"
    )
    # The pattern matches the client pointer, and never a server-scope pointer or bundle.
    glob = re.compile(
        "^" + re.escape(SHARED["bucket"]["bundle_prefix"]).replace(r"\*", ".*")
        + ".*/scopes/client/.*$"
    )
    assert glob.match(pointer_object_key("shop", "prod", "client"))
    assert not glob.match(pointer_object_key("shop", "prod", "server"))
    assert not glob.match("bundles/shop/prod/7-abc.bundle")
    actions = {a for s in statements for a in s["actions"]}
    assert actions == {
        "s3:GetObject", "kms:Decrypt", "logs:CreateLogStream", "logs:PutLogEvents",
        "xray:PutTraceSegments", "xray:PutTelemetryRecords",
    }
    assert by_sid["BucketEncryptionThroughS3"]["condition"][0]["variable"] == "kms:ViaService"


def test_waf_rate_rule_for_ofrep_and_acl_visibility(tf: Tf) -> None:
    cdn = tf.resources[("aws_wafv2_web_acl", "cdn")]
    rules = {r["name"]: r for r in cdn["rule"]}
    rate = rules["ofrep-rate-limit-per-ip"]["statement"][0]["rate_based_statement"][0]
    assert rate["limit"] == "${var.waf_edge_rate_limit}"
    match = rate["scope_down_statement"][0]["byte_match_statement"][0]
    assert match["search_string"] == "/ofrep/"
    assert match["positional_constraint"] == "STARTS_WITH"
    assert tf.variables["waf_edge_rate_limit"]["default"] < tf.variables[
        "waf_cdn_rate_limit"]["default"]
    # OFREP contexts up to the edge's own 64 KB limit are not blocked at 8 KB by the WAF.
    common = rules["AWSManagedRulesCommonRuleSet"]["statement"][0]
    override = common["managed_rule_group_statement"][0]["rule_action_override"][0]
    assert override["name"] == "SizeRestrictions_BODY"
    assert "count" in override["action_to_use"][0]
    # terraform validate's requirement (issue 15 item 7): every ACL has its own visibility.
    for _, acl in tf.of_type("aws_wafv2_web_acl"):
        assert acl["visibility_config"][0]["cloudwatch_metrics_enabled"] is True


def test_alarms_cover_errors_p99_duration_and_throttles(tf: Tf) -> None:
    alarms = {
        tf.resources[("aws_cloudwatch_metric_alarm", name)]["metric_name"]:
            tf.resources[("aws_cloudwatch_metric_alarm", name)]
        for name in ("edge_errors", "edge_p99_duration", "edge_throttles")
    }
    assert set(alarms) == {"Errors", "Duration", "Throttles"}
    assert alarms["Duration"]["extended_statistic"] == "p99"
    for alarm in alarms.values():
        fn = "${aws_lambda_function.edge[0].function_name}"
        assert alarm["dimensions"] == {"FunctionName": fn}
        assert alarm["alarm_actions"] == "${local.alarm_actions}"


def test_the_edge_is_off_until_environments_are_given_and_has_outputs(tf: Tf) -> None:
    assert tf.variables["edge_environments"]["default"] == []
    assert tf.variables["edge_environments"]["sensitive"] is True
    assert tf.locals["edge_enabled"] == "${length(var.edge_environments) > 0}"
    for (rtype, name), body in tf.resources.items():
        if name.startswith("edge") and rtype != "aws_cloudfront_response_headers_policy":
            assert body["count"] == "${local.edge_enabled ? 1 : 0}", (rtype, name)
    assert {"ofrep_url", "edge_function_name"} <= set(tf.outputs)
    stage = tf.resources[("aws_apigatewayv2_stage", "edge")]
    assert stage["default_route_settings"][0]["throttling_rate_limit"] == (
        "${var.edge_throttle_rate_limit}"
    )


def test_the_edge_zip_takes_the_control_planes_pins() -> None:
    pins = {
        line.split("==")[0].split("[")[0]: line.split("[")[0] if "[" in line else line
        for line in (INFRA.parent / "control_plane" / "requirements.txt")
        .read_text(encoding="utf-8").split("\n")
        if "==" in line and not line.startswith("#")
    }
    wanted = edge_package.requirements()
    # What edge_reader imports at run time, pinned where the control plane pins it.
    assert wanted == [pins.get(n, n) for n in
                      ("orjson", "msgspec", "mmh3", "google-re2", "jsonschema", "cryptography")]
    assert "google-re2==1.1" in wanted  # the last manylinux2014 build (glibc 2.26 runtime)
    assert not any(w.startswith(("boto3", "aws-encryption-sdk")) for w in wanted)
