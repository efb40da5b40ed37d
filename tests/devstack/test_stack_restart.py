"""`vexil dev down` + `vexil dev up` keeps the stack's state; `vexil dev reset` wipes it.

Through the real CLI in a temporary state dir: `dev up --demo`, a FlagClient configured
against that stack (CDN URL, server SDK key, signing public key, CA), `dev down`, `dev up
--demo` again (what `./run demo` does), and then a change made with the *first* run's admin
token reaches the *same* FlagClient — so the project, the token, the SDK key, the signing
key, the CA and the URLs all survived, and the second demo duplicated nothing. Then `dev
reset --yes` wipes: the next stack has no project and refuses the old token.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from vexil.api import ApiClient, path
from vexil.errors import ApiError
from vexil.remote import Writer, fetch_state

pytestmark = pytest.mark.e2e

_CLIENT_VARS = {"VEXIL_API", "VEXIL_TOKEN", "VEXIL_CA_BUNDLE", "VEXIL_SDK_KEY", "VEXIL_TABLE",
                "VEXIL_BUCKET", "VEXIL_KMS_KEY_ID", "VEXIL_KEY_STORE_TABLE",
                "VEXIL_SIGNING_KEY_ID", "VEXIL_SIGNING_KEY"}


def _vexil(state: Path, *argv: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and k not in _CLIENT_VARS}
    env["VEXIL_STATE_DIR"] = str(state)
    return subprocess.run([sys.executable, "-m", "vexil.cli", *argv], capture_output=True,
                          text=True, env=env, timeout=timeout, check=False,
                          stdin=subprocess.DEVNULL)


def _up(state: Path, *extra: str) -> dict[str, Any]:
    up = _vexil(state, "dev", "up", "--random-ports", *extra)
    if up.returncode != 0:
        _vexil(state, "dev", "down", timeout=60)
        raise AssertionError(up.stdout + up.stderr)
    info: dict[str, Any] = json.loads((state / "dev.json").read_text())
    return info


def _down(state: Path) -> None:
    down = _vexil(state, "dev", "down", timeout=90)
    assert down.returncode == 0, down.stdout + down.stderr


def _sdk_key_count(api: ApiClient) -> int:
    body = api.get(path("v1", "projects", "shop", "environments", "staging", "sdk-keys")).body
    assert isinstance(body, dict)
    return len([k for k in body["items"] if not k.get("revoked_at")])


def _set_kill_switch(api: ApiClient, on: bool) -> None:
    state = fetch_state(api, "shop", "staging")
    flag = state.flags["checkout-enabled"]
    Writer(api, "shop", "staging", "restart test").put_configuration(
        "checkout-enabled", {**flag.configuration, "enabled": on}, flag.configuration_version)


def _eventually(check: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not seen in time"
        time.sleep(0.2)


def test_down_up_keeps_state_and_reset_wipes_it(tmp_path: Path) -> None:
    from edge_reader import FlagClient

    state = tmp_path / "state"
    first = _up(state, "--demo")
    api = ApiClient(first["api"], first["admin_token"])
    keys_before = _sdk_key_count(api)
    client = FlagClient(project="shop", environment="staging",
                        sdk_key=first["sdk_keys"]["staging"]["server"], cdn_url=first["cdn"],
                        ca_bundle=first["ca_bundle"], poll_interval=0.5, jitter=0.0,
                        first_retry=0.3, max_backoff=1.0,
                        signing_keys=first["signing_public_key"])
    try:
        assert client.wait_until_ready(60), client.status()
        assert client.verifies_publisher
        _down(state)
        second = _up(state, "--demo")
        for same in ("admin_token", "sdk_keys", "signing_public_key", "cdn", "api",
                     "ca_bundle", "kms_key_id"):
            assert second[same] == first[same], same
        assert _sdk_key_count(api) == keys_before  # the second demo created no more keys
        # The demo left the kill switch off; turning it on with the first run's token
        # reaches the reader configured before the restart.
        _set_kill_switch(api, True)
        _eventually(lambda: client.get_boolean("checkout-enabled", {"targetingKey": "u"},
                                               False))
        _set_kill_switch(api, False)
        _eventually(lambda: not client.get_boolean("checkout-enabled", {"targetingKey": "u"},
                                                   True))
    finally:
        client.close()
        _down(state)

    refused = _vexil(state, "dev", "reset")
    assert refused.returncode != 0
    assert "--yes" in refused.stderr
    assert (state / "emulator" / "moto.state").exists()
    reset = _vexil(state, "dev", "reset", "--yes")
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert not (state / "emulator").exists()
    assert (state / "tls" / "ca.pem").exists()  # the local CA is kept on purpose

    third = _up(state)
    try:
        assert third["admin_token"] != first["admin_token"]
        assert third["signing_public_key"] != first["signing_public_key"]
        with pytest.raises(ApiError) as caught:
            ApiClient(third["api"], first["admin_token"]).get(path("v1", "projects"))
        assert caught.value.status == 401
        with pytest.raises(ApiError) as missing:
            ApiClient(third["api"], third["admin_token"]).get(path("v1", "projects", "shop"))
        assert missing.value.status == 404
    finally:
        _down(state)
