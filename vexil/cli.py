"""The ``vexil`` command: the local stack, flags-as-code, tokens, audit, evaluation.

Every failure is one line on stderr (``vexil: error: ...``) and a non-zero exit code:
2 for usage and file errors, 1 for everything else (API refusals, unreachable services),
130 when interrupted. Set ``VEXIL_DEBUG=1`` to see a traceback for an unexpected error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from vexil.api import ApiClient, path, version_etag
from vexil.apply import apply_plan
from vexil.bootstrap import bootstrap_admin_token
from vexil.devstack import stack
from vexil.devstack.aws import local_aws_env
from vexil.devstack.demo import run_demo
from vexil.errors import UsageError, VexilError
from vexil.evaluate import evaluate
from vexil.flagsfile import compile_check, dump, dump_json, load
from vexil.plan import build_plan, render
from vexil.remote import Writer, fetch_state
from vexil.settings import load_dev_json, resolve


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _add_connection(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("connection (default: $VEXIL_API/$VEXIL_TOKEN, then dev.json)")
    g.add_argument("--api", help="control-plane base URL")
    g.add_argument("--token", help="API token (vxl_tok_...)")
    g.add_argument("--ca-bundle", help="CA file for HTTPS endpoints")


def build_parser() -> argparse.ArgumentParser:
    """The full command-line grammar."""
    parser = _Parser(prog="vexil", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--state-dir", type=Path, default=None,
        help="local stack state directory (default $VEXIL_STATE_DIR or ./.vexil)",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    dev = sub.add_parser("dev", help="run the whole system locally")
    dev_sub = dev.add_subparsers(dest="dev_command", required=True, parser_class=_Parser)
    up = dev_sub.add_parser("up", help="start moto, the API, the publisher, the CDN and edge")
    up.add_argument("--demo", action="store_true", help="seed a demo project and show a change")
    up.add_argument("--random-ports", action="store_true",
                    help="use free ports instead of the defaults (4566, 8000, 8443, 8070)")
    up.add_argument("--no-nginx", action="store_true",
                    help="use the Python pass-through proxy as the CDN even if nginx exists")
    dev_sub.add_parser("down", help="stop exactly the processes `dev up` started")
    reset = dev_sub.add_parser("reset", help="stop the stack and wipe its kept state "
                               "(projects, tokens, SDK keys, KMS keys); keeps the local CA")
    reset.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    st = dev_sub.add_parser("status", help="show the processes and URLs of the local stack")
    st.add_argument("--json", action="store_true")
    edge = dev_sub.add_parser("edge", help="(re)start the OFREP edge server for client keys")
    edge.add_argument("serve", nargs="+", metavar="PROJECT/ENV=CLIENT_KEY",
                      help="an environment and the client SDK key that selects it")
    demo = dev_sub.add_parser("demo", help="run the demo against a running local stack")
    demo.add_argument("--project", default="shop")

    for name, helptext in (("plan", "show what `apply` would change"),
                           ("apply", "make an environment match a flags file")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("-f", "--file", required=True, help="flags file (YAML or JSON; - = stdin)")
        p.add_argument("--prune", action="store_true",
                       help="delete flags and segments that are not in the file")
        if name == "plan":
            p.add_argument("--detailed-exitcode", action="store_true",
                           help="exit 0 when there is nothing to do, 3 when there are changes")
        else:
            p.add_argument("--reason", help="reason recorded in the audit log")
        _add_connection(p)

    ex = sub.add_parser("export", help="write an environment as a flags file")
    ex.add_argument("--project", required=True)
    ex.add_argument("--environment", required=True)
    ex.add_argument("-o", "--output", default="-", help="file to write (default stdout)")
    ex.add_argument("--format", choices=["yaml", "json"], default="yaml")
    _add_connection(ex)

    tok = sub.add_parser("tokens", help="API tokens")
    tok_sub = tok.add_subparsers(dest="tokens_command", required=True, parser_class=_Parser)
    tc = tok_sub.add_parser("create", help="create a token (the secret is shown once)")
    tc.add_argument("--name", required=True)
    tc.add_argument("--role", required=True, choices=["admin", "editor", "viewer", "auditor"])
    tc.add_argument("--projects", default="*", help="comma-separated project keys or *")
    tc.add_argument("--environments", default="*", help="comma-separated environment keys or *")
    tc.add_argument("--ttl-days", type=int)
    tc.add_argument("--reason")
    _add_connection(tc)
    tl = tok_sub.add_parser("list", help="list tokens (never their secrets)")
    tl.add_argument("--json", action="store_true")
    _add_connection(tl)
    tr = tok_sub.add_parser("revoke", help="revoke a token by its id")
    tr.add_argument("token_id")
    tr.add_argument("--reason")
    _add_connection(tr)
    tb = tok_sub.add_parser(
        "bootstrap", help="create an admin token by writing the table directly (AWS credentials)"
    )
    tb.add_argument("--name", default="admin")
    tb.add_argument("--table", help="table name (default $VEXIL_TABLE, or the local stack's)")
    tb.add_argument("--ttl-days", type=int)

    cr = sub.add_parser("changes", help="change requests of a protected environment")
    cr.add_argument("action", choices=["list", "show", "approve", "reject", "apply"])
    cr.add_argument("id", nargs="?", help="change request id (all but list)")
    cr.add_argument("--project", required=True)
    cr.add_argument("--environment", required=True)
    cr.add_argument("--all", action="store_true", help="list: include closed requests")
    _add_connection(cr)

    audit = sub.add_parser("audit", help="the tamper-evident audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, parser_class=_Parser)
    av = audit_sub.add_parser("verify", help="check an audit hash chain end to end")
    av.add_argument("--project")
    av.add_argument("--environment")
    _add_connection(av)
    audit_sub.add_parser(
        "anchor", help="sign every chain head and store it write-once (AWS direct)")

    ev = sub.add_parser("eval", help="evaluate a flag from a bundle URL or file, like an SDK")
    ev.add_argument("flag")
    ev.add_argument("--context", default="{}", help="evaluation context as JSON")
    ev.add_argument("--source", help="pointer URL, bundle URL or file (default: the local CDN)")
    ev.add_argument("--project", help="with the local stack: project of the pointer")
    ev.add_argument("--environment", help="with the local stack: environment of the pointer")
    ev.add_argument("--sdk-key", help="SDK key (default $VEXIL_SDK_KEY or the demo's key)")
    ev.add_argument("--default", default=None, help="default value as JSON (default null)")
    ev.add_argument("--ca-bundle")
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
    keys.add_argument("action", choices=["show", "rotate"])
    keys.add_argument("--project", required=True)
    keys.add_argument("--environment", required=True)
    keys.add_argument("--table", help="branch-key store table (default $VEXIL_KEY_STORE_TABLE)")
    keys.add_argument("--kms-key-id", help="bundle KMS key (default $VEXIL_KMS_KEY_ID)")

    bk = sub.add_parser(
        "backup", help="export all control-plane state to a file, or restore it (DynamoDB direct)"
    )
    bk.add_argument("action", choices=["export", "restore"])
    bk.add_argument("file", help="backup file ('-' for stdout/stdin)")
    bk.add_argument("--table", help="DynamoDB table (default: $VEXIL_TABLE)")
    return parser


def _state_dir(args: argparse.Namespace) -> Path:
    return Path(args.state_dir).resolve() if args.state_dir else stack.default_state_dir()


def _api(args: argparse.Namespace) -> ApiClient:
    s = resolve(api=args.api, token=args.token, ca_bundle=args.ca_bundle,
                state_dir=_state_dir(args))
    return ApiClient(s.api, s.token, ca_bundle=s.ca_bundle)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True))


# --- dev ---------------------------------------------------------------------------------


def cmd_dev(args: argparse.Namespace) -> int:
    """``vexil dev up|down|status|demo``."""
    paths = stack.StatePaths(_state_dir(args))
    if args.dev_command == "up":
        info = stack.up(paths, fixed_ports=not args.random_ports,
                        force_python_cdn=args.no_nginx)
        if args.demo:
            try:
                info = run_demo(paths, info, out=sys.stdout)
            except VexilError as exc:
                raise VexilError(
                    f"demo failed: {exc.message} (the stack is still up for inspection: "
                    f"logs in {paths.logs}; stop it with `vexil dev down`)"
                ) from None
        _print_summary(info, paths)
        return 0
    if args.dev_command == "down":
        survivors = stack.down(paths)
        if survivors:
            raise VexilError(f"could not stop: {', '.join(survivors)}")
        return 0
    if args.dev_command == "reset":
        _confirm_reset(paths, args.yes)
        stack.reset(paths)
        return 0
    if args.dev_command == "edge":
        current = stack.read_dev_json(paths)
        if not current:
            raise VexilError(f"no local stack running from {paths.root} (vexil dev up)")
        environments = [_edge_entry(spec) for spec in args.serve]
        stack.write_edge_config(paths, cdn=current["cdn"], ca_bundle=Path(current["ca_bundle"]),
                                environments=environments)
        stack.start_edge(paths, current, stack.stack_env(current))
        print(f"OFREP edge on {current['edge']} serving "
              + ", ".join(f"{e['project']}/{e['environment']}" for e in environments))
        return 0
    if args.dev_command == "demo":
        current = stack.read_dev_json(paths)
        if not current:
            raise VexilError(f"no local stack running from {paths.root} (vexil dev up)")
        run_demo(paths, current, out=sys.stdout, project=args.project)
        return 0
    st = stack.status(paths)
    if args.json:
        _print_json(st)
    else:
        if not st["processes"]:
            print(f"no local stack recorded under {paths.root}")
        for name, p in st["processes"].items():
            print(f"{name:8} pid {p['pid']:<8} {'running' if p['alive'] else 'DEAD'}")
        for key in ("api", "cdn", "edge", "aws_endpoint"):
            if st.get(key):
                print(f"{key:12} {st[key]}")
    alive = all(p["alive"] for p in st["processes"].values())
    return 0 if st["processes"] and alive else 1


def _confirm_reset(paths: Any, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError("dev reset wipes every project, token and key of the local stack: "
                         "pass --yes to confirm (no terminal to ask on)")
    answer = input(f"Wipe the local stack's state under {paths.root}? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        raise VexilError("dev reset: not confirmed; nothing was wiped")


def _edge_entry(spec: str) -> dict[str, str]:
    where, sep, key = spec.partition("=")
    project, slash, environment = where.partition("/")
    if not (sep and slash and project and environment and key.startswith("vxl_cli_")):
        raise UsageError(
            f"dev edge: expected PROJECT/ENV=vxl_cli_..., got {where!r}=... (key not shown)"
        )
    return {"project": project, "environment": environment, "sdk_key": key}


def _print_summary(info: dict[str, Any], paths: Any) -> None:
    print()
    print("Vexil local stack is up (everything on 127.0.0.1):")
    print(f"  control-plane API  {info['api']}   (OpenAPI: {info['api']}/v1/openapi.json)")
    print(f"  CDN (bundles)      {info['cdn']}/bundles/<project>/<env>/current.json  "
          f"[{info.get('cdn_kind')}]")
    if info.get("edge"):
        print(f"  OFREP edge         {info['edge']}/ofrep/v1/evaluate/flags")
    else:
        print("  OFREP edge         not started: it needs client SDK keys "
              "(`vexil dev edge PROJECT/ENV=vxl_cli_...`; the demo starts it)")
    print(f"  AWS (moto)         {info['aws_endpoint']}")
    print(f"  CA bundle          {info['ca_bundle']}")
    if info.get("signing_public_key_file"):
        print(f"  publisher key      {info['signing_public_key_file']}   "
              "(readers: FlagClient(signing_keys=...))")
    print(f"  admin token        {info['admin_token']}")
    for env, keys in sorted((info.get("sdk_keys") or {}).items()):
        for kind, key in sorted(keys.items()):
            print(f"  SDK key {env}/{kind:6} {key}")
    print(f"  written to         {paths.dev_json}")
    print(f"  logs               {paths.logs}/")
    print("Stop it with: vexil dev down   (or ./run down)")


# --- flags as code ---------------------------------------------------------------------


def cmd_plan_apply(args: argparse.Namespace) -> int:
    """``vexil plan -f FILE`` and ``vexil apply -f FILE``."""
    desired = load(args.file)
    problems = compile_check(desired)
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UsageError(f"{args.file}: {problems[0]}{more}")
    api = _api(args)
    remote = fetch_state(api, desired.project, desired.environment)
    plan = build_plan(desired, remote, prune=args.prune)
    source = "stdin" if args.file == "-" else args.file
    print(render(plan, source=source))
    if args.command == "plan":
        return 3 if (args.detailed_exitcode and not plan.empty) else 0
    if plan.empty:
        return 0
    print("Applying:")
    writer = Writer(api, desired.project, desired.environment, args.reason)
    report = apply_plan(plan, writer, echo=print)
    summary = f"Applied {len(report.applied)} change(s)"
    if report.change_requests:
        summary += (f"; {len(report.change_requests)} change request(s) await approval "
                    f"in {desired.project}/{desired.environment}")
    print(summary + ".")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """``vexil export --project P --environment E``."""
    state = fetch_state(_api(args), args.project, args.environment)
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


# --- tokens, audit, eval -------------------------------------------------------------------


def _csv(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def cmd_tokens(args: argparse.Namespace) -> int:
    """``vexil tokens create|list|revoke|bootstrap``."""
    if args.tokens_command == "bootstrap":
        return _tokens_bootstrap(args)
    api = _api(args)
    if args.tokens_command == "create":
        body: dict[str, Any] = {
            "name": args.name, "role": args.role,
            "projects": _csv(args.projects), "environments": _csv(args.environments),
        }
        if args.ttl_days:
            body["ttl_days"] = args.ttl_days
        if args.reason:
            body["reason"] = args.reason
        created = api.request("POST", "/v1/tokens", body=body).body or {}
        secret = created.get("token") or created.get("secret") or created.get("text")
        print(secret)
        meta = {k: v for k, v in created.items() if k not in ("token", "secret", "text")}
        print(json.dumps(meta, sort_keys=True), file=sys.stderr)
        return 0
    if args.tokens_command == "list":
        body_any = api.get("/v1/tokens").body
        items = body_any.get("items", []) if isinstance(body_any, dict) else body_any or []
        if args.json:
            _print_json(items)
            return 0
        for t in items:
            state = "revoked" if t.get("revoked") or t.get("revoked_at") else "active"
            print(f"{t.get('token_id', '?'):24} {t.get('role', '?'):8} {state:8} "
                  f"{t.get('name', '')}  expires {t.get('expires_at', '-')}")
        return 0
    api.request("DELETE", path("v1", "tokens", args.token_id),
                body={"reason": args.reason} if args.reason else None)
    print(f"revoked {args.token_id}")
    return 0


def _tokens_bootstrap(args: argparse.Namespace) -> int:
    table = args.table
    dev = load_dev_json(_state_dir(args))
    env_backup: dict[str, str | None] = {}
    if not table and not os.environ.get("VEXIL_TABLE") and dev:
        # No explicit target: write the running local stack's table.
        table = str(dev["table"])
        for k, v in local_aws_env(str(dev["aws_endpoint"])).items():
            env_backup[k] = os.environ.get(k)
            os.environ[k] = v
    if not table and not os.environ.get("VEXIL_TABLE"):
        raise UsageError("no table: pass --table, set VEXIL_TABLE, or start the local stack")
    try:
        print(bootstrap_admin_token(args.name, table=table, ttl_days=args.ttl_days))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    finally:
        for k, old in env_backup.items():
            if old is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = old
    return 0


def cmd_changes(args: argparse.Namespace) -> int:
    """``vexil changes list|show|approve|reject|apply``: the approval workflow."""
    api = _api(args)
    base = path("v1", "projects", args.project, "environments", args.environment,
                "change-requests")
    if args.action == "list":
        for item in api.paginate(base):
            if args.all or item.get("status") in ("pending", "approved"):
                op = item.get("operation") or {}
                target = op.get("flag") or op.get("segment") or ""
                print(f"{item.get('id')}  {item.get('status'):9} {op.get('type', '?'):22} "
                      f"{target:24} by {item.get('author', '?')}")
        return 0
    if not args.id:
        raise UsageError(f"changes {args.action}: give the change request id")
    url = base + path(args.id)
    current = api.get(url).body or {}
    if args.action == "show":
        _print_json(current)
        return 0
    # Conditional on the version just read: approving something that changed meanwhile fails.
    done = api.request("POST", url + path(args.action),
                       if_match=version_etag(current.get("version", 0))).body or {}
    status = _unwrap_cr(done).get("status", "?")
    print(f"{args.id}: {status}")
    return 0


def _unwrap_cr(body: Any) -> dict[str, Any]:
    if isinstance(body, dict) and isinstance(body.get("change_request"), dict):
        return dict(body["change_request"])
    return dict(body) if isinstance(body, dict) else {}


def cmd_audit(args: argparse.Namespace) -> int:
    """``vexil audit verify``: exit 0 when the chain and its anchors verify, 1 with the first
    break (a rewrite since an anchor included). ``vexil audit anchor``: anchor every chain."""
    if args.audit_command == "anchor":
        from vexil.anchor import anchor_now  # noqa: PLC0415 - boto3 only when this runs

        done = anchor_now(load_dev_json(_state_dir(args)))
        _print_json(done)
        return 1 if done["failed"] else 0
    body = {k: v for k, v in (("project", args.project), ("environment", args.environment)) if v}
    result = _api(args).request("POST", "/v1/audit/verify", body=body).body or {}
    where = "/".join(v for v in (args.project, args.environment) if v) or "global"
    anchors = result.get("anchors") or {}
    for refused in anchors.get("refused") or []:
        print(f"warning: anchor refused: {refused.get('key')}: {refused.get('reason')}",
              file=sys.stderr)
    if result.get("ok"):
        print(f"audit chain {where}: OK ({result.get('checked', '?')} records verified; "
              f"{_anchor_summary(anchors)})")
        return 0
    brk = result.get("first_break") or {}
    raise VexilError(
        f"audit chain {where}: BROKEN at {json.dumps(brk, sort_keys=True)} "
        f"after {result.get('checked', '?')} good records"
    )


def _anchor_summary(anchors: dict[str, Any]) -> str:
    latest = anchors.get("latest")
    if anchors.get("status") == "verified" and isinstance(latest, dict):
        return (f"anchored through seq {latest.get('seq')} at {latest.get('at')}, "
                f"{anchors.get('unanchored_records', '?')} records since")
    if anchors.get("status") == "unavailable":
        return f"anchors NOT checked: {anchors.get('reason', '?')}"
    return "no anchor yet"


def cmd_eval(args: argparse.Namespace) -> int:
    """``vexil eval FLAG``: evaluate like an SDK does, print the detail as JSON."""
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
        state_dir=_state_dir(args), kms=args.kms,
        kms_key_id=args.kms_key_id, key_store_table=args.key_store_table,
    )
    _print_json(detail)
    return 0 if not detail.get("error_code") else 1


def cmd_keys(args: argparse.Namespace) -> int:
    """``vexil keys show|rotate``: see :mod:`vexil.branchkeys`."""
    from vexil.branchkeys import branch_key  # noqa: PLC0415 - the MPL only when this runs

    _print_json(branch_key(args.action, project=args.project, environment=args.environment,
                           table=args.table, kms_key_id=args.kms_key_id,
                           dev=load_dev_json(_state_dir(args))))
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """``vexil backup export|restore FILE``: see :mod:`vexil.backup`."""
    from vexil import backup  # noqa: PLC0415 - boto3 only when this command runs

    table = args.table or os.environ.get("VEXIL_TABLE")
    if not table:
        raise UsageError("backup: --table: required (or set VEXIL_TABLE)")
    if args.action == "export":
        backup.export_to_file(table, args.file)
        print(f"exported {table}", file=sys.stderr)
        return 0
    count = backup.restore_from_file(args.file, table)
    print(f"restored {count} items into {table}", file=sys.stderr)
    return 0


_COMMANDS = {
    "dev": cmd_dev, "plan": cmd_plan_apply, "apply": cmd_plan_apply, "export": cmd_export,
    "tokens": cmd_tokens, "changes": cmd_changes, "audit": cmd_audit, "eval": cmd_eval,
    "backup": cmd_backup, "keys": cmd_keys,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return (and, as a console script, exit with) the exit code."""
    try:
        args = build_parser().parse_args(argv)
        return _COMMANDS[args.command](args)
    except VexilError as exc:
        print(f"vexil: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("vexil: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("VEXIL_DEBUG"):
            raise
        print(f"vexil: internal error: {type(exc).__name__}: {exc} "
              "(set VEXIL_DEBUG=1 for a traceback)", file=sys.stderr)
        return 70


def _entry() -> NoReturn:
    sys.exit(main())


if __name__ == "__main__":
    _entry()
