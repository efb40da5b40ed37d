"""POST /v1/audit/verify against external anchors, in process (the e2e file runs the stack).

Anchors are written with the real signing key (moto KMS) into the session bucket, as the
publisher writes them; the chain is then changed directly in the table.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from chalicelib import anchor_check, keys
from chalicelib.anchors import AnchorStore, anchor_digest
from chalicelib.audit import Chain
from chalicelib.publish.anchoring import Anchorer
from chalicelib.publish.signing import PointerSigner

from tests.control_plane.conftest import BOOL_FLAG, World


def _history(world: World) -> tuple[str, Chain]:
    p = world.new_project(envs=("dev",))
    world.api.post(f"/v1/projects/{p}/flags", BOOL_FLAG)
    url = f"/v1/projects/{p}/environments/dev/flags/checkout"
    for v in range(1, 4):
        r = world.api.put(url, {"enabled": v % 2 == 1, "default": {"variation": "on"}},
                          if_match=v)
        assert r.status_code == 200, r.json
    return p, Chain.for_environment(p, "dev")


def _anchor_head(world: World, resources: dict[str, str], chain: Chain) -> str:
    """Anchor the chain's current head as the publisher would; return the anchor's key."""
    anchorer = Anchorer(AnchorStore(boto3.client("s3"), resources["VEXIL_BUCKET"]),
                        PointerSigner(boto3.client("kms"), resources["VEXIL_SIGNING_KEY_ID"]))
    env = world.ctx.repo.get(chain.head_pk, chain.head_sk)
    anchor = anchorer.head(chain, int(env["audit_seq"]), str(env["audit_head"]))
    assert anchor is not None
    key = anchorer.store_signed(anchor, anchorer.signer.sign_digests([anchor_digest(anchor)]))
    assert key is not None
    return key


def test_a_dropped_tail_with_the_head_moved_back_is_caught_by_the_anchor(
    world: World, vexil_resources: dict[str, str]
) -> None:
    p, chain = _history(world)
    key = _anchor_head(world, vexil_resources, chain)
    body = {"project": p, "environment": "dev"}
    honest = world.api.post("/v1/audit/verify", body).json
    assert honest["ok"] is True
    assert honest["anchors"]["latest"]["key"] == key
    # Drop the last record and move the head back: the chain alone is consistent again.
    table = boto3.resource("dynamodb").Table(world.ctx.repo.table_name)
    last = honest["checked"]
    previous = table.get_item(Key={"pk": chain.records_pk, "sk": keys.audit_sk(last - 1)})
    table.delete_item(Key={"pk": chain.records_pk, "sk": keys.audit_sk(last)})
    table.update_item(Key={"pk": chain.head_pk, "sk": chain.head_sk},
                      UpdateExpression="SET audit_seq = :n, audit_head = :h",
                      ExpressionAttributeValues={":n": last - 1,
                                                 ":h": previous["Item"]["hash"]})
    out = world.api.post("/v1/audit/verify", body).json
    assert out["checked"] == last - 1
    assert out["ok"] is False
    assert out["anchors"]["rewrite"]["key"] == key
    assert "the chain ends before it" in out["first_break"]["reason"]


def test_unreadable_anchors_are_reported_not_hidden(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    p, _ = _history(world)
    broken = anchor_check.AnchorVerifier(AnchorStore(boto3.client("s3"), "no-such-bucket"),
                                         lambda: [])
    monkeypatch.setattr(anchor_check, "_VERIFIER", [broken])
    out: dict[str, Any] = world.api.post("/v1/audit/verify",
                                         {"project": p, "environment": "dev"}).json
    assert out["ok"] is True  # the chain itself verifies ...
    assert out["anchors"] == {"status": "unavailable", "reason": "anchors cannot be read"}
