"""``python -m chalicelib.bootstrap --name admin``: print a new admin token (direct write).

Run from ``control_plane/`` (or with it on ``sys.path``) with VEXIL_TABLE and AWS settings in
the environment. The token text is printed once on stdout; its record as JSON on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys

from chalicelib.tokens import DEFAULT_TTL_DAYS, bootstrap_admin_token


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, create the token, print it; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m chalicelib.bootstrap")
    parser.add_argument("--name", default="admin", help="name recorded on the token and in audit")
    parser.add_argument("--table", default=None, help="table name (default $VEXIL_TABLE)")
    parser.add_argument("--ttl-days", type=int, default=DEFAULT_TTL_DAYS)
    args = parser.parse_args(argv)
    try:
        text, view = bootstrap_admin_token(args.name, table=args.table, ttl_days=args.ttl_days)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(text)
    print(json.dumps(view), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
