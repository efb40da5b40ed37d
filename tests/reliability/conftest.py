"""Reliability fixtures: the real app, publisher and reader wired to the session moto_server.

Each test that injects faults gets its *own* boto3 clients (``fresh_api``), so an event hook
or a wrapped client never leaks into another test. The control plane's process-wide service
is swapped in for the test and restored afterwards.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config
from chalice.test import Client

from tests.control_plane.conftest import Api, FakeClock
from tests.reliability.readers import OriginProxy

_counter = itertools.count(1)

BOOL_FLAG = {"key": "checkout", "kind": "boolean", "variations": {"on": True, "off": False},
             "tags": ["shop"]}


def unique(prefix: str = "r") -> str:
    """A project key no other test in the session uses (moto is shared)."""
    return f"{prefix}{next(_counter)}-{uuid.uuid4().hex[:6]}"


@dataclass
class Plane:
    """One control-plane instance: the use-case context, its repository, an API client as
    admin."""

    api: Api
    ctx: Any
    repo: Any
    clock: FakeClock
    admin_token: str
    session: Any

    def project(self, envs: tuple[str, ...] = ("prod",)) -> str:
        """Create a project with environments; return its key."""
        key = unique()
        r = self.api.post("/v1/projects", {"key": key})
        assert r.status_code == 201, r.json
        for env in envs:
            r = self.api.post(f"/v1/projects/{key}/environments", {"key": env})
            assert r.status_code == 201, r.json
        return key

    def flag(self, project: str, flag: dict[str, Any] | None = None) -> dict[str, Any]:
        """Create a flag definition; return the response body."""
        r = self.api.post(f"/v1/projects/{project}/flags", flag or BOOL_FLAG)
        assert r.status_code == 201, r.json
        return dict(r.json)

    def sdk_key(self, project: str, env: str = "prod", kind: str = "server") -> dict[str, Any]:
        """Create an SDK key; the body holds the key text once."""
        r = self.api.post(f"/v1/projects/{project}/environments/{env}/sdk-keys", {"kind": kind})
        assert r.status_code == 201, r.json
        return dict(r.json)

    def env_item(self, project: str, env: str = "prod") -> dict[str, Any]:
        """The environment item (revision, audit head) by a consistent read."""
        from chalicelib.usecases.base import environment_item

        item = environment_item(self.ctx, project, env)
        return dict(item)

    def audit(self, project: str, env: str = "prod") -> list[dict[str, Any]]:
        """Every audit record of an environment, in order."""
        r = self.api.get(f"/v1/audit?project={project}&environment={env}&limit=200")
        assert r.status_code == 200, r.json
        return list(r.json["items"])


def _build_plane(resources: dict[str, str], session: Any | None = None,
                 wrap: Callable[[Any], None] | None = None, table: str | None = None
                 ) -> tuple[Plane, Any]:
    from chalicelib.repository import DynamoRepository
    from chalicelib.tokens import bootstrap_admin_token
    from chalicelib.usecases.base import Ctx

    session = session or boto3.session.Session()
    # The production client's retry policy (chalicelib.repository._resource), on a client of
    # our own so hooks registered by one test never reach another.
    resource = session.resource("dynamodb",
                                config=Config(retries={"max_attempts": 3, "mode": "standard"}))
    repo = DynamoRepository(table or resources["VEXIL_TABLE"], resource=resource)
    if wrap is not None:
        wrap(repo.client)
    clock = FakeClock()
    ctx = Ctx(repo, now=clock, kms=session.client("kms"),
              kms_key_id=resources["VEXIL_KMS_KEY_ID"])
    admin, _ = bootstrap_admin_token(f"rel-{unique()}", repo=repo, now=clock)
    return Plane(Api(None, admin), ctx, repo, clock, admin, session), ctx


@pytest.fixture
def plane(vexil_resources: dict[str, str]) -> Iterator[Plane]:
    """A control plane with its own boto3 clients, installed as the app's context."""
    yield from _installed(vexil_resources)


@pytest.fixture(scope="module")
def module_plane(vexil_resources: dict[str, str]) -> Iterator[Plane]:
    """Like ``plane``, shared by one module's tests (for tests that inject no faults)."""
    yield from _installed(vexil_resources)


def _installed(resources: dict[str, str], wrap: Callable[[Any], None] | None = None,
               table: str | None = None) -> Generator[Plane, None, None]:
    import app as app_module
    from chalicelib import web

    saved = list(web._CTX)
    p, ctx = _build_plane(resources, wrap=wrap, table=table)
    web.set_ctx(ctx)
    try:
        with Client(app_module.app) as client:
            p.api.client = client
            yield p
    finally:
        web._CTX[:] = saved


@pytest.fixture
def plane_factory(vexil_resources: dict[str, str]) -> Iterator[Callable[..., Plane]]:
    """Build a plane whose DynamoDB client is first passed to ``wrap`` (fault injection),
    optionally on another ``table`` (one with its own stream)."""
    stack: list[Generator[Plane, None, None]] = []

    def make(wrap: Callable[[Any], None] | None = None, table: str | None = None) -> Plane:
        gen = _installed(vexil_resources, wrap, table)
        stack.append(gen)
        return next(gen)

    yield make
    for gen in reversed(stack):
        gen.close()


@pytest.fixture
def private_table(vexil_resources: dict[str, str]) -> str:
    """A fresh table with its own stream (same definition as the real one)."""
    from vexil.resources import _ensure_table, load_definition

    name = f"rel-{uuid.uuid4().hex[:10]}"
    _ensure_table(boto3.session.Session().client("dynamodb"), name, load_definition()["table"])
    return name


@pytest.fixture
def origin(vexil_resources: dict[str, str]) -> Iterator[OriginProxy]:
    """A loopback CDN stand-in serving the real bucket (stopped after the test)."""
    proxy = OriginProxy()
    yield proxy
    proxy.stop()


@pytest.fixture
def publisher(vexil_resources: dict[str, str]) -> Any:
    """A publisher built exactly as the Lambda builds it, with its own clients."""
    from chalicelib.publish.publisher import publisher_from_env

    return publisher_from_env(boto3.session.Session())
