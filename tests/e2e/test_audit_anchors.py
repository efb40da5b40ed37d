"""Audit anchors on the running local stack: `vexil dev up`, then `vexil audit verify`.

An attacker with write access to the table rewrites an environment's chain and recomputes
every hash (the chain alone then verifies); the anchors the publisher signed and wrote to
the bucket (`anchors/`) reveal it, naming the anchor and the seq — even after the attacker
has made the publisher anchor the rewritten head. Anchors the publisher did not sign
(unsigned, or signed by another key) are refused and reported, never believed.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
from chalicelib import keys

from tests.bundle.signers import LocalSigner
from tests.e2e.test_local_stack import _pids, _vexil
from vexil.api import ApiClient
from vexil.devstack.aws import local_aws_env

pytestmark = pytest.mark.e2e

Stack = tuple[Path, dict[str, Any]]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state = tmp_path_factory.mktemp("vexil-anchor-state")
    up = _vexil(state, "dev", "up", "--random-ports")
    pids = _pids(state)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        _start_heartbeat_done(state)
        yield state, json.loads((state / "dev.json").read_text())
    finally:
        down = _vexil(state, "dev", "down", timeout=60)
        assert down.returncode == 0, down.stdout + down.stderr
        assert pids


def _start_heartbeat_done(state: Path) -> None:
    """Wait for the stream worker's heartbeat at start (it anchors every chain that moved).

    Without this wait it raced the tests: on a loaded machine it ran after a test's first
    writes and anchored the global chain before `vexil audit anchor` could. The next
    heartbeat is an interval (900 s) away, so from here on anchors come from publishes and
    from `vexil audit anchor` alone.
    """
    log = state / "logs" / "worker.log"
    _eventually(lambda: log.exists()
                and "vexil.stream_worker heartbeat" in log.read_text(encoding="utf-8"))


def _aws(info: dict[str, Any], service: str) -> Any:
    env = local_aws_env(str(info["aws_endpoint"]))
    session: Any = boto3.session.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                                    aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                                    aws_session_token=env["AWS_SESSION_TOKEN"],
                                    region_name=env["AWS_REGION"])
    return session.client(service, endpoint_url=env["AWS_ENDPOINT_URL"])


def _eventually(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError("condition not reached in time")


def _write_history(api: ApiClient, project: str) -> None:
    api.request("POST", "/v1/projects", body={"key": project})
    api.request("POST", f"/v1/projects/{project}/environments", body={"key": "dev"})
    api.request("POST", f"/v1/projects/{project}/environments/dev/sdk-keys",
                body={"kind": "server"})
    api.request("POST", f"/v1/projects/{project}/flags", body={
        "key": "checkout", "kind": "boolean", "variations": {"on": True, "off": False}})
    url = f"/v1/projects/{project}/environments/dev/flags/checkout"
    for version in range(1, 4):
        api.request("PUT", url, body={"enabled": version % 2 == 1,
                                      "default": {"variation": "on"}},
                    if_match=f'"{version}"', reason=f"step {version}")


def _verify(api: ApiClient, project: str) -> dict[str, Any]:
    body = api.request("POST", "/v1/audit/verify",
                       body={"project": project, "environment": "dev"}).body
    assert isinstance(body, dict)
    return body


def _anchored_by_publish(api: ApiClient, project: str) -> dict[str, Any]:
    """Wait until the publisher (stream worker) has anchored the chain's head (the last
    write's publish anchors it); the verify answer."""
    seen: dict[str, Any] = {}

    def anchored() -> bool:
        seen.update(_verify(api, project))
        latest = seen["anchors"]["latest"]
        return bool(latest and latest["seq"] == seen["checked"])

    _eventually(anchored)
    return seen


def _rewrite_chain(info: dict[str, Any], project: str, from_seq: int) -> int:
    """Edit record ``from_seq`` and recompute every later hash, as someone with table write
    would; move the head too. Returns the chain length."""
    ddb = _aws(info, "dynamodb")
    pk = keys.audit_pk(project, "dev")
    items = ddb.query(TableName=info["table"], KeyConditionExpression="pk = :p",
                      ExpressionAttributeValues={":p": {"S": pk}},
                      ConsistentRead=True)["Items"]
    items.sort(key=lambda i: i["sk"]["S"])
    prev = items[from_seq - 2]["hash"]["S"] if from_seq > 1 else ""
    for item in items[from_seq - 1:]:
        record = orjson.loads(item["record"]["S"])
        record["prev_hash"] = prev
        if record["seq"] == from_seq:
            record["reason"] = "nothing to see here"
        text = orjson.dumps(record, option=orjson.OPT_SORT_KEYS).decode()
        prev = hashlib.sha256(text.encode()).hexdigest()
        ddb.put_item(TableName=info["table"], Item={**item, "record": {"S": text},
                                                     "hash": {"S": prev}})
    ddb.update_item(TableName=info["table"],
                    Key={"pk": {"S": keys.project_pk(project)},
                         "sk": {"S": keys.environment_sk("dev")}},
                    UpdateExpression="SET audit_head = :h",
                    ExpressionAttributeValues={":h": {"S": prev}})
    return len(items)


