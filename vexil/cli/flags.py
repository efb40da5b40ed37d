"""``vexil plan``, ``vexil apply`` and ``vexil export``: flags as code (logic in vexil.plan,
vexil.apply, vexil.remote and vexil.flagsfile)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from vexil.cli._common import Subparsers, add_connection, api
from vexil.errors import UsageError, VexilError


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
                           help="exit 0 when there is nothing to do, 3 when there are changes")
        else:
            p.add_argument("--reason", help="reason recorded in the audit log")
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
    from vexil.flagsfile import compile_check, load  # noqa: PLC0415
    from vexil.plan import build_plan, render  # noqa: PLC0415
    from vexil.remote import Writer, fetch_state  # noqa: PLC0415

    desired = load(args.file)
    problems = compile_check(desired)
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UsageError(f"{args.file}: {problems[0]}{more}")
    client = api(args)
    remote = fetch_state(client, desired.project, desired.environment)
    plan = build_plan(desired, remote, prune=args.prune)
    source = "stdin" if args.file == "-" else args.file
    print(render(plan, source=source))
    if args.command == "plan":
        return 3 if (args.detailed_exitcode and not plan.empty) else 0
    if plan.empty:
        return 0
    print("Applying:")
    writer = Writer(client, desired.project, desired.environment, args.reason)
    report = apply_plan(plan, writer, echo=print)
    summary = f"Applied {len(report.applied)} change(s)"
    if report.change_requests:
        summary += (f"; {len(report.change_requests)} change request(s) await approval "
                    f"in {desired.project}/{desired.environment}")
    print(summary + ".")
    return 0


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
