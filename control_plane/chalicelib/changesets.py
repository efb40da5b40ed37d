"""Changesets in storage: the environment lock, chunked writes with a journal, rollback.

DynamoDB commits at most 100 items (4 MB) in one transaction, so a changeset of thousands
of items is written in several. Readers still see all or nothing because of one rule the
publisher's snapshot enforces (``publish/snapshot.py``): **a locked environment is never
published**, and every step that ends a lock changes what the snapshot compares.

The protocol (docs/architecture.md, "Changesets"):

1. :func:`acquire` — one transaction sets ``cs_lock`` (``<changeset id>.<nonce>``) and
   ``cs_lock_until`` on every affected environment item, conditioned on no lock and on the
   ``revision`` the changeset was validated against, and puts the journal head (which
   environments are locked).
2. :func:`write_chunks` — each chunk of <= 98 items is one transaction that also puts its
   journal item (the before-image of every item it writes) and renews the lease on the
   primary environment item (every 15 s; a condition check otherwise), conditioned on still
   holding the lock (a recoverer that took an expired lock over fences a slow holder out).
3. The caller's final transaction (``writes.commit(..., holding=token)``) removes the lock,
   bumps ``revision`` once per environment and appends the audit record.
4. On any failure before that: :func:`rollback` restores the before-images chunk by chunk
   (newest first), then releases the lock, bumping ``cs_seq`` so a snapshot that read across
   the whole episode notices.
5. A lock past ``cs_lock_until`` belongs to a dead applier: the next writer calls
   :func:`recover` (take the lock over, roll back) before it proceeds; a live lock makes every
   other write answer 409.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from chalicelib import keys
from chalicelib.canonical import canonical
from chalicelib.errors import Conflict
from chalicelib.repository import (
    MAX_TRANSACTION_ITEMS,
    Item,
    Repository,
    Step,
    TransactionCancelled,
    condition,
    delete,
    put,
    update,
)

LOCK_TTL_SECONDS = 60
"""A lease; renewed by every chunk, so only a holder that stopped writing loses it."""
RENEW_EVERY = LOCK_TTL_SECONDS / 4
LOCK_ATTR = keys.CHANGESET_LOCK_ATTR
CHUNK_ITEMS = MAX_TRANSACTION_ITEMS - 2  # + the journal item + the lease renewal
CHUNK_IMAGE_BYTES = 300_000  # a journal item holds the chunk's before-images: < 400 KB
CHUNK_BYTES = 3_000_000  # below the 4 MB transaction limit, with room for overhead


@dataclass(frozen=True)
class Write:
    """One item a changeset writes: the step and the item as it was before (None: absent)."""

    step: Step
    pk: str
    sk: str
    before: Item | None
    size: int


@dataclass(frozen=True)
class Lease:
    """A held lock: which changeset, its fencing token, the environments it covers."""

    project: str
    changeset_id: str
    token: str
    environments: tuple[str, ...]  # the first is the primary (renewed by every chunk)


_CHANGESET_ID = re.compile(r"cs-[0-9]{13}-[0-9a-f]{8}", re.ASCII)


def new_changeset_id(now: float) -> str:
    """A sortable, unique changeset id (``cs-<epoch ms>-<8 hex>``)."""
    return f"cs-{int(now * 1000):013d}-{secrets.token_hex(4)}"


def is_changeset_id(text: str) -> bool:
    """Whether ``text`` has the form :func:`new_changeset_id` gives."""
    return bool(_CHANGESET_ID.fullmatch(text))


def item_size(item: Mapping[str, Any]) -> int:
    """An upper estimate of an item's stored size (its JSON text)."""
    return len(orjson.dumps(dict(item)))


def lock_of(env: Mapping[str, Any] | None, now: float) -> tuple[str, bool] | None:
    """``(token, expired)`` when the environment item holds a changeset lock, else None."""
    if not env or LOCK_ATTR not in env:
        return None
    return str(env[LOCK_ATTR]), float(env.get("cs_lock_until", 0)) < now


