"""infra/tfhcl.py: Terraform JSON form -> HCL text that python-hcl2 reads back the same."""

from __future__ import annotations

import hcl2
import pytest

from infra.tfhcl import COMMENT_KEY, Expr, HclRenderError, quote, render_document

_OPTIONS = hcl2.SerializationOptions(
    with_comments=False, explicit_blocks=False, strip_string_quotes=True
)


def test_quote_escapes_literals_but_not_interpolations() -> None:
    assert quote('a "b" \\ c\nd') == '"a \\"b\\" \\\\ c\\nd"'
    # Inside ${ } HCL reads an expression: nested strings keep plain quotes.
    assert quote('${f("${path.module}/x.zip")}') == '"${f("${path.module}/x.zip")}"'
    assert quote("$${literal} 100% $") == '"$${literal} 100% $"'
    with pytest.raises(HclRenderError, match="unterminated"):
        quote("${var.x")


def test_round_trip_through_python_hcl2() -> None:
    doc = {
        "terraform": {"required_providers": {"aws": {"source": "hashicorp/aws"}}},
        "variable": {"n": {"type": Expr("number"), "description": "a number"}},
        "resource": {
            "aws_lambda_function": {
                "f": {
                    COMMENT_KEY: ["checkov:skip=CKV_AWS_1:because"],
                    "function_name": "${var.prefix}-f",
                    "memory_size": 128,
                    "architectures": ["x86_64"],
                    "tags": {"aws-chalice": "v=1", "team": "x"},
                    "environment": {"variables": {"A": "${var.a}"}},
                    "lifecycle": {"create_before_destroy": True},
                    "reserved_concurrent_executions": Expr("var.n"),
                    "kms_key_arn": None,
                }
            }
        },
        "output": {"o": {"value": Expr('{ "f" = aws_lambda_function.f.arn }')}},
    }
    text = render_document(doc, header=("generated",))
    assert text.startswith("# generated\n")
    assert "# checkov:skip=CKV_AWS_1:because" in text
    parsed = hcl2.loads(text, serialization_options=_OPTIONS)
    fn = parsed["resource"][0]["aws_lambda_function"]["f"]
    assert fn["function_name"] == "${var.prefix}-f"
    assert fn["memory_size"] == 128
    assert fn["tags"] == {"aws-chalice": "v=1", "team": "x"}
    assert fn["environment"] == [{"variables": {"A": "${var.a}"}}]  # a block
    assert fn["lifecycle"] == [{"create_before_destroy": True}]
    assert fn["reserved_concurrent_executions"] == "${var.n}"
    assert parsed["terraform"][0]["required_providers"] == [{"aws": {"source": "hashicorp/aws"}}]


def test_unknown_nested_object_is_refused() -> None:
    doc = {"resource": {"aws_x": {"y": {"mystery": {"a": 1}}}}}
    with pytest.raises(HclRenderError, match=r"aws_x\.y\.mystery: unknown nested object"):
        render_document(doc)


def test_unknown_top_level_block_is_refused() -> None:
    with pytest.raises(HclRenderError, match="unsupported top-level block 'provider'"):
        render_document({"provider": {"aws": {}}})
