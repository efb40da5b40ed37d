"""Fixtures for the control-plane tests: one app, one moto table, a fresh project per test."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from chalice.test import Client

_counter = itertools.count()


class FakeClock:
    """A clock tests move by hand (token expiry, timestamps)."""

    def __init__(self, start: float = 1_790_000_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class Api:
    """A thin JSON wrapper over chalice.test.Client."""

    client: Any
    token: str

    def call(self, method: str, path: str, body: Any = None, *, token: str | None = None,
             if_match: int | str | None = None, headers: dict[str, str] | None = None,
             raw: bytes | None = None) -> Any:
        h = {"Content-Type": "application/json"}
        tok = self.token if token is None else token
        if tok:
            h["Authorization"] = f"Bearer {tok}"
        if if_match is not None:
            h["If-Match"] = f'"{if_match}"' if isinstance(if_match, int) else if_match
        h.update(headers or {})
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        resp = self.client.http.request(method, path, headers=h, body=data)
        resp.json = json.loads(resp.body) if resp.body else None
        return resp

    def get(self, path: str, **kw: Any) -> Any:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.call("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.call("PUT", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.call("PATCH", path, body, **kw)

    def delete(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.call("DELETE", path, body, **kw)


@dataclass
class World:
    """The app under test plus handles tests need."""

    api: Api
    clock: FakeClock
    ctx: Any
    admin_token: str
    tokens: dict[str, str] = field(default_factory=dict)

    def new_project(self, envs: tuple[str, ...] = ("staging", "production"),
                    protected: tuple[str, ...] = ()) -> str:
        key = f"p{next(_counter)}-{int(self.clock.t) % 100000}"
        assert self.api.post("/v1/projects", {"key": key}).status_code == 201
        for env in envs:
            r = self.api.post(f"/v1/projects/{key}/environments",
                              {"key": env, "protected": env in protected})
            assert r.status_code == 201, r.json
        return key

    def token(self, role: str, projects: list[str] | None = None,
              environments: list[str] | None = None, name: str | None = None) -> str:
        body = {"name": name or f"{role}-{next(_counter)}", "role": role,
                "projects": projects if projects is not None else ["*"],
                "environments": environments if environments is not None else ["*"]}
        r = self.api.post("/v1/tokens", body)
        assert r.status_code == 201, r.json
        return str(r.json["token"])


BOOL_FLAG = {"key": "checkout", "kind": "boolean", "variations": {"on": True, "off": False},
             "tags": ["shop"]}


@pytest.fixture(scope="session")
def world(vexil_resources: dict[str, str]) -> Iterator[World]:
    """The Chalice app wired to the session moto table, with an injected clock."""
    import app as app_module
    from chalicelib.repository import DynamoRepository
    from chalicelib.tokens import bootstrap_admin_token
    from chalicelib.usecases.base import Ctx
    from chalicelib.web import set_ctx

    clock = FakeClock()
    repo = DynamoRepository(vexil_resources["VEXIL_TABLE"])
    ctx = Ctx(repo, now=clock, kms_key_id=vexil_resources["VEXIL_KMS_KEY_ID"])
    set_ctx(ctx)
    admin, _ = bootstrap_admin_token("root", repo=repo, now=clock)
    with Client(app_module.app) as client:
        yield World(Api(client, admin), clock, ctx, admin)
    set_ctx(None)


@pytest.fixture
def api(world: World) -> Api:
    """The API as the bootstrap admin."""
    return world.api
