"""The web console on AWS (infra/console.tf): its files in the bucket under console/, served
by the distribution under /console/ with the same strict CSP the local stack sends, and the
API's CORS limited to the console origin — gateway errors included."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from tests.infra.infra_tf import Tf, first
from vexil.devstack.consoleserve import content_security_policy

INFRA = Path(__file__).resolve().parents[2] / "infra"
CONSOLE = INFRA.parent / "console"


@pytest.fixture(scope="module")
def tf() -> Tf:
    return Tf.load(INFRA)


def test_the_csp_is_the_one_the_local_stack_sends(tf: Tf) -> None:
    policy = tf.resources[("aws_cloudfront_response_headers_policy", "console")]
    csp = first(first(policy["security_headers_config"])["content_security_policy"])
    assert csp["content_security_policy"] == "${local.console_csp}"
    assert csp["override"] is True
    terraform = re.sub(r"\$\{local\.csp_api_origin\}", "API",
                       "; ".join(re.findall(r'"([^"]+)"', tf.raw["console.tf"].split(
                           "console_csp = join(\"; \", [")[1].split("])")[0])))
    assert terraform == content_security_policy("API")
    assert "'unsafe-inline'" not in terraform


def test_console_files_are_uploaded_and_routed(tf: Tf) -> None:
    objects = tf.resources[("aws_s3_object", "console")]
    assert objects["key"] == "console/${each.value}"
    shipped = {p.relative_to(CONSOLE).as_posix() for p in CONSOLE.rglob("*") if p.is_file()}
    assert "index.html" in shipped
    # The upload's fileset pattern covers every file the console has.
    assert all(p.rsplit(".", 1)[-1] in {"html", "js", "css"} for p in shipped), shipped
    dist = tf.resources[("aws_cloudfront_distribution", "bundles")]
    console = [b for b in dist["ordered_cache_behavior"] if b["path_pattern"] == "console/*"]
    assert len(console) == 1
    assert fnmatchcase("console/js/main.js", console[0]["path_pattern"])
    assert console[0]["response_headers_policy_id"] == (
        "${aws_cloudfront_response_headers_policy.console.id}")
    policy = tf.data[("aws_iam_policy_document", "bundles_bucket")]
    reads = next(s for s in policy["statement"] if s.get("sid") == "CloudFrontReadsBundles")
    assert "${aws_s3_bucket.bundles.arn}/console/*" in reads["resources"]


def test_the_api_allows_only_the_console_origin(tf: Tf) -> None:
    assert tf.modules["control_plane"]["console_origin"] == "${local.console_origin}"
    responses = tf.resources[("aws_api_gateway_gateway_response", "console_cors")]
    header = responses["response_parameters"][
        "gatewayresponse.header.Access-Control-Allow-Origin"]
    assert header == "'${local.console_origin}'"
    assert "*" not in header
