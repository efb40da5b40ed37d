"""Hash-chained audit log: building records, the transaction steps that append them, verify.

A chain is a partition of records ``R#<seq>`` plus a head (``audit_seq``, ``audit_head``) kept
on another item — the environment item for an environment chain, ``AUDIT#_global``/``HEAD``
for the global chain. Each record is stored as its canonical JSON text in ``record`` with
``hash = sha256(record)``; the record holds ``prev_hash``, so editing any stored record (or
dropping one, or the tail) is caught by :func:`verify_chain`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from chalicelib import keys
from chalicelib.canonical import canonical, sha256_hex
from chalicelib.repository import Repository, Step, put, update


@dataclass(frozen=True)
class Chain:
    """Where one audit chain lives: its record partition and its head item."""

    records_pk: str
    head_pk: str
    head_sk: str
    project: str | None
    environment: str | None

    @classmethod
    def for_environment(cls, project: str, environment: str) -> Chain:
        """The chain of one environment (head on the environment item)."""
        return cls(
            keys.audit_pk(project, environment),
            keys.project_pk(project),
            keys.environment_sk(environment),
            project,
            environment,
        )

    @classmethod
    def global_chain(cls) -> Chain:
        """The global chain (projects, environments, tokens)."""
        return cls(
            keys.global_audit_pk(), keys.GLOBAL_AUDIT_HEAD_PK, keys.GLOBAL_AUDIT_HEAD_SK, None, None
        )


@dataclass(frozen=True)
class Entry:
    """What happened, before the chain position and hash are known."""

    chain: Chain
    action: str
    resource: str
    before: Any = None
    after: Any = None
    outcome: str = "applied"


def build_record(
    entry: Entry,
    *,
    seq: int,
    prev_hash: str,
    at: str,
    actor: dict[str, str],
    reason: str | None,
) -> tuple[str, str]:
    """Return (canonical record text, its sha256 hex) for position ``seq`` of the chain."""
    record = {
        "seq": seq,
        "prev_hash": prev_hash,
        "at": at,
        "actor": actor,
        "action": entry.action,
        "outcome": entry.outcome,
        "resource": entry.resource,
        "project": entry.chain.project,
        "environment": entry.chain.environment,
        "before": entry.before,
        "after": entry.after,
        "reason": reason,
    }
    text = canonical(record)
    return text, sha256_hex(text)


def record_step(chain: Chain, seq: int, text: str, digest: str) -> Step:
    """Put the record; the condition makes two writers racing for one seq impossible."""
    item = {"pk": chain.records_pk, "sk": keys.audit_sk(seq), "record": text, "hash": digest}
    return put(item, "attribute_not_exists(pk)")


def global_head_step(prev_seq: int, new_seq: int, digest: str, at: str) -> Step:
    """Advance the global head (created on first use)."""
    return update(
        keys.GLOBAL_AUDIT_HEAD_PK,
        keys.GLOBAL_AUDIT_HEAD_SK,
        "SET audit_seq = :n, audit_head = :h, updated_at = :t",
        "attribute_not_exists(pk) OR audit_seq = :s",
        n=new_seq,
        h=digest,
        t=at,
        s=prev_seq,
    )


def decode_record(item: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of a stored record, with its hash (for GET /v1/audit)."""
    record: dict[str, Any] = orjson.loads(item["record"])
    record["hash"] = item["hash"]
    return record


def verify_chain(repo: Repository, chain: Chain,
                 on_record: Callable[[int, str], None] | None = None) -> dict[str, Any]:
    """Recompute the chain; return ``{"ok", "checked", "first_break"}``.

    ``first_break`` names the first position whose sequence, ``prev_hash`` or ``hash`` is
    wrong, or the head when it does not match the last record (a dropped tail).
    ``on_record(seq, hash)`` sees every record that checked out (the anchor check compares
    them with the external anchors: :mod:`chalicelib.anchor_check`).
    """
    checked = 0
    prev_hash = ""
    start: str | None = None
    while True:
        items, start = repo.query(chain.records_pk, keys.AUDIT_SK_PREFIX, limit=500, start_sk=start)
        for item in items:
            expected_seq = checked + 1
            problem = _check(item, expected_seq, prev_hash)
            if problem:
                return {"ok": False, "checked": checked, "first_break": problem}
            checked += 1
            prev_hash = str(item["hash"])
            if on_record is not None:
                on_record(checked, prev_hash)
        if start is None:
            break
    head = repo.get(chain.head_pk, chain.head_sk) or {}
    head_seq = int(head.get("audit_seq", 0))
    head_hash = str(head.get("audit_head", ""))
    if head_seq != checked or head_hash != prev_hash:
        return {
            "ok": False,
            "checked": checked,
            "first_break": {
                "seq": checked + 1 if head_seq > checked else head_seq,
                "sk": "HEAD",
                "reason": f"chain head says seq {head_seq} hash {head_hash[:16]}…, "
                f"records end at seq {checked} hash {prev_hash[:16]}…",
            },
        }
    return {"ok": True, "checked": checked, "first_break": None}


def _check(item: dict[str, Any], expected_seq: int, prev_hash: str) -> dict[str, Any] | None:
    sk = str(item["sk"])
    where = {"seq": expected_seq, "sk": sk}
    if sk != keys.audit_sk(expected_seq):
        return {**where, "reason": f"missing record: expected {keys.audit_sk(expected_seq)}"}
    text = item.get("record")
    if not isinstance(text, str) or sha256_hex(text) != item.get("hash"):
        return {**where, "reason": "record does not match its hash (record edited)"}
    try:
        record = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {**where, "reason": "record is not JSON"}
    if record.get("seq") != expected_seq:
        return {**where, "reason": "sequence number inside the record is wrong"}
    if record.get("prev_hash") != prev_hash:
        return {**where, "reason": "prev_hash does not match the previous record's hash"}
    return None
