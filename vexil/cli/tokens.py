"""``vexil tokens create|list|revoke|bootstrap``: API tokens."""

from __future__ import annotations

import argparse
import os
from typing import Any

from vexil.api import ApiClient, path
from vexil.cli._common import (
    Parser,
    Subparsers,
    add_connection,
    add_json,
    api,
    csv_list,
    items_of,
    out,
    print_json,
    print_table,
    state_dir,
)
from vexil.errors import UsageError
from vexil.settings import environment, load_dev_json, local_stack_aws


def register(sub: Subparsers) -> None:
    """Add ``tokens`` and its subcommands."""
    tok = sub.add_parser("tokens", help="API tokens")
    tok.set_defaults(func=cmd_tokens)
    tok_sub = tok.add_subparsers(dest="tokens_command", required=True, parser_class=Parser)
    tc = tok_sub.add_parser("create", help="create a token (the secret is shown once)")
    tc.add_argument("--name", required=True, help="a name saying who or what uses the token")
    tc.add_argument("--role", required=True, choices=["admin", "editor", "viewer", "auditor"],
                    help="what the token may do")
    tc.add_argument("--projects", default="*", help="comma-separated project keys or *")
    tc.add_argument("--environments", default="*", help="comma-separated environment keys or *")
    tc.add_argument("--ttl-days", type=int, help="expire after this many days")
    tc.add_argument("--reason", help="reason recorded in the audit log")
    add_json(tc)
    add_connection(tc)
    tl = tok_sub.add_parser("list", help="list tokens (never their secrets)")
    add_json(tl)
    add_connection(tl)
    tr = tok_sub.add_parser("revoke", help="revoke a token by its id")
    tr.add_argument("token_id", help="the token's id (from `vexil tokens list`)")
    tr.add_argument("--reason", help="reason recorded in the audit log")
    add_json(tr)
    add_connection(tr)
    tb = tok_sub.add_parser(
        "bootstrap", help="create an admin token by writing the table directly (AWS credentials)"
    )
    tb.add_argument("--name", default="admin", help="token name (default admin)")
    tb.add_argument("--table", help="table name (default $VEXIL_TABLE, or the local stack's)")
    tb.add_argument("--ttl-days", type=int, help="expire after this many days")


def cmd_tokens(args: argparse.Namespace) -> int:
    """``vexil tokens create|list|revoke|bootstrap``."""
    if args.tokens_command == "bootstrap":
        return _tokens_bootstrap(args)
    client = api(args)
    if args.tokens_command == "create":
        return _create(client, args)
    if args.tokens_command == "list":
        items = items_of(client.get("/v1/tokens").body)
        if args.json:
            print_json(items)
            return 0
        print_table(("token id", "name", "role", "projects", "environments", "state",
                     "expires"),
                    ((t.get("token_id"), t.get("name"), t.get("role"), t.get("projects"),
                      t.get("environments"), "revoked" if t.get("revoked") else "active",
                      t.get("expires_at")) for t in items),
                    empty="no tokens")
        return 0
    done = client.request("DELETE", path("v1", "tokens", args.token_id),
                          body={"reason": args.reason} if args.reason else None).body
    if args.json:
        print_json(done)
    else:
        print(f"revoked token {args.token_id}")
    return 0


def _create(client: ApiClient, args: argparse.Namespace) -> int:
    projects = csv_list(args.projects)
    _check_projects(client, projects)
    body: dict[str, Any] = {
        "name": args.name, "role": args.role,
        "projects": projects, "environments": csv_list(args.environments),
    }
    if args.ttl_days:
        body["ttl_days"] = args.ttl_days
    if args.reason:
        body["reason"] = args.reason
    created = client.request("POST", "/v1/tokens", body=body).body or {}
    if args.json:
        print_json(created)
    else:
        print(created.get("token"))
    out(f"created {created.get('role')} token {created.get('token_id')} "
        f"({created.get('name')}; projects {','.join(created.get('projects') or [])}, "
        f"environments {','.join(created.get('environments') or [])}; expires "
        f"{created.get('expires_at')}). Its secret (on stdout) is shown only this once.")
    return 0


def _check_projects(client: ApiClient, projects: list[str]) -> None:
    """Refuse a token scoped to projects that do not exist: almost always a typo, and a
    token for a project created later under that name would silently gain access."""
    named = [p for p in projects if p != "*"]
    if not named:
        return
    known = {str(p.get("project")) for p in items_of(client.get("/v1/projects").body)}
    missing = [p for p in named if p not in known]
    if missing:
        raise UsageError(
            f"tokens create: --projects: no such project: {', '.join(missing)} "
            f"(existing: {', '.join(sorted(known)) or 'none'}; `vexil projects create` first)")


def _tokens_bootstrap(args: argparse.Namespace) -> int:
    from vexil.bootstrap import bootstrap_admin_token  # noqa: PLC0415 - boto3 only here

    table = args.table or os.environ.get("VEXIL_TABLE")
    dev = load_dev_json(state_dir(args))
    aws = local_stack_aws(dev, table)
    if aws and not table:
        table = str(dev["table"])  # no explicit target: the running local stack's table
    if not table:
        raise UsageError("no table: pass --table, set VEXIL_TABLE, or start the local stack")
    try:
        with environment(aws):
            print(bootstrap_admin_token(args.name, table=table, ttl_days=args.ttl_days))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return 0
