"""``vexil history`` and ``vexil restore``: a flag's configuration versions in one
environment, and rolling back by writing an old version again.

Rolling back is rolling forward (docs/operations.md, "Rolling back"): ``restore`` writes
version N's configuration as a new version, conditionally on the version it just read, so
the environment gets a new, higher revision and readers move forward to it. In a protected
environment it files a change request instead, and says so.
"""

from __future__ import annotations

import argparse
import json

from vexil.api import path, version_etag
from vexil.cli._common import (
    Subparsers,
    add_connection,
    add_json,
    add_scope,
    api,
    filed_change_request,
    print_json,
    print_table,
    say_filed,
    without_none,
)


def register(sub: Subparsers) -> None:
    """Add ``history`` and ``restore``."""
    hi = sub.add_parser("history", help="a flag's configuration versions in an environment")
    hi.set_defaults(func=cmd_history)
    hi.add_argument("flag", help="flag key")
    add_scope(hi)
    add_json(hi)
    add_connection(hi)
    rs = sub.add_parser("restore",
                        help="roll a flag back: write an old version as a new one")
    rs.set_defaults(func=cmd_restore)
    rs.add_argument("flag", help="flag key")
    add_scope(rs)
    rs.add_argument("--version", type=int, required=True,
                    help="the version to restore (see `vexil history`)")
    rs.add_argument("--reason", help="reason recorded in the audit log")
    add_json(rs)
    add_connection(rs)


def _flag_url(args: argparse.Namespace) -> str:
    return path("v1", "projects", args.project, "environments", args.environment, "flags",
                args.flag)


def cmd_history(args: argparse.Namespace) -> int:
    """Print the versions, newest first (``--json``: the API's items)."""
    items = list(api(args).paginate(_flag_url(args) + "/history"))
    if args.json:
        print_json(items)
        return 0
    print_table(("version", "action", "actor", "at", "enabled", "configuration"),
                ((i.get("version"), i.get("action"), i.get("actor"), i.get("at"),
                  (i.get("config") or {}).get("enabled"),
                  _short(json.dumps(i.get("config"), sort_keys=True)))
                 for i in items),
                empty=f"no history for {args.flag} in {args.project}/{args.environment}")
    return 0


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def cmd_restore(args: argparse.Namespace) -> int:
    """Write ``--version`` again as a new version (If-Match: the current version)."""
    client = api(args)
    url = _flag_url(args)
    current = client.get(url).body or {}
    resp = client.request("POST", url + "/restore",
                          body=without_none(version=args.version, reason=args.reason),
                          if_match=version_etag(int(current.get("version", 0))))
    cr = filed_change_request(resp)
    if args.json:
        print_json(resp.body)
    elif cr is not None:
        say_filed(cr, f"restoring {args.flag} to version {args.version}")
    else:
        new = resp.body.get("version") if isinstance(resp.body, dict) else None
        print(f"restored {args.flag} in {args.project}/{args.environment} to version "
              f"{args.version}'s configuration (now version {new})")
    return 0
