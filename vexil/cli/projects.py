"""``vexil projects create|list`` and ``vexil environments create|list|protect|unprotect``."""

from __future__ import annotations

import argparse
from typing import Any

from vexil.api import path, version_etag
from vexil.cli._common import (
    Parser,
    Subparsers,
    add_connection,
    add_json,
    api,
    filed_change_request,
    items_of,
    print_json,
    print_table,
    say_filed,
    without_none,
)


def register(sub: Subparsers) -> None:
    """Add ``projects`` and ``environments``."""
    pr = sub.add_parser("projects", help="projects (admin to create)")
    pr.set_defaults(func=cmd_projects)
    pr_sub = pr.add_subparsers(dest="projects_command", required=True, parser_class=Parser)
    pc = pr_sub.add_parser("create", help="create a project")
    pc.add_argument("key", help="project key (lower-case letters, digits, - and _)")
    pc.add_argument("--name", help="display name (default: the key)")
    pc.add_argument("--reason", help="reason recorded in the audit log")
    add_json(pc)
    add_connection(pc)
    pl = pr_sub.add_parser("list", help="list the projects your token can see")
    add_json(pl)
    add_connection(pl)

    en = sub.add_parser("environments", help="environments of a project; protection")
    en.set_defaults(func=cmd_environments)
    en_sub = en.add_subparsers(dest="env_command", required=True, parser_class=Parser)
    ec = en_sub.add_parser("create", help="create an environment (admin)")
    ec.add_argument("key", help="environment key")
    ec.add_argument("--project", required=True, help="project key")
    ec.add_argument("--name", help="display name (default: the key)")
    ec.add_argument("--protected", action="store_true",
                    help="every change needs a change request approved by someone else")
    ec.add_argument("--reason", help="reason recorded in the audit log")
    add_json(ec)
    add_connection(ec)
    el = en_sub.add_parser("list", help="list a project's environments")
    el.add_argument("--project", required=True, help="project key")
    add_json(el)
    add_connection(el)
    for verb, text in (("protect", "require approved change requests for every change"),
                       ("unprotect", "allow direct changes again (itself needs an approval)")):
        ep = en_sub.add_parser(verb, help=text)
        ep.add_argument("key", help="environment key")
        ep.add_argument("--project", required=True, help="project key")
        ep.add_argument("--reason", help="reason recorded in the audit log")
        add_json(ep)
        add_connection(ep)


def cmd_projects(args: argparse.Namespace) -> int:
    """``vexil projects create KEY`` / ``vexil projects list``."""
    client = api(args)
    if args.projects_command == "create":
        body = without_none(key=args.key, name=args.name, reason=args.reason)
        created = client.request("POST", "/v1/projects", body=body).body or {}
        if args.json:
            print_json(created)
        else:
            print(f"created project {created.get('project', args.key)}")
        return 0
    items = items_of(client.get("/v1/projects").body)
    if args.json:
        print_json(items)
        return 0
    print_table(("project", "name", "created"),
                ((p.get("project"), p.get("name"), p.get("created_at")) for p in items),
                empty="no projects")
    return 0


def cmd_environments(args: argparse.Namespace) -> int:
    """``vexil environments create|list|protect|unprotect``."""
    client = api(args)
    base = path("v1", "projects", args.project, "environments")
    if args.env_command == "create":
        body = without_none(key=args.key, name=args.name, reason=args.reason,
                     protected=True if args.protected else None)
        created = client.request("POST", base, body=body).body or {}
        if args.json:
            print_json(created)
        else:
            state = " (protected)" if created.get("protected") else ""
            print(f"created environment {args.project}/{args.key}{state}")
        return 0
    if args.env_command == "list":
        items = items_of(client.get(base).body)
        if args.json:
            print_json(items)
            return 0
        print_table(("environment", "name", "protected", "revision", "updated"),
                    ((e.get("environment"), e.get("name"), e.get("protected"),
                      e.get("revision"), e.get("updated_at")) for e in items),
                    empty=f"no environments in project {args.project}")
        return 0
    return _set_protection(client, args, base + path(args.key),
                           protect=args.env_command == "protect")


def _set_protection(client: Any, args: argparse.Namespace, url: str, *, protect: bool) -> int:
    """PATCH ``protected`` conditionally on the version just read (the API needs If-Match)."""
    where = f"{args.project}/{args.key}"
    current = client.get(url).body or {}
    if bool(current.get("protected")) == protect:
        if args.json:
            print_json(current)
        else:
            print(f"{where} is already {'protected' if protect else 'unprotected'}")
        return 0
    resp = client.request("PATCH", url, body=without_none(protected=protect, reason=args.reason),
                          if_match=version_etag(current.get("version", 0)))
    cr = filed_change_request(resp)
    if args.json:
        print_json(resp.body)
    elif cr is not None:
        say_filed(cr, "unprotecting it" if not protect else "the change")
    else:
        print(f"{where} is now {'protected' if protect else 'unprotected'}")
    return 0

