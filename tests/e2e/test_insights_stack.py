"""Evaluation insights end to end on the local stack (`vexil dev up --demo`): a reader's
summary reaches the store within one flush and `vexil flags stale` reflects it, a flag
nobody evaluates is listed as stale, and `vexil refs --upload` finds the demo flags in a
sample repository the test creates (then the stale view knows which flags have no code
references). The OFREP edge's summaries and the SDK-key rules are checked over HTTP too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

pytestmark = pytest.mark.e2e

_CLIENT_VARS = {"VEXIL_API", "VEXIL_TOKEN", "VEXIL_CA_BUNDLE", "VEXIL_SDK_KEY", "VEXIL_TABLE",
                "VEXIL_BUCKET", "VEXIL_KMS_KEY_ID", "VEXIL_KEY_STORE_TABLE",
                "VEXIL_SIGNING_KEY_ID", "VEXIL_SIGNING_KEY", "VEXIL_INSIGHTS_URL"}
PROBE = "insights-probe"
IDLE = "never-evaluated"


def _vexil(state: Path, *argv: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and k not in _CLIENT_VARS}
    env["VEXIL_STATE_DIR"] = str(state)
    return subprocess.run([sys.executable, "-m", "vexil.cli", *argv], capture_output=True,
                          text=True, env=env, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    state = tmp_path_factory.mktemp("vexil-insights")
    up = _vexil(state, "dev", "up", "--demo", "--random-ports")
    pids = [json.loads(p.read_text())["pid"] for p in (state / "run").glob("*.pid")]
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield state, json.loads((state / "dev.json").read_text())
    finally:
        down = _vexil(state, "dev", "down", timeout=60)
        assert down.returncode == 0, down.stdout + down.stderr
        for pid in pids:
            assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


def _stale(state: Path) -> dict[str, Any]:
    out = _vexil(state, "flags", "stale", "--project", "shop", "--environment", "staging",
                 "--days", "1", "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    return dict(json.loads(out.stdout))


def _by_key(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["key"]: item for item in view["items"]}


def _add_flags(info: dict[str, Any]) -> None:
    from vexil.api import ApiClient, version_etag

    api = ApiClient(info["api"], info["admin_token"], ca_bundle=info["ca_bundle"])
    for key in (PROBE, IDLE):
        api.request("POST", "/v1/projects/shop/flags", body={
            "key": key, "kind": "boolean", "variations": {"on": True, "off": False}})
        path = f"/v1/projects/shop/environments/staging/flags/{key}"
        current = api.get(path).body
        api.request("PUT", path, body={"enabled": True, "off_variation": "off",
                                       "default": {"variation": "on"}},
                    if_match=version_etag(current["version"]))


def test_a_summary_reaches_the_store_in_one_flush(stack: tuple[Path, dict[str, Any]]) -> None:
    from edge_reader import FlagClient

    state, info = stack
    # The demo's own reader sent its summary when it closed: its flags were evaluated.
    demo = _by_key(_stale(state))
    assert "checkout-enabled" not in demo or "not_evaluated" not in demo[
        "checkout-enabled"]["reasons"]
    _add_flags(info)
    client = FlagClient(project="shop", environment="staging",
                        sdk_key=info["sdk_keys"]["staging"]["server"], cdn_url=info["cdn"],
                        ca_bundle=info["ca_bundle"], poll_interval=0.5, jitter=0.0,
                        signing_keys=info["signing_public_key"], insights_url=info["api"],
                        insights_flush_interval=3600)
    try:
        assert client.wait_until_ready(60)
        deadline_ok = False
        for _ in range(240):  # the new flags reach the reader with the next bundle
            if PROBE in client.snapshot().env.flag_keys:  # type: ignore[union-attr]
                deadline_ok = True
                break
            client.refresh()
        assert deadline_ok, "the new flags never reached the reader"
        for i in range(25):
            assert client.get_boolean(PROBE, {"targetingKey": f"u-{i}"}, False) is True
        result = client.flush_insights(force=True)
        assert result is not None
        assert result.sent == 1, result
    finally:
        client.close()
    view = _by_key(_stale(state))
    assert PROBE not in view or "not_evaluated" not in view[PROBE]["reasons"]
    assert view[IDLE]["reasons"][0] == "not_evaluated"
    assert view[IDLE]["evaluations"] == 0
    full = _stale(state)
    # The probe was evaluated 25 times, all "on"; its configuration is minutes old, so it
    # is not yet a single-variation candidate: it must simply not be listed as idle.
    assert all(item["key"] != PROBE or item["evaluations"] == 25 for item in full["items"])


def test_refs_finds_the_demo_flags_and_feeds_the_stale_view(
        stack: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    state, _ = stack
    repo = tmp_path / "sample-app"
    (repo / "src").mkdir(parents=True)
    (repo / "web").mkdir()
    (repo / "node_modules" / "dep").mkdir(parents=True)
    (repo / "src" / "checkout.py").write_text(
        'if client.get_boolean("checkout-enabled", ctx, True):\n    ship()\n')
    (repo / "web" / "search.ts").write_text("const on = flags.bool('new-search', false);\n")
    (repo / "node_modules" / "dep" / "x.js").write_text('f("free-shipping")\n')
    out = _vexil(state, "refs", str(repo), "--project", "shop", "--json")
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    assert found["flags"]["checkout-enabled"] == [{"path": "src/checkout.py", "line": 1}]
    assert found["flags"]["new-search"] == [{"path": "web/search.ts", "line": 1}]
    assert found["flags"]["free-shipping"] == []  # vendored: not a reference
    up = _vexil(state, "refs", str(repo), "--project", "shop", "--upload",
                "--repository", "sample-app")
    assert up.returncode == 0, up.stderr
    assert "checkout-enabled" in up.stdout
    view = _stale(state)
    assert view["code_references"] == {"flags": 2}
    items = _by_key(view)
    assert "no_code_references" in items["free-shipping"]["reasons"]
    assert "checkout-enabled" not in items or "no_code_references" not in items[
        "checkout-enabled"]["reasons"]
    text = _vexil(state, "flags", "stale", "--project", "shop", "--environment", "staging")
    assert text.returncode == 0
    assert "free-shipping" in text.stdout
    assert "no code references" in text.stdout
    gate = _vexil(state, "flags", "stale", "--project", "shop", "--environment", "staging",
                  "--detailed-exitcode")
    assert gate.returncode == 2, gate.stderr  # stale flags found


def test_the_edge_sends_summaries_with_its_client_key(
        stack: tuple[Path, dict[str, Any]]) -> None:
    state, info = stack
    edge = json.loads((state / "edge.json").read_text())
    assert edge["insights_url"] == info["api"]


def test_an_sdk_key_writes_only_its_environment_over_http(
        stack: tuple[Path, dict[str, Any]]) -> None:
    import urllib3

    _, info = stack
    http = urllib3.PoolManager(ca_certs=info["ca_bundle"])
    body = {"format": 1, "project": "shop", "environment": "production",
            "counters": [{"flag": "checkout-enabled", "variant": "on", "reason": "STATIC",
                          "count": 1000}]}
    url = info["api"].rstrip("/") + "/v1/insights/evaluations"
    for key, status in ((info["sdk_keys"]["staging"]["server"], 403),
                        (info["sdk_keys"]["production"]["server"][:-2] + "AA", 401),
                        (info["admin_token"], 401)):
        r = http.request("POST", url, body=json.dumps(body).encode(),
                         headers={"Authorization": f"Bearer {key}",
                                  "Content-Type": "application/json"})
        assert r.status == status, (r.status, r.data)
    r = http.request("POST", url, body=json.dumps(body).encode(),
                     headers={"Authorization": f"Bearer {info['sdk_keys']['production']['server']}",
                              "Content-Type": "application/json"})
    assert r.status == 200, r.data


def test_flags_the_environment_does_not_have_are_summed_and_shown(
        stack: tuple[Path, dict[str, Any]]) -> None:
    """A reader's counts of a flag the environment lacks write no item of their own (a
    client key ships in browsers): the day's summary sums them and `flags stale` says so."""
    import urllib3

    state, info = stack
    http = urllib3.PoolManager(ca_certs=info["ca_bundle"])
    key = info["sdk_keys"]["staging"]["client"]
    body = {"format": 1, "project": "shop", "environment": "staging",
            "counters": [{"flag": f"no-such-flag-{i}", "variant": "on", "reason": "STATIC",
                          "count": 2} for i in range(40)]}
    r = http.request("POST", info["api"].rstrip("/") + "/v1/insights/evaluations",
                     body=json.dumps(body).encode(),
                     headers={"Authorization": f"Bearer {key}",
                              "Content-Type": "application/json"})
    assert r.status == 200, r.data
    answer = json.loads(r.data)
    assert (answer["flags"], answer["unknown"]["flags"]) == (0, 40), answer
    view = _stale(state)
    assert view["unknown"]["flag_evaluations"] >= 80
    assert view["unknown"]["by_key"][key.split("_")[2]] == "no-such-flag-0"
    assert not any(i["key"].startswith("no-such-flag") for i in view["items"])
    text = _vexil(state, "flags", "stale", "--project", "shop", "--environment", "staging")
    assert text.returncode == 0, text.stderr
    assert "'no-such-flag-0'" in text.stderr
    assert "another environment, or a typo" in text.stderr
