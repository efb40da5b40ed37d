"""List segments' members: delta batches and the list's state.

A batch (``POST …/segments/<s>/members``: ``batch_id``, ``add``, ``remove``, at most
``MAX_BATCH_IDS`` ids together) is hashed here with the list's key (raw ids are never
stored: chalicelib/list_record.py) and written as ONE transaction: the batch item, its batch
id's record (``attribute_not_exists``, with a keyed digest of the batch's ids: the batch id is
an idempotency key, so a retry with the same ids answers what the first attempt did and
writes nothing, and the same id with other ids is refused, 409), the list state's
``list_seq`` (conditioned on the value read) and, through ``base.commit``, the environment's
revision bump and the audit record (counts and a digest of the ids, never the ids). The
publisher folds the batches into shards.

The list's state item and secret are created by the first batch or import (KMS wraps the
secret, purpose ``list-secret``). The state item also holds ``list_members``, the exact
member count after its ``list_seq``, set in the same transaction as each batch, so reading
a list's size is one item, not its batches (8 MB at a million). Computing it needs the
members (is an added id new? a removed one present?): each container keeps the list folded
(:func:`folded`, by ``list_id``) and reads only the batches written since.

A protected environment files a change request holding the whole batch; applying it runs
this same use case with ``approved``.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from chalicelib import keys, list_record
from chalicelib.audit import Chain, Entry
from chalicelib.canonical import iso
from chalicelib.envdoc import versioned
from chalicelib.errors import BadRequest, Conflict, Detail
from chalicelib.repository import Item, put, update
from chalicelib.usecases import base
from chalicelib.usecases.base import Approved, Call, Ctx, NeedsApproval
from chalicelib.usecases.sdk_keys import kms_client
from edge_reader.engine.lists import LIST_TYPE

_SECRETS: dict[tuple[str, bytes], bytes] = {}  # unwrapped list secrets, per container
# list_id -> (seq, hashed members at seq): per container, so a write reads new batches only
_FOLDS: dict[str, tuple[int, set[int]]] = {}
FOLD_LOCK = threading.RLock()
"""Held while a fold is read or advanced (a fold is advanced in place, never copied)."""


@dataclass(frozen=True, slots=True)
class _List:
    """A list segment as read before a write: its environment, segment and state items."""

    project: str
    environment: str
    segment: str
    env: Item
    state: Item | None

    @property
    def path(self) -> str:
        return (f"projects/{self.project}/environments/{self.environment}/segments/"
                f"{self.segment}")


def read_list(ctx: Ctx, project: str, environment: str, segment: str) -> _List:
    """The list segment (404 if absent, 409 if it is not ``type: list``) and its state."""
    env = base.environment_item(ctx, project, environment)
    pk = keys.env_pk(project, environment)
    item = base.require_item(ctx, pk, keys.segment_sk(segment),
                             f"segment {segment!r} in {environment!r}")
    if versioned(item).body.get("type") != LIST_TYPE:
        raise Conflict(f"segment {segment!r} is not a list segment (type: list)")
    return _List(project, environment, segment, env, ctx.repo.get(pk, keys.list_sk(segment)))


def _bad(field: str, message: str) -> BadRequest:
    return BadRequest(f"{field}: {message}", [Detail(field, message)])


def _ids(values: Sequence[Any], field: str) -> tuple[list[str], int]:
    """Distinct ids in order and the number of duplicates dropped."""
    seen: dict[str, None] = {}
    for i, v in enumerate(values):
        if not isinstance(v, str) or not v or len(v) > 1024:
            raise _bad(f"{field}[{i}]", "ids must be non-empty strings of at most 1024 "
                       "characters")
        seen[v] = None
    return list(seen), len(values) - len(seen)


def change_members(ctx: Ctx, call: Call, project: str, environment: str, segment: str,
                   body: Mapping[str, Any], approved: Approved | None = None
                   ) -> dict[str, Any]:
    """Apply one delta batch (idempotent by ``batch_id``); answer its counts and ``seq``."""
    add, add_dups = _ids(body.get("add") or [], "add")
    remove, remove_dups = _ids(body.get("remove") or [], "remove")
    if len(add) + len(remove) > list_record.MAX_BATCH_IDS:
        raise _bad("add", f"a batch holds at most {list_record.MAX_BATCH_IDS} ids "
                   f"(got {len(add) + len(remove)}): split it")
    both = set(add) & set(remove)
    if both:
        raise _bad("remove", f"{len(both)} ids are both added and removed, e.g. "
                   f"{sorted(both)[0]!r}")
    batch_id = str(body["batch_id"])
    t = read_list(ctx, project, environment, segment)
    replay = _replayed(ctx, t, batch_id, add, remove)
    if replay is not None:
        return replay
    if t.env.get("protected") and approved is None:
        raise NeedsApproval(project, environment, {
            "type": "segment.members", "segment": segment, "batch_id": batch_id,
            "add": add, "remove": remove})
    result = {"segment": segment, "batch_id": batch_id, "added": len(add),
              "removed": len(remove), "duplicates": add_dups + remove_dups}
    return write_batch(ctx, call, t, batch_id, add, remove, result, approved)


def _replayed(ctx: Ctx, t: _List, batch_id: str, add: Sequence[str], remove: Sequence[str]
              ) -> dict[str, Any] | None:
    """The first answer for ``batch_id`` when it was applied with these ids (a retry), None
    when it was never applied; 409 naming ``batch_id`` when it was applied with other ids.

    Like a Stripe idempotency key: silently answering the first batch's counts for other ids
    would drop those ids while telling the caller they were applied. Records written before
    digests were stored carry none and replay as they always did.
    """
    if t.state is None:
        return None
    done = ctx.repo.get(keys.list_batches_pk(t.project, t.environment,
                                             str(t.state["list_id"])),
                        keys.list_batch_id_sk(batch_id))
    if done is None:
        return None
    stored = done.get("ids_digest")
    if stored is not None:
        _, secret, _ = list_secret(ctx, t)
        if list_record.batch_digest(list_record.hash_ids(secret, add),
                                    list_record.hash_ids(secret, remove)) != stored:
            message = (f"batch_id {batch_id!r} was already used for other ids (batch "
                       f"{done.get('seq')}); a batch id names one set of ids: send these "
                       "under a new batch_id")
            raise Conflict(message, [Detail("batch_id", "already used for other ids")])
    return {**dict(done.get("result") or {}), "replayed": True}


def list_secret(ctx: Ctx, t: _List) -> tuple[str, bytes, Item | None]:
    """(list id, secret, new state item or None when the state exists)."""
    kms = ctx.kms or kms_client()
    if t.state is None:
        list_id = secrets.token_hex(8)
        secret, wrapped = list_record.new_secret(kms, _key_id(ctx), t.project, t.environment,
                                                 list_id)
        item = {"pk": keys.env_pk(t.project, t.environment), "sk": keys.list_sk(t.segment),
                "segment": t.segment, "list_id": list_id, "list_seq": 0,
                "list_secret": wrapped, "version": 1}
        return list_id, secret, item
    state = list_record.read_state(t.state)
    cache_key = (state.list_id, state.wrapped_secret)
    if cache_key not in _SECRETS:
        _SECRETS[cache_key] = list_record.unwrap_secret(kms, t.project, t.environment, state)
    return state.list_id, _SECRETS[cache_key], None


def _key_id(ctx: Ctx) -> str:
    import os  # noqa: PLC0415 (only the first batch of a list needs it)

    key_id = ctx.kms_key_id or os.environ.get("VEXIL_KMS_KEY_ID")
    if not key_id:
        raise Conflict("VEXIL_KMS_KEY_ID is not configured")
    return key_id


def write_batch(ctx: Ctx, call: Call, t: _List, batch_id: str, add: Sequence[str],
                remove: Sequence[str], result: dict[str, Any],
                approved: Approved | None = None) -> dict[str, Any]:
    """The one write of a batch (deltas and imports): see the module docstring."""
    list_id, secret, new_state = list_secret(ctx, t)
    seq = 1 if new_state is not None else int(t.state["list_seq"]) + 1  # type: ignore[index]
    pk = keys.list_batches_pk(t.project, t.environment, list_id)
    result = {**result, "seq": seq}
    now = iso(ctx.now())
    adds = list_record.hash_ids(secret, add)
    removes = list_record.hash_ids(secret, remove)
    batch = {"pk": pk, "sk": keys.list_batch_sk(seq), "batch_id": batch_id, "created_at": now,
             "adds": list_record.pack(adds), "removes": list_record.pack(removes)}
    steps = [put(batch, "attribute_not_exists(pk)"),
             put({"pk": pk, "sk": keys.list_batch_id_sk(batch_id), "seq": seq,
                  "result": result, "created_at": now,
                  "ids_digest": list_record.batch_digest(adds, removes)},
                 "attribute_not_exists(pk)")]
    state_key = (keys.env_pk(t.project, t.environment), keys.list_sk(t.segment))
    if new_state is not None:
        steps.append(put({**new_state, "list_seq": seq, "updated_at": now,
                          "list_members": len(set(adds))}, "attribute_not_exists(pk)"))
    else:
        count = members_after(ctx, t.project, t.environment, t.state, adds,  # type: ignore[arg-type]
                              removes)
        steps.append(update(*state_key, "SET list_seq = :n, updated_at = :u, version = :n, "
                            "list_members = :m", "list_seq = :o", n=seq, u=now, o=seq - 1,
                            m=count))

    def conflict() -> NoReturn:
        if approved:
            approved.check_cr()
        again = _replayed(ctx, read_list(ctx, t.project, t.environment, t.segment), batch_id,
                          add, remove)
        if again is not None:
            raise Conflict(f"batch {batch_id!r} was applied concurrently")
        base.raise_conflict()

    digest = ids_digest(add, remove)
    base.commit(ctx, call, steps=[*steps, *([approved.step] if approved else [])],
                bump=[(t.project, t.environment)], on_conflict=conflict,
                entries=[Entry(Chain.for_environment(t.project, t.environment),
                               "segment.members", t.path, None,
                               {**result, "ids_sha256": digest})])
    return result


def ids_digest(add: Sequence[str], remove: Sequence[str]) -> str:
    """What the audit log says about a batch's ids: a SHA-256 over them, never the ids."""
    return hashlib.sha256("\n".join(["+" + i for i in add] + ["-" + i for i in remove])
                          .encode()).hexdigest()


