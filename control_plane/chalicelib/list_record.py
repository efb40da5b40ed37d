"""The stored state of a list segment and its member batches (docs/data-model.md).

Shared by the API (which writes batches) and the publisher (which folds them into shards),
like ``sdk_key_record``: one definition of the shapes and of the secret's KMS context.

* ``E#<p>#<e>`` / ``LIST#<s>``: ``list_id`` (a new one per list incarnation), ``list_seq``
  (batches applied so far), ``list_secret`` (``kms.encrypt`` of 32 random bytes under
  :func:`wrap_context`), ``version``, ``updated_at``. Written in the same transaction as the
  environment's revision bump, so the publisher's consistent snapshot sees it with the
  segment.
* ``L#<p>#<e>#<list_id>`` / ``B#<seq>``: one batch — ``adds``/``removes`` (packed 8-byte
  little-endian keyed hashes, never the raw ids), ``batch_id``; immutable.
* ``L#…`` / ``I#<batch_id>``: the batch id's record (``seq``, counts, ``ids_digest``:
  :func:`batch_digest`): a retried batch id with the same ids answers what the first attempt
  did and writes nothing; with other ids it is refused.
"""

from __future__ import annotations

import hashlib
import os
import sys
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.sdk_key_record import PURPOSE_CONTEXT_KEY
from edge_reader.engine.lists import SECRET_BYTES, derive_key, member_hash

LIST_SECRET_PURPOSE = "list-secret"  # noqa: S105 - a KMS context value, not a secret
READ_FIELDS = ("list_id", "list_seq", "list_secret")
"""The attributes the publisher's snapshot projects from a ``LIST#`` item."""
MAX_BATCH_IDS = 10_000


@dataclass(frozen=True, slots=True)
class ListState:
    """A list segment's state at one revision: whose batches, how many, which secret."""

    list_id: str
    seq: int
    wrapped_secret: bytes = field(repr=False)


def read_state(item: Mapping[str, Any]) -> ListState:
    """The state of a ``LIST#`` item (plain form); ``ValueError`` naming what is wrong."""
    list_id, seq, wrapped = item.get("list_id"), item.get("list_seq"), item.get("list_secret")
    if not isinstance(list_id, str) or not isinstance(wrapped, bytes | bytearray):
        raise ValueError(f"{item.get('sk')}: list_id/list_secret missing (malformed item)")
    return ListState(list_id, int(seq or 0), bytes(wrapped))


def wrap_context(project: str, environment: str, list_id: str) -> dict[str, str]:
    """The KMS encryption context binding a list secret to its environment and list."""
    return {PURPOSE_CONTEXT_KEY: LIST_SECRET_PURPOSE, "vexil:project": project,
            "vexil:environment": environment, "vexil:list": list_id}


def new_secret(kms: Any, kms_key_id: str, project: str, environment: str,
               list_id: str) -> tuple[bytes, bytes]:
    """(secret, wrapped secret) for a new list: 32 random bytes, wrapped by KMS now."""
    secret = os.urandom(SECRET_BYTES)
    wrapped = bytes(kms.encrypt(KeyId=kms_key_id, Plaintext=secret,
                                EncryptionContext=wrap_context(project, environment,
                                                               list_id))["CiphertextBlob"])
    return secret, wrapped


def unwrap_secret(kms: Any, project: str, environment: str, state: ListState) -> bytes:
    """The list secret (one KMS Decrypt); KMS refuses a secret wrapped for another list."""
    secret = bytes(kms.decrypt(CiphertextBlob=state.wrapped_secret,
                               EncryptionContext=wrap_context(project, environment,
                                                              state.list_id))["Plaintext"])
    if len(secret) != SECRET_BYTES:
        raise ValueError(f"list {state.list_id}: secret is not {SECRET_BYTES} bytes")
    return secret


def hash_ids(secret: bytes, ids: Iterable[str]) -> array[int]:
    """The keyed hashes (engine/lists.py) of ``ids`` — what batches and shards store."""
    key = derive_key(secret, "member")
    return array("Q", (member_hash(key, i) for i in ids))


def batch_digest(adds: Iterable[int], removes: Iterable[int]) -> str:
    """A digest of a batch's content — the :func:`hash_ids` of its added and removed ids,
    distinct, in any order — that tells a retry (same ids) from a reused batch id (other ids).

    Over the keyed member hashes, not the ids: an unkeyed hash of a one-id batch would let
    anyone reading the table confirm a guessed e-mail address.
    """
    digest = hashlib.sha256()
    for side in (adds, removes):
        hashes = sorted(set(side))
        digest.update(len(hashes).to_bytes(8, "little"))
        digest.update(pack(to_array(hashes)))
    return digest.hexdigest()


def to_array(hashes: Iterable[int]) -> array[int]:
    """Hashes as the packed form's array."""
    return array("Q", hashes)


def pack(hashes: array[int]) -> bytes:
    """Hashes as stored in a batch item: 8 bytes each, little-endian."""
    if sys.byteorder == "little":
        return hashes.tobytes()
    swapped = array("Q", hashes)
    swapped.byteswap()
    return swapped.tobytes()


def unpack(data: bytes | bytearray | None) -> array[int]:
    """The hashes of a batch item's ``adds``/``removes``."""
    out = array("Q")
    if data:
        out.frombytes(bytes(data))
        if sys.byteorder != "little":
            out.byteswap()
    return out


def apply_batch(members: set[int], item: Mapping[str, Any]) -> None:
    """Apply one batch item to ``members`` (removes after adds: a batch never has both)."""
    members.update(unpack(item.get("adds")))
    members.difference_update(unpack(item.get("removes")))
