"""The three locustfiles, run headless exactly as documented, against loopback stand-ins.

Locust monkey-patches the standard library with gevent on import, so it runs in a
subprocess here; the servers run in this process and record what the clients sent.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from loadtests.target import Target
from tests.loadtests.loopback import Reply, Seen, etag_of, pointer_body, run_locust, serve

BUNDLE_KEY = "bundles/shop/staging/7-abc.bundle"
BUNDLE = b"x" * 1234


def test_cdn_instances_poll_with_etag_and_fetch_the_bundle_once(tmp_path: Path) -> None:
    pointer = pointer_body(7, BUNDLE_KEY, len(BUNDLE))
    etag = etag_of(pointer)

    def cdn(req: Seen) -> Reply:
        if req.path == "/bundles/shop/staging/current.json":
            if req.headers.get("if-none-match") == etag:
                return 304, {"ETag": etag}, b""
            return 200, {"ETag": etag, "Content-Type": "application/json"}, pointer
        if req.path == "/" + BUNDLE_KEY:
            return 200, {}, BUNDLE
        return 404, {}, b""

    with serve(cdn) as (url, seen):
        stats = run_locust("locust_cdn.py", Target(cdn=url), tmp_path, users=3, seconds=3,
                          extra=["--poll-interval", "0.2"])

    assert stats["failures"] == 0
    assert stats["by_name"]["bundle"]["requests"] == 3  # one per instance, never again
    polls = [r for r in seen.requests if r.path.endswith("current.json")]
    assert len(polls) > 6
    conditional = [r for r in polls if r.headers.get("if-none-match") == etag]
    assert len(conditional) == len(polls) - 3  # all but each instance's first request
    assert stats["by_name"]["pointer"]["failures"] == 0


def test_cdn_instance_reports_a_pointer_that_goes_backwards(tmp_path: Path) -> None:
    served = {"n": 0}
    lock = threading.Lock()

    def cdn(req: Seen) -> Reply:
        if req.path.endswith("current.json"):
            with lock:
                served["n"] += 1
                revision = 7 if served["n"] == 1 else 6
            body = pointer_body(revision, BUNDLE_KEY, len(BUNDLE))
            return 200, {"ETag": etag_of(body)}, body
        return 200, {}, BUNDLE

    with serve(cdn) as (url, _):
        stats = run_locust("locust_cdn.py", Target(cdn=url), tmp_path, users=1, seconds=2,
                          extra=["--poll-interval", "0.2"])

    assert stats["by_name"]["pointer"]["failures"] >= 1
    assert stats["by_name"]["bundle"]["requests"] == 1  # the older pointer is not followed


def test_ofrep_sessions_send_varied_contexts_and_conditional_bulk(tmp_path: Path) -> None:
    def edge(req: Seen) -> Reply:
        if req.headers.get("authorization") != "Bearer vxl_cli_test":
            return 401, {}, b'{"errorCode":"GENERAL"}'
        ctx = json.loads(req.body)["context"]
        if req.path == "/ofrep/v1/evaluate/flags":
            if req.headers.get("if-none-match") == '"bulk"':
                return 304, {"ETag": '"bulk"'}, b""
            body = json.dumps({"flags": [{"key": "a", "value": True}]}).encode()
            return 200, {"ETag": '"bulk"'}, body
        key = req.path.rsplit("/", 1)[1]
        return 200, {}, json.dumps({"key": key, "value": ctx["country"] == "DE"}).encode()

    with serve(edge) as (url, seen):
        target = Target(edge=url, client_sdk_key="vxl_cli_test", flags=("a", "b"))
        stats = run_locust("locust_ofrep.py", target, tmp_path, users=2, seconds=2,
                          extra=["--think-time", "0.01"])

    assert stats["failures"] == 0
    assert stats["by_name"]["single"]["requests"] >= 2
    singles = [r for r in seen.requests if r.path.startswith("/ofrep/v1/evaluate/flags/")]
    assert {r.path.rsplit("/", 1)[1] for r in singles} == {"a", "b"}
    keys = {json.loads(r.body)["context"]["targetingKey"] for r in singles}
    assert len(keys) > len(singles) * 0.9  # fresh contexts, not one user
    bulk = [r for r in seen.requests if r.path == "/ofrep/v1/evaluate/flags"]
    assert stats["by_name"]["bulk"]["requests"] == len(bulk) >= 1
    # One returning context per user: its first bulk is unconditional, later ones send the ETag.
    first_seen: set[str] = set()
    for r in bulk:
        key = json.loads(r.body)["context"]["targetingKey"]
        assert (r.headers.get("if-none-match") == '"bulk"') == (key in first_seen)
        first_seen.add(key)


def test_api_mix_creates_role_tokens_writes_with_if_match_and_pages_audit(
    tmp_path: Path,
) -> None:
    version = {"n": 3}
    lock = threading.Lock()
    flag_doc = {
        "config": {"enabled": True, "off_variation": "off", "default": {"variation": "on"}},
        "definition": {"variations": {"on": True, "off": False}},
    }

    def api(req: Seen) -> Reply:
        parts = urlsplit(req.path)
        auth = req.headers.get("authorization", "")
        if parts.path == "/v1/tokens" and req.method == "POST":
            assert auth == "Bearer admin"
            role = json.loads(req.body)["role"]
            return 201, {}, json.dumps({"token": f"tok-{role}"}).encode()
        if parts.path == "/v1/audit":
            assert auth == "Bearer tok-auditor"
            cursor = parse_qs(parts.query).get("cursor")
            page: dict[str, Any] = {"items": [], "next_cursor": None if cursor else "c2"}
            return 200, {}, json.dumps(page).encode()
        if req.method == "PUT":
            with lock:
                if req.headers.get("if-match") != f'"{version["n"]}"':
                    return 412, {}, b"{}"
                version["n"] += 1
            return 200, {}, b"{}"
        with lock:
            etag = f'"{version["n"]}"'
        return 200, {"ETag": etag}, json.dumps(flag_doc).encode()

    with serve(api) as (url, seen):
        target = Target(api=url, admin_token="admin", project="shop", environment="staging",
                        flags=("checkout",))
        stats = run_locust("locust_api.py", target, tmp_path, users=9, seconds=4)

    assert stats["failures"] == 0
    creates = [r for r in seen.requests if r.path == "/v1/tokens"]
    assert sorted(json.loads(r.body)["role"] for r in creates) == ["auditor", "editor", "viewer"]
    puts = [r for r in seen.requests if r.method == "PUT"]
    assert puts
    assert all(r.headers.get("if-match") for r in puts)
    assert all(r.headers["authorization"] == "Bearer tok-editor" for r in puts)
    body = json.loads(puts[0].body)
    assert body["targets"][0]["variation"] == "off"
    assert {"PUT env flag (If-Match)", "GET audit page", "GET env flag"} <= set(stats["by_name"])
    audit = [r for r in seen.requests if r.path.startswith("/v1/audit")]
    assert any("cursor=c2" in r.path for r in audit)
