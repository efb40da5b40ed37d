"""``vexil strategies create|list|show|delete`` and ``vexil rollouts
start|status|list|pause|resume|abort``: release strategies and guarded rollouts (docs/rollouts.md).

``rollouts start`` on a protected environment files a change request (another person
approves it); after that the controller steps on its own. ``pause``/``resume``/``abort`` read
the rollout's current version first, so they act on what ``status`` just showed.
"""

from __future__ import annotations

import argparse
from typing import Any

from vexil.api import ApiClient, Response, path, version_etag
from vexil.cli._common import (
    Parser,
    Subparsers,
    add_connection,
    add_json,
    add_scope,
    api,
    csv_list,
    filed_change_request,
    items_of,
    out,
    print_json,
    print_table,
    say_filed,
    without_none,
)


def register(sub: Subparsers) -> None:
    """Add ``strategies`` and ``rollouts`` with their subcommands."""
    _register_strategies(sub)
    ro = sub.add_parser("rollouts", help="guarded rollouts of a flag (steps, alarms, rollback)")
    ro.set_defaults(func=cmd_rollouts)
    ro_sub = ro.add_subparsers(dest="rollouts_command", required=True, parser_class=Parser)
    st = ro_sub.add_parser("start", help="start a guarded rollout (a change request when "
                                         "the environment is protected)")
    st.add_argument("flag", help="the flag key")
    add_scope(st)
    st.add_argument("--target", required=True, help="the variation to ramp up to")
    st.add_argument("--strategy", required=True, help="release strategy key")
    st.add_argument("--guards", required=True,
                    help="comma-separated CloudWatch alarm names or ARNs; any in ALARM rolls "
                         "back, any not OK freezes")
    st.add_argument("--context-kind", help="context kind to bucket (default user)")
    st.add_argument("--bucket-by", help="attribute to bucket by (default the key)")
    for name, text in (("status", "show a flag's rollout: step, next step, guards, history"),
                       ("pause", "pause a running rollout"), ("resume", "resume a paused one"),
                       ("complete", "finish now: the target for everyone (a change request "
                                    "when the environment is protected)"),
                       ("abort", "stop for good (and roll back unless --keep)")):
        p = ro_sub.add_parser(name, help=text)
        p.add_argument("flag", help="the flag key")
        add_scope(p)
        if name == "abort":
            p.add_argument("--keep", action="store_true",
                           help="leave the flag as it is (no rollback)")
        if name != "status":
            p.add_argument("--reason", help="reason recorded in the audit log")
        add_json(p)
        add_connection(p)
    st.add_argument("--reason", help="reason recorded in the audit log")
    add_json(st)
    add_connection(st)
    ls = ro_sub.add_parser("list", help="every flag's latest rollout in an environment")
    add_scope(ls)
    add_json(ls)
    add_connection(ls)


def _register_strategies(sub: Subparsers) -> None:
    s = sub.add_parser("strategies", help="release strategies of a project")
    s.set_defaults(func=cmd_strategies)
    s_sub = s.add_subparsers(dest="strategies_command", required=True, parser_class=Parser)
    c = s_sub.add_parser("create", help="create a release strategy")
    c.add_argument("key", help="strategy key, e.g. linear-10x30m")
    add_scope(c, environment=False)
    c.add_argument("--kind", required=True, choices=["linear", "exponential", "custom"],
                   help="linear: equal steps; exponential: multiply; custom: your percents")
    c.add_argument("--step-percent", type=float, help="linear: percent added per step")
    c.add_argument("--start-percent", type=float, help="exponential: the first step")
    c.add_argument("--factor", type=float, help="exponential: growth per step (> 1)")
    c.add_argument("--percents", help="custom: comma-separated increasing percents to 100")
    c.add_argument("--bake", type=int, required=True, help="seconds each step bakes")
    c.add_argument("--final-bake", type=int, default=0,
                   help="seconds at 100 %% before the rollout is complete (default 0)")
    c.add_argument("--description", help="what the strategy is for")
    c.add_argument("--reason", help="reason recorded in the audit log")
    add_json(c)
    add_connection(c)
    for name, text in (("list", "list strategies"), ("show", "one strategy and its steps"),
                       ("delete", "delete a strategy (running rollouts keep their copy)")):
        p = s_sub.add_parser(name, help=text)
        if name != "list":
            p.add_argument("key", help="strategy key")
        add_scope(p, environment=False)
        if name == "delete":
            p.add_argument("--reason", help="reason recorded in the audit log")
        add_json(p)
        add_connection(p)


