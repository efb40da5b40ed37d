"""``vexil plan``, ``vexil apply`` and ``vexil export``: flags as code (logic in vexil.plan,
vexil.apply, vexil.remote and vexil.flagsfile)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from vexil.cli._common import Subparsers, add_connection, api
from vexil.errors import VexilError

if TYPE_CHECKING:
    from vexil.api import ApiClient
    from vexil.flagsfile import FlagsFile
    from vexil.plan import Plan


def register(sub: Subparsers) -> None:
    """Add ``plan``, ``apply`` and ``export``."""
    for name, helptext in (("plan", "show what `apply` would change"),
                           ("apply", "make an environment match a flags file")):
        p = sub.add_parser(name, help=helptext)
        p.set_defaults(func=cmd_plan_apply)
        p.add_argument("-f", "--file", required=True, help="flags file (YAML or JSON; - = stdin)")
        p.add_argument("--prune", action="store_true",
                       help="delete flags and segments that are not in the file")
        if name == "plan":
            p.add_argument("--detailed-exitcode", action="store_true",
                           help="exit 0 only when nothing is pending, 2 when changes are "
                                "(also those awaiting approval in a change request), 1 on errors")
            p.add_argument("--json", action="store_true",
                           help="print the plan as JSON (changes, errors, warnings, counts, "
                                "pending change requests)")
        else:
            p.add_argument("--reason", help="reason recorded in the audit log")
            p.add_argument("--yes", action="store_true",
                           help="apply despite lint warnings without asking (for CI)")
        add_connection(p)

    ex = sub.add_parser("export", help="write an environment as a flags file")
    ex.set_defaults(func=cmd_export)
    ex.add_argument("--project", required=True, help="project key")
    ex.add_argument("--environment", required=True, help="environment key")
    ex.add_argument("-o", "--output", default="-", help="file to write (default stdout)")
    ex.add_argument("--format", choices=["yaml", "json"], default="yaml",
                    help="file format (default yaml)")
    add_connection(ex)


def cmd_plan_apply(args: argparse.Namespace) -> int:
    """``vexil plan -f FILE`` and ``vexil apply -f FILE``."""
    # Imported here: YAML and the engine load only for the commands that need them.
    from vexil.apply import apply_plan  # noqa: PLC0415
    from vexil.plan import confirm_apply, plan_exit_code, render, to_json  # noqa: PLC0415
    from vexil.remote import Writer  # noqa: PLC0415

    try:
        client, desired, plan = _plan(args)
    except VexilError as exc:  # --detailed-exitcode: 2 means "changes", so every error is 1
        if getattr(args, "detailed_exitcode", False):
            raise VexilError(exc.message) from None
        raise
    if args.command == "plan" and args.json:
        print(json.dumps(to_json(plan, source=desired.source), indent=2, ensure_ascii=False))
    else:
        print(render(plan, source=desired.source))
    if args.command == "plan":
        return plan_exit_code(plan, detailed=args.detailed_exitcode)
    confirm_apply(plan, yes=args.yes, interactive=sys.stdin.isatty() and sys.stdout.isatty())
    if plan.empty:
        return 0
    print("Applying:")
    writer = Writer(client, desired.project, desired.environment, args.reason)
    report = apply_plan(plan, writer, echo=print)
    n = plan.counts()  # the plan's own numbers: what plan said is what apply reports
    summary = f"Applied {n['create']} to create, {n['update']} to update, {n['delete']} to delete"
    if report.change_requests:
        summary += (f"; {len(report.change_requests)} change request(s) await approval "
                    f"in {desired.project}/{desired.environment}")
    print(summary + ".")
    return 0


def _plan(args: argparse.Namespace) -> tuple[ApiClient, FlagsFile, Plan]:
    """Read the file and the server; build the plan (with every error and warning)."""
    from vexil.flagsfile import load  # noqa: PLC0415
    from vexil.plan import build_plan  # noqa: PLC0415
    from vexil.plancheck import check_offline  # noqa: PLC0415
    from vexil.remote import fetch_state  # noqa: PLC0415

    desired = load(args.file)
    try:
        client = api(args)
        remote = fetch_state(client, desired.project, desired.environment)
    except VexilError:  # no API: the file's own errors, if any, matter more
        if not getattr(args, "json", False):  # (stdout stays JSON-only)
            check_offline(desired, echo=print)
        raise
    return client, desired, build_plan(desired, remote, prune=args.prune)


def cmd_export(args: argparse.Namespace) -> int:
    """``vexil export --project P --environment E``."""
    from vexil.flagsfile import dump, dump_json  # noqa: PLC0415 - YAML only when this runs
    from vexil.remote import fetch_state  # noqa: PLC0415

    state = fetch_state(api(args), args.project, args.environment)
    if not state.project_exists:
        raise VexilError(f"project '{args.project}' not found")
    if not state.environment_exists:
        raise VexilError(f"environment '{args.project}/{args.environment}' not found")
    text = (dump_json if args.format == "json" else dump)(state.to_flags_file())
    if args.output == "-":
        sys.stdout.write(text)
    else:
        tmp = Path(args.output + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, args.output)
        print(f"wrote {len(state.flags)} flag(s), {len(state.segments)} segment(s) "
              f"to {args.output}", file=sys.stderr)
    return 0
