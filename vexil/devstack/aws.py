"""Pointing boto3 at the local moto_server, and the local stand-in for CloudFront's OAC."""

from __future__ import annotations

import json
from typing import Any

# moto accepts any credentials; fixed fake ones keep every process of the stack in the
# same moto "account" and make sure nothing ever reaches real AWS by accident.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def local_aws_env(endpoint: str) -> dict[str, str]:
    """Environment variables that make boto3 (and the whole stack) talk to ``endpoint``."""
    return {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}


def allow_cdn_reads(s3: Any, bucket: str, prefix: str = "bundles/") -> None:
    """Let anonymous GETs read ``prefix`` of ``bucket`` — what the CDN does in AWS.

    In AWS the bucket stays private and CloudFront reads it through an origin access
    control; locally nginx reads moto anonymously, so the bucket policy grants exactly
    ``s3:GetObject`` on the bundle prefix (bundles are envelope-encrypted; the CDN is
    public in both worlds) and, like infra/s3.tf, denies ``s3:GetObjectVersion``: the CDN
    never needs an old version of a pointer.
    """
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "LocalCdnReadsBundles",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/{prefix}*",
            },
            {
                "Sid": "LocalCdnReadsNoOldVersions",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:GetObjectVersion",
                "Resource": f"arn:aws:s3:::{bucket}/{prefix}*",
            },
        ],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