def test_honest_chain_verifies_against_the_publishers_anchors(stack: Stack) -> None:
    state, info = stack
    api = ApiClient(info["api"], info["admin_token"])
    _write_history(api, "honest")
    first = _anchored_by_publish(api, "honest")
    assert first["ok"] is True
    assert first["anchors"]["latest"]["key"].startswith("anchors/env/honest/dev/")
    # The periodic path anchors whatever the publishes left unanchored (the global chain).
    anchored = _vexil(state, "audit", "anchor")
    assert anchored.returncode == 0, anchored.stdout + anchored.stderr
    done = json.loads(anchored.stdout)
    assert any(k.startswith("anchors/global/") for k in done["written"]), done
    assert _vexil(state, "audit", "anchor").returncode == 0  # nothing new: nothing rewritten
    out = _verify(api, "honest")
    assert out["anchors"]["latest"]["seq"] == out["checked"]
    assert out["anchors"]["unanchored_records"] == 0
    cli = _vexil(state, "audit", "verify", "--project", "honest", "--environment", "dev")
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert f"anchored through seq {out['checked']}" in cli.stdout
    glob = _vexil(state, "audit", "verify")
    assert glob.returncode == 0, glob.stdout + glob.stderr
    assert "anchored through seq" in glob.stdout


def test_a_rewrite_with_every_hash_recomputed_is_reported(stack: Stack) -> None:
    state, info = stack
    api = ApiClient(info["api"], info["admin_token"])
    _write_history(api, "victim")
    before = _anchored_by_publish(api, "victim")
    anchor = before["anchors"]["latest"]
    length = _rewrite_chain(info, "victim", from_seq=2)
    out = _verify(api, "victim")
    # The chain alone is consistent again: only the anchor tells.
    assert out["checked"] == length
    assert out["ok"] is False
    assert out["anchors"]["status"] == "rewritten"
    rewrite = out["anchors"]["rewrite"]
    # The earliest anchor that disagrees is named (the closest to where the rewrite began),
    # with the range the rewrite starts in: after the last agreeing anchor, at seq 2 here.
    assert 2 <= rewrite["seq"] <= anchor["seq"]
    assert rewrite["key"].startswith(f"anchors/env/victim/dev/{rewrite['seq']:012d}-")
    assert rewrite["rewritten_from_seq"] <= 2
    assert out["first_break"]["seq"] == rewrite["seq"]
    cli = _vexil(state, "audit", "verify", "--project", "victim", "--environment", "dev")
    assert cli.returncode == 1
    assert "chain rewritten" in cli.stderr
    assert rewrite["key"] in cli.stderr
    assert f"between seq {rewrite['rewritten_from_seq']} and seq {rewrite['seq']}" in cli.stderr
    # The attacker now makes the publisher anchor the rewritten head (a new write, then the
    # periodic run): the older anchors still prove the rewrite.
    api.request("PUT", "/v1/projects/victim/environments/dev/flags/checkout",
                body={"enabled": True, "default": {"variation": "off"}}, if_match='"4"')
    _eventually(lambda: (_verify(api, "victim")["anchors"]["latest"] or {}).get("seq", 0)
                > anchor["seq"])
    assert _vexil(state, "audit", "anchor").returncode == 0
    again = _verify(api, "victim")
    assert again["ok"] is False
    assert again["anchors"]["rewrite"]["seq"] <= anchor["seq"]
    assert again["anchors"]["latest"]["seq"] == again["checked"]


def test_forged_anchors_are_refused_not_believed(stack: Stack) -> None:
    state, info = stack
    api = ApiClient(info["api"], info["admin_token"])
    _write_history(api, "forged")
    _anchored_by_publish(api, "forged")
    s3 = _aws(info, "s3")
    lie = "cd" * 32
    unsigned = {"format": 1, "project": "forged", "environment": "dev", "seq": 1,
                "hash": lie, "at": "2026-12-06T00:00:00.000Z"}
    other = LocalSigner()  # a P-256 key that is not the publisher's
    claim = {**unsigned, "seq": 2}
    digest = hashlib.sha256(b"vexil audit anchor v1\n" + orjson.dumps(
        claim, option=orjson.OPT_SORT_KEYS)).hexdigest()
    from edge_reader.bundle.signing import sign_digest_set

    sig = sign_digest_set([digest], key_fingerprint=other.trusted.fingerprint,
                          sign_digest=other.sign_digest)
    signed = {**claim, "signature": {"key": sig.key, "digests": list(sig.digests),
                                     "value": sig.value}}
    planted = {}
    for body in (unsigned, signed):
        key = f"anchors/env/forged/dev/{body['seq']:012d}-{lie}.json"
        s3.put_object(Bucket=info["bucket"], Key=key, Body=orjson.dumps(body))
        planted[key] = body
    out = _verify(api, "forged")
    assert out["ok"] is True
    assert out["anchors"]["status"] == "verified"
    refused = {r["key"]: r["reason"] for r in out["anchors"]["refused"]}
    assert set(refused) == set(planted)
    assert any("not signed" in r for r in refused.values())
    assert any("untrusted key" in r for r in refused.values())
    cli = _vexil(state, "audit", "verify", "--project", "forged", "--environment", "dev")
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert cli.stderr.count("anchor refused") == 2
