"""List-segment members from files: parsing with line numbers, and batched, resumable sends.

A member file is CSV (the first column of each row; a header row ``id``/``key`` is skipped;
blank lines are skipped) or NDJSON (one JSON string, or an object with ``id`` or ``key``,
per line). Every malformed line is reported with its number before anything is sent.

Sending: the ids go in batches of at most ``MAX_BATCH`` through
``POST …/segments/<s>/members``, each with a batch id derived from the file's content and the
batch's index, so re-running an interrupted upload re-sends only what the API has not
applied (a batch id already applied answers ``replayed`` and changes nothing).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vexil.errors import UsageError

MAX_BATCH = 10_000
MAX_ID_LENGTH = 1024
_HEADERS = frozenset({"id", "key", "member", "targeting_key"})


@dataclass
class ParsedIds:
    """The distinct ids of a file, in order, and how many duplicates were dropped."""

    ids: list[str] = field(default_factory=list)
    duplicates: int = 0


def parse_ids(text: str, fmt: str, *, source: str = "input") -> ParsedIds:
    """Parse ``text`` as ``csv`` or ``ndjson``; ``UsageError`` listing bad lines (≤ 10)."""
    rows = _csv_rows(text) if fmt == "csv" else _ndjson_rows(text)
    seen: dict[str, None] = {}
    total = 0
    problems: list[str] = []
    for number, value, found in rows:
        problem = found
        if problem is None and (not value or len(value) > MAX_ID_LENGTH):
            problem = f"an id must be 1-{MAX_ID_LENGTH} characters"
        if problem is not None:
            problems.append(f"{source}:{number}: {problem}")
            continue
        assert value is not None
        total += 1
        seen[value] = None
    if problems:
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise UsageError("malformed member file, nothing sent:\n  " + "\n  ".join(problems[:10])
                         + more)
    return ParsedIds(list(seen), total - len(seen))


Row = tuple[int, str | None, str | None]  # (line number, id, problem)


def _csv_rows(text: str) -> Iterable[Row]:
    reader = csv.reader(io.StringIO(text))
    for row in reader:
        number = reader.line_num
        if not row or not any(cell.strip() for cell in row):
            continue
        value = row[0].strip()
        if number == 1 and value.lower() in _HEADERS:
            continue
        yield number, value, None


def _ndjson_rows(text: str) -> Iterable[Row]:
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, None, f"not JSON ({exc.msg})"
            continue
        if isinstance(doc, dict):
            doc = doc.get("id", doc.get("key"))
        if not isinstance(doc, str):
            yield number, None, "expected a JSON string or an object with a string id/key"
            continue
        yield number, doc, None


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
