"""The console's release-manager views in headless Chromium against the local stack: guarded
rollouts (start, the controller's steps, pause, what a viewer and an out-of-scope editor get,
a protected environment's change request), stale flags, bucket/semver/list-segment sentences
and a changeset change request summarised per flag.

As in test_console.py, the UI is driven and the outcome checked through the API; any console
error, uncaught exception, failed request or unexpected HTTP error fails the test.
"""

from __future__ import annotations

import time
from itertools import count
from typing import Any

import boto3
import pytest

from tests.apiclient import request_json
from tests.console.conftest import Watched, screenshot
from tests.console.test_console import PRODUCTION, STAGING, _api, _sign_in
from vexil.devstack.aws import local_aws_env

pytestmark = pytest.mark.e2e
_n = count()
ON_OFF = {"on": True, "off": False}


def _flag(stack: dict[str, Any], prefix: str, config: dict[str, Any] | None = None,
          **definition: Any) -> str:
    """A new boolean flag, configured in staging (``config``, default: on, serving off)."""
    key = f"{prefix}-{next(_n)}-{int(time.time()) % 100000}"
    _api(stack, "POST", "/v1/projects/shop/flags",
         {"key": key, "kind": "boolean", "variations": ON_OFF, **definition})
    was = _api(stack, "GET", f"{STAGING}/flags/{key}")
    _api(stack, "PUT", f"{STAGING}/flags/{key}",
         config or {"enabled": True, "off_variation": "off", "default": {"variation": "off"}},
         if_match=was["version"])
    return key


def _cloudwatch(stack: dict[str, Any]) -> Any:
    env = local_aws_env(str(stack["aws_endpoint"]))
    return boto3.session.Session(region_name="us-east-1").client(
        "cloudwatch", endpoint_url=stack["aws_endpoint"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])


