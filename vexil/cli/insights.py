"""``vexil flags stale`` and ``vexil refs``: which flags look removable, and where flags
live in code (logic in vexil.coderefs and vexil.remote; docs/insights.md).

``flags stale`` exits 0 whatever it finds, or with ``--detailed-exitcode`` 2 when a flag is
stale (as ``plan --detailed-exitcode`` does for pending changes);
``refs`` exits 0 after printing (and, with ``--upload``, storing) the references.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vexil.cli._common import (
    Parser,
    Subparsers,
    add_connection,
    add_json,
    add_scope,
    api,
    csv_list,
    out,
    print_json,
    print_table,
)
from vexil.errors import UsageError

REASON_TEXT = {
    "not_evaluated": "not evaluated",
    "single_variation": "one variation to everyone",
    "expired": "past its expiry date",
    "no_code_references": "no code references",
}


def register(sub: Subparsers) -> None:
    """Add ``flags stale`` and ``refs``."""
    fl = sub.add_parser("flags", help="flag insights: stale flags (removal candidates)")
    fl.set_defaults(func=cmd_flags)
    fl_sub = fl.add_subparsers(dest="flags_command", required=True, parser_class=Parser)
    st = fl_sub.add_parser("stale", help="flags not evaluated, serving one variation, "
                                         "expired or unreferenced for N days")
    add_scope(st)
    st.add_argument("--days", type=int, default=30, help="the window, 1-90 days (default 30)")
    st.add_argument("--detailed-exitcode", action="store_true",
                    help="exit 0 when no flag is stale, 2 when some are (1 on errors), for CI")
    add_json(st)
    add_connection(st)
    r = sub.add_parser("refs", help="find flag keys in a repository (and upload them from CI)")
    r.set_defaults(func=cmd_refs)
    r.add_argument("path", nargs="?", default=".", help="repository to scan (default .)")
    r.add_argument("--project", help="project whose flag keys to look for (from the API)")
    r.add_argument("--keys", help="comma-separated flag keys instead of asking the API")
    r.add_argument("--config", type=Path,
                   help="aliases/patterns file (default PATH/.vexil-refs.yaml or .json)")
    r.add_argument("--alias-style", action="append", default=[],
                   help="also match generated aliases: camel, pascal, snake, upper_snake")
    r.add_argument("--pattern", action="append", default=[],
                   help="a regular expression with a named group (?P<key>...) (repeatable)")
    r.add_argument("--exclude", action="append", default=[],
                   help="gitignore-style pattern of paths to skip (repeatable)")
    r.add_argument("--upload", action="store_true",
                   help="store the result in the control plane (needs --project; from CI)")
    r.add_argument("--repository", help="repository name to store under (default: git "
                                        "remote origin, else the directory name)")
    add_json(r)
    add_connection(r)


def cmd_flags(args: argparse.Namespace) -> int:
    """``vexil flags stale``."""
    from vexil import remote  # noqa: PLC0415

    if not 1 <= args.days <= 90:
        raise UsageError("--days: must be from 1 to 90")
    view = remote.stale_flags(api(args), args.project, args.environment, args.days)
    items: list[dict[str, Any]] = view.get("items", [])
    found = 2 if args.detailed_exitcode and items else 0
    if args.json:
        print_json(view)
        return found
    print_table(("flag", "why", "evaluations", "last evaluated", "serving"),
                ((i["key"], "; ".join(REASON_TEXT.get(r, r) for r in i["reasons"]),
                  i.get("evaluations", 0), i.get("last_evaluated") or "—",
                  i.get("serving") or "—") for i in items),
                empty=f"no stale flags in {args.project}/{args.environment} "
                      f"(last {args.days} days)")
    if view.get("code_references") is None:
        out("no code references uploaded for this project: run `vexil refs --upload` in CI "
            "to add 'no code references' to this list")
    _say_unknown(view.get("unknown") or {}, f"{args.project}/{args.environment}")
    return found


def _say_unknown(unknown: dict[str, Any], where: str) -> None:
    """One line when readers reported flags or variations the environment does not have
    (counted apart by the API): a reader on the wrong environment, or a typo."""
    flags, variants = (int(unknown.get("flag_evaluations", 0)),
                       int(unknown.get("variant_evaluations", 0)))
    if not flags and not variants:
        return
    by_key = ", ".join(f"key {k}: {v!r}" for k, v in sorted(
        (unknown.get("by_key") or {}).items()))
    out(f"readers reported {flags:,} evaluations of flags and {variants:,} of variations "
        f"{where} does not have (last seen: {by_key or '—'}): a reader configured for "
        "another environment, or a typo in a flag key")


def cmd_refs(args: argparse.Namespace) -> int:
    """``vexil refs [PATH]``."""
    from vexil import coderefs, remote  # noqa: PLC0415

    root = Path(args.path)
    if not root.is_dir():
        raise UsageError(f"{root}: not a directory")
    if args.upload and not args.project:
        raise UsageError("--upload needs --project")
    opts = coderefs.load_options(root, args.config)
    opts.alias_styles += args.alias_style
    opts.patterns += args.pattern
    opts.exclude += args.exclude
    coderefs.check_options(opts, "command line")
    if args.keys:
        keys = csv_list(args.keys)
    elif args.project:
        keys = remote.flag_keys(api(args), args.project)
    else:
        raise UsageError("give --project (flag keys from the API) or --keys")
    result = coderefs.scan(root, keys, opts)
    name, revision, branch = coderefs.git_facts(root)
    body = result.upload_body(revision, branch)
    if args.upload:
        repository = coderefs.repository_key(args.repository or name or root.resolve().name)
        remote.put_code_references(api(args), args.project, repository, body)
        out(f"uploaded code references of {repository} ({revision or 'no revision'}) to "
            f"project {args.project}")
    if args.json:
        print_json({**body, "files_scanned": result.files_scanned,
                    "unreferenced": [k for k, hits in result.flags.items() if not hits]})
        return 0
    _print_refs(result)
    return 0


def _print_refs(result: Any) -> None:
    for key, hits in result.flags.items():
        if not hits:
            continue
        print(f"{key}  ({len(hits)} reference{'s' if len(hits) != 1 else ''})")
        for hit in hits:
            alias = "" if hit.text == key else f"  [{hit.text}]"
            print(f"    {hit.path}:{hit.line}{alias}")
    unreferenced = [k for k, hits in result.flags.items() if not hits]
    if unreferenced:
        print(f"no references: {', '.join(unreferenced)}")
    out(f"scanned {result.files_scanned} files ({result.files_skipped} skipped: vendored, "
        "generated, binary or other types)")
