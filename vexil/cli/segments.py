"""``vexil segments list|show|put|delete|upload|add|remove``: an environment's segments.

``upload``/``add``/``remove`` change a list segment's members (``type: list``; ``put
--list`` creates one): ``upload FILE`` sends a CSV or NDJSON file in batches of 10,000
(malformed lines are reported with their numbers before anything is sent; batch ids derive
from the content, so a re-run resumes), ``add``/``remove`` take ids as arguments or from
``--file``. ``show`` adds a list segment's size and sequence.

``put`` creates the segment or replaces it, conditionally on the version it just read (a
concurrent edit fails with 412 rather than being overwritten). In a protected environment a
change is filed as a change request instead, and the command says so.
"""

from __future__ import annotations

import argparse
from typing import Any

from vexil.api import path, version_etag
from vexil.cli._common import (
    Parser,
    Subparsers,
    add_connection,
    add_json,
    add_scope,
    api,
    csv_list,
    filed_change_request,
    load_document,
    print_json,
    print_table,
    say_filed,
    without_none,
)
from vexil.errors import ApiError, UsageError

# The fields the API returns that are not part of a segment's content.
_META = ("key", "project", "environment", "version", "updated_at")


def register(sub: Subparsers) -> None:
    """Add ``segments`` and its subcommands."""
    sg = sub.add_parser("segments", help="segments of an environment")
    sg.set_defaults(func=cmd_segments)
    sg_sub = sg.add_subparsers(dest="segments_command", required=True, parser_class=Parser)
    ls = sg_sub.add_parser("list", help="list segments")
    add_scope(ls)
    add_json(ls)
    add_connection(ls)
    sh = sg_sub.add_parser("show", help="print one segment as JSON")
    sh.add_argument("key", help="segment key")
    add_scope(sh)
    add_connection(sh)
    pt = sg_sub.add_parser("put", help="create or replace a segment")
    pt.add_argument("key", help="segment key")
    add_scope(pt)
    pt.add_argument("-f", "--file",
                    help="segment body as JSON or YAML (included, excluded, rules, "
                         "context_kind, description, tags); - = stdin")
    pt.add_argument("--included", help="comma-separated keys always in the segment")
    pt.add_argument("--excluded", help="comma-separated keys never in the segment")
    pt.add_argument("--description", help="what the segment is for")
    pt.add_argument("--reason", help="reason recorded in the audit log")
    add_json(pt)
    add_connection(pt)
    pt.add_argument("--list", action="store_true",
                    help="create a list segment (members by upload/add/remove)")
    up = sg_sub.add_parser("upload", help="bulk-import a member file into a list segment")
    up.add_argument("key", help="list segment key")
    up.add_argument("file", help="CSV (first column) or NDJSON member file; - = stdin")
    up.add_argument("--format", choices=("csv", "ndjson"),
                    help="file format (default: from the extension, else csv)")
    up.add_argument("--replace", action="store_true",
                    help="the list becomes the file (members not in it are removed)")
    up.add_argument("--no-wait", action="store_true",
                    help="queue the import and print its id instead of waiting")
    changers = [up]
    for name, verb in (("add", "add members to"), ("remove", "remove members from")):
        ch = sg_sub.add_parser(name, help=f"{verb} a list segment")
        ch.add_argument("key", help="list segment key")
        ch.add_argument("ids", nargs="*", help="member ids (context keys)")
        ch.add_argument("--file", help="more ids, one per line (CSV first column)")
        ch.add_argument("--batch-id", help="idempotency id: re-sending the same ids under it "
                        "changes nothing; other ids under it are refused (default: from "
                        "the ids)")
        changers.append(ch)
    for ch in changers:
        add_scope(ch)
        ch.add_argument("--reason", help="reason recorded in the audit log")
        add_json(ch)
        add_connection(ch)
    dl = sg_sub.add_parser("delete", help="delete a segment")
    dl.add_argument("key", help="segment key")
    add_scope(dl)
    dl.add_argument("--reason", help="reason recorded in the audit log")
    add_json(dl)
    add_connection(dl)


def cmd_segments(args: argparse.Namespace) -> int:
    """``vexil segments list|show|put|delete``."""
    client = api(args)
    base = path("v1", "projects", args.project, "environments", args.environment, "segments")
    if args.segments_command == "list":
        items = list(client.paginate(base))
        if args.json:
            print_json(items)
            return 0
        print_table(("segment", "#included", "#excluded", "#rules", "version", "updated"),
                    ((s.get("key"), len(s.get("included") or []), len(s.get("excluded") or []),
                      len(s.get("rules") or []), s.get("version"), s.get("updated_at"))
                     for s in items),
                    empty=f"no segments in {args.project}/{args.environment}")
        return 0
    url = base + path(args.key)
    if args.segments_command == "show":
        body = client.get(url).body
        if isinstance(body, dict) and body.get("type") == "list":
            body["members"] = client.get(url + "/members").body
        print_json(body)
        return 0
    if args.segments_command in ("upload", "add", "remove"):
        return _members(client, args, url)
    if args.segments_command == "put":
        return _put(client, args, base, url)
    current = client.get(url).body or {}
    resp = client.request("DELETE", url, body=without_none(reason=args.reason) or None,
                          if_match=version_etag(current.get("version", 0)))
    return _report(resp, args, f"deleted segment {args.key}", "the deletion")