def changeset_of(token: str) -> str:
    """The changeset id inside a lock token."""
    return token.rsplit(".", 1)[0]


def _env_key(project: str, environment: str) -> tuple[str, str]:
    return keys.project_pk(project), keys.environment_sk(environment)


def acquire(repo: Repository, project: str, changeset_id: str,
            revisions: Mapping[str, int], now: float) -> Lease:
    """Lock every environment of ``revisions`` at exactly that revision, or raise 409.

    ``revisions``: environment -> the revision the changeset was validated against (the
    target environment first). One transaction, so the lock covers all of them or none.
    """
    token = f"{changeset_id}.{secrets.token_hex(4)}"
    envs = tuple(revisions)
    steps: list[Step] = [
        update(*_env_key(project, e),
               "SET cs_lock = :k, cs_lock_until = :u, cs_seq = if_not_exists(cs_seq, :z) + :one",
               "attribute_not_exists(cs_lock) AND revision = :r",
               k=token, u=int(now) + LOCK_TTL_SECONDS, z=0, one=1, r=rev)
        for e, rev in revisions.items()]
    steps.append(put({"pk": keys.changeset_pk(project, changeset_id),
                      "sk": keys.CHANGESET_HEAD_SK, "environments": list(envs),
                      "changeset": changeset_id}, "attribute_not_exists(pk)"))
    try:
        repo.transact(steps)
    except TransactionCancelled as exc:
        busy = [envs[i] for i, r in enumerate(exc.reasons[: len(envs)])
                if r == "ConditionalCheckFailed"]
        raise Conflict(
            f"environment(s) {', '.join(busy) or '?'} changed or are locked by another "
            "changeset since the changeset was validated; nothing was written — retry") from exc
    return Lease(project, changeset_id, token, envs)


def _renew(lease: Lease, now: float) -> Step:
    return update(*_env_key(lease.project, lease.environments[0]),
                  "SET cs_lock_until = :u", "cs_lock = :k",
                  u=int(now) + LOCK_TTL_SECONDS, k=lease.token)


def _held(lease: Lease) -> Step:
    return condition(*_env_key(lease.project, lease.environments[0]), "cs_lock = :k",
                     k=lease.token)


def chunks(writes: Sequence[Write]) -> list[list[Write]]:
    """Split ``writes`` into transactions within DynamoDB's item and size limits."""
    out: list[list[Write]] = []
    current: list[Write] = []
    images = size = 0
    for w in writes:
        image = w.size if w.before is not None else 64
        if current and (len(current) == CHUNK_ITEMS or images + image > CHUNK_IMAGE_BYTES
                        or size + w.size > CHUNK_BYTES):
            out.append(current)
            current, images, size = [], 0, 0
        current.append(w)
        images += image
        size += w.size
    if current:
        out.append(current)
    return out


def write_chunks(repo: Repository, lease: Lease, writes: Sequence[Write],
                 now: Callable[[], float]) -> None:
    """Write every chunk with its journal item; raise :class:`TransactionCancelled` (or a
    storage error) at the first failing chunk — the caller then calls :func:`rollback`."""
    pk = keys.changeset_pk(lease.project, lease.changeset_id)
    renewed = now()
    for n, chunk in enumerate(chunks(writes)):
        journal = {"pk": pk, "sk": keys.changeset_journal_sk(n),
                   "images": canonical([[w.pk, w.sk, w.before] for w in chunk])}
        # Every chunk requires the lock; only every RENEW_EVERY seconds does one extend it —
        # an update of the environment item is a stream record, and each one costs the
        # publisher a (refused) snapshot attempt, or a full one if it is read after the end.
        fence = _held(lease)
        if now() - renewed >= RENEW_EVERY:
            renewed = now()
            fence = _renew(lease, renewed)
        repo.transact([fence, put(journal), *(w.step for w in chunk)])


