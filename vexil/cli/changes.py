"""``vexil changes list|show|approve|reject|apply``: change requests of a protected
environment (four-eyes review; the diff in ``show`` comes from :mod:`vexil.crdiff`)."""

from __future__ import annotations

import argparse
from typing import Any

from vexil.api import ApiClient, path, version_etag
from vexil.cli._common import (
    Subparsers,
    add_connection,
    add_json,
    api,
    print_json,
    print_table,
)
from vexil.crdiff import actor, describe, target, target_path
from vexil.errors import ApiError, UsageError

OPEN = ("pending", "approved")


def register(sub: Subparsers) -> None:
    """Add ``changes``."""
    cr = sub.add_parser("changes", help="change requests of a protected environment")
    cr.set_defaults(func=cmd_changes)
    cr.add_argument("action", choices=["list", "show", "approve", "reject", "apply"],
                    help="list open requests; show one with its diff; approve, reject or "
                         "apply one")
    cr.add_argument("id", nargs="?", help="change request id (all but list)")
    cr.add_argument("--project", required=True, help="project key")
    cr.add_argument("--environment", required=True, help="environment key")
    cr.add_argument("--all", action="store_true", help="list: include closed requests")
    add_json(cr)
    add_connection(cr)


def cmd_changes(args: argparse.Namespace) -> int:
    """``vexil changes list|show|approve|reject|apply``: the approval workflow."""
    client = api(args)
    base = path("v1", "projects", args.project, "environments", args.environment,
                "change-requests")
    if args.action == "list":
        return _list(client, args, base)
    if not args.id:
        raise UsageError(f"changes {args.action}: give the change request id")
    url = base + path(args.id)
    current = _unwrap(client.get(url).body)
    if args.action == "show":
        if args.json:
            print_json(current)
            return 0
        print("\n".join(describe(current, _target_state(client, args, current))))
        return 0
    # Conditional on the version just read: approving something that changed meanwhile fails.
    done = client.request("POST", url + path(args.action),
                          if_match=version_etag(current.get("version", 0))).body or {}
    if args.json:
        print_json(done)
        return 0
    status = _unwrap(done).get("status", "?")
    print(f"{args.id}: {status}")
    return 0


def _list(client: ApiClient, args: argparse.Namespace, base: str) -> int:
    items = [i for i in client.paginate(base) if args.all or i.get("status") in OPEN]
    if args.json:
        print_json(items)
        return 0
    where = f"{args.project}/{args.environment}"
    print_table(
        ("id", "status", "operation", "target", "author", "approvals", "created"),
        ((i.get("id"), i.get("status"), (i.get("operation") or {}).get("type"),
          target(i.get("operation") or {}), actor(i.get("author")), len(i.get("approvals") or []),
          i.get("created_at")) for i in items),
        empty=f"no {'' if args.all else 'pending '}change requests in {where}",
    )
    return 0


def _target_state(client: ApiClient, args: argparse.Namespace,
                  cr: dict[str, Any]) -> dict[str, Any] | None:
    """The current state of what the request changes (None: it does not exist yet)."""
    url = target_path(args.project, args.environment, cr.get("operation") or {})
    if url is None:
        return None
    try:
        body = client.get(url).body
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise
    return body if isinstance(body, dict) else None


def _unwrap(body: Any) -> dict[str, Any]:
    if isinstance(body, dict) and isinstance(body.get("change_request"), dict):
        return dict(body["change_request"])
    return dict(body) if isinstance(body, dict) else {}
