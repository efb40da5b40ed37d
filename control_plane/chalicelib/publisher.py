"""The publisher: one environment's table state → encrypted bundles + pointers on S3.

For each scope whose pointer is older than the environment's revision:
build the document (:mod:`chalicelib.publisher_build`) → compile-check it with the edge's own
compiler (strict) → canonical JSON → ESDK envelope (the environment's branch key + SDK keys)
→ sign every new pointer together, one KMS ``Sign`` (:mod:`chalicelib.publisher_signing`;
when a signing key is configured) → put the immutable object → conditionally replace the
pointer → (optionally) invalidate the pointer in CloudFront → housekeeping
(:mod:`chalicelib.publisher_retention`: tag bundles beyond the newest N for lifecycle
expiry, remove pointers of scopes that no longer exist).

Everything that can fail for a reason other than a race (compile error, KMS — ``Sign``
included —, the key store, S3) fails before any pointer moves, raises
:class:`PublishError` and leaves the previous bundles live. A pointer never regresses: it
is replaced only by a higher revision, with IfMatch on its ETag. A snapshot older than the
live server pointer publishes nothing at all (a newer publisher owns the environment,
including creating and removing its scopes).
Housekeeping failures are logged, never raised: the bundles are already live.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import boto3
from aws_lambda_powertools import Logger

from chalicelib.publisher_build import ScopeBuild, build_scopes
from chalicelib.publisher_retention import DEFAULT_KEEP_BUNDLES, Housekeeping, Retention
from chalicelib.publisher_signing import PointerSigner
from chalicelib.publisher_store import BundleStore, CurrentPointer, PointerConflict
from chalicelib.snapshot import EnvironmentSnapshot, SnapshotReader
from edge_reader.bundle import (
    POINTER_FORMAT,
    SERVER_SCOPE,
    Pointer,
    bundle_object_key,
    encode_bundle_document,
    encryption_context,
    pointer_object_key,
)
from edge_reader.bundle.esdk import EnvelopeCache, encrypt_bundle
from edge_reader.bundle.hierarchy import BranchKeyStore, resolve_key_arn
from edge_reader.engine import ENGINE_VERSION, CompileError, compile_environment

logger = Logger(service="vexil-publisher")

MAX_POINTER_ATTEMPTS = 5


class PublishError(Exception):
    """A bundle could not be built or stored; nothing was made live. Retry later."""

    def __init__(self, project: str, environment: str, stage: str, reason: str) -> None:
        super().__init__(f"{project}/{environment}: {stage} failed: {reason}")
        self.project = project
        self.environment = environment
        self.stage = stage
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ScopeOutcome:
    """What happened to one scope: published, up-to-date, or superseded by a racer."""

    scope: str
    status: str
    revision: int
    key: str | None = None
    size: int | None = None


@dataclass(slots=True)
class PublishOutcome:
    """Result of one :meth:`Publisher.publish` call."""

    project: str
    environment: str
    revision: int | None
    scopes: list[ScopeOutcome] = field(default_factory=list)
    invalidation_id: str | None = None
    housekeeping: Housekeeping | None = None

    @property
    def published(self) -> list[str]:
        """Scopes whose pointer this call moved."""
        return [s.scope for s in self.scopes if s.status == "published"]


@dataclass(frozen=True, slots=True)
class _Prepared:
    build: ScopeBuild
    current: CurrentPointer
    ciphertext: bytes
    pointer: Pointer


def _engine_version() -> str:
    return str(ENGINE_VERSION)


def compile_check(document: dict[str, Any]) -> None:
    """Raise ValueError naming every problem unless the edge compiler accepts ``document``."""
    try:
        compile_environment(document, strict=True)
    except CompileError as exc:
        problems = "; ".join(f"{p.path}: {p.message}" for p in exc.errors[:20])
        raise ValueError(problems or "compile error") from None


class Publisher:
    """Publishes environments; build one per container and reuse it across invocations."""

    def __init__(
        self,
        *,
        reader: SnapshotReader,
        store: BundleStore,
        envelope: EnvelopeCache,
        keep_bundles: int = DEFAULT_KEEP_BUNDLES,
        signer: PointerSigner | None = None,
    ) -> None:
        """Wire the snapshot reader, S3 store, envelope cache and (recommended) signer.

        Without ``signer`` pointers are published unsigned, and readers cannot tell this
        publisher's bundles from ones any SDK-key holder made: said once, here, in the log.
        """
        self.reader = reader
        self.store = store
        self.envelope = envelope
        self.signer = signer
        self.retention = Retention(store, keep=keep_bundles)
        if signer is None:
            logger.warning("no pointer-signing key (VEXIL_SIGNING_KEY_ID): pointers are "
                           "published unsigned; readers cannot verify the publisher")

    def publish(self, project: str, environment: str) -> PublishOutcome:
        """Bring every pointer of (project, environment) up to the table's revision.

        Idempotent: a second call with no new revision reads the pointers and writes
        nothing. Raises :class:`PublishError` (nothing made live) on build/KMS/S3 failure.
        """
        try:
            snapshot = self.reader.read(project, environment)
        except Exception as exc:
            raise self._fail(project, environment, "snapshot", exc) from None
        if snapshot is None:
            logger.info("environment missing; nothing to publish",
                        project=project, environment=environment)
            return PublishOutcome(project, environment, None)
        outcome = PublishOutcome(project, environment, snapshot.revision)
        prepared = self._sign(project, environment, self._prepare(snapshot, outcome))
        for item in prepared:
            try:
                self.store.put_bundle(item.pointer.key, item.ciphertext)
            except Exception as exc:
                raise self._fail(project, environment, f"s3-put-bundle:{item.build.scope}",
                                 exc) from None
        for item in prepared:
            outcome.scopes.append(self._swing_pointer(item))
        self._invalidate(outcome)
        if outcome.published:
            outcome.housekeeping = self.retention.after_publish(
                project, environment, snapshot.revision, published=outcome.published,
                live_scopes={s.scope for s in outcome.scopes})
        logger.info(
            "publish finished",
            project=project,
            environment=environment,
            revision=snapshot.revision,
            scopes={s.scope: s.status for s in outcome.scopes},
        )
        return outcome

    def _prepare(self, snapshot: EnvironmentSnapshot, outcome: PublishOutcome) -> list[_Prepared]:
        project, environment = snapshot.project, snapshot.environment
        try:
            builds = build_scopes(snapshot, engine=_engine_version())
        except Exception as exc:
            raise self._fail(project, environment, "build", exc) from None
        prepared: list[_Prepared] = []
        for build in builds:
            try:
                current = self.store.known(project, environment, build.scope)
            except Exception as exc:
                raise self._fail(project, environment, f"s3-read-pointer:{build.scope}",
                                 exc) from None
            if build.scope == SERVER_SCOPE and current.revision > snapshot.revision:
                # A newer snapshot is live: its publisher creates, updates and removes
                # every scope. Going on could resurrect a scope that it just removed.
                outcome.scopes.append(ScopeOutcome(build.scope, "up-to-date", current.revision))
                return []
            if current.revision >= snapshot.revision:
                outcome.scopes.append(ScopeOutcome(build.scope, "up-to-date", current.revision))
                continue
            try:
                compile_check(build.document)
            except Exception as exc:
                raise self._fail(project, environment, f"compile:{build.scope}", exc) from None
            plaintext = encode_bundle_document(build.document)
            try:
                ciphertext = encrypt_bundle(
                    plaintext,
                    context=encryption_context(project, environment, snapshot.revision,
                                               build.scope),
                    sdk_keys=build.sdk_keys,
                    cache=self.envelope,
                )
            except Exception as exc:
                raise self._fail(project, environment, f"encrypt:{build.scope}", exc) from None
            sha = hashlib.sha256(ciphertext).hexdigest()
            pointer = Pointer(
                format=POINTER_FORMAT,
                project=project,
                environment=environment,
                scope=build.scope,
                revision=snapshot.revision,
                key=bundle_object_key(project, environment, build.scope, snapshot.revision, sha),
                sha256=sha,
                size=len(ciphertext),
                generated_at=snapshot.updated_at,
            )
            prepared.append(_Prepared(build, current, ciphertext, pointer))
        return prepared

    def _sign(self, project: str, environment: str,
              prepared: list[_Prepared]) -> list[_Prepared]:
        """Every pointer of this publish signed by ONE KMS call, before anything is written."""
        if self.signer is None or not prepared:
            return prepared
        try:
            signed = self.signer.sign([item.pointer for item in prepared])
        except Exception as exc:
            raise self._fail(project, environment, "sign", exc) from None
        return [replace(item, pointer=pointer)
                for item, pointer in zip(prepared, signed, strict=True)]

    def _swing_pointer(self, item: _Prepared) -> ScopeOutcome:
        pointer, current = item.pointer, item.current
        for _ in range(MAX_POINTER_ATTEMPTS):
            try:
                self.store.put_pointer(pointer, current.etag)
                return ScopeOutcome(pointer.scope, "published", pointer.revision,
                                    pointer.key, pointer.size)
            except PointerConflict:
                pass
            except Exception as exc:
                raise self._fail(pointer.project, pointer.environment,
                                 f"s3-put-pointer:{pointer.scope}", exc) from None
            current = self.store.current(pointer.project, pointer.environment, pointer.scope)
            if current.revision >= pointer.revision:
                # Another publisher put this revision or a newer one live: never go back.
                return ScopeOutcome(pointer.scope, "superseded", current.revision)
        raise PublishError(pointer.project, pointer.environment,
                           f"s3-put-pointer:{pointer.scope}", "pointer kept changing")

    def _invalidate(self, outcome: PublishOutcome) -> None:
        keys = [pointer_object_key(outcome.project, outcome.environment, s)
                for s in outcome.published]
        try:
            outcome.invalidation_id = self.store.invalidate(keys)
        except Exception as exc:
            # The pointer is already live and its max-age is 5 s: a failed purge only delays
            # readers by that much, so it is logged, not retried (a retry would publish nothing).
            logger.warning("cloudfront invalidation failed", project=outcome.project,
                           environment=outcome.environment, error=str(exc))

    @staticmethod
    def _fail(project: str, environment: str, stage: str, exc: BaseException) -> PublishError:
        reason = f"{type(exc).__name__}: {exc}"
        logger.error("publish failed; previous bundle stays live", project=project,
                     environment=environment, stage=stage, error=reason)
        return PublishError(project, environment, stage, reason)


def publisher_from_env(session: Any | None = None) -> Publisher:
    """Build a :class:`Publisher` from VEXIL_* variables (clients created once, here).

    VEXIL_TABLE, VEXIL_BUCKET, VEXIL_KMS_KEY_ID and VEXIL_KEY_STORE_TABLE are required;
    VEXIL_SIGNING_KEY_ID (the pointer-signing key; Terraform always sets it),
    VEXIL_KEEP_BUNDLES (default 10) and VEXIL_CLOUDFRONT_DISTRIBUTION_ID are optional.
    """
    session = session or boto3.session.Session()
    kms = session.client("kms")
    distribution = os.environ.get("VEXIL_CLOUDFRONT_DISTRIBUTION_ID") or None
    signing_key = os.environ.get("VEXIL_SIGNING_KEY_ID") or None
    # Local stack only: the nginx CDN stand-in's cache directory, purged like CloudFront.
    local_cache = os.environ.get("VEXIL_LOCAL_CDN_CACHE_DIR") or None
    store = BundleStore(
        bucket=os.environ["VEXIL_BUCKET"],
        s3=session.client("s3"),
        cloudfront=session.client("cloudfront") if distribution else None,
        distribution_id=distribution,
        local_cdn_cache_dir=Path(local_cache) if local_cache else None,
    )
    # The key store has clients of its own: its calls (branch-key material, bounded by the
    # keyring's TTL) are then told apart from the snapshot's (SDK-key unwraps, the table).
    key_kms = session.client("kms")
    branch_keys = BranchKeyStore(
        table=os.environ["VEXIL_KEY_STORE_TABLE"],
        kms_key_arn=resolve_key_arn(key_kms, os.environ["VEXIL_KMS_KEY_ID"]),
        dynamodb_client=session.client("dynamodb"),
        kms_client=key_kms,
    )
    return Publisher(
        reader=SnapshotReader(
            table=os.environ["VEXIL_TABLE"], dynamodb=session.client("dynamodb"), kms=kms
        ),
        store=store,
        envelope=EnvelopeCache(branch_keys),
        keep_bundles=int(os.environ.get("VEXIL_KEEP_BUNDLES") or DEFAULT_KEEP_BUNDLES),
        # A client of its own: its Sign/GetPublicKey calls are counted apart from the rest.
        signer=PointerSigner(session.client("kms"), signing_key) if signing_key else None,
    )