def rollback(repo: Repository, lease: Lease) -> None:
    """Put back every before-image (newest chunk first), then release the lock.

    Every transaction is conditioned on still holding the lock, so two rollbacks never
    interleave and a fenced-out holder cannot undo a recoverer's work.
    """
    pk = keys.changeset_pk(lease.project, lease.changeset_id)
    journal, _ = repo.query(pk, keys.CHANGESET_JOURNAL_SK_PREFIX, forward=False)
    held = _held(lease)
    for item in journal:
        restore: list[Step] = [
            put(before) if before is not None else delete(ipk, isk)
            for ipk, isk, before in orjson.loads(item["images"])]
        repo.transact([held, *restore, delete(pk, str(item["sk"]))])
    release = [update(*_env_key(lease.project, e),
                      "REMOVE cs_lock, cs_lock_until SET cs_seq = cs_seq + :one",
                      "cs_lock = :k", one=1, k=lease.token) for e in lease.environments]
    repo.transact([*release, delete(pk, keys.CHANGESET_HEAD_SK)])


def forget(repo: Repository, lease: Lease) -> None:
    """After the final commit: drop the journal (the manifest stays). Best effort — a left
    journal is inert: only a lock leads to it, and the final commit removed the lock."""
    pk = keys.changeset_pk(lease.project, lease.changeset_id)
    journal, _ = repo.query(pk, keys.CHANGESET_JOURNAL_SK_PREFIX)
    steps = [delete(pk, str(i["sk"])) for i in journal] + [delete(pk, keys.CHANGESET_HEAD_SK)]
    for start in range(0, len(steps), MAX_TRANSACTION_ITEMS):
        try:
            repo.transact(steps[start:start + MAX_TRANSACTION_ITEMS])
        except TransactionCancelled:
            return


def recover(repo: Repository, project: str, token: str, now: float) -> None:
    """Roll back the changeset of an expired lock ``token`` (its holder died).

    Takes the lock over first (a new token on every environment it covers, conditioned on the
    old token having expired), so the dead holder — if it was only slow — is fenced out.
    Raises 409 when someone else took it over or the holder renewed it meanwhile.
    """
    changeset_id = changeset_of(token)
    head = repo.get(keys.changeset_pk(project, changeset_id), keys.CHANGESET_HEAD_SK)
    if head is None:
        raise Conflict(f"changeset {changeset_id} holds a lock without a journal; "
                       "restore the environment item by hand (docs/operations.md)")
    envs = tuple(str(e) for e in head["environments"])
    lease = Lease(project, changeset_id, f"{changeset_id}.{secrets.token_hex(4)}", envs)
    steps = [update(*_env_key(project, e), "SET cs_lock = :n, cs_lock_until = :u",
                    "cs_lock = :o AND cs_lock_until < :now", n=lease.token,
                    u=int(now) + LOCK_TTL_SECONDS, o=token, now=int(now) + 1)
             for e in envs]
    try:
        repo.transact(steps)
    except TransactionCancelled as exc:
        raise Conflict(f"changeset {changeset_id} is being rolled back or finished by "
                       "another writer; retry") from exc
    rollback(repo, lease)


def guard_head(repo: Repository, project: str, head: Mapping[str, Any], now: float,
               holding: str | None) -> bool:
    """The lock rule for every writer reading an environment head before it commits.

    Returns True when it recovered an expired lock (the caller re-reads the head); raises
    409 for a live lock that is not ``holding``; returns False when the head is free or held
    by the caller.
    """
    lock = lock_of(head, now)
    if holding is not None:
        if lock is None or lock[0] != holding:
            raise Conflict("the changeset lost its lock (it expired and was rolled back by "
                           "another writer); nothing was changed — retry")
        return False
    if lock is None:
        return False
    token, expired = lock
    if not expired:
        raise Conflict(f"environment {head.get('environment')!r} is being changed by "
                       f"changeset {changeset_of(token)}; retry in a few seconds")
    recover(repo, project, token, now)
    return True