def _strategy_body(args: argparse.Namespace) -> dict[str, Any]:
    percents = [float(p) for p in csv_list(args.percents)] if args.percents else None
    return without_none(key=args.key, kind=args.kind, step_percent=args.step_percent,
                        start_percent=args.start_percent, factor=args.factor,
                        percents=percents, bake_seconds=args.bake,
                        final_bake_seconds=args.final_bake, description=args.description,
                        reason=args.reason)


def cmd_strategies(args: argparse.Namespace) -> int:
    """``vexil strategies create|list|show|delete``."""
    client = api(args)
    base = path("v1", "projects", args.project, "strategies")
    command = args.strategies_command
    if command == "create":
        shown = client.request("POST", base, body=_strategy_body(args)).body
    elif command == "list":
        items = items_of(client.get(base).body)
        if not args.json:
            print_table(("key", "kind", "steps", "bake s", "final bake s"),
                        [(s["key"], s["kind"], [f"{p:g}" for p in s["steps"]],
                          s["bake_seconds"], s.get("final_bake_seconds")) for s in items])
            return 0
        shown = items
    elif command == "show":
        shown = client.get(path("v1", "projects", args.project, "strategies", args.key)).body
    else:
        url = path("v1", "projects", args.project, "strategies", args.key)
        version = client.get(url).body["version"]
        shown = client.request("DELETE", url, body=without_none(reason=args.reason),
                               if_match=version_etag(version)).body
    if args.json or command != "create":
        print_json(shown)
    else:
        out(f"created strategy {shown['key']}: steps "
            f"{' → '.join(f'{p:g}' for p in shown['steps'])} %")
    return 0


def _rollout_url(args: argparse.Namespace) -> str:
    return path("v1", "projects", args.project, "environments", args.environment, "flags",
                args.flag, "rollout")


def cmd_rollouts(args: argparse.Namespace) -> int:
    """``vexil rollouts start|status|list|pause|resume|abort``."""
    client = api(args)
    command = args.rollouts_command
    if command == "list":
        url = path("v1", "projects", args.project, "environments", args.environment,
                   "rollouts")
        items = items_of(client.get(url).body)
        if args.json:
            print_json(items)
        else:
            print_table(("flag", "status", "percent", "step", "next step", "reason"),
                        [(r["flag"], r["status"], r["percent"],
                          f"{r['steps_done']}/{r['steps_total']}", r["next_step_at"],
                          r.get("reason")) for r in items])
        return 0
    if command == "start":
        return _start(client, args)
    resp = client.get(_rollout_url(args)) if command == "status" else _act(client, args,
                                                                              command)
    shown = resp.body
    cr = filed_change_request(resp)
    if cr is not None and not args.json:
        say_filed(cr, f"completing the rollout of {args.flag}")
        return 0
    if args.json:
        print_json(shown)
    else:
        _print_status(shown)
    return 0


def _start(client: ApiClient, args: argparse.Namespace) -> int:
    body = without_none(target=args.target, strategy=args.strategy,
                        guards=csv_list(args.guards), context_kind=args.context_kind,
                        bucket_by=args.bucket_by, reason=args.reason)
    resp = client.request("POST", _rollout_url(args), body=body)
    cr = filed_change_request(resp)
    if cr is not None:
        if args.json:
            print_json(resp.body)
        else:
            say_filed(cr, f"the rollout of {args.flag}")
        return 0
    if args.json:
        print_json(resp.body)
    else:
        _print_status(resp.body)
    return 0


def _act(client: ApiClient, args: argparse.Namespace, command: str) -> Response:
    url = _rollout_url(args)
    version = client.get(url).body["version"]
    body: dict[str, Any] = without_none(reason=args.reason)
    if command == "abort":
        body["rollback"] = not args.keep
    return client.request("POST", f"{url}/{command}", body=body,
                          if_match=version_etag(version))


def _print_status(r: dict[str, Any]) -> None:
    print(f"{r['project']}/{r['environment']}/{r['flag']}: {r['status']} at {r['percent']:g} % "
          f"of {r['target']} (step {r['steps_done']}/{r['steps_total']}, strategy "
          f"{r['strategy'].get('key', '-')})")
    if r.get("next_step_at"):
        print(f"  next step due {r['next_step_at']} if every guard is OK")
    if r.get("reason"):
        print(f"  {r['reason']}")
    print_table(("guard", "state"), sorted((r.get("guard_states") or {}).items())
                or [(g, "not read yet") for g in r["guards"]])
    print_table(("at", "event", "by", "percent"),
                [(h["at"], h["event"], h["by"], h["percent"]) for h in r.get("history", [])])