def _put(client: Any, args: argparse.Namespace, base: str, url: str) -> int:
    try:
        current: dict[str, Any] | None = client.get(url).body or {}
    except ApiError as exc:
        if exc.status != 404:
            raise
        current = None
    body = _body(args, current)
    if current is None:
        resp = client.request("POST", base, body={"key": args.key, **body})
        return _report(resp, args, f"created segment {args.key}", "creating it")
    resp = client.request("PUT", url, body=body,
                          if_match=version_etag(current.get("version", 0)))
    return _report(resp, args, f"updated segment {args.key}", "the change")


def _body(args: argparse.Namespace, current: dict[str, Any] | None) -> dict[str, Any]:
    """The segment's content: ``--file`` replaces it; without a file, the field options
    change only those fields of the current content (options always win over the file)."""
    body: dict[str, Any] = {}
    if not args.file and current:
        body = {k: v for k, v in current.items() if k not in _META}
    if args.file:
        doc = load_document(args.file)
        if not isinstance(doc, dict):
            raise UsageError(f"{args.file}: a segment is an object (included, excluded, ...)")
        body = {k: v for k, v in doc.items() if k not in _META}
    if args.list:
        body["type"] = "list"
    if args.included is not None:
        body["included"] = csv_list(args.included)
    if args.excluded is not None:
        body["excluded"] = csv_list(args.excluded)
    if args.description is not None:
        body["description"] = args.description
    if not (args.file or args.included is not None or args.excluded is not None
            or args.description is not None or args.list):
        raise UsageError("segments put: give --file or at least one of --included, "
                         "--excluded, --description, --list")
    if args.reason:
        body["reason"] = args.reason
    return body


def _report(resp: Any, args: argparse.Namespace, done: str, what: str) -> int:
    cr = filed_change_request(resp)
    if args.json:
        print_json(resp.body)
    elif cr is not None:
        say_filed(cr, what)
    else:
        version = resp.body.get("version") if isinstance(resp.body, dict) else None
        print(f"{done} in {args.project}/{args.environment}"
              + (f" (version {version})" if version else ""))
    return 0


def _members(client: Any, args: argparse.Namespace, url: str) -> int:
    """``upload``/``add``/``remove``: parse every id first, then send in batches."""
    from vexil import lists  # noqa: PLC0415 (only these commands need it)

    op = "remove" if args.segments_command == "remove" else "add"
    if args.segments_command == "upload":
        return _upload(client, args, url)
    text = "\n".join(args.ids) + "\n" + (_read(args.file) if args.file else "")
    parsed = lists.parse_ids(text, "csv", source=args.file or "arguments")
    if not parsed.ids:
        raise UsageError(f"segments {args.segments_command}: no ids given")

    def post(body: dict[str, Any]) -> tuple[int, Any]:
        if args.reason:
            body["reason"] = args.reason
        resp = client.request("POST", url + "/members", body=body)
        return resp.status, resp.body

    report = lists.send(post, parsed.ids, op, getattr(args, "batch_id", None))
    summary = {"segment": args.key, "ids": len(parsed.ids),
               "duplicates": parsed.duplicates + report.duplicates,
               "batches": report.batches, "replayed": report.replayed,
               "change_requests": [cr.get("id") for cr in report.filed]}
    if args.json:
        print_json(summary)
    elif report.filed:
        for cr in report.filed:
            say_filed(cr, f"{op} of {args.key}'s members")
    else:
        print(f"{op}: {len(parsed.ids)} ids to {args.key} in {args.project}/{args.environment} "
              f"({report.batches} batches, {report.replayed} already applied, "
              f"{summary['duplicates']} duplicates dropped)")
    return 0


def _upload(client: Any, args: argparse.Namespace, url: str) -> int:
    """Check the file here (line numbers, before anything is sent), then the API's bulk
    import: presigned upload, start, and (unless ``--no-wait``) poll until it is done."""
    from vexil import lists  # noqa: PLC0415

    fmt = args.format or ("ndjson" if str(args.file).endswith((".ndjson", ".jsonl")) else "csv")
    text = _read(args.file)
    parsed = lists.parse_ids(text, fmt, source=args.file)
    body = {"format": fmt, "mode": "replace" if args.replace else "add"}
    if args.reason:
        body["reason"] = args.reason
    done = lists.bulk_import(client, url + "/imports", text.encode("utf-8"), body,
                             wait=not args.no_wait)
    if args.json:
        print_json(done)
    elif done.get("status") == "done":
        result = done.get("result") or {}
        print(f"imported {result.get('ids')} ids into {args.key} in "
              f"{args.project}/{args.environment} ({result.get('added')} added, "
              f"{result.get('removed')} removed, {result.get('duplicates')} duplicates "
              f"dropped; import {done.get('import_id')})")
    else:
        print(f"import {done.get('import_id')} is {done.get('status')} "
              f"({len(parsed.ids)} ids checked)")
    if done.get("status") == "failed":
        raise UsageError("import failed: " + "; ".join(
            f"line {e.get('line')}: {e.get('message')}" for e in done.get("errors") or []))
    return 0


def _read(name: str) -> str:
    import sys  # noqa: PLC0415

    if name == "-":
        return sys.stdin.read()
    try:
        with open(name, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{name}: {exc}") from None
