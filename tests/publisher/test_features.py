"""The publisher writes the engine features a bundle uses into its document (issue 17)."""

from __future__ import annotations

from typing import Any

from chalicelib.publish.publisher import Publisher

from edge_reader.bundle import (
    SdkKey,
    decode_bundle_document,
    decrypt_bundle,
    encryption_context,
    generate_sdk_key,
)
from edge_reader.engine import Reason, compile_environment
from tests.publisher.conftest import Bucket
from tests.publisher.tablekit import TableKit


def _server_doc(bucket: Bucket, kit: TableKit, key: SdkKey) -> dict[str, Any]:
    pointer = bucket.pointer(kit.project, scope="server")
    assert pointer is not None
    return decode_bundle_document(decrypt_bundle(
        bucket.body(pointer.key), sdk_key=key,
        expected=encryption_context(kit.project, "prod", pointer.revision, "server")))


def test_the_bundle_lists_the_features_it_uses(
    kit: TableKit, publisher: Publisher, bucket: Bucket, vexil_resources: dict[str, str],
) -> None:
    key = generate_sdk_key("srv")
    kit.env(revision=1)
    kit.sdk_key(key, vexil_resources["VEXIL_KMS_KEY_ID"])
    kit.flag("plain")
    kit.flag("grouped", rules=[{"id": "r", "clauses": [{"any": [
        {"attribute": "country", "op": "in", "values": ["de"], "case_insensitive": True},
        {"attribute": "plan", "op": "not_in", "values": ["free"], "when_absent": True}]}],
        "serve": {"variation": "on"}}], prerequisites=[{"flag": "plain", "off": True}])
    publisher.publish(kit.project, "prod")
    doc = _server_doc(bucket, kit, key)
    assert doc["features"] == ["case_insensitive", "clause_groups", "prerequisite_off",
                               "when_absent"]
    env = compile_environment(doc, strict=True)  # what readers compile
    assert env.metadata["features"] == tuple(doc["features"])
    d = env.evaluate("grouped", {"targetingKey": "u", "country": "DE"})
    assert (d.variant, d.reason) == ("off", Reason.DISABLED)  # `plain` is on: not off


def test_a_bundle_using_no_feature_has_no_features_field(
    kit: TableKit, publisher: Publisher, bucket: Bucket, vexil_resources: dict[str, str],
) -> None:
    """Documents of the base format stay byte-for-byte what they were."""
    key = generate_sdk_key("srv")
    kit.env(revision=1)
    kit.sdk_key(key, vexil_resources["VEXIL_KMS_KEY_ID"])
    kit.flag("plain")
    publisher.publish(kit.project, "prod")
    assert "features" not in _server_doc(bucket, kit, key)


def test_a_scoped_bundle_carries_segments_referenced_inside_groups(
    kit: TableKit, publisher: Publisher, bucket: Bucket, vexil_resources: dict[str, str],
) -> None:
    """Scopes take each flag's segments along: a reference nested in a group counts."""
    tagged = generate_sdk_key("srv")
    kit.env(revision=1)
    kit.sdk_key(tagged, vexil_resources["VEXIL_KMS_KEY_ID"], tags=("checkout",))
    kit.segment("inner", {"context_kind": "user", "included": ["u-1"], "excluded": [],
                          "rules": []})
    kit.segment("outer", {"context_kind": "user", "included": [], "excluded": [], "rules": [
        {"id": "r", "clauses": [{"not": {"op": "segment_match", "values": ["inner"]}}]}]})
    kit.segment("unused", {"context_kind": "user", "included": ["x"], "excluded": [],
                           "rules": []})
    kit.flag("checkout.new", tags=["checkout"], rules=[{"id": "r", "clauses": [
        {"any": [{"attribute": "country", "op": "in", "values": ["DE"]},
                 {"all": [{"op": "segment_match", "values": ["outer"]}]}]}],
        "serve": {"variation": "off"}}])
    outcome = publisher.publish(kit.project, "prod")
    assert tagged.scope_name in outcome.published
    pointer = bucket.pointer(kit.project, scope=tagged.scope_name)
    assert pointer is not None
    doc = decode_bundle_document(decrypt_bundle(
        bucket.body(pointer.key), sdk_key=tagged,
        expected=encryption_context(kit.project, "prod", pointer.revision,
                                    tagged.scope_name)))
    assert set(doc["segments"]) == {"inner", "outer"}
    env = compile_environment(doc, strict=True)
    assert env.evaluate("checkout.new", {"targetingKey": "u-2"}).variant == "off"
