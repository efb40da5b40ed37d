"""Bulk imports of a list segment's members: a presigned S3 upload, processed asynchronously.

API Gateway caps bodies at 10 MB, so a million-line file never goes through the API:

1. ``POST …/segments/<s>/imports`` (``format`` csv|ndjson, ``mode`` add|replace) records the
   import (``awaiting_upload``) and answers a presigned ``PUT`` URL for
   ``imports/<p>/<e>/<s>/<id>`` in the bundle bucket (a prefix the CDN does not serve).
2. The client uploads, then ``POST …/imports/<id>/start``: the object must exist and be at
   most ``MAX_IMPORT_BYTES``; the import becomes ``queued`` and a queue item is written in
   the same transaction. The API returns at once.
3. An importer (``process_next``; on AWS the ``list_importer`` Lambda, locally a thread of
   the stream worker, never its stream handler: chalicelib/list_importer.py) claims it
   (``processing``), parses the whole file first — every malformed line is reported with
   its number (``failed``, nothing written) —, dedups (counted), hashes, writes
   the batch items (invisible until the list's ``list_seq`` reaches them) and commits ONE
   transaction: ``list_seq``, the import's ``done`` status and counts, the queue item's
   deletion, the revision bump and one audit record. ``replace`` removes every member not in
   the file. A failure after batch items were written deletes them.
4. ``GET …/imports/<id>`` reports the status, counts and errors. The uploaded file (raw
   ids) is deleted once processed, whatever the outcome, and at once when ``start`` refuses
   it as too large; the bucket's lifecycle expires uploads nobody processed.
5. An importer that dies mid-import (a Lambda timeout, a killed process) leaves the import
   ``processing`` with its claim time: after ``LEASE_SECONDS`` (longer than the longest
   Lambda run) the next importer reclaims it, deletes the invisible batch items the dead
   run wrote (else every later delta would collide with them) and starts it again.

In a protected environment ``start`` files a change request instead (``segment.import``):
the operation names the uploaded object exactly — its ETag, size and version — so the
approval is bound to that content (four-eyes); applying it queues the import, and the
importer reads the object with ``IfMatch`` on that ETag (and that version), so bytes
replaced after the approval are refused, never imported.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from functools import cache
from typing import Any

import boto3

from chalicelib import keys, list_record
from chalicelib.audit import Chain, Entry
from chalicelib.canonical import iso
from chalicelib.errors import Conflict, PayloadTooLarge
from chalicelib.rbac import Principal
from chalicelib.repository import TransactionCancelled, delete, put, update
from chalicelib.usecases import base
from chalicelib.usecases import lists as members
from chalicelib.usecases.base import Approved, Call, Ctx, NeedsApproval
from edge_reader.engine.lists import parse_member_file

log = logging.getLogger("vexil.list_imports")
MAX_IMPORT_BYTES = 256 * 1024 * 1024
UPLOAD_SECONDS = 900
MAX_REPORTED_ERRORS = 100
IMPORT_PREFIX = "imports/"
"""Where uploads land: not under the bundle prefix, so the CDN never serves one."""
ABANDONED_IMPORT_DAYS = 7
"""An upload never processed (not started, refused, its change request rejected) holds raw
ids: the bucket's lifecycle (``expire-abandoned-imports``, infra/s3.tf) deletes it then."""
QUEUE_PK = "IMPORTQ"
QUEUE_SK_PREFIX = "Q#"
LEASE_SECONDS = 960  # > the 900 s Lambda maximum: a claim this old belongs to a dead run
_CLAIMABLE = 25  # queue items looked at per call (others may be held by live importers)


@cache
def s3_client() -> Any:
    """One S3 client per container (presigning and reading uploads)."""
    return boto3.session.Session().client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))


def _bucket() -> str:
    bucket = os.environ.get("VEXIL_BUCKET")
    if not bucket:
        raise Conflict("VEXIL_BUCKET is not configured")
    return bucket


def _view(item: dict[str, Any]) -> dict[str, Any]:
    out = {k: item.get(k) for k in ("import_id", "segment", "status", "format", "mode",
                                     "created_at", "updated_at", "result", "errors")}
    return {k: v for k, v in out.items() if v is not None}


def _item(ctx: Ctx, project: str, environment: str, segment: str, import_id: str
          ) -> dict[str, Any]:
    return dict(base.require_item(ctx, keys.list_imports_pk(project, environment, segment),
                                  keys.list_import_sk(import_id), f"import {import_id!r}"))


