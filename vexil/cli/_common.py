"""What every command module shares: the parser class, connection options, output helpers.

A command module exposes ``register(sub)``: it adds its sub-parser(s) to ``sub`` and sets
``func`` (``set_defaults(func=cmd_x)``) to a function ``(args) -> int`` (the exit code).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from vexil.api import ApiClient
from vexil.errors import UsageError
from vexil.settings import Settings, find_state_dir, resolve


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        """Raise UsageError (printed once by ``main``) instead of printing usage and exiting."""
        raise UsageError(f"{self.prog}: {message} (see --help)")


# argparse's ``_SubParsersAction`` is private; the alias keeps signatures readable.
Subparsers = Any


def add_connection(p: argparse.ArgumentParser) -> None:
    """The options that say which control plane to talk to, and as whom."""
    g = p.add_argument_group(
        "connection (default: flags, then $VEXIL_API/$VEXIL_TOKEN/..., then dev.json)")
    g.add_argument("--api", help="control-plane base URL (default $VEXIL_API)")
    g.add_argument("--token", help="API token, vxl_tok_... (default $VEXIL_TOKEN)")
    g.add_argument("--ca-bundle",
                   help="PEM file of CAs to trust for HTTPS (default $VEXIL_CA_BUNDLE)")
    g.add_argument("--client-cert",
                   help="PEM client certificate for mutual TLS (default $VEXIL_CLIENT_CERT)")
    g.add_argument("--client-key",
                   help="PEM private key of --client-cert (default $VEXIL_CLIENT_KEY)")


def add_json(p: argparse.ArgumentParser) -> None:
    """``--json``: machine-readable output on stdout."""
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def add_scope(p: argparse.ArgumentParser, *, environment: bool = True) -> None:
    """``--project`` (and ``--environment``), both required."""
    p.add_argument("--project", required=True, help="project key")
    if environment:
        p.add_argument("--environment", required=True, help="environment key")


def state_dir(args: argparse.Namespace) -> Path:
    """The local stack's state directory: ``--state-dir``, or the one found from the cwd."""
    explicit = getattr(args, "state_dir", None)
    return Path(explicit).resolve() if explicit else find_state_dir()


def settings(args: argparse.Namespace) -> Settings:
    """Connection settings from the command's options, the environment and dev.json."""
    return resolve(
        api=getattr(args, "api", None), token=getattr(args, "token", None),
        ca_bundle=getattr(args, "ca_bundle", None),
        client_cert=getattr(args, "client_cert", None),
        client_key=getattr(args, "client_key", None),
        state_dir=state_dir(args),
    )


def api(args: argparse.Namespace) -> ApiClient:
    """An API client for the command's connection settings."""
    return ApiClient.from_settings(settings(args))


def print_json(value: Any) -> None:
    """Pretty, stable JSON on stdout."""
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


def csv_list(text: str) -> list[str]:
    """``"a, b,,c"`` → ``["a", "b", "c"]``."""
    return [p.strip() for p in text.split(",") if p.strip()]


def cell(value: Any) -> str:
    """A value as a table cell: ``-`` for nothing, lists comma-joined, never a repr."""
    if value is None or value in ("", []):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]],
                *, empty: str = "(none)") -> None:
    """Left-aligned columns under upper-case headers; ``empty`` when there are no rows."""
    cells = [[cell(v) for v in row] for row in rows]
    if not cells:
        print(empty)
        return
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = [[h.upper() for h in headers], *cells]
    for line in lines:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())


def out(*parts: Any) -> None:
    """A line for humans on stderr (secrets and data go to stdout)."""
    print(*parts, file=sys.stderr)
