"""Many server-SDK instances polling the CDN stand-in, as ``edge_reader.FlagClient`` does.

Each Locust user is one application instance: it fetches the pointer, then the bundle the
pointer names, then polls the pointer every ``--poll-interval`` seconds (±10 % jitter, like
the SDK's poller) with ``If-None-Match``. Nearly every poll is a ``304 Not Modified``; a
new revision costs one pointer ``200`` and one bundle ``200`` per instance. Decryption and
compilation happen inside the application, not at the CDN, so they are not simulated here.

One command (the stack from ``vexil dev up --demo``, or a target file — see
``loadtests/target.py``)::

    .venv/bin/locust -f loadtests/locust_cdn.py --headless -u 500 -r 100 -t 60s \
        --poll-interval 1 --csv loadtests/out/cdn --html loadtests/out/cdn.html

``-u`` is the number of SDK instances; ``--poll-interval`` (or ``$VEXIL_POLL_INTERVAL``)
the seconds between polls — the offered load is about ``u / poll_interval`` requests/s.
"""

from __future__ import annotations

import os
import random
import ssl
from collections.abc import Callable
from typing import Any

from locust import events, task
from locust.contrib.fasthttp import FastHttpUser

from loadtests.behaviour import PollState
from loadtests.target import Target, load_target

TARGET: Target = load_target()
DEFAULT_POLL_INTERVAL = float(os.environ.get("VEXIL_POLL_INTERVAL", "30"))
JITTER = 0.1


def _add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--poll-interval", type=float, default=DEFAULT_POLL_INTERVAL, env_var="VEXIL_POLL_INTERVAL",
        help="seconds between pointer polls of one SDK instance (default 30, as the SDK)",
    )


# locust types add_listener loosely; registration at import is what locust expects.
events.init_command_line_parser.add_listener(_add_arguments)  # type: ignore[no-untyped-call]


def _ssl_factory(cafile: str) -> Callable[..., ssl.SSLContext]:
    """A context factory trusting the local CA (geventhttpclient passes its own ``cafile=None``,
    which must not override ours)."""

    def factory(**_: Any) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=cafile)

    return factory


def poll_interval(user: FastHttpUser) -> float:
    """The configured poll interval with the SDK's ±10 % jitter."""
    options = getattr(user.environment, "parsed_options", None)
    base = float(getattr(options, "poll_interval", DEFAULT_POLL_INTERVAL))
    return base * random.uniform(1 - JITTER, 1 + JITTER)


class SdkInstance(FastHttpUser):
    """One application instance's FlagClient: pointer polls with ETag, bundle on change."""

    host = TARGET.cdn
    pointer_path = TARGET.pointer_path
    # Verify TLS against the local CA, as the SDK does (ca_bundle option).
    insecure = TARGET.ca_bundle is None
    ssl_context_factory = staticmethod(_ssl_factory(TARGET.ca_bundle)) if TARGET.ca_bundle else None
    concurrency = 1  # one keep-alive connection per instance, like urllib3's pool here

    def wait_time(self) -> float:
        """Seconds until the next poll."""
        return poll_interval(self)

    def on_start(self) -> None:
        """Start-up: first pointer + bundle fetch (what wait_until_ready does)."""
        self.state = PollState()
        self.poll()

    @task
    def poll(self) -> None:
        """One poll: GET pointer with If-None-Match; GET the bundle if it changed."""
        headers = {"If-None-Match": self.state.etag} if self.state.etag else {}
        with self.client.get(
            self.pointer_path, headers=headers, name="pointer", catch_response=True
        ) as resp:
            try:
                etag = resp.headers.get("ETag") if resp.headers else None
                key = self.state.on_pointer(resp.status_code, etag, resp.content or b"")
            except ValueError as exc:
                resp.failure(str(exc))
                return
            resp.success()
        if key is None:
            return
        with self.client.get("/" + key, name="bundle", catch_response=True) as bundle:
            try:
                self.state.on_bundle(key, bundle.status_code, len(bundle.content or b""))
            except ValueError as exc:
                bundle.failure(str(exc))
                return
            bundle.success()
