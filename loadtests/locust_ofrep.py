"""Browsers and mobile apps evaluating flags through the OFREP edge server.

Each Locust user is a stream of end-user sessions (web, iOS, Android) with varied contexts
(targeting key drawn from a million users, country, platform, app version, plan). A session
either evaluates single flags (``POST /ofrep/v1/evaluate/flags/{key}``, 4 of 5 requests) or
fetches all client-visible flags at once (``POST /ofrep/v1/evaluate/flags``), sending
``If-None-Match`` when it saw the same context before — the OFREP web provider's cache.

One command (stack from ``vexil dev up --demo``, or a target file — see ``loadtests/target.py``)::

    .venv/bin/locust -f loadtests/locust_ofrep.py --headless -u 64 -r 64 -t 60s \
        --csv loadtests/out/ofrep --html loadtests/out/ofrep.html

``--think-time`` (default 0: drive as hard as Locust can) adds seconds between requests;
``$VEXIL_OFREP_RETURNING`` (default 20) is the number of returning contexts per user.
"""

from __future__ import annotations

import json
import os
import random
from typing import Any

from locust import events, task
from locust.contrib.fasthttp import FastHttpUser

from loadtests.behaviour import check_bulk, check_single, random_context
from loadtests.target import Target, load_target

TARGET: Target = load_target()
# Flags the edge serves when the target names none (the demo's client-visible flags).
DEMO_FLAGS = ("checkout-enabled", "free-shipping")
# Returning end users per Locust user whose bulk answers are cached (ETag) between visits.
RETURNING = int(os.environ.get("VEXIL_OFREP_RETURNING", "20"))


def _add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--think-time", type=float, default=float(os.environ.get("VEXIL_THINK_TIME", "0")),
        env_var="VEXIL_THINK_TIME", help="seconds between one user's requests (default 0)",
    )


# locust types add_listener loosely; registration at import is what locust expects.
events.init_command_line_parser.add_listener(_add_arguments)  # type: ignore[no-untyped-call]


class AppSession(FastHttpUser):
    """A stream of browser / mobile sessions asking the edge for flag values."""

    host = TARGET.edge
    flags: tuple[str, ...] = TARGET.flags or DEMO_FLAGS
    sdk_key = TARGET.client_sdk_key

    def wait_time(self) -> float:
        """Think time between requests (0 drives the edge as hard as Locust can)."""
        options = getattr(self.environment, "parsed_options", None)
        return float(getattr(options, "think_time", 0.0))

    def on_start(self) -> None:
        """Per-user RNG, auth header and the bulk ETag cache (per context)."""
        self.rng = random.Random()
        self.headers = {
            "Authorization": f"Bearer {self.sdk_key}", "Content-Type": "application/json",
        }
        self.etags: dict[str, str] = {}
        # A small pool of returning contexts, so some bulk requests are conditional.
        self.returning = [random_context(self.rng) for _ in range(max(1, RETURNING))]

    @task(4)
    def single(self) -> None:
        """One flag for one fresh context."""
        key = self.rng.choice(self.flags)
        body = json.dumps({"context": random_context(self.rng)})
        with self.client.post(
            f"/ofrep/v1/evaluate/flags/{key}", data=body, headers=self.headers,
            name="single", catch_response=True,
        ) as resp:
            try:
                check_single(key, resp.status_code, resp.content or b"")
            except ValueError as exc:
                resp.failure(str(exc))
                return
            resp.success()

    @task(1)
    def bulk(self) -> None:
        """All client-visible flags for a returning context, with its cached ETag."""
        ctx = self.rng.choice(self.returning)
        body = json.dumps({"context": ctx})
        headers = dict(self.headers)
        etag = self.etags.get(ctx["targetingKey"])
        if etag:
            headers["If-None-Match"] = etag
        with self.client.post(
            "/ofrep/v1/evaluate/flags", data=body, headers=headers, name="bulk",
            catch_response=True,
        ) as resp:
            try:
                check_bulk(resp.status_code, resp.content or b"", etag is not None)
            except ValueError as exc:
                resp.failure(str(exc))
                return
            new = (resp.headers.get("ETag") if resp.headers else None)
            if new:
                self.etags[ctx["targetingKey"]] = new
            resp.success()
