"""The web console in headless Chromium against the local stack: the release manager's flows.

Each test signs in through the page (the token typed into the form, kept in sessionStorage),
drives the UI only, and checks the outcome through the API or a reader — never through the
page alone. Any console error, uncaught exception, failed request or unexpected HTTP error
fails the test (``Watched.assert_clean``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.apiclient import request_json
from tests.console.conftest import Watched, screenshot

pytestmark = pytest.mark.e2e


def _sign_in(w: Watched, stack: dict[str, Any], token: str) -> None:
    page = w.page
    page.goto(stack["console"])
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_selector("#whoami")


def _eventually(check: Callable[[], bool], timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.3)


def _api(stack: dict[str, Any], method: str, path: str, body: Any = None,
         if_match: int | None = None, token: str | None = None) -> Any:
    status, out = request_json(stack["api"] + path, method, body,
                               token=token or stack["admin_token"], if_match=if_match)
    assert status < 300, (status, out)
    return out


def _second_token(stack: dict[str, Any], name: str, role: str = "editor") -> str:
    out = _api(stack, "POST", "/v1/tokens", {"name": name, "role": role,
                                               "projects": ["shop"], "environments": ["*"]})
    return str(out["token"])


STAGING = "/v1/projects/shop/environments/staging"
PRODUCTION = "/v1/projects/shop/environments/production"


def test_sign_in_shows_role_and_keeps_the_token_out_of_urls(watched: Watched,
                                                            stack: dict[str, Any]) -> None:
    _sign_in(watched, stack, stack["admin_token"])
    page = watched.page
    assert "admin" in page.inner_text("#whoami")
    page.wait_for_selector("a:text-is('staging')")
    assert stack["admin_token"] not in page.url
    assert page.evaluate("sessionStorage.getItem('vexil.token')") == stack["admin_token"]
    assert page.evaluate("localStorage.length") == 0
    screenshot(page, "projects")
    page.click("#signout")
    page.wait_for_selector("#token")
    assert page.evaluate("sessionStorage.getItem('vexil.token')") is None


def test_a_rejected_token_is_shown_as_a_401(watched: Watched, stack: dict[str, Any]) -> None:
    watched.expected_statuses.add(401)
    page = watched.page
    page.goto(stack["console"])
    page.fill("#token", "vxl_tok_not-a-real-token")
    page.click("button[type=submit]")
    page.wait_for_selector("#notice.error")
    assert "401" in page.inner_text("#notice")
    assert page.evaluate("sessionStorage.getItem('vexil.token')") is None


def test_toggle_in_staging_changes_the_api_and_a_reader_sees_it(watched: Watched,
                                                                stack: dict[str, Any]) -> None:
    from edge_reader import FlagClient

    page = watched.page
    _sign_in(watched, stack, stack["admin_token"])
    page.click("a:text-is('staging')")
    page.fill("#flag-search", "checkout-enabled")
    assert page.locator("#flags tbody tr").count() == 1
    # Its state in every environment: production has it only once a change request applies.
    assert "production" in page.inner_text("#flags thead")
    screenshot(page, "flags")
    page.click("a:text-is('checkout-enabled')")
    page.wait_for_selector("#toggle")
    screenshot(page, "flag")
    was = _api(stack, "GET", STAGING + "/flags/checkout-enabled")
    client = FlagClient(project="shop", environment="staging",
                        sdk_key=stack["sdk_keys"]["staging"]["server"], cdn_url=stack["cdn"],
                        ca_bundle=stack["ca_bundle"], poll_interval=0.5, jitter=0.0,
                        signing_keys=stack["signing_public_key"])
    try:
        assert client.wait_until_ready(60)
        ctx = {"targetingKey": "user-1"}
        assert client.get_boolean("checkout-enabled", ctx, not was["config"]["enabled"]) \
            is was["config"]["enabled"]
        page.click("#toggle")
        want = "OFF" if was["config"]["enabled"] else "ON"
        page.wait_for_selector(f"#flag-state:text-is('{want}')")
        now = _api(stack, "GET", STAGING + "/flags/checkout-enabled")
        assert now["config"]["enabled"] is (not was["config"]["enabled"])
        assert now["version"] == was["version"] + 1
        _eventually(lambda: client.get_boolean("checkout-enabled", ctx, was["config"]["enabled"])
                    is (not was["config"]["enabled"]))
    finally:
        client.close()


def test_editing_a_rollout_shows_impact_before_saving(watched: Watched,
                                                      stack: dict[str, Any]) -> None:
    page = watched.page
    _sign_in(watched, stack, stack["admin_token"])
    page.goto(stack["console"] + "#/p/shop/e/staging/flags/new-search")
    page.wait_for_selector("#weight-on")
    before = _api(stack, "GET", STAGING + "/flags/new-search")
    assert page.is_disabled("#save")  # nothing checked yet
    page.fill("#weight-on", "50")
    page.dispatch_event("#weight-on", "change")
    assert page.is_disabled("#save")
    page.click("#impact-run")
    page.wait_for_selector("#impact-counts")
    on_before = int(page.inner_text("#impact-counts tr[data-variation=on] td.before"))
    on_after = int(page.inner_text("#impact-counts tr[data-variation=on] td.after"))
    assert 60 < on_before < 140  # 10 % of 1000 synthetic users
    assert 440 < on_after < 560  # 50 %
    assert page.locator("#impact-changed tbody tr").count() == 20
    page.locator("#impact-counts").scroll_into_view_if_needed()
    screenshot(page, "impact")
    page.click("#save")
    page.wait_for_selector("#notice:has-text('Saved')")
    after = _api(stack, "GET", STAGING + "/flags/new-search")
    assert after["version"] == before["version"] + 1
    weights = {v["variation"]: v["weight"]
               for v in after["config"]["default"]["rollout"]["variations"]}
    assert weights == {"on": 50000, "off": 50000}


def test_an_invalid_edit_is_refused_next_to_its_field_and_cannot_be_saved(
        watched: Watched, stack: dict[str, Any]) -> None:
    watched.expected_statuses.add(400)
    page = watched.page
    _sign_in(watched, stack, stack["admin_token"])
    page.goto(stack["console"] + "#/p/shop/e/staging/flags/free-shipping")
    page.wait_for_selector("#rule-add")
    page.fill("#rule-attribute", "age")
    page.select_option("#rule-op", "matches")
    page.fill("#rule-values", "([unclosed")
    page.click("#rule-add")
    page.click("#impact-run")
    problem = page.wait_for_selector("#add-rule .field-problem")
    assert "rules[1]" in problem.inner_text()
    assert page.is_disabled("#save")


def test_production_change_becomes_a_cr_that_a_second_token_approves_and_applies(
        watched: Watched, browser: Any, stack: dict[str, Any]) -> None:
    reviewer = _second_token(stack, "reviewer")
    # The demo leaves production's flags as a pending change request (its flags file is one
    # changeset): let the reviewer approve and apply it, so the flag exists in production.
    pending = _api(stack, "GET", PRODUCTION + "/change-requests?status=pending")["items"]
    seed = next(cr for cr in pending if cr["operation"].get("flag") == "checkout-enabled"
                or any(c.get("key") == "checkout-enabled"
                       for c in cr["operation"].get("changes") or []))
    crp = f"{PRODUCTION}/change-requests/{seed['id']}"
    seed = _api(stack, "POST", crp + "/approve", {}, if_match=seed["version"], token=reviewer)
    _api(stack, "POST", crp + "/apply", {}, if_match=seed["version"], token=reviewer)
    was = _api(stack, "GET", PRODUCTION + "/flags/checkout-enabled")

    page = watched.page
    _sign_in(watched, stack, stack["admin_token"])
    page.goto(stack["console"] + "#/p/shop/e/production/flags/checkout-enabled")
    page.click("#toggle")
    page.wait_for_selector("#cr-status:text-is('pending')")
    assert _api(stack, "GET", PRODUCTION + "/flags/checkout-enabled") == was  # not applied
    cr_url = page.url
    assert "enabled" in page.inner_text("#cr-diff")
    # The author may not approve: the API says 403 and the console shows it as such.
    watched.expected_statuses.add(403)
    page.click("#cr-approve")
    page.wait_for_selector("#notice.error")
    assert "403" in page.inner_text("#notice")
    page.click("#signout")

    _sign_in(watched, stack, reviewer)
    page.goto(cr_url)
    page.wait_for_selector("#cr-approve")
    page.click("#impact-run")
    page.wait_for_selector("#impact-counts")
    page.locator("#cr-diff").scroll_into_view_if_needed()
    screenshot(page, "change-request")
    page.click("#cr-approve")
    page.wait_for_selector("#cr-status:text-is('approved')")
    assert "reviewer" in page.inner_text("#cr-approvals")
    page.click("#cr-apply")
    page.wait_for_selector("#cr-status:text-is('applied')")
    now = _api(stack, "GET", PRODUCTION + "/flags/checkout-enabled")
    assert now["config"]["enabled"] is (not was["config"]["enabled"])


def test_audit_entries_are_listed_filtered_and_verified(watched: Watched,
                                                        stack: dict[str, Any]) -> None:
    page = watched.page
    _sign_in(watched, stack, stack["admin_token"])
    page.goto(stack["console"] + "#/p/shop/e/staging/audit")
    page.wait_for_selector("#audit tbody tr")
    records = _api(stack, "GET", "/v1/audit?project=shop&environment=staging&limit=200")
    assert page.locator("#audit tbody tr").count() == len(records["items"])
    page.fill("#audit-filter", "flag.config.put")
    shown = page.locator("#audit tbody tr")
    assert 0 < shown.count() < len(records["items"])
    for i in range(shown.count()):
        assert "flag.config.put" in shown.nth(i).inner_text()
    page.click("#audit-verify-run")
    page.wait_for_selector("#audit-verify :text('Chain verified')")
    screenshot(page, "audit")


def test_sdk_key_secret_is_shown_once_and_revoke_works(watched: Watched,
                                                       stack: dict[str, Any]) -> None:
    page = watched.page
    _sign_in(watched, stack, stack["admin_token"])
    page.goto(stack["console"] + "#/p/shop/e/staging/keys")
    page.wait_for_selector("#key-create")
    before = {k["key_id"] for k in _api(stack, "GET", STAGING + "/sdk-keys")["items"]}
    page.click("#key-create")
    secret = page.wait_for_selector("#key-secret").inner_text()
    assert secret.startswith("vxl_srv_")
    created = {k["key_id"] for k in _api(stack, "GET", STAGING + "/sdk-keys")["items"]} - before
    assert len(created) == 1
    (key_id,) = created
    page.goto(stack["console"] + "#/p/shop/e/staging/flags")
    page.goto(stack["console"] + "#/p/shop/e/staging/keys")
    page.wait_for_selector(f"tr[data-key='{key_id}']")
    assert secret not in page.content()  # shown once, never again
    page.once("dialog", lambda d: d.accept())
    page.click(f"tr[data-key='{key_id}'] button")
    page.wait_for_selector(f"#notice:has-text('{key_id} revoked')")
    keys = {k["key_id"]: k for k in _api(stack, "GET", STAGING + "/sdk-keys")["items"]}
    assert keys[key_id]["revoked_at"]


def test_protect_and_unprotect_staging(watched: Watched, stack: dict[str, Any]) -> None:
    page = watched.page
    _sign_in(watched, stack, stack["admin_token"])
    page.goto(stack["console"] + "#/p/shop/e/staging/settings")
    page.click("#protect-toggle:text-is('Protect')")
    page.wait_for_selector("#protect-toggle:text-is('Unprotect')")
    assert _api(stack, "GET", STAGING)["protected"] is True
    # Unprotecting a protected environment is itself a change needing a second person.
    page.click("#protect-toggle")
    page.wait_for_selector("#notice:has-text('Change request')")
    assert _api(stack, "GET", STAGING)["protected"] is True
    pending = _api(stack, "GET", STAGING + "/change-requests?status=pending")["items"]
    cr = next(c for c in pending if c["operation"]["type"] == "environment.patch")
    page.goto(stack["console"] + f"#/p/shop/e/staging/changes/{cr['id']}")
    diff = page.wait_for_selector("#cr-diff").inner_text()
    assert "protected" in diff
    assert "true" in diff
    assert "false" in diff
    reviewer = _second_token(stack, "unprotector", "admin")  # (un)protecting is an admin's
    crp = f"{STAGING}/change-requests/{cr['id']}"
    cr = _api(stack, "POST", crp + "/approve", {}, if_match=cr["version"], token=reviewer)
    _api(stack, "POST", crp + "/apply", {}, if_match=cr["version"], token=reviewer)
    assert _api(stack, "GET", STAGING)["protected"] is False


def test_the_console_is_served_with_a_strict_csp_and_the_api_allows_only_its_origin(
        stack: dict[str, Any]) -> None:
    import urllib.request

    with urllib.request.urlopen(stack["console"]) as resp:
        csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "'unsafe-inline'" not in csp
    assert f"connect-src 'self' {stack['api']}" in csp
    origin = stack["console"].removesuffix("/console/")
    for sent, allowed in ((origin, origin), ("https://evil.example", origin)):
        req = urllib.request.Request(stack["api"] + "/v1/projects", method="OPTIONS",
                                     headers={"Origin": sent,
                                              "Access-Control-Request-Method": "GET"})
        with urllib.request.urlopen(req) as resp:
            # One exact origin is ever allowed; a browser refuses it for any other page.
            assert resp.headers["Access-Control-Allow-Origin"] == allowed


def test_lint_warnings_appear_next_to_the_field_and_do_not_block_saving(
        watched: Watched, stack: dict[str, Any]) -> None:
    page = watched.page
    _sign_in(watched, stack, stack["admin_token"])
    page.goto(stack["console"] + "#/p/shop/e/staging/flags/free-shipping")
    page.wait_for_selector("#config-json", state="attached")
    page.click("summary:has-text('JSON editor')")
    config = {"enabled": True, "off_variation": "off", "default": {"variation": "off"},
              "rules": [{"id": "all", "clauses": [], "serve": {"variation": "on"}}]}
    page.fill("#config-json", json.dumps(config))
    page.click("#apply-json")
    page.click("#impact-run")
    warning = page.wait_for_selector("#editor .field-problem.warn")
    assert "Warning" in warning.inner_text()
    assert page.is_enabled("#save")  # a warning informs, an error blocks


def test_keyboard_only_sign_in_and_every_control_is_labelled(watched: Watched,
                                                            stack: dict[str, Any]) -> None:
    page = watched.page
    page.goto(stack["console"])
    page.wait_for_selector("#token")
    # The sign-in view puts the focus in the token field; Tab reaches the button.
    assert page.evaluate("document.activeElement.id") == "token"
    page.keyboard.type(stack["admin_token"])
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Sign in"
    page.keyboard.press("Enter")
    page.wait_for_selector("#whoami")
    page.goto(stack["console"] + "#/p/shop/e/staging/flags/new-search")
    page.wait_for_selector("#impact-run")
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
        .map((el) => el.id || el.outerHTML)""")
    assert unlabelled == []


