"""An audit chain checked against its external anchors (``POST /v1/audit/verify``).

The chain is recomputed as before (:func:`chalicelib.audit.verify_chain`); then every
anchor of the chain is compared, by its name, with the record at its seq. The newest
agreeing anchor is fetched and its signature verified: that is how far the chain is proven
unchanged. Any disagreeing anchor is fetched and verified, lowest seq first: the first one
that is genuine proves a rewrite (an anchor with a bad signature is refused and reported,
never believed). Records after the newest anchor are not covered: the answer says how many.

The API checks with its own rights only: ``s3:ListBucket``/``s3:GetObject`` on
``anchors/*`` and ``kms:GetPublicKey`` on the signing key (Terraform grants both).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import keys
from chalicelib.anchors import Anchor, AnchorStore, RefusedError, load_verified, object_key
from chalicelib.audit import Chain, verify_chain
from chalicelib.repository import Repository
from edge_reader.bundle.signing import TrustedKey, load_trusted_key, load_trusted_keys

_log = logging.getLogger(__name__)

Listed = tuple[int, str, str]  # (seq, hash, object key) as named by the store


@dataclass
class AnchorVerifier:
    """Reads anchors and the keys they must be signed with (built once per container)."""

    store: AnchorStore
    trusted_keys: Callable[[], list[TrustedKey]]


@dataclass
class _Check:
    verifier: AnchorVerifier
    refused: list[dict[str, str]] = field(default_factory=list)
    seen: dict[str, Anchor | None] = field(default_factory=dict)  # each object read once

    def genuine(self, key: str) -> Anchor | None:
        """The verified anchor at ``key``, or None (and a refusal noted, once)."""
        if key not in self.seen:
            try:
                self.seen[key] = load_verified(self.verifier.store.get(key), key,
                                               self.verifier.trusted_keys())
            except RefusedError as exc:
                self.refused.append({"key": key, "reason": str(exc)})
                self.seen[key] = None
        return self.seen[key]

    def first_genuine(self, candidates: list[Listed]) -> Anchor | None:
        """The first genuine anchor among ``candidates`` (in the order given)."""
        for _, _, key in candidates:
            anchor = self.genuine(key)
            if anchor is not None:
                return anchor
        return None


def verify_with_anchors(repo: Repository, chain: Chain,
                        verifier: AnchorVerifier | None) -> dict[str, Any]:
    """:func:`verify_chain`'s answer plus ``anchors``; ``ok`` is false, and ``first_break``
    names the anchored record, when a genuine anchor disagrees with the chain."""
    if verifier is None:
        result = verify_chain(repo, chain)
        return {**result, "anchors": {"status": "unavailable",
                                      "reason": "no anchor store is configured"}}
    try:
        listed = verifier.store.listed(chain)
    except (BotoCoreError, ClientError) as exc:
        _log.warning("anchor listing failed: %s", exc)
        return {**verify_chain(repo, chain),
                "anchors": {"status": "unavailable", "reason": "anchors cannot be read"}}
    wanted = {seq for seq, _, _ in listed}
    hashes: dict[int, str] = {}

    def seen(seq: int, digest: str) -> None:
        if seq in wanted:
            hashes[seq] = digest

    result = verify_chain(repo, chain, seen)
    try:
        report = _compare(verifier, listed, hashes, result)
    except (BotoCoreError, ClientError) as exc:
        _log.warning("anchor check failed: %s", exc)
        report = {"status": "unavailable", "reason": "anchors cannot be read"}
    if report.get("status") == "rewritten":
        rewrite = report["rewrite"]
        result["ok"] = False
        if result["first_break"] is None:
            result["first_break"] = {"seq": rewrite["seq"], "sk": keys.audit_sk(rewrite["seq"]),
                                     "reason": rewrite["reason"]}
    return {**result, "anchors": report}


def _compare(verifier: AnchorVerifier, listed: list[Listed], hashes: dict[int, str],
             result: dict[str, Any]) -> dict[str, Any]:
    checked, chain_ok = int(result["checked"]), bool(result["ok"])
    agree = [x for x in listed if hashes.get(x[0]) == x[1]]
    # An anchored seq past the end of a chain that verifies: records were dropped or the
    # chain was rebuilt shorter. Past a break nothing can be compared.
    disagree = [x for x in listed if (x[0] in hashes and hashes[x[0]] != x[1])
                or (chain_ok and x[0] > checked)]
    check = _Check(verifier)
    rewrite = check.first_genuine(disagree)
    latest = check.first_genuine(sorted(agree, reverse=True))
    report: dict[str, Any] = {
        "status": "verified" if latest else "none", "listed": len(listed),
        "latest": _view(latest), "unanchored_records": checked - (latest.seq if latest else 0),
        "rewrite": None, "refused": check.refused,
    }
    if rewrite is not None:
        before = check.first_genuine(sorted((x for x in agree if x[0] < rewrite.seq),
                                            reverse=True))
        report["status"] = "rewritten"
        report["rewrite"] = _rewrite_view(rewrite, hashes.get(rewrite.seq), before)
    return report


def _view(anchor: Anchor | None) -> dict[str, Any] | None:
    if anchor is None:
        return None
    return {"seq": anchor.seq, "hash": anchor.hash, "at": anchor.at, "key": object_key(anchor)}


def _rewrite_view(anchor: Anchor, chain_hash: str | None,
                  before: Anchor | None) -> dict[str, Any]:
    low = before.seq + 1 if before else 1
    found = f"the chain has {chain_hash[:16]}…" if chain_hash else "the chain ends before it"
    view = _view(anchor) or {}
    return {
        **view, "chain_hash": chain_hash, "rewritten_from_seq": low,
        "last_good_anchor": _view(before),
        "reason": (f"chain rewritten: anchor {view['key']} signed at {anchor.at} says seq "
                   f"{anchor.seq} had hash {anchor.hash[:16]}…, {found}; the rewrite starts "
                   f"between seq {low} and seq {anchor.seq}"),
    }


_VERIFIER: list[AnchorVerifier | None] = []


def verifier_from_env() -> AnchorVerifier | None:
    """The process-wide verifier: anchors in ``VEXIL_ANCHOR_BUCKET`` (default
    ``VEXIL_BUCKET``), trusted keys = ``VEXIL_SIGNING_KEY_ID``'s public half (KMS, fetched
    on first use) plus any PEM keys in ``VEXIL_ANCHOR_TRUSTED_KEYS`` (earlier key
    generations). None when no bucket or key is configured."""
    if not _VERIFIER:
        _VERIFIER.append(_build_verifier())
    return _VERIFIER[0]


def _build_verifier() -> AnchorVerifier | None:
    bucket = os.environ.get("VEXIL_ANCHOR_BUCKET") or os.environ.get("VEXIL_BUCKET")
    key_id = os.environ.get("VEXIL_SIGNING_KEY_ID")
    if not bucket or not key_id:
        return None
    import boto3  # noqa: PLC0415 - only when anchors are checked

    session = boto3.session.Session()
    kms = session.client("kms")
    extra = os.environ.get("VEXIL_ANCHOR_TRUSTED_KEYS") or ""
    cache: list[TrustedKey] = []

    def trusted() -> list[TrustedKey]:
        if not cache:
            cache.append(load_trusted_key(bytes(kms.get_public_key(KeyId=key_id)["PublicKey"])))
            cache.extend(load_trusted_keys(extra) if extra.strip() else [])
        return cache

    return AnchorVerifier(AnchorStore(session.client("s3"), bucket), trusted)
