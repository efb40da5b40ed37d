"""``vexil dev up|down|reset|status|edge|demo``: the local stack (internals in vexil.devstack)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from vexil.cli._common import Parser, Subparsers, print_json, state_dir
from vexil.errors import UsageError, VexilError


def register(sub: Subparsers) -> None:
    """Add ``dev`` and its subcommands."""
    dev = sub.add_parser("dev", help="run the whole system locally")
    dev.set_defaults(func=cmd_dev)
    dev_sub = dev.add_subparsers(dest="dev_command", required=True, parser_class=Parser)
    up = dev_sub.add_parser("up", help="start moto, the API, the publisher, the CDN and edge")
    up.add_argument("--demo", action="store_true", help="seed a demo project and show a change")
    up.add_argument("--random-ports", action="store_true",
                    help="use free ports instead of the defaults (4566, 8000, 8443, 8070)")
    up.add_argument("--no-nginx", action="store_true",
                    help="use the Python pass-through proxy as the CDN even if nginx exists")
    up.add_argument("--mtls", action="store_true",
                    help="also serve the API behind nginx requiring a client certificate "
                    "(mutual TLS; docs/deploy.md)")
    dev_sub.add_parser("down", help="stop exactly the processes `dev up` started")
    reset = dev_sub.add_parser("reset", help="stop the stack and wipe its kept state "
                               "(projects, tokens, SDK keys, KMS keys); keeps the local CA")
    reset.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    st = dev_sub.add_parser("status", help="show the processes and URLs of the local stack")
    st.add_argument("--json", action="store_true", help="print JSON instead of lines")
    edge = dev_sub.add_parser("edge", help="(re)start the OFREP edge server for client keys")
    edge.add_argument("serve", nargs="+", metavar="PROJECT/ENV=CLIENT_KEY",
                      help="an environment and the client SDK key that selects it")
    demo = dev_sub.add_parser("demo", help="run the demo against a running local stack")
    demo.add_argument("--project", default="shop", help="project key to seed (default shop)")


def cmd_dev(args: argparse.Namespace) -> int:
    """``vexil dev up|down|status|demo``."""
    # psutil/boto3 only when this runs.
    from vexil.devstack import mtls, stack  # noqa: PLC0415
    from vexil.devstack.demo import run_demo  # noqa: PLC0415

    paths = stack.StatePaths(state_dir(args))
    if args.dev_command == "up":
        info = stack.up(paths, fixed_ports=not args.random_ports,
                        force_python_cdn=args.no_nginx)
        if args.mtls:
            try:
                info = mtls.start(paths, info, fixed_port=not args.random_ports)
            except BaseException:
                stack.down(paths)  # all or nothing, as `up` itself
                raise
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
        print_json(st)
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
    if info.get("console"):
        print(f"  web console        {info['console']}   (sign in with the admin token below)")
    print(f"  CDN (bundles)      {info['cdn']}/bundles/<project>/<env>/current.json  "
          f"[{info.get('cdn_kind')}]")
    if info.get("edge"):
        print(f"  OFREP edge         {info['edge']}/ofrep/v1/evaluate/flags")
    else:
        print("  OFREP edge         not started: it needs client SDK keys "
              "(`vexil dev edge PROJECT/ENV=vxl_cli_...`; the demo starts it)")
    if info.get("api_mtls"):
        print(f"  API, mutual TLS    {info['api_mtls']}   (client cert {info['client_cert']}, "
              f"key {info['client_key']}; truststore {info['client_ca']})")
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
