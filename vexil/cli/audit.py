"""``vexil audit verify|anchor``: the tamper-evident audit log."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from vexil.cli._common import (
    Parser,
    Subparsers,
    add_connection,
    add_json,
    api,
    print_json,
    state_dir,
)
from vexil.errors import VexilError
from vexil.settings import load_dev_json


def register(sub: Subparsers) -> None:
    """Add ``audit`` and its subcommands."""
    audit = sub.add_parser("audit", help="the tamper-evident audit log")
    audit.set_defaults(func=cmd_audit)
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, parser_class=Parser)
    av = audit_sub.add_parser("verify", help="check an audit hash chain end to end")
    av.add_argument("--project", help="the project's chain (default: the global chain)")
    av.add_argument("--environment", help="with --project: the environment's chain")
    add_json(av)
    add_connection(av)
    audit_sub.add_parser(
        "anchor", help="sign every chain head and store it write-once (AWS direct)")


def cmd_audit(args: argparse.Namespace) -> int:
    """``vexil audit verify``: exit 0 when the chain and its anchors verify, 1 with the first
    break (a rewrite since an anchor included). ``vexil audit anchor``: anchor every chain."""
    if args.audit_command == "anchor":
        from vexil.anchor import anchor_now  # noqa: PLC0415 - boto3 only when this runs

        done = anchor_now(load_dev_json(state_dir(args)))
        print_json(done)
        return 1 if done["failed"] else 0
    body = {k: v for k, v in (("project", args.project), ("environment", args.environment)) if v}
    result = api(args).request("POST", "/v1/audit/verify", body=body).body or {}
    if args.json:  # the verifier's whole answer; the exit code still says whether it held
        print_json(result)
        return 0 if result.get("ok") else 1
    where = "/".join(v for v in (args.project, args.environment) if v) or "global"
    anchors = result.get("anchors") or {}
    for refused in anchors.get("refused") or []:
        print(f"warning: anchor refused: {refused.get('key')}: {refused.get('reason')}",
              file=sys.stderr)
    if result.get("ok"):
        print(f"audit chain {where}: OK ({result.get('checked', '?')} records verified; "
              f"{_anchor_summary(anchors)})")
        return 0
    brk = result.get("first_break") or {}
    raise VexilError(
        f"audit chain {where}: BROKEN at {json.dumps(brk, sort_keys=True)} "
        f"after {result.get('checked', '?')} good records"
    )


def _anchor_summary(anchors: dict[str, Any]) -> str:
    latest = anchors.get("latest")
    if anchors.get("status") == "verified" and isinstance(latest, dict):
        return (f"anchored through seq {latest.get('seq')} at {latest.get('at')}, "
                f"{anchors.get('unanchored_records', '?')} records since")
    if anchors.get("status") == "unavailable":
        return f"anchors NOT checked: {anchors.get('reason', '?')}"
    return "no anchor yet"
