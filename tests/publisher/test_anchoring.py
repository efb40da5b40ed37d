"""Writing audit anchors: with each publish (in its one Sign), and for every chain at once.

Real KMS signing key, real bucket (moto); a failing anchor store never fails a publish.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from chalicelib import keys
from chalicelib.anchors import AnchorStore, load_verified
from chalicelib.publish import anchoring
from chalicelib.publish.publisher import Publisher
from chalicelib.publish.signing import PointerSigner

from edge_reader.bundle import generate_sdk_key
from tests.publisher.conftest import Bucket
from tests.publisher.tablekit import TableKit, unique


def _kms_calls(client: Any) -> list[str]:
    names: list[str] = []
    client.meta.events.register("before-call.kms", lambda model, **_: names.append(model.name))
    return names


def test_a_publish_anchors_its_chain_head(kit: TableKit, publisher: Publisher,
                                          bucket: Bucket, vexil_resources: dict[str, str]
                                          ) -> None:
    kit.env(revision=3, audit_head="ef" * 32)
    kit.sdk_key(generate_sdk_key("srv"), vexil_resources["VEXIL_KMS_KEY_ID"])
    outcome = publisher.publish(kit.project, "prod")
    assert "server" in outcome.published
    assert outcome.anchor == f"anchors/env/{kit.project}/prod/000000000003-{'ef' * 32}.json"
    assert publisher.signer is not None
    body = bucket.s3.get_object(Bucket=bucket.name, Key=outcome.anchor)["Body"].read()
    anchor = load_verified(body, outcome.anchor, [publisher.signer.public_key()])
    assert (anchor.project, anchor.environment, anchor.seq) == (kit.project, "prod", 3)


def test_an_anchor_that_cannot_be_written_never_fails_the_publish(
    kit: TableKit, publisher: Publisher, bucket: Bucket, vexil_resources: dict[str, str]
) -> None:
    assert publisher.anchorer is not None
    publisher.anchorer.store = AnchorStore(bucket.s3, "no-such-anchor-bucket")
    kit.env(revision=2)
    kit.sdk_key(generate_sdk_key("srv"), vexil_resources["VEXIL_KMS_KEY_ID"])
    outcome = publisher.publish(kit.project, "prod")
    assert "server" in outcome.published  # the bundle is live ...
    assert bucket.pointer(kit.project) is not None
    assert outcome.anchor is None  # ... the anchor is not, and that is counted
    assert publisher.anchorer.failures == 1


class _Heads:
    """The three reads :func:`anchoring.chain_heads` makes, over a fixed set of heads."""

    def __init__(self, project: str, envs: dict[str, int], global_seq: int) -> None:
        self.project, self.envs, self.global_seq = project, envs, global_seq

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        assert (pk, sk) == (keys.GLOBAL_AUDIT_HEAD_PK, keys.GLOBAL_AUDIT_HEAD_SK)
        return {"audit_seq": self.global_seq, "audit_head": "01" * 32}

    def query_index(self, gsi1pk: str, gsi1sk: str | None = None) -> list[dict[str, Any]]:
        return [{"project": self.project}]

    def query(self, pk: str, sk_prefix: str, **_: Any) -> tuple[Sequence[dict[str, Any]], None]:
        assert (pk, sk_prefix) == (keys.project_pk(self.project), keys.ENV_SK_PREFIX)
        return [{"project": self.project, "environment": e, "audit_seq": s,
                 "audit_head": f"{s:02d}" * 32} for e, s in self.envs.items()], None


def test_anchor_all_signs_once_per_batch_and_skips_anchored_heads(
    vexil_resources: dict[str, str], boto_session: Any, bucket: Bucket,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(anchoring, "BATCH", 2)
    kms = boto_session.client("kms")
    signer = PointerSigner(kms, vexil_resources["VEXIL_SIGNING_KEY_ID"])
    project = unique()
    # A bucket of its own: these heads are made up, the global chain's included, and anchors
    # of the real global chain in the shared bucket would contradict it for later tests.
    anchor_bucket = f"anchors-{project}"
    bucket.s3.create_bucket(Bucket=anchor_bucket)
    anchorer = anchoring.Anchorer(AnchorStore(bucket.s3, anchor_bucket), signer)
    # Three environments with records, one empty (nothing to anchor), and the global chain.
    heads: Any = _Heads(project, {"a": 4, "b": 9, "c": 1, "empty": 0}, global_seq=7)
    calls = _kms_calls(kms)
    run = anchoring.anchor_all(heads, anchorer)
    assert run.failed == 0
    assert len(run.written) == 4
    assert calls.count("Sign") == 2  # 4 heads, batches of 2
    trusted = [signer.public_key()]
    for key in run.written:
        body = bucket.s3.get_object(Bucket=anchor_bucket, Key=key)["Body"].read()
        load_verified(body, key, trusted)  # raises unless genuine and named for its claim
    # Nothing moved: the next run finds every head anchored and signs nothing.
    calls.clear()
    again = anchoring.anchor_all(heads, anchorer)
    assert (again.written, again.already, calls.count("Sign")) == ([], 4, 0)
    # One chain moved: one Sign, one new anchor.
    heads.envs["b"] = 10
    moved = anchoring.anchor_all(heads, anchorer)
    assert moved.written == [f"anchors/env/{project}/b/000000000010-{'10' * 32}.json"]
    assert calls.count("Sign") == 1


def test_a_failed_sign_is_counted_not_raised(vexil_resources: dict[str, str],
                                            boto_session: Any, bucket: Bucket) -> None:
    signer = PointerSigner(boto_session.client("kms"), "alias/no-such-signing-key")
    anchorer = anchoring.Anchorer(AnchorStore(bucket.s3, bucket.name), signer)
    heads: Any = _Heads(unique(), {"a": 2}, global_seq=0)
    run = anchoring.anchor_all(heads, anchorer)
    assert (run.written, run.failed, anchorer.failures) == ([], 1, 1)



def test_the_heartbeat_anchors_a_chain_that_moved_without_a_publish(
    kit: TableKit, publisher: Publisher, bucket: Bucket, vexil_resources: dict[str, str]
) -> None:
    from chalicelib.publish.stream import handle_heartbeat

    kit.register_project()
    kit.env(revision=2, audit_head="cd" * 32)
    kit.sdk_key(generate_sdk_key("srv"), vexil_resources["VEXIL_KMS_KEY_ID"])
    assert "server" in publisher.publish(kit.project, "prod").published
    # A change request or a denied write moves the chain, not the revision: no publish.
    kit.ddb.update_item(
        TableName=kit.table,
        Key={"pk": {"S": keys.project_pk(kit.project)}, "sk": {"S": keys.environment_sk("prod")}},
        UpdateExpression="SET audit_seq = :s, audit_head = :h",
        ExpressionAttributeValues={":s": {"N": "5"}, ":h": {"S": "9a" * 32}})
    summary = handle_heartbeat(publisher)["heartbeat"]
    key = f"anchors/env/{kit.project}/prod/000000000005-{'9a' * 32}.json"
    assert publisher.last_anchor_run is not None
    assert key in publisher.last_anchor_run.written
    assert summary["anchors"]["written"] >= 1
    assert summary["anchors"]["failed"] == 0
    assert publisher.signer is not None
    body = bucket.s3.get_object(Bucket=bucket.name, Key=key)["Body"].read()
    assert load_verified(body, key, [publisher.signer.public_key()]).seq == 5
    # Nothing moved since: the next beat writes nothing for this chain.
    handle_heartbeat(publisher)
    assert key not in publisher.last_anchor_run.written
