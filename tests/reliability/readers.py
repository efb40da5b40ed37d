"""Reader-side helpers: read what the publisher put on S3 the way an SDK would.

moto_server serves S3 objects over plain HTTP on 127.0.0.1 (path-style URLs), so a real
``FlagClient`` can poll the real bucket: the CDN → reader boundary with nothing faked.
"""

from __future__ import annotations

import os
from typing import Any

import boto3

from edge_reader.bundle import decode_pointer, decrypt_bundle, encryption_context
from edge_reader.bundle import pointer_object_key as _pointer_key
from edge_reader.client import FlagClient


def pointer_url(project: str, environment: str = "prod", scope: str = "server") -> str:
    """The HTTP URL of a pointer in the session bucket (moto_server, path-style)."""
    endpoint = os.environ["AWS_ENDPOINT_URL"].rstrip("/")
    bucket = os.environ["VEXIL_BUCKET"]
    return f"{endpoint}/{bucket}/{_pointer_key(project, environment, scope)}"


def reader(project: str, sdk_key: str, environment: str = "prod", **kw: Any) -> FlagClient:
    """A FlagClient on the real bucket, refreshed by hand (no thread)."""
    options: dict[str, Any] = {"project": project, "environment": environment,
                               "sdk_key": sdk_key, "pointer_url": pointer_url(project, environment),
                               "start": False, "first_retry": 0.01}
    options.update(kw)
    return FlagClient(**options)


def s3() -> Any:
    """A plain S3 client for assertions."""
    return boto3.session.Session().client("s3")


def live_revision(project: str, environment: str = "prod", scope: str = "server") -> int | None:
    """The revision the live pointer names, or None when there is no pointer."""
    try:
        body = s3().get_object(Bucket=os.environ["VEXIL_BUCKET"],
                               Key=_pointer_key(project, environment, scope))["Body"].read()
    except Exception:  # noqa: BLE001 - NoSuchKey: nothing published yet
        return None
    return decode_pointer(body).revision


def live_plaintext(project: str, sdk_key: str, environment: str = "prod",
                   scope: str = "server") -> bytes:
    """Download the live pointer's bundle and decrypt it with an SDK key (no KMS)."""
    client = s3()
    bucket = os.environ["VEXIL_BUCKET"]
    pointer = decode_pointer(client.get_object(
        Bucket=bucket, Key=_pointer_key(project, environment, scope))["Body"].read())
    ciphertext = client.get_object(Bucket=bucket, Key=pointer.key)["Body"].read()
    return decrypt_bundle(ciphertext, sdk_key=sdk_key, expected=encryption_context(
        project, environment, pointer.revision, scope))
