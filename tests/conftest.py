"""Session-wide fixtures: one real moto_server on loopback for the whole test session.

It is moto behind our launcher (``vexil.devstack.motoserver``), exactly as the local stack
runs it: one request at a time, so transactions and conditional writes are atomic and
isolated as on DynamoDB (moto's own threaded server loses transactions under concurrency).
moto's memory only grows, so it lives for one session and is stopped at the end. Tests
that need AWS take ``aws_env`` (endpoint + credentials in os.environ) or
``vexil_resources`` (the table, bucket and KMS key from infra/resources.json).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# The reader fixtures (loopback CDN, real encrypted bundles, signing key) serve the client,
# edge and reliability tests alike; registered once here instead of re-exported per folder.
pytest_plugins = ["tests.client.fixtures"]

_FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # moto accepts any credentials
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago, below the kernel's ephemeral
    range so no outgoing connection takes it before the server binds (stack.free_port)."""
    from vexil.devstack.stack import free_port as listen_port

    return listen_port()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """Start the serialised moto_server on 127.0.0.1 for the session; yield its URL; stop it."""
    from vexil.devstack.motoserver import SerialMotoServer

    # A lifecycle "day" as long as AWS's (the local stack's is 10 s): the suite runs for
    # many minutes, and a bundle expiring under a later test would make results depend on
    # test order. tests/devstack drive the lifecycle with short days of their own.
    saved = os.environ.get("VEXIL_EMULATOR_LIFECYCLE_DAY")
    os.environ["VEXIL_EMULATOR_LIFECYCLE_DAY"] = "86400"
    try:
        with SerialMotoServer("127.0.0.1", 0) as server:
            yield server.url
    finally:
        if saved is None:
            os.environ.pop("VEXIL_EMULATOR_LIFECYCLE_DAY", None)
        else:
            os.environ["VEXIL_EMULATOR_LIFECYCLE_DAY"] = saved


@pytest.fixture(scope="session")
def aws_env(moto_endpoint: str) -> Iterator[str]:
    """Point boto3 at moto_server with fake credentials for the whole session."""
    saved = {k: os.environ.get(k) for k in [*_FAKE_AWS, "AWS_ENDPOINT_URL"]}
    os.environ.update(_FAKE_AWS)
    os.environ["AWS_ENDPOINT_URL"] = moto_endpoint
    try:
        yield moto_endpoint
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session")
def vexil_resources(aws_env: str) -> Iterator[dict[str, str]]:
    """Create the shared table, bucket and KMS key once; export VEXIL_* for the session."""
    from vexil.resources import ensure_resources

    env = ensure_resources()
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield env
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class MplClock:
    """The MPL's own clock (Dafny ``Time`` externs), frozen and moved by hand.

    The hierarchical keyring's cache reads time only through these externs, so a test can
    step past a TTL without sleeping. ``advance`` moves it forward by whole seconds.
    """

    def __init__(self, start: int) -> None:
        self.now = start

    def advance(self, seconds: int) -> None:
        """Move the clock forward."""
        self.now += seconds


@pytest.fixture
def mpl_clock(monkeypatch: pytest.MonkeyPatch) -> MplClock:
    """Freeze the MPL's clock (branch-key cache TTLs) at the current time; restore after."""
    import time

    from smithy_dafny_standard_library.internaldafny.generated import Time

    clock = MplClock(int(time.time()))
    monkeypatch.setattr(Time.default__, "CurrentRelativeTime",
                        staticmethod(lambda: clock.now), raising=True)
    monkeypatch.setattr(Time.default__, "CurrentRelativeTimeMilli",
                        staticmethod(lambda: clock.now * 1000), raising=True)
    return clock