def create_import(ctx: Ctx, call: Call, project: str, environment: str, segment: str,
                  body: dict[str, Any]) -> dict[str, Any]:
    """Record an import and answer where to upload the file (presigned PUT)."""
    members.read_list(ctx, project, environment, segment)
    import_id = f"imp-{int(ctx.now())}-{secrets.token_hex(6)}"
    object_key = f"{IMPORT_PREFIX}{project}/{environment}/{segment}/{import_id}"
    now = iso(ctx.now())
    item = {"pk": keys.list_imports_pk(project, environment, segment),
            "sk": keys.list_import_sk(import_id), "import_id": import_id, "segment": segment,
            "status": "awaiting_upload", "format": body.get("format", "csv"),
            "mode": body.get("mode", "add"), "object_key": object_key, "created_at": now,
            "updated_at": now, "actor": call.principal.actor, "reason": call.reason or ""}
    ctx.repo.transact([put(item, "attribute_not_exists(pk)")])
    url = s3_client().generate_presigned_url(
        "put_object", Params={"Bucket": _bucket(), "Key": object_key},
        ExpiresIn=UPLOAD_SECONDS)
    return {**_view(item), "upload_url": url, "upload_method": "PUT",
            "expires_in": UPLOAD_SECONDS, "max_bytes": MAX_IMPORT_BYTES}


def get_import(ctx: Ctx, project: str, environment: str, segment: str, import_id: str
               ) -> dict[str, Any]:
    """An import's status, counts and (when it failed) its errors."""
    return _view(_item(ctx, project, environment, segment, import_id))


