"""List-segment members from files: parsing with line numbers, and batched, resumable sends.

A member file is CSV (the first column of each row; a header row ``id``/``key`` is skipped;
blank lines are skipped) or NDJSON (one JSON string, or an object with ``id`` or ``key``,
per line). Every malformed line is reported with its number before anything is sent.

Sending: the ids go in batches of at most ``MAX_BATCH`` through
``POST …/segments/<s>/members``, each with a batch id derived from the file's content and the
batch's index, so re-running an interrupted upload re-sends only what the API has not
applied (a batch id already applied answers ``replayed`` and changes nothing; the same batch
id with other ids is refused, 409, so a ``--batch-id`` label names one set of ids).
"""

from __future__ import annotations

import hashlib
import http.client
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from edge_reader.engine.lists import MemberFile, parse_member_file
from vexil.errors import UsageError, VexilError

MAX_BATCH = 10_000


def parse_ids(text: str, fmt: str, *, source: str = "input") -> MemberFile:
    """Parse ``text`` as ``csv`` or ``ndjson`` (the engine's rule, the API's imports apply
    the same); ``UsageError`` listing the bad lines (≤ 10) and sending nothing."""
    parsed = parse_member_file(text, fmt)
    if parsed.problems:
        lines = [f"{source}:{n}: {why}" for n, why in parsed.problems]
        more = f" (and {len(lines) - 10} more)" if len(lines) > 10 else ""
        raise UsageError("malformed member file, nothing sent:\n  " + "\n  ".join(lines[:10])
                         + more)
    return parsed


@dataclass
class SendReport:
    """What a send did, summed over its batches."""

    batches: int = 0
    replayed: int = 0
    added: int = 0
    removed: int = 0
    duplicates: int = 0
    filed: list[dict[str, Any]] = field(default_factory=list)  # change requests (protected)


def batch_ids(ids: Sequence[str], op: str, label: str | None = None) -> list[str]:
    """One batch id per ``MAX_BATCH`` chunk: ``<op>-<content digest>-<index>`` (stable, so a
    re-run is idempotent), or ``<label>-<index>`` when the caller names the batch."""
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]
    stem = label or f"{op}-{digest}"
    count = max(1, -(-len(ids) // MAX_BATCH))
    return [stem if count == 1 and label else f"{stem}-{i}" for i in range(count)]


def send(post: Callable[[dict[str, Any]], tuple[int, Any]], ids: Sequence[str], op: str,
         label: str | None = None, progress: Callable[[int, int], None] | None = None,
         ) -> SendReport:
    """Send ``ids`` as ``op`` (``add``/``remove``) in batches through ``post(body)``, which
    answers (status, body)."""
    report = SendReport()
    names = batch_ids(ids, op, label)
    for index, name in enumerate(names):
        chunk = list(ids[index * MAX_BATCH:(index + 1) * MAX_BATCH])
        status, body = post({"batch_id": name, op: chunk})
        report.batches += 1
        if status == 202 and isinstance(body, dict) and "change_request" in body:
            report.filed.append(dict(body["change_request"]))
        elif isinstance(body, dict):
            report.replayed += 1 if body.get("replayed") else 0
            report.added += int(body.get("added", 0))
            report.removed += int(body.get("removed", 0))
            report.duplicates += int(body.get("duplicates", 0))
        if progress is not None:
            progress(index + 1, len(names))
    return report


def bulk_import(client: Any, imports_url: str, data: bytes, body: dict[str, Any], *,
                wait: bool = True, timeout: float = 600.0) -> dict[str, Any]:
    """Create an import, PUT ``data`` to its presigned URL, start it and (``wait``) poll
    ``GET …/imports/<id>`` until it is ``done`` or ``failed``; the last status."""
    created = client.request("POST", imports_url, body=body).body
    _put(str(created["upload_url"]), data)
    status_url = f"{imports_url}/{created['import_id']}"
    status = client.request("POST", status_url + "/start", body={}).body
    deadline = time.monotonic() + timeout
    while wait and status.get("status") in ("queued", "processing"):
        if time.monotonic() > deadline:
            raise VexilError(f"import {created['import_id']} still {status.get('status')} "
                             f"after {timeout:.0f} s; check: GET {status_url}")
        time.sleep(0.5)
        status = client.get(status_url).body
    return dict(status)


def _put(url: str, data: bytes) -> None:
    """The presigned upload (S3, or the local emulator)."""
    parts = urlsplit(url)
    conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else \
        http.client.HTTPConnection
    conn = conn_cls(parts.netloc, timeout=120)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request("PUT", target, body=data,
                     headers={"Content-Type": "application/octet-stream"})
        resp = conn.getresponse()
        resp.read()
        if resp.status >= 300:
            raise VexilError(f"upload refused: HTTP {resp.status}")
    except OSError as exc:
        raise VexilError(f"upload failed: {exc}") from None
    finally:
        conn.close()
