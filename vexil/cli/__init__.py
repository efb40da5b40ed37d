"""The ``vexil`` command: the local stack, flags-as-code, tokens, audit, evaluation.

Every failure is one line on stderr (``vexil: error: ...``) and a non-zero exit code:
2 for usage and file errors, 1 for everything else (API refusals, unreachable services),
130 when interrupted, 70 for an unexpected error (``VEXIL_DEBUG=1`` shows its traceback).
Output piped into a reader that stops early (``vexil tokens list --json | head``) ends the
command quietly, as ``cat`` does.

Each command lives in a module of this package with a ``register(sub)`` function (see
``vexil/cli/_common.py``); this module only assembles the parser and runs the command.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from vexil.cli import (
    audit,
    changes,
    dev,
    direct,
    flags,
    history,
    importing,
    insights,
    projects,
    rollouts,
    sdk_keys,
    segments,
    tokens,
)
from vexil.cli._common import Parser
from vexil.errors import VexilError
from vexil.extras import requires

DESCRIPTION = ("Vexil feature flags and configuration: the local stack, flags as code, "
               "projects, environments, SDK keys, segments, tokens, change requests, audit.")

# The order of `vexil --help`: the stack, flags as code, resources, review, administration,
# audit, then the tools that read bundles or AWS directly.
_MODULES = (dev, flags, importing, history, insights, projects, sdk_keys, segments, rollouts,
            changes, tokens, audit, direct)


def version() -> str:
    """The installed distribution's version (``0+unknown`` when run from a bare checkout)."""
    from importlib.metadata import PackageNotFoundError  # noqa: PLC0415
    from importlib.metadata import version as dist_version  # noqa: PLC0415

    try:
        return dist_version("vexil")
    except PackageNotFoundError:
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    """The full command-line grammar: every command module's sub-parsers."""
    parser = Parser(prog="vexil", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"vexil {version()}",
                        help="print the version and exit")
    parser.add_argument(
        "--state-dir", type=Path, default=None,
        help="local stack state directory (default $VEXIL_STATE_DIR, $VEXIL_HOME, or the "
             "nearest .vexil/dev.json above the current directory, else ./.vexil)",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser,
                                metavar="COMMAND")
    for module in _MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return (and, as a console script, exit with) the exit code."""
    try:
        code = _run(argv)
        sys.stdout.flush()  # a closed pipe surfaces here at the latest
    except BrokenPipeError:
        return _broken_pipe()
    return code


def _run(argv: Sequence[str] | None) -> int:
    """Parse and run one command; every failure becomes one line on stderr and a code."""
    try:
        args = build_parser().parse_args(argv)
        with requires(f"vexil {args.command}"):  # an extra the command imports is missing
            code: int = args.func(args)
        return code
    except VexilError as exc:
        print(f"vexil: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except SystemExit as exc:  # --help and --version: argparse exits after printing
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        print("vexil: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        raise  # not an internal error: main() ends quietly
    except Exception as exc:
        if os.environ.get("VEXIL_DEBUG"):
            raise
        print(f"vexil: internal error: {type(exc).__name__}: {exc} "
              "(set VEXIL_DEBUG=1 for a traceback)", file=sys.stderr)
        return 70


def _broken_pipe() -> int:
    """The reader of stdout went away: exit quietly, as ``cat`` does.

    Python would report the failed flush again at interpreter exit ("Exception ignored ...
    BrokenPipeError"); pointing stdout at /dev/null first is the documented way to avoid it
    (Python docs, "Note on SIGPIPE"). 141 = 128 + SIGPIPE, what a shell reports for ``cat``.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (tests capture it): nothing to do
        pass
    finally:
        os.close(devnull)
    return 141


def _entry() -> NoReturn:
    sys.exit(main())
