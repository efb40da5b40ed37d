"""The AWS resources Vexil needs, created from the one shared definition.

``infra/resources.json`` names the tables (main and branch-key store), bucket and KMS keys
(the bundle key, the table key and the asymmetric pointer-signing key);
Terraform reads the same file. The local stack and the tests call :func:`ensure_resources`
against moto_server so they run with exactly the names and keys the deployed system uses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from edge_reader.bundle.signing import KEY_SPEC, public_key_pem

RESOURCES_FILE = Path(__file__).resolve().parent.parent / "infra" / "resources.json"


def load_definition(path: Path = RESOURCES_FILE) -> dict[str, Any]:
    """Return the parsed shared resource definition."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@dataclass(frozen=True)
class ResourceNames:
    """Concrete names for one deployment (a name prefix applied to the definition)."""

    table: str
    bucket: str
    bundle_key_alias: str
    table_key_alias: str
    key_store_table: str
    signing_key_alias: str

    @classmethod
    def for_prefix(cls, prefix: str | None = None) -> ResourceNames:
        """Names as Terraform composes them: ``<prefix>-<suffix>``."""
        d = load_definition()
        p = prefix or d["default_name_prefix"]
        return cls(
            table=f"{p}-{d['table']['suffix']}",
            bucket=f"{p}-{d['bucket']['suffix']}",
            bundle_key_alias=f"alias/{p}-{d['kms']['bundle_key_alias_suffix']}",
            table_key_alias=f"alias/{p}-{d['kms']['table_key_alias_suffix']}",
            key_store_table=f"{p}-{d['key_store']['suffix']}",
            signing_key_alias=f"alias/{p}-{d['kms']['signing_key_alias_suffix']}",
        )

    def environment(self, bundle_key_id: str, signing_key_id: str) -> dict[str, str]:
        """The VEXIL_* environment variables runtime code reads."""
        return {
            "VEXIL_TABLE": self.table,
            "VEXIL_BUCKET": self.bucket,
            "VEXIL_KMS_KEY_ID": bundle_key_id,
            "VEXIL_KEY_STORE_TABLE": self.key_store_table,
            "VEXIL_SIGNING_KEY_ID": signing_key_id,
        }


def _ensure_key(kms: Any, alias: str, description: str, **spec: str) -> str:
    """The ARN of the key ``alias`` names, created with ``spec`` (KeyUsage, KeySpec) if absent."""
    try:
        meta = kms.describe_key(KeyId=alias)["KeyMetadata"]
        return str(meta["Arn"])
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NotFoundException":
            raise
    meta = kms.create_key(Description=description, **(spec or {"KeyUsage": "ENCRYPT_DECRYPT"})
                          )["KeyMetadata"]
    kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
    return str(meta["Arn"])


def signing_public_key_pem(signing_key_id: str, *,
                           session: boto3.session.Session | None = None) -> str:
    """The PEM public key of the pointer-signing key: what readers pin (``signing_keys``)."""
    kms = (session or boto3.session.Session()).client("kms")
    return public_key_pem(bytes(kms.get_public_key(KeyId=signing_key_id)["PublicKey"]))