def audited_operation(op: Mapping[str, Any]) -> dict[str, Any]:
    """A ``segment.members`` operation as the audit log records it: the counts and
    :func:`ids_digest` instead of the raw ids (the log is append-only: an id written there
    could never be erased). Other operations are returned as they are."""
    if op.get("type") != "segment.members":
        return dict(op)
    add, remove = list(op.get("add") or []), list(op.get("remove") or [])
    return {**{k: v for k, v in op.items() if k not in ("add", "remove")},
            "added": len(add), "removed": len(remove), "ids_sha256": ids_digest(add, remove)}


def list_state(ctx: Ctx, project: str, environment: str, segment: str) -> dict[str, Any]:
    """The list's size (members after every batch) and sequence: one item read (a state
    written before ``list_members`` existed is folded once instead)."""
    t = read_list(ctx, project, environment, segment)
    if t.state is None:
        return {"segment": segment, "seq": 0, "members": 0, "updated_at": None}
    state = list_record.read_state(t.state)
    count = t.state.get("list_members")
    return {"segment": segment, "seq": state.seq,
            "members": int(count) if count is not None else
            len(folded(ctx, project, environment, t.state)),
            "updated_at": t.state.get("updated_at")}


def members_after(ctx: Ctx, project: str, environment: str, state_item: Item,
                  adds: Iterable[int], removes: Iterable[int]) -> int:
    """The member count once a batch adding ``adds`` and removing ``removes`` (hashes)
    lands on the list at ``state_item``'s ``list_seq``."""
    with FOLD_LOCK:
        members = folded(ctx, project, environment, state_item)
        new = {h for h in adds if h not in members}
        gone = {h for h in removes if h in members}
        return len(members) + len(new) - len(gone)


def folded(ctx: Ctx, project: str, environment: str, state_item: Item) -> set[int]:
    """The list's hashed members at its ``list_seq`` (every batch applied in order). Kept
    per container: only batches newer than the last fold are read. Do not modify it, and
    hold ``FOLD_LOCK`` while using it (another thread may advance it)."""
    state = list_record.read_state(state_item)
    with FOLD_LOCK:
        seq, members = _FOLDS.get(state.list_id, (0, set()))
        if seq > state.seq:  # a stale read behind a newer fold: fold afresh, uncached
            seq, members = 0, set()
        elif seq == state.seq:
            return members
        pk = keys.list_batches_pk(project, environment, state.list_id)
        cursor: str | None = keys.list_batch_sk(seq) if seq else None
        while True:
            items, cursor = ctx.repo.query(pk, keys.LIST_BATCH_SK_PREFIX, start_sk=cursor)
            for item in items:
                if seq < int(str(item["sk"])[len(keys.LIST_BATCH_SK_PREFIX):]) <= state.seq:
                    list_record.apply_batch(members, item)
            if not cursor:
                break
        if state.list_id not in _FOLDS or _FOLDS[state.list_id][0] <= state.seq:
            _FOLDS[state.list_id] = (state.seq, members)
        return members