def _guard(stack: dict[str, Any]) -> str:
    """A CloudWatch alarm in the stack's emulator, in state OK."""
    name = f"console-guard-{next(_n)}-{int(time.time())}"
    _cloudwatch(stack).put_metric_alarm(
        AlarmName=name, MetricName="Errors", Namespace="Console", Statistic="Sum", Period=60,
        EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold")
    _guard_state(stack, name, "OK")
    return name


def _guard_state(stack: dict[str, Any], name: str, state: str) -> None:
    _cloudwatch(stack).set_alarm_state(AlarmName=name, StateValue=state,
                                       StateReason="console test")


def _strategy(stack: dict[str, Any], bake: int) -> str:
    key = f"ui-{next(_n)}-{int(time.time()) % 100000}"
    _api(stack, "POST", "/v1/projects/shop/strategies",
         {"key": key, "kind": "custom", "percents": [5, 10, 25, 50, 100], "bake_seconds": bake})
    return key


def _in_production(stack: dict[str, Any], key: str) -> str:
    """Configure ``key`` in protected production (on, serving off) through an approved change
    request; return the reviewer's token (an editor of every environment)."""
    reviewer = _token(stack, f"reviewer-{next(_n)}", "editor", ["*"])
    # Not configured in production yet (version 0): configuring it is itself a request.
    cr = _api(stack, "PUT", f"{PRODUCTION}/flags/{key}",
              {"enabled": True, "off_variation": "off", "default": {"variation": "off"}},
              if_match=0)["change_request"]
    crp = f"{PRODUCTION}/change-requests/{cr['id']}"
    cr = _api(stack, "POST", crp + "/approve", {}, if_match=cr["version"], token=reviewer)
    _api(stack, "POST", crp + "/apply", {}, if_match=cr["version"], token=reviewer)
    return reviewer


def _unlabelled(page: Any, scope: str) -> list[str]:
    """Form controls under ``scope`` that no label names (screen readers could not)."""
    return list(page.evaluate("""(scope) => [...document.querySelectorAll(
        `${scope} input, ${scope} select, ${scope} textarea`)]
        .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
        .map((el) => el.id || el.outerHTML)""", scope))


def _token(stack: dict[str, Any], name: str, role: str, environments: list[str]) -> str:
    return str(_api(stack, "POST", "/v1/tokens", {"name": name, "role": role, "projects": ["shop"],
                                                   "environments": environments})["token"])


def test_a_guarded_rollout_started_advanced_and_paused_in_the_console(
        watched: Watched, stack: dict[str, Any]) -> None:
    key, guard, strategy = _flag(stack, "ramp-ui"), _guard(stack), _strategy(stack, 2)
    rollout = f"{STAGING}/flags/{key}/rollout"
    page = watched.page
    _sign_in(watched, stack, stack["admin_token"])
    page.goto(stack["console"] + f"#/p/shop/e/staging/flags/{key}")
    page.wait_for_selector("#rollout-none")
    assert _unlabelled(page, "#rollout-start") == []
    page.select_option("#rollout-strategy", strategy)
    page.select_option("#rollout-target", "on")
    page.fill("#rollout-guards-input", guard)
    page.fill("#rollout-bucket-by", "accountId")
    page.click("#rollout-start-run")
    page.wait_for_selector("#rollout-status :text-is('running')")
    running = _api(stack, "GET", rollout)
    assert (running["status"], running["target"], running["bucket_by"]) == \
        ("running", "on", "accountId")
    served = _api(stack, "GET", f"{STAGING}/flags/{key}")["config"]["default"]["rollout"]
    assert served["bucket_by"] == "accountId"
    # The local controller ticks every second: the page follows it without a reload.
    page.wait_for_selector("#rollout-history tr[data-event=advanced]", timeout=30_000)
    page.wait_for_selector(f"#rollout-guards tr[data-guard='{guard}'] td:text-is('OK')")
    assert "next step at" in page.inner_text("#rollout-status")
    page.locator("#rollout").scroll_into_view_if_needed()
    screenshot(page, "rollout")
    assert _unlabelled(page, "#rollout-actions") == []
    page.fill("#rollout-reason-input", "checking the dashboards")
    page.click("#rollout-pause")
    page.wait_for_selector("#rollout-status :text-is('paused')")
    paused = _api(stack, "GET", rollout)
    assert paused["status"] == "paused"
    assert paused["history"][-1]["event"] == "paused"
    assert paused["steps_done"] >= 2
    assert f"on for {paused['percent']:g} % of contexts" in page.inner_text("#rollout-status")
    page.wait_for_selector("#rollout-resume")
    assert page.locator("#rollout-pause").count() == 0
    # The flag list marks it; the environment's overview lists it, paused, with its step.
    page.click("a:text-is('Flags')")
    page.fill("#flag-search", key)
    assert "rollout paused: on" in page.inner_text(f"#flags tr[data-flag='{key}']")
    page.click("a:text-is('Rollouts')")
    row = page.wait_for_selector(f"#rollouts tr[data-flag='{key}'][data-status=paused]")
    assert f"{paused['steps_done']} of 5" in row.inner_text()


def test_a_viewer_sees_no_rollout_actions_and_the_api_refuses_it_anyway(
        watched: Watched, stack: dict[str, Any]) -> None:
    key, guard, strategy = _flag(stack, "ramp-ro"), _guard(stack), _strategy(stack, 3600)
    rollout = f"{STAGING}/flags/{key}/rollout"
    _api(stack, "POST", rollout, {"target": "on", "strategy": strategy, "guards": [guard]})
    page = watched.page
    viewer = _token(stack, f"viewer-{next(_n)}", "viewer", ["staging"])
    _sign_in(watched, stack, viewer)
    page.goto(stack["console"] + f"#/p/shop/e/staging/flags/{key}")
    page.wait_for_selector("#rollout-status :text-is('running')")
    assert "on for 5 % of contexts (the rest: off)" in page.inner_text("#rollout-status")
    for button in ("#rollout-pause", "#rollout-abort", "#rollout-complete", "#rollout-start"):
        assert page.locator(button).count() == 0, button
    page.click("#signout")

    # The buttons' absence is not the protection: the API refuses the viewer's pause itself.
    # (The controller rewrites the rollout every tick: If-Match takes its version now.)
    before = _api(stack, "GET", rollout)
    status, body = request_json(stack["api"] + rollout + "/pause", "POST", {}, token=viewer,
                                if_match=before["version"])
    assert status == 403, body
    now = _api(stack, "GET", rollout)
    assert now["status"] == "running"
    assert [h["event"] for h in now["history"]] == ["started"]

    # The admin aborts it: the flag serves its pre-rollout default again.
    _sign_in(watched, stack, stack["admin_token"])
    page.goto(stack["console"] + f"#/p/shop/e/staging/flags/{key}")
    page.click("#rollout-abort")
    page.wait_for_selector("#rollout-status :text-is('aborted')")
    assert _api(stack, "GET", f"{STAGING}/flags/{key}")["config"]["default"] == {"variation": "off"}
    page.wait_for_selector("#rollout-start")  # a new one may start


def test_a_guard_in_alarm_shows_the_rollback_on_the_open_page(watched: Watched,
                                                              stack: dict[str, Any]) -> None:
    key, guard, strategy = _flag(stack, "ramp-alarm"), _guard(stack), _strategy(stack, 3600)
    _api(stack, "POST", f"{STAGING}/flags/{key}/rollout",
         {"target": "on", "strategy": strategy, "guards": [guard]})
    page = watched.page
    _sign_in(watched, stack, stack["admin_token"])
    page.goto(stack["console"] + f"#/p/shop/e/staging/flags/{key}")
    page.wait_for_selector(f"#rollout-guards tr[data-guard='{guard}'] td:text-is('OK')")
    _guard_state(stack, guard, "ALARM")
    # No reload: the section follows the controller, which rolls back within a tick.
    page.wait_for_selector("#rollout-status :text-is('rolled_back')", timeout=30_000)
    assert "ALARM" in page.inner_text("#rollout-reason")
    assert page.inner_text(f"#rollout-guards tr[data-guard='{guard}'] td.err") == "ALARM"
    assert page.locator("#rollout-history tr[data-event=rolled_back]").count() == 1
    assert page.locator("#rollout-pause").count() == 0  # nothing left to act on
    assert _api(stack, "GET", f"{STAGING}/flags/{key}")["config"]["default"] == \
        {"variation": "off"}


def test_starting_a_rollout_in_a_protected_environment_files_a_change_request(
        watched: Watched, stack: dict[str, Any]) -> None:
    key, guard, strategy = _flag(stack, "ramp-prod"), _guard(stack), _strategy(stack, 60)
    reviewer = _in_production(stack, key)
    page = watched.page
    _sign_in(watched, stack, stack["admin_token"])
    page.goto(stack["console"] + f"#/p/shop/e/production/flags/{key}")
    page.select_option("#rollout-strategy", strategy)
    page.fill("#rollout-guards-input", guard)
    page.click("#rollout-start-run")
    page.wait_for_selector("#cr-status:text-is('pending')")
    assert "rollout.start" in page.inner_text("main")
    plan = page.inner_text("#cr-rollout")  # the plan reviewers approve, in words
    assert f"strategy {strategy} (custom, steps 5, 10, 25, 50, 100 %" in plan
    assert guard in plan
    rollouts = _api(stack, "GET", f"{PRODUCTION}/rollouts")["items"]
    assert key not in {r["flag"] for r in rollouts}  # nothing runs before the approval
    start = _api(stack, "GET", page.url.split("#")[1].replace("/p/shop/e/production/changes/",
                                                            f"{PRODUCTION}/change-requests/"))
    crp = f"{PRODUCTION}/change-requests/{start['id']}"
    start = _api(stack, "POST", crp + "/approve", {}, if_match=start["version"], token=reviewer)
    _api(stack, "POST", crp + "/apply", {}, if_match=start["version"], token=reviewer)
    # Completing early exposes more than the approved plan: a change request of its own,
    # linked from the rollout; the rollout keeps running meanwhile.
    page.goto(stack["console"] + f"#/p/shop/e/production/flags/{key}")
    page.wait_for_selector("#rollout-status :text-is('running')")
    page.click("#rollout-complete")
    link = page.wait_for_selector("#rollout-cr-link")
    assert "202" in page.inner_text("#rollout-filed")
    assert _api(stack, "GET", f"{PRODUCTION}/flags/{key}/rollout")["status"] == "running"
    link.click()
    page.wait_for_selector("#cr-status:text-is('pending')")
    assert "rollout.complete" in page.inner_text("main")


def test_stale_flags_are_listed_with_their_reasons(watched: Watched,
                                                  stack: dict[str, Any]) -> None:
    expired = _flag(stack, "old-promo", metadata={"expires": "2020-01-31"})
    page = watched.page
    _sign_in(watched, stack, stack["admin_token"])
    page.goto(stack["console"] + "#/p/shop/e/staging/flags")
    page.click("a:text-is('Stale flags')")
    page.wait_for_selector("#stale tbody tr")
    want = _api(stack, "GET", f"{STAGING}/insights/stale?days=30")
    rows = page.locator("#stale tbody tr")
    assert rows.count() == len(want["items"]) > 0
    row = page.locator(f"#stale tbody tr[data-flag='{expired}']")
    assert "past its expiry date" in row.inner_text()
    assert "not evaluated" in row.inner_text()
    assert f"of {want['flags_total']} flags" in page.inner_text("#stale-summary")
    screenshot(page, "stale")
    page.fill("#stale-days", "7")
    page.click("#stale-run")
    page.wait_for_selector("#stale-summary:has-text('evaluations since')")
    assert page.input_value("#stale-days") == "7"


def test_bucket_semver_and_list_segment_clauses_read_as_sentences(
        watched: Watched, stack: dict[str, Any]) -> None:
    segment = f"beta-list-{next(_n)}-{int(time.time()) % 100000}"
    _api(stack, "POST", f"{STAGING}/segments", {"key": segment, "type": "list",
                                                 "context_kind": "user"})
    _api(stack, "POST", f"{STAGING}/segments/{segment}/members",
         {"batch_id": "first", "add": ["u-1", "u-2", "u-3"]})
    rules = [
        {"id": "gb", "clauses": [{"attribute": "id", "op": "in_bucket", "salt": "__checkout",
                                  "bucketing": {"hash": "growthbook-v1", "buckets": 1000},
                                  "values": [[0, 400], [700, 800]]}],
         "serve": {"variation": "on"}},
        {"id": "app", "clauses": [{"attribute": "app", "op": "semver_gt", "semver": "flagd",
                                   "values": ["v1.2"]}], "serve": {"variation": "on"}},
        {"id": "beta", "clauses": [{"op": "segment_match", "values": [segment]}],
         "serve": {"variation": "on"}}]
    key = _flag(stack, "sentences", {"enabled": True, "off_variation": "off", "rules": rules,
                                     "default": {"variation": "off"}})
    page = watched.page
    _sign_in(watched, stack, stack["admin_token"])
    page.goto(stack["console"] + f"#/p/shop/e/staging/flags/{key}")
    text = page.inner_text("#rules")
    assert ('id falls in buckets 0–400, 700–800 of 1000 (50 %; growthbook-v1 hash, '
            'salt "__checkout")') in text
    assert "in_bucket 0,400" not in text
    assert "app is a version above v1.2 (flagd version syntax)" in text
    assert f"in segment {segment} (list, 3 members)" in text
    assert page.locator("#rule-op option[value=in_bucket]").count() == 0  # JSON editor only


def test_a_changeset_change_request_is_summarised_per_flag(watched: Watched,
                                                           stack: dict[str, Any]) -> None:
    on = _flag(stack, "cs-live")
    _in_production(stack, on)
    live = _api(stack, "GET", f"{PRODUCTION}/flags/{on}")
    new = f"cs-new-{next(_n)}-{int(time.time()) % 100000}"
    _api(stack, "POST", "/v1/projects/shop/flags", {"key": new, "kind": "boolean",
                                                    "variations": ON_OFF})
    definition = _api(stack, "GET", f"/v1/projects/shop/flags/{on}")
    version = definition.pop("version")
    for added in ("key", "updated_at"):
        definition.pop(added, None)
    rules = [{"clauses": [{"attribute": "country", "op": "in", "values": ["DE"]}],
              "serve": {"variation": "on"}}]
    changes = [
        {"kind": "config", "key": on, "action": "put", "base_version": live["version"],
         "body": {**live["config"], "enabled": False}},
        {"kind": "definition", "key": on, "action": "put", "base_version": version,
         "body": {**definition, "description": "retired after the sale"}},
        {"kind": "config", "key": new, "action": "put", "base_version": 0,
         "body": {"enabled": True, "off_variation": "off", "default": {"variation": "on"},
                  "rules": rules}}]
    out = _api(stack, "POST", f"{PRODUCTION}/changesets", {"changes": changes})
    cr = out["change_request"]
    page = watched.page
    _sign_in(watched, stack, stack["admin_token"])
    page.goto(stack["console"] + f"#/p/shop/e/production/changes/{cr['id']}")
    page.wait_for_selector("#cr-changeset")
    off = page.inner_text(f"#cr-changeset li[data-change='config:{on}']")
    assert "changed" in off
    assert "turned off" in off
    assert "default" not in off  # only what changes is listed
    added = page.inner_text(f"#cr-changeset li[data-change='config:{new}']")
    assert "new" in added
    assert "turned on" in added
    assert "serve on" in added
    assert "rules: none → If country is one of DE: serve on" in added
    described = page.inner_text(f"#cr-changeset li[data-change='definition:{on}']")
    assert "definition of flag" in described
    assert 'description: ' in described
    assert '→ "retired after the sale"' in described
    assert '"changes"' not in page.inner_text("main")  # no raw JSON
    screenshot(page, "changeset")
