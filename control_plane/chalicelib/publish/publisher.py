"""The publisher: one environment's table state → encrypted bundles + pointers on S3.

For each scope whose pointer is older than the environment's revision:
build the document (:mod:`chalicelib.publish.build`) → compile-check it with the edge's own
compiler (strict) → canonical JSON → ESDK envelope (the environment's branch key + SDK keys)
→ sign every new pointer together, one KMS ``Sign`` (:mod:`chalicelib.publish.signing`;
when a signing key is configured; the environment's audit-chain anchor is signed in the same
call, :mod:`chalicelib.publish.anchoring`) → put the immutable object → conditionally replace the
pointer → write the anchor (logged and counted on failure, never raised) → (optionally)
invalidate the pointer in CloudFront → housekeeping
(:mod:`chalicelib.publish.retention`: tag bundles beyond the newest N for lifecycle
expiry, remove pointers of scopes that no longer exist).

Everything that can fail for a reason other than a race (compile error, KMS — ``Sign``
included —, the key store, S3) fails before any pointer moves, raises
:class:`PublishError` and leaves the previous bundles live. A pointer never regresses: it
is replaced only by a higher revision, with IfMatch on its ETag. A snapshot older than the
live server pointer publishes nothing at all (a newer publisher owns the environment,
including creating and removing its scopes).

Storage is the truth, pointers are claims (docs/security.md, "Pointer trust"): the live
pointer is read from S3 on every publish (nothing is remembered between calls) and
believed only when it names its own path's project/environment/scope, carries this
publisher's signature (when a signer is configured) and, if it claims a revision above the
snapshot's, the table has reached that revision (or, signed, it has not expired yet: see
``_beyond_table``). Anything else — forged, foreign, unreadable, deleted — counts as absent
and is overwritten (conditionally, on its ETag).

Freshness: signed pointers carry ``expires_at`` (:class:`Freshness`); :meth:`Publisher.heartbeat`
(a scheduled Lambda; a timer in the local stack) re-signs live pointers well before then,
without rebuilding or re-uploading their bundles.
Housekeeping failures are logged, never raised: the bundles are already live.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
from aws_lambda_powertools import Logger

from chalicelib import observability
from chalicelib.anchors import Anchor, AnchorStore, anchor_digest
from chalicelib.audit import Chain
from chalicelib.observability import Metric
from chalicelib.publish.anchoring import (
    FAILURE_MESSAGE,
    Anchorer,
    AnchorRun,
    anchor_all,
    anchor_bucket,
)
from chalicelib.publish.build import ScopeBuild, build_scopes, with_lists
from chalicelib.publish.list_retention import DEFAULT_GRACE_SECONDS as DEFAULT_LIST_GRACE
from chalicelib.publish.lists import ListPublish, ListPublisher
from chalicelib.publish.retention import DEFAULT_KEEP_BUNDLES, Housekeeping, Retention
from chalicelib.publish.signing import Freshness, PointerSigner
from chalicelib.publish.snapshot import EnvironmentSnapshot, SnapshotLocked, SnapshotReader
from chalicelib.publish.store import BundleStore, CurrentPointer, PointerConflict
from chalicelib.repository import DynamoRepository
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
from edge_reader.bundle.signing import SignatureError, pointer_staleness, verify_pointer
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
    """What happened to one scope: published, renewed (same revision re-signed with a later
    expiry), up-to-date, or superseded by a racer."""

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
    anchor: str | None = None  # the audit anchor written with this publish (its S3 key)
    lists: dict[str, ListPublish] = field(default_factory=dict)  # list segments, by key

    @property
    def published(self) -> list[str]:
        """Scopes whose pointer this call moved to a new bundle."""
        return [s.scope for s in self.scopes if s.status == "published"]

    @property
    def renewed(self) -> list[str]:
        """Scopes whose pointer this call re-signed at the same revision (later expiry)."""
        return [s.scope for s in self.scopes if s.status == "renewed"]


@dataclass(frozen=True, slots=True)
class _Prepared:
    build: ScopeBuild
    current: CurrentPointer
    ciphertext: bytes | None  # None: a renewal, the bundle is already stored
    pointer: Pointer


def _engine_version() -> str:
    return str(ENGINE_VERSION)


def compile_check(document: dict[str, Any]) -> None:
    """Raise ValueError naming every problem unless the edge compiler accepts ``document``.

    Also writes the engine features the document uses into it (``features``, computed by
    the compiler; absent when none), so an older reader can say what it does not know.
    """
    try:
        env = compile_environment(document, strict=True)
    except CompileError as exc:
        problems = "; ".join(f"{p.path}: {p.message}" for p in exc.errors[:20])
        raise ValueError(problems or "compile error") from None
    features = env.metadata.get("features")
    if features:
        document["features"] = list(features)


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
        freshness: Freshness | None = None,
        clock: Callable[[], float] = time.time,
        anchorer: Anchorer | None = None,
        lists: ListPublisher | None = None,
    ) -> None:
        """Wire the snapshot reader, S3 store, envelope cache and (recommended) signer.

        Without ``signer`` pointers are published unsigned and without expiry, and readers
        cannot tell this publisher's bundles from ones any SDK-key holder made: said once,
        here, in the log. ``freshness``: signed pointers' max age and heartbeat (defaults
        1 h / 15 min); ``clock``: wall-clock seconds, for ``expires_at``. With ``anchorer``
        (needs ``signer``) each publish also anchors the audit chain head.
        """
        self.reader = reader
        self.store = store
        self.envelope = envelope
        self.signer = signer
        self.freshness = freshness or Freshness()
        self.clock = clock
        self.anchorer = anchorer if signer is not None else None
        self.last_anchor_run: AnchorRun | None = None  # set by each heartbeat
        self.retention = Retention(store, keep=keep_bundles)
        self.lists = lists
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
        except SnapshotLocked as exc:
            # Half-written by a changeset: publish nothing; its end moves the env item again.
            logger.info("environment locked by a changeset; not published", reason=str(exc),
                        project=project, environment=environment)
            return PublishOutcome(project, environment, None)
        except Exception as exc:
            raise self._fail(project, environment, "snapshot", exc) from None
        if snapshot is None:
            logger.info("environment missing; nothing to publish",
                        project=project, environment=environment)
            return PublishOutcome(project, environment, None)
        outcome = PublishOutcome(project, environment, snapshot.revision)
        anchor = self._anchor(snapshot)
        prepared = self._sign(project, environment, self._prepare(snapshot, outcome), anchor)
        for item in prepared:
            if item.ciphertext is None:
                continue
            try:
                self.store.put_bundle(item.pointer.key, item.ciphertext)
            except Exception as exc:
                raise self._fail(project, environment, f"s3-put-bundle:{item.build.scope}",
                                 exc) from None
        for item in prepared:
            outcome.scopes.append(self._swing_pointer(item))
        if anchor is not None and self.anchorer is not None and prepared:
            # After the pointers: a failed anchor write is logged and counted, never raised.
            outcome.anchor = self.anchorer.store_signed(anchor, prepared[0].pointer.signature)
        self._invalidate(outcome)
        if outcome.published:
            outcome.housekeeping = self.retention.after_publish(
                project, environment, snapshot.revision,
                published={s.scope: s.key for s in outcome.scopes if s.status == "published"},
                live_scopes={s.scope for s in outcome.scopes})
            server_moved = any(s.scope == SERVER_SCOPE and s.status == "published"
                               for s in outcome.scopes)
            if self.lists is not None and server_moved:
                # After the server pointer moved (so outcome.lists names every live list),
                # as bundles are retired.
                tagged, errors = self.lists.retire(project, environment, {
                    k: str(done.ref["manifest"]) for k, done in outcome.lists.items()})
                outcome.housekeeping.retired += tagged
                outcome.housekeeping.errors += errors
        _emit_publish_metrics(snapshot, prepared, outcome, self.clock())
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
        try:
            # The key live pointers are checked against (fetched once per container).
            if self.signer is not None:
                self.signer.public_key()
        except Exception as exc:
            raise self._fail(project, environment, "sign", exc) from None
        prepared: list[_Prepared] = []
        for build in builds:
            try:
                current = self._trusted_current(project, environment, build.scope,
                                                snapshot.revision)
            except Exception as exc:
                raise self._fail(project, environment, f"s3-read-pointer:{build.scope}",
                                 exc) from None
            if build.scope == SERVER_SCOPE and current.revision > snapshot.revision:
                # A newer snapshot is live: its publisher creates, updates and removes
                # every scope. Going on could resurrect a scope that it just removed.
                outcome.scopes.append(ScopeOutcome(build.scope, "up-to-date", current.revision))
                return []
            if current.pointer is not None and current.revision >= snapshot.revision:
                if current.revision > snapshot.revision or not self._due(current.pointer):
                    outcome.scopes.append(
                        ScopeOutcome(build.scope, "up-to-date", current.revision))
                    continue
                # Same revision, expiry due: re-sign the verified pointer, no rebuild.
                renewed = replace(current.pointer.unsigned(),
                                  expires_at=self.freshness.expires_at(self.clock()))
                prepared.append(_Prepared(build, current, None, renewed))
                continue
            listed = with_lists(build, self._list_refs(snapshot, outcome))
            prepared.append(self._encrypt(snapshot, listed, current))
        return prepared

    def _list_refs(self, snapshot: EnvironmentSnapshot,
                   outcome: PublishOutcome) -> dict[str, dict[str, Any]]:
        """Every list segment's objects put in S3 (once per publish, only when a scope is
        rebuilt); their references for the server documents. Fails as ``lists:<segment>``."""
        if not outcome.lists and snapshot.lists and self.lists is None:
            raise self._fail(snapshot.project, snapshot.environment, "lists",
                             ValueError("list segments present but no list publisher"))
        for segment, state in snapshot.lists.items():
            if segment in outcome.lists or self.lists is None:
                continue
            try:
                outcome.lists[segment] = self.lists.publish(
                    snapshot.project, snapshot.environment, segment, state)
            except Exception as exc:
                raise self._fail(snapshot.project, snapshot.environment, f"lists:{segment}",
                                 exc) from None
        return {name: done.ref for name, done in outcome.lists.items()}

    def _encrypt(self, snapshot: EnvironmentSnapshot, build: ScopeBuild,
                 current: CurrentPointer) -> _Prepared:
        """Compile-check, encode and encrypt one scope's document; its (unsigned) pointer."""
        project, environment = snapshot.project, snapshot.environment
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
            expires_at=(self.freshness.expires_at(self.clock())
                        if self.signer is not None else None),
        )
        return _Prepared(build, current, ciphertext, pointer)

    def _due(self, pointer: Pointer) -> bool:
        """True when a live pointer at the snapshot's revision must be re-signed now."""
        return self.signer is not None and self.freshness.needs_renewal(pointer, self.clock())

    def _beyond_table(self, pointer: Pointer) -> str | None:
        """Why a pointer above the snapshot's revision is not believed, else None.

        A revision the table has reached is a racing newer publisher's. One beyond the table
        is a forgery in unsigned mode; in signed mode it is this publisher's own work (a
        table restored to an older state): believed while fresh, so readers are not sent
        backwards at once, and overwritten once expired, so nothing freezes for good.
        """
        table_revision = self.reader.revision(pointer.project, pointer.environment)
        if table_revision is not None and pointer.revision <= table_revision:
            return None
        if self.signer is not None and pointer_staleness(pointer, self.clock()) is None:
            return None
        return f"claims revision {pointer.revision}, the table is at {table_revision}"

    def _trusted_current(self, project: str, environment: str, scope: str,
                         revision: int) -> CurrentPointer:
        """The live pointer read from S3, kept only if it is believable (module docstring);
        otherwise ``CurrentPointer(None, etag)``: absent, but overwritable on its ETag.

        ``revision``: the snapshot's; a claim above it is checked against the table.
        """
        current = self.store.current(project, environment, scope)
        pointer = current.pointer
        if pointer is None:
            return current
        why = None
        if (pointer.project, pointer.environment, pointer.scope) != (project, environment, scope):
            why = "names another environment or scope"
        elif self.signer is not None:
            try:
                verify_pointer(pointer, [self.signer.public_key()])
            except SignatureError as exc:
                why = str(exc)
        if why is None and pointer.revision > revision:
            why = self._beyond_table(pointer)
        if why is None and pointer.revision == revision and not self.store.bundle_intact(pointer):
            # A pointer at our revision is kept as it is: its bundle must really be there,
            # or every reader without a cached copy would get 404s until the next write.
            why = "the bundle it names is missing or not the size it names"
        if why is None:
            return current
        logger.warning("live pointer not trusted; overwriting it", project=project,
                       environment=environment, scope=scope, reason=why)
        return CurrentPointer(None, current.etag)

    def _anchor(self, snapshot: EnvironmentSnapshot) -> Anchor | None:
        """The audit anchor of the snapshot's chain head (signed with the pointers)."""
        if self.anchorer is None:
            return None
        chain = Chain.for_environment(snapshot.project, snapshot.environment)
        return self.anchorer.head(chain, snapshot.audit_seq, snapshot.audit_head)

    def _sign(self, project: str, environment: str, prepared: list[_Prepared],
              anchor: Anchor | None = None) -> list[_Prepared]:
        """Every pointer of this publish (and the audit anchor) signed by ONE KMS call,
        before anything is written."""
        if self.signer is None or not prepared:
            return prepared
        extra = [anchor_digest(anchor)] if anchor is not None else []
        try:
            signed = self.signer.sign([item.pointer for item in prepared], extra)
        except Exception as exc:
            raise self._fail(project, environment, "sign", exc) from None
        return [replace(item, pointer=pointer)
                for item, pointer in zip(prepared, signed, strict=True)]

    def _swing_pointer(self, item: _Prepared) -> ScopeOutcome:
        pointer, current = item.pointer, item.current
        status = "published" if item.ciphertext is not None else "renewed"
        for _ in range(MAX_POINTER_ATTEMPTS):
            try:
                self.store.put_pointer(pointer, current.etag)
                return ScopeOutcome(pointer.scope, status, pointer.revision,
                                    pointer.key, pointer.size)
            except PointerConflict:
                pass
            except Exception as exc:
                raise self._fail(pointer.project, pointer.environment,
                                 f"s3-put-pointer:{pointer.scope}", exc) from None
            # A racer's pointer counts only if it is believable, like the one we first read.
            current = self._trusted_current(pointer.project, pointer.environment,
                                            pointer.scope, pointer.revision)
            if current.revision > pointer.revision or (
                    current.pointer is not None and current.revision == pointer.revision
                    and not self._due(current.pointer)):
                # Another publisher put this revision or a newer one live: never go back.
                return ScopeOutcome(pointer.scope, "superseded", current.revision)
        raise PublishError(pointer.project, pointer.environment,
                           f"s3-put-pointer:{pointer.scope}", "pointer kept changing")

    def heartbeat(
        self, environments: Iterable[tuple[str, str]] | None = None,
    ) -> list[PublishOutcome]:
        """Bring every environment's pointers up to date and re-sign those due for renewal.

        ``environments``: (project, environment) pairs; default every environment in the
        table. Runs on a schedule (``VEXIL_HEARTBEAT_INTERVAL``, default 15 min), so a
        pointer that was deleted, forged or missed by a failed stream batch is also repaired
        within one interval. One KMS ``Sign`` per environment that had something to renew.
        Never raises for one environment's failure: it is logged and the rest go on; the
        outcomes of those that finished are returned.
        """
        pairs = list(self.reader.environments() if environments is None else environments)
        outcomes: list[PublishOutcome] = []
        for project, environment in pairs:
            try:
                outcomes.append(self.publish(project, environment))
            except PublishError:
                continue  # already logged by _fail; the next heartbeat retries
            except Exception as exc:  # a bug in one environment must not starve the others
                logger.exception("heartbeat publish crashed", project=project,
                                 environment=environment, error=str(exc))
        logger.info("heartbeat finished", environments=len(pairs), ok=len(outcomes),
                    renewed=sum(len(o.renewed) for o in outcomes),
                    published=sum(len(o.published) for o in outcomes))
        self.last_anchor_run = self.anchor_chains()
        return outcomes

    def anchor_chains(self) -> AnchorRun | None:
        """Anchor every audit chain head not anchored yet (the heartbeat's second task: a
        chain can move without a publish — change requests, denied writes, tokens). None
        without an anchorer; never raises (failures are logged and counted)."""
        if self.anchorer is None:
            return None
        try:
            return anchor_all(DynamoRepository(self.reader.table), self.anchorer)
        except Exception as exc:  # listing the chains failed: the next heartbeat retries
            logger.error(FAILURE_MESSAGE, stage="list", error=f"{type(exc).__name__}: {exc}")
            return None

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
        # The scope suffix ("s3-put-bundle:client") stays out of the dimension: fewer metrics.
        observability.emit(Metric.PUBLISH_FAILURES)
        observability.emit(Metric.PUBLISH_FAILURES_BY_STAGE, Stage=stage.split(":", 1)[0])
        return PublishError(project, environment, stage, reason)


