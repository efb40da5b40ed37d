"""A realistic control-plane mix: dashboards reading, editors writing, auditors paging.

At start each Locust process creates (once, with the admin token) one API token per role —
``viewer``, ``editor``, ``auditor`` — scoped to the target project, exactly as an operator
would with ``vexil tokens create``. Then:

* ``Viewer`` (6 of 9 users): list an environment's flags, read one flag, read its history;
* ``Editor`` (2 of 9): read a flag (ETag) and write it back with ``If-Match`` — a changed
  target list; a ``412`` (another editor won the race) is the expected conflict outcome
  and is reported under its own name, not as a failure;
* ``Auditor`` (1 of 9): page through the environment's audit log (``next_cursor``).

One command (stack from ``vexil dev up --demo``, or a target file — see ``loadtests/target.py``)::

    .venv/bin/locust -f loadtests/locust_api.py --headless -u 9 -r 9 -t 60s \
        --csv loadtests/out/api --html loadtests/out/api.html

Locally every request ends in moto (≈300 DynamoDB ops/s on this machine), so this measures
the mix's behaviour and moto's ceiling, not DynamoDB's.
"""

from __future__ import annotations

import json
import random
from urllib.parse import quote

from gevent.lock import Semaphore  # type: ignore[import-untyped]
from locust import between, task
from locust.contrib.fasthttp import FastHttpUser

from loadtests.behaviour import edited_config, token_request
from loadtests.target import Target, load_target

TARGET: Target = load_target()
ROLES = ("viewer", "editor", "auditor")
DEMO_FLAGS = ("checkout-enabled", "free-shipping", "new-search", "checkout-config")

_tokens: dict[str, str] = {}
_tokens_lock = Semaphore()


class _ApiUser(FastHttpUser):
    abstract = True
    host = TARGET.api
    role = "viewer"
    wait_time = between(0.5, 2.0)
    flags: tuple[str, ...] = TARGET.flags or DEMO_FLAGS

    def on_start(self) -> None:
        """Get this process's token for the role (created on first use)."""
        with _tokens_lock:
            if self.role not in _tokens:
                _tokens[self.role] = self._create_token()
        self.auth = {"Authorization": f"Bearer {_tokens[self.role]}"}
        self.env_path = (f"/v1/projects/{quote(TARGET.project)}/environments/"
                         f"{quote(TARGET.environment)}")

    def _create_token(self) -> str:
        with self.client.post(
            "/v1/tokens", json=token_request(self.role, TARGET.project),
            headers={"Authorization": f"Bearer {TARGET.admin_token}"},
            name="setup: create token", catch_response=True,
        ) as resp:
            if resp.status_code != 201:
                resp.failure(f"token create answered {resp.status_code}")
                raise RuntimeError(f"cannot create a {self.role} token: {resp.status_code}")
            return str(json.loads(resp.content or b"{}")["token"])

    def _flag_path(self) -> str:
        return f"{self.env_path}/flags/{quote(self.rng_flag())}"

    def rng_flag(self) -> str:
        """A flag key to work on."""
        return random.choice(self.flags)


class Viewer(_ApiUser):
    """A dashboard: lists, reads, histories."""

    weight = 6
    role = "viewer"

    @task(2)
    def list_flags(self) -> None:
        """GET an environment's flags."""
        self.client.get(f"{self.env_path}/flags", headers=self.auth, name="GET env flags")

    @task(3)
    def read_flag(self) -> None:
        """GET one flag's configuration."""
        self.client.get(self._flag_path(), headers=self.auth, name="GET env flag")

    @task(1)
    def history(self) -> None:
        """GET one flag's history."""
        self.client.get(self._flag_path() + "/history", headers=self.auth, name="GET history")


class Editor(_ApiUser):
    """An engineer changing targeting: read, then conditional write."""

    weight = 2
    role = "editor"
    edits = 0

    @task
    def edit_flag(self) -> None:
        """GET (ETag) then PUT with If-Match; 412 is a lost race, reported separately."""
        path = self._flag_path()
        resp = self.client.get(path, headers=self.auth, name="GET env flag (editor)")
        if resp.status_code != 200:
            return
        doc = json.loads(resp.content or b"{}")
        etag = (resp.headers.get("ETag") if resp.headers else None) or f'"{doc.get("version")}"'
        Editor.edits += 1
        body = edited_config(doc["config"], list(doc["definition"]["variations"]), Editor.edits)
        with self.client.put(
            path, json=body, headers={**self.auth, "If-Match": etag},
            name="PUT env flag (If-Match)", catch_response=True,
        ) as put:
            if put.status_code == 412:
                put.request_meta["name"] = "PUT env flag (412 lost race)"
                put.success()
            elif put.status_code not in (200, 202):
                put.failure(f"write answered {put.status_code}: {(put.content or b'')[:200]!r}")


class Auditor(_ApiUser):
    """A compliance reader paging through the audit log."""

    weight = 1
    role = "auditor"

    @task
    def audit_pages(self) -> None:
        """Up to three pages of 50 audit records, following ``next_cursor``."""
        cursor: str | None = None
        for _ in range(3):
            query = (f"/v1/audit?project={quote(TARGET.project)}"
                     f"&environment={quote(TARGET.environment)}&limit=50")
            if cursor:
                query += f"&cursor={quote(cursor)}"
            resp = self.client.get(query, headers=self.auth, name="GET audit page")
            if resp.status_code != 200:
                return
            cursor = json.loads(resp.content or b"{}").get("next_cursor")
            if not cursor:
                return