def start_import(ctx: Ctx, call: Call, project: str, environment: str, segment: str,
                 import_id: str, approved: Approved | None = None,
                 operation: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Queue an uploaded import for processing (409 unless uploaded and not yet started);
    in a protected environment, file a ``segment.import`` change request naming the object."""
    item = _item(ctx, project, environment, segment, import_id)
    if item["status"] != "awaiting_upload":
        raise Conflict(f"import {import_id!r} is {item['status']}")
    try:
        head = s3_client().head_object(Bucket=_bucket(), Key=str(item["object_key"]))
    except s3_client().exceptions.ClientError as exc:
        raise Conflict(f"import {import_id!r}: nothing uploaded yet ({exc})") from None
    if int(head["ContentLength"]) > MAX_IMPORT_BYTES:
        # Never imported: its raw ids must not stay (by version: no noncurrent copy either).
        _discard_upload({**item, "object_version": str(head.get("VersionId") or "")})
        raise PayloadTooLarge(f"the file is {head['ContentLength']} bytes; at most "
                              f"{MAX_IMPORT_BYTES} (split it into several imports)")
    obj = {"etag": str(head["ETag"]), "size": int(head["ContentLength"]),
           "object_version": str(head.get("VersionId") or "")}
    if approved is None and base.is_protected(ctx, project, environment):
        raise NeedsApproval(project, environment, {
            "type": "segment.import", "segment": segment, "import_id": import_id,
            "format": item["format"], "mode": item["mode"], **obj})
    if operation is not None and any(operation.get(k) != v for k, v in obj.items()):
        raise Conflict(f"import {import_id!r}: the uploaded file changed after approval")
    now = iso(ctx.now())
    try:
        _queue(ctx, item, obj, now, approved, project, environment, segment, import_id)
    except TransactionCancelled:
        if approved:
            approved.check_cr()
        raise Conflict(f"import {import_id!r} was started concurrently") from None
    return get_import(ctx, project, environment, segment, import_id)


def _queue(ctx: Ctx, item: dict[str, Any], obj: dict[str, Any], now: str,
           approved: Approved | None, project: str, environment: str, segment: str,
           import_id: str) -> None:
    ctx.repo.transact([
        update(str(item["pk"]), str(item["sk"]),
               "SET #s = :q, updated_at = :u, etag = :e, object_version = :v",
               "#s = :a", names={"#s": "status"}, q="queued", u=now, a="awaiting_upload",
               e=obj["etag"], v=obj["object_version"]),
        *([approved.step] if approved else []),
        put({"pk": QUEUE_PK, "sk": QUEUE_SK_PREFIX + import_id, "import_id": import_id,
             "project": project, "environment": environment, "segment": segment,
             "created_at": now, "queued_at": int(ctx.now())}, "attribute_not_exists(pk)"),
    ])


def process_next(ctx: Ctx) -> str | None:
    """Process the oldest import that is queued, or whose importer died (claim older than
    ``LEASE_SECONDS``); its id, or None when nothing is left that this importer may take
    (an import a live importer holds is skipped, never waited for)."""
    queued, _ = ctx.repo.query(QUEUE_PK, QUEUE_SK_PREFIX, limit=_CLAIMABLE)
    for q in queued:
        import_id = str(q["import_id"])
        if process_import(ctx, str(q["project"]), str(q["environment"]), str(q["segment"]),
                          import_id):
            return import_id
    return None


def queue_age(ctx: Ctx) -> float:
    """Seconds the oldest import has waited in the queue (0 when it is empty): the
    importer's health in one number (alarmed on AWS, ``infra/importer.tf``)."""
    queued, _ = ctx.repo.query(QUEUE_PK, QUEUE_SK_PREFIX, limit=_CLAIMABLE)
    times = [float(q["queued_at"]) for q in queued if q.get("queued_at") is not None]
    return max(0.0, ctx.now() - min(times)) if times else 0.0


def process_import(ctx: Ctx, project: str, environment: str, segment: str, import_id: str
                   ) -> bool:
    """Claim, parse, hash and commit one import (see the module docstring); False when it
    was not ours to take (claimed by a live importer, or not queued). Never raises for bad
    input: the import ends ``failed`` with the reasons."""
    item = _item(ctx, project, environment, segment, import_id)
    if not _claim(ctx, item, project, environment, segment):
        return False
    pk, sk = str(item["pk"]), str(item["sk"])
    written: list[tuple[str, str]] = []
    try:
        errors = _run(ctx, item, project, environment, segment, written)
    except Exception as exc:  # any other failure: undo the invisible batch items
        errors = [{"line": 0, "message": f"import failed: {type(exc).__name__}: {exc}"}]
        for key in written:
            ctx.repo.transact([delete(*key)])
    if errors:
        ctx.repo.transact([
            update(pk, sk, "SET #s = :f, errors = :e, updated_at = :u",
                   names={"#s": "status"}, f="failed", e=errors[:MAX_REPORTED_ERRORS],
                   u=iso(ctx.now())),
            delete(QUEUE_PK, QUEUE_SK_PREFIX + import_id)])
    _discard_upload(item)
    return True


def _claim(ctx: Ctx, item: dict[str, Any], project: str, environment: str,
           segment: str) -> bool:
    """Mark the import ``processing`` with this claim's time (conditional: one importer
    wins); a claim older than the lease is taken over after its orphans are deleted."""
    pk, sk, now = str(item["pk"]), str(item["sk"]), ctx.now()
    status, claimed = item.get("status"), float(item.get("claimed_at") or 0)
    values: dict[str, Any]
    if status == "queued":
        condition, values = "#s = :q", {"q": "queued"}
    elif status == "processing" and now - claimed > LEASE_SECONDS:
        condition, values = "#s = :p AND claimed_at = :c", {"p": "processing",
                                                            "c": item.get("claimed_at")}
        if item.get("claimed_at") is None:
            condition, values = "#s = :p AND attribute_not_exists(claimed_at)", {
                "p": "processing"}
    else:
        return False
    try:
        ctx.repo.transact([update(pk, sk, "SET #s = :n, updated_at = :u, claimed_at = :t",
                                  condition, names={"#s": "status"}, n="processing",
                                  u=iso(now), t=int(now), **values)])
    except TransactionCancelled:  # another importer claimed it first
        return False
    if status == "processing":
        log.warning("import %s: its importer died mid-way; starting it again",
                    item["import_id"])
        _drop_orphans(ctx, project, environment, segment, str(item["import_id"]))
    return True


def _drop_orphans(ctx: Ctx, project: str, environment: str, segment: str,
                  import_id: str) -> None:
    """Delete the batch items a dead run of ``import_id`` wrote beyond the list's
    ``list_seq`` (invisible, but they would block the next batch's sequence number). A
    list the dead run was creating has no state yet: its batches sit under a list id no
    state will ever name, unreachable."""
    state = ctx.repo.get(keys.env_pk(project, environment), keys.list_sk(segment))
    if state is None:
        return
    current = list_record.read_state(state)
    pk = keys.list_batches_pk(project, environment, current.list_id)
    cursor: str | None = keys.list_batch_sk(current.seq)
    while cursor:
        items, cursor = ctx.repo.query(pk, keys.LIST_BATCH_SK_PREFIX, start_sk=cursor)
        for batch in items:
            if str(batch.get("batch_id", "")).startswith(f"{import_id}-"):
                ctx.repo.transact([delete(str(batch["pk"]), str(batch["sk"]))])


def _discard_upload(item: dict[str, Any]) -> None:
    """Delete the uploaded file (raw ids, e-mail addresses maybe): done or failed, it is not
    needed again. By version when known, so no noncurrent copy stays. Best effort."""
    extra = {"VersionId": item["object_version"]} if item.get("object_version") else {}
    try:
        s3_client().delete_object(Bucket=_bucket(), Key=str(item["object_key"]), **extra)
    except Exception as exc:  # the status is what matters; the file can be removed later
        log.warning("could not delete upload %s: %s", item["object_key"], exc)


def _run(ctx: Ctx, item: dict[str, Any], project: str, environment: str, segment: str,
         written: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Parse and commit; the errors (empty on success)."""
    # Exactly the object start/approval saw: a later overwrite fails here (412), not imported.
    extra = {"VersionId": item["object_version"]} if item.get("object_version") else {}
    body = s3_client().get_object(Bucket=_bucket(), Key=str(item["object_key"]),
                                  IfMatch=str(item["etag"]), **extra)["Body"].read()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body[:exc.start].count(b"\n") + 1
        return [{"line": line, "message": "not UTF-8"}]
    parsed = parse_member_file(text, str(item["format"]))
    if parsed.problems:
        more = len(parsed.problems) - MAX_REPORTED_ERRORS
        return [{"line": n, "message": why} for n, why in parsed.problems[:MAX_REPORTED_ERRORS]
                ] + ([{"line": 0, "message": f"and {more} more"}] if more > 0 else [])
    t = members.read_list(ctx, project, environment, segment)
    list_id, secret, new_state = members.list_secret(ctx, t)
    adds = set(list_record.hash_ids(secret, parsed.ids))
    removes: set[int] = set()
    count = len(adds)
    if t.state is not None:
        with members.FOLD_LOCK:
            current = members.folded(ctx, project, environment, t.state)
            if item.get("mode") == "replace":
                removes = current - adds  # and the count is len(adds)
            else:
                count = len(current) + sum(1 for h in adds if h not in current)
    base_seq = 0 if new_state is not None else int(t.state["list_seq"])  # type: ignore[index]
    seq = _write_batches(ctx, project, environment, list_id, base_seq, sorted(adds),
                         sorted(removes), str(item["import_id"]), written)
    result = {"ids": len(parsed.ids), "duplicates": parsed.duplicates, "added": len(adds),
              "removed": len(removes), "seq": seq}
    _commit(ctx, item, t, new_state, base_seq, seq, result, count)
    return []


def _write_batches(ctx: Ctx, project: str, environment: str, list_id: str, base_seq: int,
                   adds: list[int], removes: list[int], import_id: str,
                   written: list[tuple[str, str]]) -> int:
    """Batch items ``base_seq+1..``; invisible until ``list_seq`` moves; their last seq."""
    pk = keys.list_batches_pk(project, environment, list_id)
    seq = base_seq
    step = list_record.MAX_BATCH_IDS
    for i in range(0, max(len(adds), len(removes), 1), step):
        seq += 1
        batch = {"pk": pk, "sk": keys.list_batch_sk(seq), "batch_id": f"{import_id}-{seq}",
                 "created_at": iso(ctx.now()),
                 "adds": list_record.pack(list_record.to_array(adds[i:i + step])),
                 "removes": list_record.pack(list_record.to_array(removes[i:i + step]))}
        ctx.repo.transact([put(batch, "attribute_not_exists(pk)")])
        written.append((pk, keys.list_batch_sk(seq)))
    return seq


def _commit(ctx: Ctx, item: dict[str, Any], t: Any, new_state: dict[str, Any] | None,
            base_seq: int, seq: int, result: dict[str, Any], count: int) -> None:
    """The import's one transaction: list state (``list_seq`` and ``list_members``),
    import ``done``, queue item gone, revision bump and audit record."""
    now = iso(ctx.now())
    state_key = (keys.env_pk(t.project, t.environment), keys.list_sk(t.segment))
    steps = [
        put({**new_state, "list_seq": seq, "updated_at": now, "list_members": count},
            "attribute_not_exists(pk)")
        if new_state is not None else
        update(*state_key, "SET list_seq = :n, updated_at = :u, version = :n, "
               "list_members = :m", "list_seq = :o", n=seq, u=now, o=base_seq, m=count),
        update(str(item["pk"]), str(item["sk"]), "SET #s = :d, #r = :r, updated_at = :u",
               "#s = :p", names={"#s": "status", "#r": "result"}, d="done", r=result, u=now,
               p="processing"),
        delete(QUEUE_PK, QUEUE_SK_PREFIX + str(item["import_id"])),
    ]
    actor = dict(item.get("actor") or {})
    principal = Principal(token_id=actor.get("token_id", "?"), name=actor.get("name", "?"),
                          role="importer", projects=(t.project,),
                          environments=(t.environment,))
    base.commit(ctx, Call(principal, str(item.get("reason") or "") or None), steps=steps,
                bump=[(t.project, t.environment)], on_conflict=base.raise_conflict,
                entries=[Entry(Chain.for_environment(t.project, t.environment),
                               "segment.import", t.path, None,
                               {**result, "import_id": item["import_id"]})])
