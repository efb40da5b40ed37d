"""Commands that read bundles or talk to AWS directly: ``vexil eval``, ``vexil keys``,
``vexil backup`` (logic in vexil.evaluate, vexil.branchkeys and vexil.backup)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from vexil.cli._common import Subparsers, print_json, state_dir
from vexil.errors import UsageError
from vexil.settings import environment, load_dev_json, local_stack_aws


def register(sub: Subparsers) -> None:
    """Add ``eval``, ``keys`` and ``backup``."""
    ev = sub.add_parser("eval", help="evaluate a flag from a bundle URL or file, like an SDK")
    ev.set_defaults(func=cmd_eval)
    ev.add_argument("flag", help="flag key")
    ev.add_argument("--context", default="{}", help="evaluation context as JSON")
    ev.add_argument("--source", help="pointer URL, bundle URL or file (default: the local CDN)")
    ev.add_argument("--project", help="with the local stack: project of the pointer")
    ev.add_argument("--environment", help="with the local stack: environment of the pointer")
    ev.add_argument("--sdk-key", help="SDK key (default $VEXIL_SDK_KEY or the demo's key)")
    ev.add_argument("--default", default=None, help="default value as JSON (default null)")
    ev.add_argument("--ca-bundle", help="PEM file of CAs to trust for an HTTPS source")
    ev.add_argument("--signing-key", action="append", metavar="PEM_FILE",
                    help="require the publisher's signature by this public key (repeatable; "
                         "default $VEXIL_SIGNING_KEY, or the local stack's key for its CDN)")
    ev.add_argument("--kms", action="store_true",
                    help="open the bundle with KMS and the branch-key store, not an SDK key")
    ev.add_argument("--kms-key-id", help="with --kms: bundle key (default $VEXIL_KMS_KEY_ID)")
    ev.add_argument("--key-store-table",
                    help="with --kms: branch-key store table (default $VEXIL_KEY_STORE_TABLE)")

    keys = sub.add_parser(
        "keys", help="an environment's branch key: show it, or rotate it (AWS direct)"
    )
    keys.set_defaults(func=cmd_keys)
    keys.add_argument("action", choices=["show", "rotate"], help="what to do")
    keys.add_argument("--project", required=True, help="project key")
    keys.add_argument("--environment", required=True, help="environment key")
    keys.add_argument("--table", help="branch-key store table (default $VEXIL_KEY_STORE_TABLE)")
    keys.add_argument("--kms-key-id", help="bundle KMS key (default $VEXIL_KMS_KEY_ID)")

    bk = sub.add_parser(
        "backup", help="export all control-plane state to a file, or restore it (DynamoDB direct)"
    )
    bk.set_defaults(func=cmd_backup)
    bk.add_argument("action", choices=["export", "restore"], help="what to do")
    bk.add_argument("file", help="backup file ('-' for stdout/stdin)")
    bk.add_argument("--table",
                    help="DynamoDB table (default: $VEXIL_TABLE, or the local stack's)")


def cmd_eval(args: argparse.Namespace) -> int:
    """``vexil eval FLAG``: evaluate like an SDK does, print the detail as JSON."""
    from vexil.evaluate import evaluate  # noqa: PLC0415 - the reader only when this runs

    try:
        context = json.loads(args.context)
        default = json.loads(args.default) if args.default is not None else None
    except ValueError as exc:
        raise UsageError(f"--context/--default: not valid JSON ({exc})") from None
    if not isinstance(context, dict):
        raise UsageError("--context: must be a JSON object")
    detail = evaluate(
        flag=args.flag, context=context, default=default, source=args.source,
        project=args.project, environment=args.environment, sdk_key=args.sdk_key,
        ca_bundle=args.ca_bundle, signing_keys=args.signing_key,
        state_dir=state_dir(args), kms=args.kms,
        kms_key_id=args.kms_key_id, key_store_table=args.key_store_table,
    )
    print_json(detail)
    return 0 if not detail.get("error_code") else 1


def cmd_keys(args: argparse.Namespace) -> int:
    """``vexil keys show|rotate``: see :mod:`vexil.branchkeys`."""
    from vexil.branchkeys import branch_key  # noqa: PLC0415 - the MPL only when this runs

    print_json(branch_key(args.action, project=args.project, environment=args.environment,
                          table=args.table, kms_key_id=args.kms_key_id,
                          dev=load_dev_json(state_dir(args))))
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """``vexil backup export|restore FILE``: see :mod:`vexil.backup`."""
    from vexil import backup  # noqa: PLC0415 - boto3 only when this command runs

    table = args.table or os.environ.get("VEXIL_TABLE")
    dev = load_dev_json(state_dir(args))
    aws = local_stack_aws(dev, table)
    if aws and not table:
        table = str(dev["table"])  # no explicit target: the running local stack's table
    if not table:
        raise UsageError("backup: --table: required (or set VEXIL_TABLE, or start the "
                         "local stack)")
    with environment(aws):
        if args.action == "export":
            backup.export_to_file(table, args.file)
            print(f"exported {table}", file=sys.stderr)
            return 0
        count = backup.restore_from_file(args.file, table)
    print(f"restored {count} items into {table}", file=sys.stderr)
    return 0
