"""``vexil sdk-keys create|list|revoke``: the keys readers open an environment's bundles with.

``create`` prints the key's text alone on stdout (so ``KEY=$(vexil sdk-keys create ...)``
works) and says on stderr that it is shown only this once: the control plane keeps only a
KMS-wrapped secret and can never show it again.
"""

from __future__ import annotations

import argparse
from typing import Any

from vexil.api import path
from vexil.cli._common import (
    Parser,
    Subparsers,
    add_connection,
    add_json,
    add_scope,
    api,
    csv_list,
    items_of,
    out,
    print_json,
    print_table,
    without_none,
)


def register(sub: Subparsers) -> None:
    """Add ``sdk-keys`` and its subcommands."""
    sk = sub.add_parser("sdk-keys", help="SDK keys of an environment (admin)")
    sk.set_defaults(func=cmd_sdk_keys)
    sk_sub = sk.add_subparsers(dest="sdk_keys_command", required=True, parser_class=Parser)
    c = sk_sub.add_parser("create", help="create an SDK key (its text is shown once)")
    add_scope(c)
    c.add_argument("--kind", required=True, choices=["server", "client"],
                   help="server: every flag; client: only client-visible flags (browsers)")
    c.add_argument("--tags", help="comma-separated flag tags: the key reads only these flags")
    c.add_argument("--prefixes", help="comma-separated flag-key prefixes the key may read")
    c.add_argument("--reason", help="reason recorded in the audit log")
    add_json(c)
    add_connection(c)
    ls = sk_sub.add_parser("list", help="list SDK keys (never their secrets)")
    add_scope(ls)
    ls.add_argument("--all", action="store_true", help="include revoked keys")
    add_json(ls)
    add_connection(ls)
    r = sk_sub.add_parser("revoke", help="revoke an SDK key: the next bundle excludes it")
    r.add_argument("key_id", help="the key's id (from `vexil sdk-keys list`)")
    add_scope(r)
    r.add_argument("--reason", help="reason recorded in the audit log")
    add_json(r)
    add_connection(r)


def cmd_sdk_keys(args: argparse.Namespace) -> int:
    """``vexil sdk-keys create|list|revoke``."""
    client = api(args)
    base = path("v1", "projects", args.project, "environments", args.environment, "sdk-keys")
    where = f"{args.project}/{args.environment}"
    if args.sdk_keys_command == "create":
        scope = without_none(tags=csv_list(args.tags) if args.tags else None,
                             prefixes=csv_list(args.prefixes) if args.prefixes else None)
        body = without_none(kind=args.kind, scope=scope or None, reason=args.reason)
        created = client.request("POST", base, body=body).body or {}
        if args.json:
            print_json(created)
        else:
            print(created.get("key"))
        out(f"created {created.get('kind', args.kind)} SDK key {created.get('key_id')} for "
            f"{where}. Its text (on stdout) is shown only this once: store it in your "
            "secret manager now.")
        return 0
    if args.sdk_keys_command == "list":
        items = [k for k in items_of(client.get(base).body)
                 if args.all or not k.get("revoked_at")]
        if args.json:
            print_json(items)
            return 0
        print_table(("key id", "kind", "scope", "created", "revoked"),
                    ((k.get("key_id"), k.get("kind"), _scope_text(k.get("scope")),
                      k.get("created_at"),
                      k.get("revoked_at")) for k in items),
                    empty=f"no {'' if args.all else 'active '}SDK keys in {where}")
        return 0
    done = client.request("DELETE", base + path(args.key_id),
                          body=without_none(reason=args.reason) or None).body or {}
    if args.json:
        print_json(done)
    else:
        print(f"revoked SDK key {args.key_id} of {where} (at {done.get('revoked_at', '?')}); "
              "the next bundle is no longer readable with it")
    return 0


def _scope_text(scope: Any) -> str:
    """``all flags``, or the tags and prefixes a scoped key is limited to."""
    parts = [f"{name}={','.join(scope[name])}" for name in ("tags", "prefixes")
             if isinstance(scope, dict) and scope.get(name)]
    return " ".join(parts) or "all flags"
