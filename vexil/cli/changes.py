"""``vexil changes list|show|approve|reject|apply``: change requests of a protected
environment (four-eyes review)."""

from __future__ import annotations

import argparse
from typing import Any

from vexil.api import path, version_etag
from vexil.cli._common import Subparsers, add_connection, api, print_json
from vexil.errors import UsageError


def register(sub: Subparsers) -> None:
    """Add ``changes``."""
    cr = sub.add_parser("changes", help="change requests of a protected environment")
    cr.set_defaults(func=cmd_changes)
    cr.add_argument("action", choices=["list", "show", "approve", "reject", "apply"],
                    help="what to do")
    cr.add_argument("id", nargs="?", help="change request id (all but list)")
    cr.add_argument("--project", required=True, help="project key")
    cr.add_argument("--environment", required=True, help="environment key")
    cr.add_argument("--all", action="store_true", help="list: include closed requests")
    add_connection(cr)


def cmd_changes(args: argparse.Namespace) -> int:
    """``vexil changes list|show|approve|reject|apply``: the approval workflow."""
    client = api(args)
    base = path("v1", "projects", args.project, "environments", args.environment,
                "change-requests")
    if args.action == "list":
        for item in client.paginate(base):
            if args.all or item.get("status") in ("pending", "approved"):
                op = item.get("operation") or {}
                target = op.get("flag") or op.get("segment") or ""
                print(f"{item.get('id')}  {item.get('status'):9} {op.get('type', '?'):22} "
                      f"{target:24} by {item.get('author', '?')}")
        return 0
    if not args.id:
        raise UsageError(f"changes {args.action}: give the change request id")
    url = base + path(args.id)
    current = client.get(url).body or {}
    if args.action == "show":
        print_json(current)
        return 0
    # Conditional on the version just read: approving something that changed meanwhile fails.
    done = client.request("POST", url + path(args.action),
                          if_match=version_etag(current.get("version", 0))).body or {}
    status = _unwrap_cr(done).get("status", "?")
    print(f"{args.id}: {status}")
    return 0


def _unwrap_cr(body: Any) -> dict[str, Any]:
    if isinstance(body, dict) and isinstance(body.get("change_request"), dict):
        return dict(body["change_request"])
    return dict(body) if isinstance(body, dict) else {}
