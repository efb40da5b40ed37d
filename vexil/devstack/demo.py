"""The live demo: seed a project through the API, read it through the CDN, change a flag.

``vexil dev up --demo`` (what ``./run demo`` runs) calls :func:`run_demo` on the fresh
stack. It seeds project ``shop`` with two environments — ``staging`` (open) and
``production`` (protected, so configuration writes become change requests that need a
second person's approval) — by applying flags files with the same code as
``vexil apply``; creates SDK keys; starts a :class:`edge_reader.FlagClient` on the CDN
stand-in, verifying the publisher's pointer signatures with the stack's signing key; flips
the checkout kill switch in staging through the API and prints how long the reader took to
see it.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from pathlib import Path
from typing import Any, TextIO

import edge_reader
from vexil.api import ApiClient, path
from vexil.apply import apply_plan
from vexil.devstack import stack
from vexil.errors import ApiError, VexilError
from vexil.flagsfile import FlagsFile, dump, parse
from vexil.plan import build_plan
from vexil.remote import Writer, env_path, fetch_state

PROJECT = "shop"
BOOL = {"on": True, "off": False}
EU = ["AT", "BE", "DE", "ES", "FR", "IT", "NL", "PL"]

# Realistic flags: a kill switch, a 10% rollout, a country rule and a typed JSON config.
DEMO_FLAGS: dict[str, Any] = {
    "checkout-enabled": {
        "kind": "boolean", "variations": BOOL,
        "description": "Kill switch: turn off to take checkout down gracefully",
        "tags": ["checkout", "kill-switch"], "client_visible": True,
        "enabled": True, "off_variation": "off", "default": {"variation": "on"},
    },
    "new-search": {
        "kind": "boolean", "variations": BOOL,
        "description": "New search ranking, rolled out to 10% of users",
        "tags": ["search"],
        "enabled": True, "off_variation": "off",
        "default": {"rollout": {
            "variations": [{"variation": "on", "weight": 10000},
                           {"variation": "off", "weight": 90000}],
            "bucket_by": "key", "context_kind": "user", "salt": "new-search",
        }},
    },
    "free-shipping": {
        "kind": "boolean", "variations": BOOL,
        "description": "Free shipping in EU countries",
        "tags": ["checkout"], "client_visible": True,
        "enabled": True, "off_variation": "off",
        "rules": [{
            "id": "eu", "description": "EU customers",
            "clauses": [{"context_kind": "user", "attribute": "country", "op": "in",
                         "values": EU}],
            "serve": {"variation": "on"},
        }],
        "default": {"variation": "off"},
    },
    "checkout-config": {
        "kind": "json",
        "description": "Checkout limits and payment methods",
        "tags": ["checkout", "config"],
        "schema": {
            "type": "object",
            "required": ["max_items", "payment_methods"],
            "properties": {
                "max_items": {"type": "integer", "minimum": 1},
                "payment_methods": {"type": "array", "items": {"type": "string"}},
            },
        },
        "variations": {
            "standard": {"max_items": 50, "payment_methods": ["card", "paypal"]},
            "eu": {"max_items": 50, "payment_methods": ["card", "paypal", "sepa"]},
        },
        "enabled": True, "off_variation": "standard",
        "rules": [{
            "id": "eu", "description": "SEPA for EU customers",
            "clauses": [{"context_kind": "user", "attribute": "country", "op": "in",
                         "values": EU}],
            "serve": {"variation": "eu"},
        }],
        "default": {"variation": "standard"},
    },
}

CONTEXTS = [
    {"targetingKey": "user-1", "country": "DE"},
    {"targetingKey": "user-2", "country": "US"},
]


def demo_file(environment: str) -> FlagsFile:
    """The demo's flags file for ``environment``."""
    return parse(
        {"format": 1, "project": PROJECT, "environment": environment,
         "flags": copy.deepcopy(DEMO_FLAGS)},
        source=f"demo:{environment}",
    )


def _exists(api: ApiClient, url: str) -> bool:
    # Look before creating: a refused create is a cancelled DynamoDB transaction, and moto
    # then swaps its table object, leaving the stream worker's shard iterator on the old
    # one (see the local-stack notes in docs/architecture.md).
    try:
        api.get(url)
    except ApiError as exc:
        if exc.status == 404:
            return False
        raise
    return True


def _ensure_env(api: ApiClient, environment: str, protected: bool) -> None:
    if not _exists(api, env_path(PROJECT, environment)):
        api.request("POST", path("v1", "projects", PROJECT, "environments"),
                    body={"key": environment, "protected": protected})


def _sdk_key(api: ApiClient, environment: str, kind: str) -> str:
    body = api.request("POST", env_path(PROJECT, environment) + "/sdk-keys",
                       body={"kind": kind}).body
    for name in ("sdk_key", "key", "text", "secret"):
        value = body.get(name) if isinstance(body, dict) else None
        if isinstance(value, str) and value.startswith("vxl_"):
            return value
    raise VexilError(f"creating a {kind} SDK key: no key text in the response")


