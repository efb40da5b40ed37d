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

from vexil.api import ApiClient, Response
from vexil.errors import UsageError
from vexil.settings import Settings, find_state_dir, resolve


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        """Raise UsageError (printed once by ``main``, which adds the ``vexil:`` prefix)
        instead of printing usage and exiting; a subcommand names itself."""
        command = self.prog.removeprefix("vexil").strip()
        raise UsageError((f"{command}: " if command else "")
                         + f"{message} (see `{self.prog} --help`)")


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


def filed_change_request(resp: Response) -> dict[str, Any] | None:
    """The change request a protected environment filed instead of writing (202), or None."""
    body = resp.body
    if resp.status == 202 and isinstance(body, dict) and isinstance(body.get("change_request"),
                                                                     dict):
        return dict(body["change_request"])
    return None


def say_filed(cr: dict[str, Any], what: str) -> None:
    """Tell the user a write became a change request, and what to do next."""
    where = f"--project {cr.get('project')} --environment {cr.get('environment')}"
    print(f"{cr.get('project')}/{cr.get('environment')} is protected: {what} awaits approval "
          f"as change request {cr.get('id')}")
    print(f"  review: vexil changes show {cr.get('id')} {where}")
    print(f"  then:   vexil changes approve|apply {cr.get('id')} {where} (another person approves)")


def load_document(file: str) -> Any:
    """A JSON or YAML document from ``file`` (``-`` = stdin); UsageError when unreadable."""
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{file}: cannot read ({exc.strerror or exc})") from None
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        import yaml  # noqa: PLC0415 - only for YAML input
    except ImportError:
        raise UsageError(f"{file}: not JSON, and YAML needs PyYAML "
                         "(pip install pyyaml)") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"{file}: neither JSON nor YAML ({exc})") from None


def without_none(**fields: Any) -> dict[str, Any]:
    """A request body without the options the user left out."""
    return {k: v for k, v in fields.items() if v is not None}


def items_of(body: Any) -> list[dict[str, Any]]:
    """The objects of a list answer (``{"items": [...]}`` or a bare list)."""
    items = body.get("items", []) if isinstance(body, dict) else body or []
    return [i for i in items if isinstance(i, dict)]