def _ensure_table(ddb: Any, name: str, spec: dict[str, Any]) -> None:
    """Create table ``name`` from a resources.json spec (main table or key store) if absent.

    GSIs and a stream are created only when the spec names them (the key store has neither).
    """
    try:
        ddb.describe_table(TableName=name)
        return
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    extra: dict[str, Any] = {}
    gsis = [
        {
            "IndexName": g["name"],
            "KeySchema": [
                {"AttributeName": g["hash_key"], "KeyType": "HASH"},
                {"AttributeName": g["range_key"], "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": g["projection"]},
        }
        for g in spec.get("global_secondary_indexes", [])
    ]
    if gsis:
        extra["GlobalSecondaryIndexes"] = gsis
    if spec.get("stream_view_type"):
        extra["StreamSpecification"] = {"StreamEnabled": True,
                                        "StreamViewType": spec["stream_view_type"]}
    ddb.create_table(
        TableName=name,
        AttributeDefinitions=[
            {"AttributeName": a, "AttributeType": t} for a, t in spec["attributes"].items()
        ],
        KeySchema=[
            {"AttributeName": spec["hash_key"], "KeyType": "HASH"},
            {"AttributeName": spec["range_key"], "KeyType": "RANGE"},
        ],
        BillingMode=spec["billing_mode"],
        **extra,
    )
    ddb.get_waiter("table_exists").wait(TableName=name)


def ensure_key_store_table(name: str, *, session: boto3.session.Session | None = None) -> str:
    """Create a branch-key store table called ``name`` when absent (benchmarks, tests);
    return the name. Same schema as the deployment's (resources.json ``key_store``)."""
    session = session or boto3.session.Session()
    _ensure_table(session.client("dynamodb"), name, load_definition()["key_store"])
    return name


# Terraform's superseded_bundle_expiration_days default (infra/variables.tf; a test ties them).
SUPERSEDED_BUNDLE_EXPIRATION_DAYS = 30


def bundle_lifecycle_rules(definition: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The bundle bucket's lifecycle rules, as ``infra/s3.tf`` configures them (a test
    compares the two): keep the newest ``keep_noncurrent_bundles`` noncurrent pointer
    versions, expire bundles the publisher tagged superseded, expire list-import uploads
    nobody processed (raw ids), clean up delete markers."""
    from chalicelib.publish.store import SUPERSEDED_TAG  # noqa: PLC0415 - control plane
    from chalicelib.usecases.list_imports import (  # noqa: PLC0415
        ABANDONED_IMPORT_DAYS,
        IMPORT_PREFIX,
    )

    bucket = (definition or load_definition())["bucket"]
    prefix = bucket["bundle_prefix"]
    abort = {"DaysAfterInitiation": 1}
    return [
        {"ID": "keep-last-pointer-versions", "Status": "Enabled", "Filter": {"Prefix": prefix},
         "NoncurrentVersionExpiration": {
             "NoncurrentDays": 1, "NewerNoncurrentVersions": bucket["keep_noncurrent_bundles"]},
         "AbortIncompleteMultipartUpload": abort},
        {"ID": "expire-superseded-bundles", "Status": "Enabled",
         "Filter": {"And": {"Prefix": prefix, "Tags": [dict(SUPERSEDED_TAG)]}},
         "Expiration": {"Days": SUPERSEDED_BUNDLE_EXPIRATION_DAYS},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 1}},
        {"ID": "expire-abandoned-imports", "Status": "Enabled",
         "Filter": {"Prefix": IMPORT_PREFIX},
         "Expiration": {"Days": ABANDONED_IMPORT_DAYS},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
         "AbortIncompleteMultipartUpload": abort},
        {"ID": "clean-delete-markers", "Status": "Enabled", "Filter": {},
         "Expiration": {"ExpiredObjectDeleteMarker": True},
         "AbortIncompleteMultipartUpload": abort},
    ]


def _ensure_bucket(s3: Any, name: str, region: str) -> None:
    try:
        s3.head_bucket(Bucket=name)
    except ClientError:
        if region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(
                Bucket=name, CreateBucketConfiguration={"LocationConstraint": region}
            )
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    # Every time (idempotent): a bucket restored from an older local state gets the rules too.
    s3.put_bucket_lifecycle_configuration(
        Bucket=name, LifecycleConfiguration={"Rules": bundle_lifecycle_rules()})


def ensure_resources(
    names: ResourceNames | None = None, *, session: boto3.session.Session | None = None
) -> dict[str, str]:
    """Create the tables, bucket and KMS keys when absent; return the VEXIL_* variables.

    Idempotent: a second call finds everything and changes nothing. Endpoint, region and
    credentials come from the environment (``AWS_ENDPOINT_URL`` points at moto locally).
    """
    names = names or ResourceNames.for_prefix()
    session = session or boto3.session.Session()
    region = session.region_name or "us-east-1"
    definition = load_definition()
    kms = session.client("kms")
    bundle_key = _ensure_key(kms, names.bundle_key_alias, "Vexil bundle envelopes")
    _ensure_key(kms, names.table_key_alias, "Vexil DynamoDB SSE")
    signing_key = _ensure_key(kms, names.signing_key_alias, "Vexil pointer signatures",
                              KeyUsage="SIGN_VERIFY", KeySpec=KEY_SPEC)
    ddb = session.client("dynamodb")
    _ensure_table(ddb, names.table, definition["table"])
    _ensure_table(ddb, names.key_store_table, definition["key_store"])
    _ensure_bucket(session.client("s3"), names.bucket, region)
    return names.environment(bundle_key, signing_key)
