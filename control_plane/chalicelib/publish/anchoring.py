"""Writing audit anchors (:mod:`chalicelib.anchors`): on each publish, and periodically.

* On a publish, the environment chain's head as the snapshot read it (the same item read
  as the revision being published) is signed in the publish's one KMS ``Sign``, together
  with the pointers (:meth:`chalicelib.publish.publisher.Publisher.publish`), and written after the
  pointers are live.
* :func:`anchor_all` (the periodic path: the publisher heartbeat, ``vexil audit anchor``)
  anchors the head of every environment chain and of the global chain, skipping heads
  already anchored, with one ``Sign`` per batch of up to :data:`BATCH` heads.

Anchoring never blocks or fails a publish: every failure is logged (``audit anchor write
failed``, the message the Terraform metric filter counts) and counted on the
:class:`Anchorer`; the next publish or periodic run anchors the then-current head, which
covers every record before it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from aws_lambda_powertools import Logger

from chalicelib import keys
from chalicelib.anchors import Anchor, AnchorStore, anchor_digest
from chalicelib.audit import Chain
from chalicelib.canonical import Clock, iso
from chalicelib.publish.signing import PointerSigner
from chalicelib.repository import Repository
from edge_reader.bundle.pointer import PointerSignature

logger = Logger(service="vexil-anchors")

BATCH = 256  # heads per Sign: keeps each anchor object (it lists the batch's digests) small
FAILURE_MESSAGE = "audit anchor write failed"


@dataclass
class AnchorRun:
    """What one :func:`anchor_all` run did."""

    written: list[str] = field(default_factory=list)
    already: int = 0
    failed: int = 0


class Anchorer:
    """Signs and stores anchors with the publisher's signer; one per container."""

    def __init__(self, store: AnchorStore, signer: PointerSigner,
                 clock: Clock = time.time) -> None:
        """``store``: where anchors go; ``signer``: the publisher's pointer signer."""
        self.store = store
        self.signer = signer
        self.clock = clock
        self.failures = 0  # anchor writes that failed in this container (also logged)

    def head(self, chain: Chain, seq: int, head: str) -> Anchor | None:
        """The unsigned anchor of a chain head, or None for an empty chain."""
        if seq < 1 or not head:
            return None
        return Anchor.of_head(chain, seq, head, iso(self.clock()))

    def store_signed(self, anchor: Anchor, signature: PointerSignature | None) -> str | None:
        """Write ``anchor`` with ``signature``; return its key, or None after logging and
        counting the failure (never raises: the caller's publish is already live)."""
        try:
            if signature is None or anchor_digest(anchor) not in signature.digests:
                raise ValueError("the signature does not cover the anchor")
            return self.store.put(replace(anchor, signature=signature))
        except Exception as exc:
            self.failures += 1
            logger.error(FAILURE_MESSAGE, project=anchor.project,
                         environment=anchor.environment, seq=anchor.seq,
                         error=f"{type(exc).__name__}: {exc}", failures=self.failures)
            return None


def chain_heads(repo: Repository) -> Iterator[tuple[Chain, int, str]]:
    """(chain, seq, head hash) of the global chain and of every environment chain."""
    glob = repo.get(keys.GLOBAL_AUDIT_HEAD_PK, keys.GLOBAL_AUDIT_HEAD_SK) or {}
    yield Chain.global_chain(), int(glob.get("audit_seq", 0)), str(glob.get("audit_head", ""))
    for project in repo.query_index(keys.PROJECTS_GSI_PK):
        envs, _ = repo.query(keys.project_pk(str(project["project"])), keys.ENV_SK_PREFIX)
        for env in envs:
            chain = Chain.for_environment(str(env["project"]), str(env["environment"]))
            yield chain, int(env.get("audit_seq", 0)), str(env.get("audit_head", ""))


def anchor_all(repo: Repository, anchorer: Anchorer) -> AnchorRun:
    """Anchor the current head of every chain not anchored yet (the periodic path).

    One KMS ``Sign`` per :data:`BATCH` new heads, none when nothing moved. Never raises for
    a signing or storage failure: it is logged and counted, and the run goes on.
    """
    run = AnchorRun()
    pending: list[Anchor] = []
    for chain, seq, head in chain_heads(repo):
        anchor = anchorer.head(chain, seq, head)
        if anchor is None:
            continue
        try:
            if anchorer.store.exists(anchor):
                run.already += 1
                continue
        except Exception as exc:
            logger.warning("anchor lookup failed; anchoring again", error=str(exc))
        pending.append(anchor)
    for start in range(0, len(pending), BATCH):
        _write_batch(anchorer, pending[start:start + BATCH], run)
    logger.info("audit anchors written", written=len(run.written), already=run.already,
                failed=run.failed)
    return run


def _write_batch(anchorer: Anchorer, batch: list[Anchor], run: AnchorRun) -> None:
    signature: PointerSignature | None
    try:
        signature = anchorer.signer.sign_digests([anchor_digest(a) for a in batch])
    except Exception as exc:
        logger.error(FAILURE_MESSAGE, stage="sign", error=f"{type(exc).__name__}: {exc}")
        signature = None  # store_signed counts each anchor of the batch as failed
    for anchor in batch:
        key = anchorer.store_signed(anchor, signature)
        if key is None:
            run.failed += 1
        else:
            run.written.append(key)


def anchor_bucket() -> str:
    """Where anchors live: ``VEXIL_ANCHOR_BUCKET`` (the Object Lock bucket Terraform makes),
    else the bundle bucket ``VEXIL_BUCKET`` (the local stack: prefix ``anchors/``)."""
    return os.environ.get("VEXIL_ANCHOR_BUCKET") or os.environ["VEXIL_BUCKET"]


_RUNNER: list[tuple[Repository, Anchorer]] = []


def run_from_env(session: Any | None = None) -> AnchorRun:
    """Anchor every chain with clients built from VEXIL_* (VEXIL_TABLE, VEXIL_BUCKET or
    VEXIL_ANCHOR_BUCKET, VEXIL_SIGNING_KEY_ID) once per process: the entry the heartbeat
    and ``vexil audit anchor`` call."""
    if not _RUNNER:
        import boto3  # noqa: PLC0415 - only the entry points need a session

        from chalicelib.repository import DynamoRepository  # noqa: PLC0415

        session = session or boto3.session.Session()
        signer = PointerSigner(session.client("kms"), os.environ["VEXIL_SIGNING_KEY_ID"])
        anchorer = Anchorer(AnchorStore(session.client("s3"), anchor_bucket()), signer)
        _RUNNER.append((DynamoRepository(os.environ["VEXIL_TABLE"]), anchorer))
    repo, anchorer = _RUNNER[0]
    return anchor_all(repo, anchorer)
