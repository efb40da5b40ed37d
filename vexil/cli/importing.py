"""``vexil import``: another flag system's export → a Vexil flags file plus a report.

The translation is ``vexil.importers.<system>`` (loaded by name, only for the system asked
for); this module reads the input, writes the flags file ``vexil plan``/``apply`` read, and
prints the report. Exit codes: 0 every item translated faithfully, 3 something was not
(``EXIT_UNFAITHFUL``: the file is still written and still compiles), 2 unreadable input, input
that is not that system's format, or bad arguments.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from vexil.cli._common import Subparsers
from vexil.errors import UsageError

SYSTEMS = ("launchdarkly", "unleash", "flagd", "growthbook")
EXIT_UNFAITHFUL = 3


def register(sub: Subparsers) -> None:
    """Add ``import``."""
    p = sub.add_parser("import", help="translate a LaunchDarkly, Unleash, flagd or GrowthBook "
                                      "export into a flags file, with a report")
    p.set_defaults(func=cmd_import)
    p.add_argument("file", metavar="FILE", help="the export to read (JSON, or YAML for flagd; "
                                                "- = stdin)")
    p.add_argument("--from", dest="system", required=True, choices=SYSTEMS,
                   help="the system the export comes from")
    p.add_argument("-o", "--output", default="-",
                   help="flags file to write (default stdout; .json writes JSON)")
    p.add_argument("--project", default="imported", help="project key of the flags file "
                                                         "(default imported)")
    p.add_argument("--environment", default="production",
                   help="environment key of the flags file (default production)")
    p.add_argument("--report", help="also write the report as JSON to this file")
    p.add_argument("--json", action="store_true",
                   help="print a JSON summary (keys, report, faithful) on stdout; needs -o")


def cmd_import(args: argparse.Namespace) -> int:
    """``vexil import --from SYSTEM FILE``: write the flags file, print the report."""
    from vexil import flagsfile  # noqa: PLC0415 - YAML and the engine load only here

    if args.json and args.output == "-":
        raise UsageError("import: --json prints the summary on stdout: write the flags file "
                         "with -o FILE")
    module = _importer(args.system)
    data = _read(args.file, args.system)
    try:
        conv = module.convert(data)
    except ValueError as exc:
        raise UsageError(f"{args.file}: not {args.system} data: {exc}") from None
    except RecursionError:  # hostile or absurd nesting (rules, JSONLogic): input, not a bug
        raise UsageError(f"{args.file}: nested too deeply to translate") from None
    doc = {"format": 1, "project": args.project, "environment": args.environment,
           "flags": conv.document.get("flags", {}), "segments": conv.document.get("segments", {})}
    parsed = flagsfile.parse(doc, source=args.output)
    text = flagsfile.dump_json(parsed) if args.output.endswith(".json") else flagsfile.dump(parsed)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        _write(args.output, text)
    faithful = not conv.unfaithful_paths
    summary = {"system": args.system, "output": args.output, "flags": len(doc["flags"]),
               "segments": len(doc["segments"]), "keys": conv.keys, "faithful": faithful,
               "report": conv.report}
    if args.report:
        _write(args.report, json.dumps(summary, indent=2) + "\n")
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_report(summary)
    return 0 if faithful else EXIT_UNFAITHFUL


def _write(path: str, text: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot write ({exc.strerror or exc})") from None


def _importer(system: str) -> Any:
    """The importer module, imported by name (modules land independently)."""
    name = f"vexil.importers.{system}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        raise UsageError(f"import: no {system} importer in this version of vexil") from None


def _read(path: str, system: str) -> object:
    """The export as JSON (YAML too for flagd, whose flag files may be YAML)."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") \
            from None
    try:
        return json.loads(text)
    except RecursionError:
        raise UsageError(f"{path}: JSON nested too deeply") from None
    except ValueError as exc:
        if system == "flagd" and not text.lstrip().startswith(("{", "[")):
            return _read_yaml(path, text)
        raise UsageError(f"{path}: not valid JSON ({exc})") from None


MAX_YAML_NODES = 1_000_000
"""Values a YAML export may expand to: aliases share, the importer walks every copy."""


def _read_yaml(path: str, text: str) -> object:
    """flagd's YAML read as flagd (Go, YAML 1.2) reads it: ``on``/``off`` are strings. A
    document whose aliases expand past :data:`MAX_YAML_NODES` values ("billion laughs": 1 KB
    that the translation would walk for hours) or refer to themselves is refused."""
    import yaml  # noqa: PLC0415

    from vexil.flagsfile import load_yaml_data  # noqa: PLC0415

    try:
        data = load_yaml_data(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: neither JSON nor YAML ({str(exc).splitlines()[0]})") from None
    except RecursionError:
        raise UsageError(f"{path}: YAML nested too deeply") from None
    if _expanded_size(data, {}, set()) > MAX_YAML_NODES:
        raise UsageError(f"{path}: YAML aliases expand to more than {MAX_YAML_NODES:,} values "
                         "or refer to themselves")
    return data


def _expanded_size(value: object, sizes: dict[int, int], open_: set[int]) -> int:
    """Values ``value`` stands for once every alias is copied out (``MAX_YAML_NODES`` + 1
    for a cycle); shared containers are sized once (``sizes``), so this is linear."""
    if not isinstance(value, dict | list):
        return 1
    key = id(value)
    if key in sizes:
        return sizes[key]
    if key in open_:
        return MAX_YAML_NODES + 1
    open_.add(key)
    items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
    total = 1
    for item in items:
        total += _expanded_size(item, sizes, open_)
        if total > MAX_YAML_NODES:
            break
    open_.discard(key)
    sizes[key] = total
    return total


def _print_report(summary: dict[str, Any]) -> None:
    """The report on stderr (stdout may hold the flags file): one line per item."""
    err = sys.stderr
    items = summary["report"]
    for item in items:
        mark = "ok " if item["faithful"] else "NOT"
        print(f"{mark} {item['path']}: {item['reason']}", file=err)
    bad = len({i["path"] for i in items if not i["faithful"]})
    print(f"imported {summary['flags']} flag(s) and {summary['segments']} segment(s) from "
          f"{summary['system']}: " + ("everything translated faithfully" if not bad else
                                      f"{bad} peer object(s) NOT translated faithfully "
                                      f"(exit {EXIT_UNFAITHFUL})"), file=err)