def _emit_publish_metrics(snapshot: EnvironmentSnapshot, prepared: list[_Prepared],
                          outcome: PublishOutcome, now: float) -> None:
    """Metrics of a publish that made a new revision live (renewals and no-ops emit none:
    their commit time is old and would read as latency)."""
    if not outcome.published:
        return
    observability.emit(Metric.PUBLISHES)
    committed = _epoch_seconds(snapshot.updated_at)
    if committed is not None:
        observability.emit(Metric.COMMIT_TO_LIVE_MS, max(0.0, (now - committed) * 1000))
    where = {"Project": snapshot.project, "Environment": snapshot.environment}
    observability.emit(Metric.FLAG_COUNT, len(snapshot.flags), **where)
    server = [p for p in prepared if p.build.scope == "server" and p.ciphertext is not None]
    if server and server[0].ciphertext is not None:
        observability.emit(Metric.BUNDLE_BYTES, len(server[0].ciphertext), **where)


def _epoch_seconds(stamp: str) -> float | None:
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return None


def publisher_from_env(session: Any | None = None) -> Publisher:
    """Build a :class:`Publisher` from VEXIL_* variables (clients created once, here).

    VEXIL_TABLE, VEXIL_BUCKET, VEXIL_KMS_KEY_ID and VEXIL_KEY_STORE_TABLE are required;
    VEXIL_SIGNING_KEY_ID (the pointer-signing key; Terraform always sets it; with it each
    publish also anchors the audit chain, in VEXIL_ANCHOR_BUCKET or else VEXIL_BUCKET),
    VEXIL_KEEP_BUNDLES (default 10), VEXIL_POINTER_MAX_AGE and VEXIL_HEARTBEAT_INTERVAL
    (seconds, default 3600 and 900: :class:`Freshness`) and
    VEXIL_CLOUDFRONT_DISTRIBUTION_ID are optional.
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
    # A client of its own: its Sign/GetPublicKey calls are counted apart from the rest.
    signer = PointerSigner(session.client("kms"), signing_key) if signing_key else None
    return Publisher(
        reader=SnapshotReader(
            table=os.environ["VEXIL_TABLE"], dynamodb=session.client("dynamodb"), kms=kms
        ),
        store=store,
        envelope=EnvelopeCache(branch_keys),
        keep_bundles=int(os.environ.get("VEXIL_KEEP_BUNDLES") or DEFAULT_KEEP_BUNDLES),
        signer=signer,
        freshness=Freshness.from_env(),
        anchorer=Anchorer(AnchorStore(store.s3, anchor_bucket()), signer) if signer else None,
        lists=ListPublisher(table=os.environ["VEXIL_TABLE"], dynamodb=session.client("dynamodb"),
                            kms=kms, s3=store.s3, bucket=store.bucket,
                            keep=int(os.environ.get("VEXIL_KEEP_BUNDLES") or DEFAULT_KEEP_BUNDLES),
                            grace=float(os.environ.get("VEXIL_LIST_GRACE_SECONDS")
                                        or DEFAULT_LIST_GRACE)),
    )