def test_markup_from_the_api_is_shown_as_text(watched: Watched, stack: dict[str, Any]) -> None:
    hostile = '<img src=x onerror="window.pwned=1">'
    _api(stack, "POST", "/v1/projects/shop/flags",
         {"key": "xss-probe", "kind": "boolean", "variations": {"on": True, "off": False},
          "description": hostile})
    page = watched.page
    _sign_in(watched, stack, stack["admin_token"])
    page.goto(stack["console"] + "#/p/shop/e/staging/flags")
    page.fill("#flag-search", "xss-probe")
    assert hostile in page.inner_text("#flags tbody")
    assert page.locator("#flags img").count() == 0
    assert page.evaluate("window.pwned") is None


def test_a_viewer_is_refused_by_the_api_and_nothing_changes(watched: Watched,
                                                            stack: dict[str, Any]) -> None:
    viewer = str(_api(stack, "POST", "/v1/tokens", {"name": "looker", "role": "viewer",
                                                    "projects": ["shop"],
                                                    "environments": ["staging"]})["token"])
    was = _api(stack, "GET", STAGING + "/flags/free-shipping")
    watched.expected_statuses.add(403)
    page = watched.page
    _sign_in(watched, stack, viewer)
    assert "viewer" in page.inner_text("#whoami")
    page.goto(stack["console"] + "#/p/shop/e/staging/flags/free-shipping")
    page.click("#toggle")
    page.wait_for_selector("#notice.error")
    assert "403" in page.inner_text("#notice")
    assert _api(stack, "GET", STAGING + "/flags/free-shipping") == was
    # The impact preview needs only read permission: a viewer may run it.
    page.click("#impact-run")
    page.wait_for_selector("#impact-counts")