def seed(
    api: ApiClient, out: TextIO, files_dir: Path,
    known_keys: dict[str, dict[str, str]] | None = None,
) -> dict[str, dict[str, str]]:
    """Create the demo project, environments, flags and SDK keys; return the keys.

    Re-running reuses ``known_keys`` (from ``dev.json``) instead of creating more: a new
    key only opens bundles published after it exists.
    """
    if not _exists(api, path("v1", "projects", PROJECT)):
        api.request("POST", path("v1", "projects"), body={"key": PROJECT, "name": "Shop demo"})
    _ensure_env(api, "staging", protected=False)
    _ensure_env(api, "production", protected=True)
    files_dir.mkdir(parents=True, exist_ok=True)
    for environment in ("staging", "production"):
        desired = demo_file(environment)
        target = files_dir / f"flags.{environment}.yaml"
        target.write_text(dump(desired), encoding="utf-8")
        plan = build_plan(desired, fetch_state(api, PROJECT, environment))
        report = apply_plan(plan, Writer(api, PROJECT, environment, "demo seed"))
        print(f"    {PROJECT}/{environment}: {len(report.applied)} write(s) applied, "
              f"{len(report.change_requests)} change request(s) opened  ({target})", file=out)
        if report.change_requests:
            print(f"    {environment} is protected: its changes wait for a second person "
                  f"(vexil changes list --project {PROJECT} --environment {environment})",
                  file=out)
    keys: dict[str, dict[str, str]] = {}
    for environment in ("staging", "production"):
        have = (known_keys or {}).get(environment, {})
        keys[environment] = {
            k: have.get(k) or _sdk_key(api, environment, k) for k in ("server", "client")
        }
    return keys


def run_demo(
    paths: stack.StatePaths, info: dict[str, Any], *, out: TextIO, project: str = PROJECT
) -> dict[str, Any]:
    """Seed, read through the CDN, change a flag, print the propagation time."""
    if project != PROJECT:
        raise VexilError(f"the demo seeds project '{PROJECT}' only")
    api = ApiClient(info["api"], info["admin_token"])
    print("==> demo: seeding project 'shop' (staging open, production protected)", file=out)
    keys = seed(api, out, paths.root / "demo", info.get("sdk_keys") or None)
    info["sdk_keys"] = keys
    info["demo"] = {"project": PROJECT, "environments": ["staging", "production"]}
    stack.write_dev_json(paths, info)
    stack.write_edge_config(
        paths, cdn=info["cdn"], ca_bundle=Path(info["ca_bundle"]),
        environments=[{"project": PROJECT, "environment": e, "sdk_key": keys[e]["client"]}
                      for e in ("staging", "production")],
        insights_url=info["api"],
    )
    stack.start_edge(paths, info, stack.stack_env(info))

    print("==> demo: FlagClient reading shop/staging through the CDN stand-in", file=out)
    # edge_reader resolves FlagClient lazily: the CLI does not pay for the ESDK import
    # unless the demo runs.
    client = edge_reader.FlagClient(
        project=PROJECT, environment="staging", sdk_key=keys["staging"]["server"],
        cdn_url=info["cdn"], ca_bundle=info["ca_bundle"], poll_interval=1.0, jitter=0.0,
        first_retry=0.5, max_backoff=2.0,
        # The publisher's public key: only pointers it signed are served.
        signing_keys=info["signing_public_key"],
        # Evaluation summaries to the local API (sent on close(): the demo's flags show as
        # evaluated in `vexil flags stale --project shop --environment staging`).
        insights_url=info["api"],
    )
    try:
        if not client.wait_until_ready(60):
            raise VexilError(f"the reader did not become ready: {client.status()}")
        for ctx in CONTEXTS:
            values = {k: client.evaluate(k, ctx, None).value for k in DEMO_FLAGS}
            print(f"    {json.dumps(ctx)} -> {json.dumps(values)}", file=out)
        share = sum(
            client.get_boolean("new-search", {"targetingKey": f"u-{i}"}, False)
            for i in range(10000)
        ) / 100
        print(f"    new-search rollout: {share:.1f}% of 10,000 users (target 10%)", file=out)

        elapsed = flip_and_measure(api, client, out)
        print(f"==> demo: kill switch seen by the reader {elapsed:.2f} s after the API write "
              "(stream worker → publisher → S3 + CDN purge → 1 s poll)",
              file=out)
    finally:
        client.close()
    info["demo"]["propagation_seconds"] = round(elapsed, 3)
    stack.write_dev_json(paths, info)
    return info


def flip_and_measure(api: ApiClient, client: Any, out: TextIO, timeout: float = 60.0) -> float:
    """Turn ``checkout-enabled`` off in staging; return seconds until ``client`` sees it."""
    seen = threading.Event()

    def on_change(_changed: object) -> None:
        if not client.get_boolean("checkout-enabled", CONTEXTS[0], True):
            seen.set()

    # Measure only from a known start: the reader must first see the seeded state (switch
    # ON); otherwise a stale "off" from an earlier run would look like instant propagation.
    deadline = time.monotonic() + timeout
    while not client.get_boolean("checkout-enabled", CONTEXTS[0], False):
        if time.monotonic() > deadline:
            raise VexilError(
                "the reader never saw the seeded kill switch ON: is the stream worker "
                "publishing? (see logs/worker.log)"
            )
        time.sleep(0.1)
    client.add_change_listener(on_change)
    state = fetch_state(api, PROJECT, "staging")
    flag = state.flags["checkout-enabled"]
    body = {**flag.configuration, "enabled": False}
    print("==> demo: turning the checkout kill switch OFF in staging (PUT with If-Match)",
          file=out)
    start = time.monotonic()
    Writer(api, PROJECT, "staging", "demo: kill switch").put_configuration(
        "checkout-enabled", body, flag.configuration_version
    )
    # The listener fires on the poller's thread; also check directly in case the change
    # landed between the write and the listener registration.
    while not seen.wait(0.05):
        if not client.get_boolean("checkout-enabled", CONTEXTS[0], True):
            break
        if time.monotonic() - start > timeout:
            raise VexilError(f"the change did not reach the reader within {timeout:.0f} s")
    return time.monotonic() - start
