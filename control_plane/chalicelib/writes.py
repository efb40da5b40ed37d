"""The one way Vexil writes: entity steps + audit records + chain heads in one transaction.

``commit`` adds, for every audit entry, the record put and the head update of its chain;
for environment chains the head is the environment item, whose ``revision`` is bumped in
the same update when the write changes bundle content. If the transaction is cancelled
because a head moved (another write in the same environment), the heads are re-read and
the transaction retried; if an entity's own condition failed, ``on_conflict`` raises the
right 404/409/412.

An environment locked by a changeset (``chalicelib.changesets``) refuses every other write:
the head step is conditioned on no lock, a live lock answers 409 and an expired one is rolled
back first. The changeset's own final write passes ``holding`` (its lock token): its head
steps require that lock and remove it in the same transaction that bumps the revision.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, NoReturn

from chalicelib import changesets, keys
from chalicelib.audit import Entry, build_record, global_head_step, record_step
from chalicelib.canonical import iso
from chalicelib.errors import Conflict, NotFound
from chalicelib.repository import Repository, Step, TransactionCancelled, update

MAX_ATTEMPTS = 6
EnvKey = tuple[str, str]


def _no_conflict() -> NoReturn:
    raise Conflict("the resource changed concurrently; re-read and retry")


def commit(
    repo: Repository,
    *,
    steps: Sequence[Step],
    entries: Sequence[Entry],
    actor: Mapping[str, str],
    reason: str | None,
    now: Callable[[], float],
    bump: Collection[EnvKey] = (),
    env_sets: Mapping[EnvKey, tuple[Mapping[str, Any], int]] | None = None,
    on_conflict: Callable[[], NoReturn] = _no_conflict,
    holding: str | None = None,
) -> list[str]:
    """Run ``steps`` with the audit entries appended atomically; return the new record hashes.

    ``bump``: environments whose ``revision`` increments. ``env_sets``: extra attributes set on
    an environment item (with its expected ``version``) — the environment item can appear only
    once in a transaction, so its own edits ride on the head update. ``holding``: the
    changeset lock token this write holds and releases (see the module docstring).
    """
    chains = [e.chain for e in entries]
    if len({c.records_pk for c in chains}) != len(chains):
        raise ValueError("one audit entry per chain per write")
    env_sets = env_sets or {}
    for attempt in range(MAX_ATTEMPTS):
        at = iso(now())
        head_steps: list[Step] = []
        record_steps: list[Step] = []
        hashes: list[str] = []
        for entry in entries:
            head = _read_head(repo, entry, now, holding)
            is_env = entry.chain.environment is not None
            seq = int((head or {}).get("audit_seq", 0))
            prev = str((head or {}).get("audit_head", ""))
            text, digest = build_record(
                entry, seq=seq + 1, prev_hash=prev, at=at, actor=dict(actor), reason=reason
            )
            hashes.append(digest)
            record_steps.append(record_step(entry.chain, seq + 1, text, digest))
            if is_env:
                assert head is not None
                env_key = (str(entry.chain.project), str(entry.chain.environment))
                head_steps.append(
                    _env_head_step(head, env_key, seq, digest, at, env_key in bump,
                                   env_sets.get(env_key), holding)
                )
            else:
                head_steps.append(global_head_step(seq, seq + 1, digest, at))
        all_steps = [*steps, *head_steps, *record_steps]
        try:
            repo.transact(all_steps)
            return hashes
        except TransactionCancelled as exc:
            entity_failed = any(
                r == "ConditionalCheckFailed" for r in exc.reasons[: len(steps)]
            )
            if entity_failed:
                on_conflict()
            heads = exc.reasons[len(steps):len(steps) + len(head_steps)]
            records = exc.reasons[len(steps) + len(head_steps):]
            if "ConditionalCheckFailed" in records and "ConditionalCheckFailed" not in heads:
                # The head held but its next record slot is taken: not a race (a racing
                # writer moves the head too) but a damaged chain. Retrying cannot help.
                raise Conflict(
                    "audit chain is inconsistent (next record exists); nothing was changed — "
                    "run POST /v1/audit/verify"
                ) from exc
            retryable = any(
                r in ("ConditionalCheckFailed", "TransactionConflict") for r in exc.reasons
            )
            if not retryable or attempt == MAX_ATTEMPTS - 1:
                raise Conflict(
                    "the write could not be committed (concurrent writes or a storage "
                    "fault); nothing was changed — retry"
                ) from exc
    raise AssertionError("unreachable")  # pragma: no cover


def _read_head(repo: Repository, entry: Entry, now: Callable[[], float],
               holding: str | None) -> Mapping[str, Any] | None:
    """The chain head (404 for a missing environment), after the changeset lock rule: a live
    lock not ``holding`` is 409, an expired one is rolled back first (then re-read)."""
    head = repo.get(entry.chain.head_pk, entry.chain.head_sk)
    if entry.chain.environment is None:
        return head
    if head is None:
        raise NotFound(f"environment {entry.chain.environment!r} of project "
                       f"{entry.chain.project!r} does not exist")
    if changesets.guard_head(repo, str(entry.chain.project), head, now(), holding):
        head = repo.get(entry.chain.head_pk, entry.chain.head_sk) or head
    return head


def _env_head_step(
    head: Mapping[str, Any],
    env_key: EnvKey,
    seq: int,
    digest: str,
    at: str,
    bump_revision: bool,
    extra: tuple[Mapping[str, Any], int] | None,
    holding: str | None = None,
) -> Step:
    sets = ["audit_seq = :ns", "audit_head = :h", "updated_at = :t"]
    values: dict[str, Any] = {"ns": seq + 1, "h": digest, "t": at, "s": seq}
    cond = ["audit_seq = :s"]
    remove = ""
    if holding is None:
        cond.append(f"attribute_not_exists({changesets.LOCK_ATTR})")
    else:
        cond.append(f"{changesets.LOCK_ATTR} = :lk")
        values["lk"] = holding
        remove = f" REMOVE {changesets.LOCK_ATTR}, cs_lock_until"
    names: dict[str, str] = {}
    if bump_revision:
        sets.append("revision = :nr")
        values["nr"] = int(head.get("revision", 0)) + 1
        values["r"] = int(head.get("revision", 0))
        cond.append("revision = :r")
    if extra is not None:
        attrs, expected_version = extra
        for i, (name, value) in enumerate(attrs.items()):
            names[f"#a{i}"] = name
            values[f"a{i}"] = value
            sets.append(f"#a{i} = :a{i}")
        values["ev"] = expected_version
        cond.append("version = :ev")
    project, environment = env_key
    return update(
        keys.project_pk(project),
        keys.environment_sk(environment),
        "SET " + ", ".join(sets) + remove,
        " AND ".join(cond),
        names or None,
        **values,
    )
