"""S3 side of the publisher: immutable bundle objects and the conditional pointer.

The pointer is the only mutable object. It is written with ``IfMatch=<previous ETag>`` (or
``IfNoneMatch="*"`` when absent), so of two racing publishers only one replaces a given
pointer version; the loser re-reads and stops once the pointer holds its revision or newer.
S3 (and moto_server) support conditional PutObject; moto's check is not atomic under heavy
concurrency, which is why the race test uses an atomic in-process stand-in.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from edge_reader.bundle import (
    SERVER_SCOPE,
    BundleFormatError,
    Pointer,
    check_scope,
    decode_pointer,
    encode_pointer,
    pointer_object_key,
)

BUNDLE_CONTENT_TYPE = "application/vnd.vexil.bundle"
BUNDLE_CACHE_CONTROL = "public, max-age=31536000, immutable"
POINTER_CONTENT_TYPE = "application/json"
POINTER_CACHE_CONTROL = "public, max-age=5, stale-while-revalidate=30, stale-if-error=86400"
_CONFLICT_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})
# Must equal the lifecycle rule "expire-superseded-bundles" in infra/s3.tf (a test checks it).
SUPERSEDED_TAG = {"Key": "vexil-superseded", "Value": "true"}
_BUNDLE_NAME = re.compile(r"^(\d+)-[0-9a-f]{64}\.bundle$")
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


def nginx_cache_file(cache_dir: Path, key: str) -> Path:
    """Where nginx (``proxy_cache_key $uri``, ``levels=1:2``) stores the entry of S3 ``key``."""
    digest = hashlib.md5(f"/{key}".encode(), usedforsecurity=False).hexdigest()
    return cache_dir / digest[-1] / digest[-3:-1] / digest


def invalidate_nginx_cache(cache_dir: Path, keys: list[str]) -> int:
    """Delete the local CDN stand-in's cached copies of ``keys``; return how many existed.

    nginx treats a missing cache file as a miss and fetches the object again, which is what
    a CloudFront invalidation does for the next request.
    """
    removed = 0
    for key in keys:
        with contextlib.suppress(FileNotFoundError):
            nginx_cache_file(cache_dir, key).unlink()
            removed += 1
    return removed


@dataclass(frozen=True, slots=True)
class StoredBundle:
    """One immutable bundle object of a scope, as listed: its key and revision."""

    key: str
    revision: int
    last_modified: float


class PointerConflict(Exception):
    """The pointer changed since it was read (another publisher wrote it)."""


@dataclass(frozen=True, slots=True)
class CurrentPointer:
    """The live pointer of one scope and its ETag; both None when there is none yet.

    A pointer that exists but does not parse has ``pointer=None`` and its ETag, so the
    publisher can repair it with a conditional put.
    """

    pointer: Pointer | None
    etag: str | None

    @property
    def revision(self) -> int:
        """Revision the pointer names, -1 when absent or unreadable."""
        return self.pointer.revision if self.pointer is not None else -1


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class BundleStore:
    """Reads and writes bundles and pointers in one bucket; optional CloudFront purge."""

    def __init__(
        self,
        *,
        bucket: str,
        s3: Any,
        cloudfront: Any | None = None,
        distribution_id: str | None = None,
        local_cdn_cache_dir: Path | None = None,
    ) -> None:
        self.bucket = bucket
        self.local_cdn_cache_dir = local_cdn_cache_dir
        self.s3 = s3
        self.cloudfront = cloudfront
        self.distribution_id = distribution_id
        # No pointer is remembered between calls: S3 is read every time, so nothing an
        # attacker planted (or deleted) can outlive what storage says now.

    def current(self, project: str, environment: str, scope: str) -> CurrentPointer:
        """Read the live pointer of a scope (absent → ``CurrentPointer(None, None)``)."""
        return self._read(project, environment, scope)

    def _read(self, project: str, environment: str, scope: str) -> CurrentPointer:
        try:
            resp = self.s3.get_object(
                Bucket=self.bucket, Key=pointer_object_key(project, environment, scope)
            )
        except ClientError as exc:
            if _code(exc) in _MISSING_CODES:
                return CurrentPointer(None, None)
            raise
        body = resp["Body"].read()
        etag = str(resp["ETag"])
        try:
            return CurrentPointer(decode_pointer(body), etag)
        except BundleFormatError:
            return CurrentPointer(None, etag)

    def bundle_intact(self, pointer: Pointer) -> bool:
        """Whether the bundle ``pointer`` names is stored, with the size it names (one HEAD;
        the signature covers the sha256, readers check it). S3 faults other than a missing
        object raise."""
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=pointer.key)
        except ClientError as exc:
            if _code(exc) in _MISSING_CODES:
                return False
            raise
        return int(head.get("ContentLength", -1)) == pointer.size

    def put_bundle(self, key: str, body: bytes) -> None:
        """Write one immutable bundle object (idempotent: the key embeds its sha256)."""
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentType=BUNDLE_CONTENT_TYPE,
            CacheControl=BUNDLE_CACHE_CONTROL,
        )

    def put_pointer(self, pointer: Pointer, previous_etag: str | None) -> None:
        """Replace the pointer only if it is still ``previous_etag`` (absent when None).

        Raises :class:`PointerConflict` when another writer got there first.
        """
        condition = {"IfMatch": previous_etag} if previous_etag else {"IfNoneMatch": "*"}
        try:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=pointer_object_key(pointer.project, pointer.environment, pointer.scope),
                Body=encode_pointer(pointer),
                ContentType=POINTER_CONTENT_TYPE,
                CacheControl=POINTER_CACHE_CONTROL,
                **condition,
            )
        except ClientError as exc:
            if _code(exc) in _CONFLICT_CODES or (previous_etag and _code(exc) in _MISSING_CODES):
                raise PointerConflict(_code(exc)) from None
            raise

    def invalidate(self, keys: list[str]) -> str | None:
        """Invalidate pointer paths in the CDN; no-op (None) when none is configured.

        CloudFront when a distribution is set; locally, the nginx stand-in's cache entries
        when ``local_cdn_cache_dir`` is set (the local equivalent of an invalidation).
        """
        if keys and self.local_cdn_cache_dir is not None:
            removed = invalidate_nginx_cache(self.local_cdn_cache_dir, keys)
            return f"local:{removed}"
        if not keys or not self.distribution_id or self.cloudfront is None:
            return None
        resp = self.cloudfront.create_invalidation(
            DistributionId=self.distribution_id,
            InvalidationBatch={
                "Paths": {"Quantity": len(keys), "Items": [f"/{k}" for k in keys]},
                "CallerReference": f"vexil-{time.time_ns()}",
            },
        )
        return str(resp["Invalidation"]["Id"])

    # ------------------------------------------------------------------ housekeeping

    def _scope_dir(self, project: str, environment: str, scope: str) -> str:
        return pointer_object_key(project, environment, scope).removesuffix("current.json")

    def list_bundles(self, project: str, environment: str, scope: str) -> list[StoredBundle]:
        """Every bundle object of one scope (not of other scopes), oldest revision first."""
        prefix = self._scope_dir(project, environment, scope)
        found: list[StoredBundle] = []
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            # The server scope's directory also holds scopes/: the delimiter keeps them out.
            Bucket=self.bucket, Prefix=prefix, Delimiter="/",
        )
        for page in pages:
            for obj in page.get("Contents", []):
                match = _BUNDLE_NAME.match(str(obj["Key"])[len(prefix):])
                if match:
                    found.append(StoredBundle(str(obj["Key"]), int(match.group(1)),
                                              obj["LastModified"].timestamp()))
        found.sort(key=lambda b: (b.revision, b.last_modified, b.key))
        return found

    def list_scopes(self, project: str, environment: str) -> set[str]:
        """Scopes other than ``server`` that have any object (pointer or bundle) in S3."""
        prefix = self._scope_dir(project, environment, SERVER_SCOPE) + "scopes/"
        scopes: set[str] = set()
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix, Delimiter="/",
        )
        for page in pages:
            for common in page.get("CommonPrefixes", []):
                name = str(common["Prefix"])[len(prefix):].rstrip("/")
                with contextlib.suppress(BundleFormatError):
                    check_scope(name)
                    scopes.add(name)
        return scopes

    def is_superseded(self, key: str) -> bool:
        """True when the bundle object already carries the lifecycle's superseded tag."""
        tags = self.s3.get_object_tagging(Bucket=self.bucket, Key=key).get("TagSet", [])
        return any(t.get("Key") == SUPERSEDED_TAG["Key"]
                   and t.get("Value") == SUPERSEDED_TAG["Value"] for t in tags)

    def mark_superseded(self, key: str) -> None:
        """Tag a bundle so the bucket's lifecycle rule expires it (idempotent)."""
        self.s3.put_object_tagging(Bucket=self.bucket, Key=key,
                                   Tagging={"TagSet": [dict(SUPERSEDED_TAG)]})

    def delete_pointer(self, project: str, environment: str, scope: str, etag: str) -> bool:
        """Delete a scope's pointer only if it is still ``etag``; False when it changed."""
        try:
            self.s3.delete_object(Bucket=self.bucket,
                                  Key=pointer_object_key(project, environment, scope),
                                  IfMatch=etag)
        except ClientError as exc:
            if _code(exc) in _CONFLICT_CODES or _code(exc) in _MISSING_CODES:
                return False
            raise
        return True
