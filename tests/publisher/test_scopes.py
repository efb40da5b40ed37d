"""Scoped bundles: client-visible flags, tag/prefix-scoped keys, revoked keys."""

from __future__ import annotations

from typing import Any

import pytest
from chalicelib.publish.publisher import Publisher

from edge_reader.bundle import (
    EnvelopeError,
    SdkKey,
    decode_bundle_document,
    decrypt_bundle,
    encryption_context,
    generate_sdk_key,
)
from edge_reader.engine import compile_environment
from tests.publisher.conftest import Bucket
from tests.publisher.tablekit import TableKit


def _doc(bucket: Bucket, kit: TableKit, key: SdkKey, scope: str) -> dict[str, Any]:
    pointer = bucket.pointer(kit.project, scope=scope)
    assert pointer is not None
    return decode_bundle_document(decrypt_bundle(
        bucket.body(pointer.key), sdk_key=key,
        expected=encryption_context(kit.project, "prod", pointer.revision, scope)))


def _refused(bucket: Bucket, kit: TableKit, key: SdkKey, scope: str) -> None:
    pointer = bucket.pointer(kit.project, scope=scope)
    assert pointer is not None
    with pytest.raises(EnvelopeError):
        decrypt_bundle(bucket.body(pointer.key), sdk_key=key,
                       expected=encryption_context(kit.project, "prod", pointer.revision,
                                                   scope))


@pytest.fixture
def populated(kit: TableKit, vexil_resources: dict[str, str]) -> dict[str, SdkKey]:
    """Flags with tags, prefixes, client visibility, a prerequisite and segment chain."""
    kms_key = vexil_resources["VEXIL_KMS_KEY_ID"]
    kit.env(revision=1)
    kit.segment("inner", {"context_kind": "user", "included": ["u-1"], "excluded": [],
                          "rules": []})
    kit.segment("outer", {"context_kind": "user", "included": [], "excluded": [], "rules": [
        {"id": "r", "clauses": [{"attribute": "key", "op": "segment_match",
                                 "values": ["inner"]}]}]})
    kit.segment("unused", {"context_kind": "user", "included": ["x"], "excluded": [],
                           "rules": []})
    kit.flag("base")  # only reachable as a prerequisite
    kit.flag("checkout.new", tags=["checkout"], prerequisites=[
        {"flag": "base", "variation": "on"}])
    kit.flag("search.v2", tags=["search"], client_visible=True, rules=[
        {"id": "seg", "clauses": [{"attribute": "key", "op": "segment_match",
                                   "values": ["outer"]}], "serve": {"variation": "off"}}])
    kit.flag("ui.banner", client_visible=True)
    keys = {
        "server": generate_sdk_key("srv"),
        "client": generate_sdk_key("cli"),
        "tagged": generate_sdk_key("srv"),
        "prefixed": generate_sdk_key("srv"),
        "client_scoped": generate_sdk_key("cli"),
        "revoked": generate_sdk_key("srv"),
    }
    kit.sdk_key(keys["server"], kms_key)
    kit.sdk_key(keys["client"], kms_key)
    kit.sdk_key(keys["tagged"], kms_key, tags=("checkout",))
    kit.sdk_key(keys["prefixed"], kms_key, prefixes=("search.",))
    kit.sdk_key(keys["client_scoped"], kms_key, prefixes=("search.", "checkout."))
    kit.sdk_key(keys["revoked"], kms_key, revoked_at="2026-11-24T05:00:00.000Z")
    return keys


def test_each_scope_holds_only_its_flags_and_what_they_need(
    kit: TableKit, publisher: Publisher, bucket: Bucket, populated: dict[str, SdkKey]
) -> None:
    outcome = publisher.publish(kit.project, "prod")
    k = populated
    assert sorted(outcome.published) == sorted([
        "server", "client", k["tagged"].scope_name, k["prefixed"].scope_name,
        k["client_scoped"].scope_name])

    server = _doc(bucket, kit, k["server"], "server")
    assert set(server["flags"]) == {"base", "checkout.new", "search.v2", "ui.banner"}
    assert set(server["segments"]) == {"inner", "outer", "unused"}

    client = _doc(bucket, kit, k["client"], "client")
    assert set(client["flags"]) == {"search.v2", "ui.banner"}
    assert set(client["segments"]) == {"inner", "outer"}

    tagged = _doc(bucket, kit, k["tagged"], k["tagged"].scope_name)
    assert set(tagged["flags"]) == {"checkout.new", "base"}  # prerequisite travels along
    assert tagged["segments"] == {}

    prefixed = _doc(bucket, kit, k["prefixed"], k["prefixed"].scope_name)
    assert set(prefixed["flags"]) == {"search.v2"}
    assert set(prefixed["segments"]) == {"inner", "outer"}  # transitively referenced

    client_scoped = _doc(bucket, kit, k["client_scoped"], k["client_scoped"].scope_name)
    assert set(client_scoped["flags"]) == {"search.v2"}  # checkout.new is not client-visible

    for doc in (server, client, tagged, prefixed, client_scoped):
        compile_environment(doc, strict=True)  # every scope compiles on its own


def test_keys_open_only_their_own_scope(
    kit: TableKit, publisher: Publisher, bucket: Bucket, populated: dict[str, SdkKey]
) -> None:
    publisher.publish(kit.project, "prod")
    k = populated
    _refused(bucket, kit, k["client"], "server")
    _refused(bucket, kit, k["tagged"], "server")
    _refused(bucket, kit, k["server"], "client")
    _refused(bucket, kit, k["server"], k["tagged"].scope_name)
    _refused(bucket, kit, k["prefixed"], k["tagged"].scope_name)


def test_a_revoked_key_opens_no_new_bundle(
    kit: TableKit, publisher: Publisher, bucket: Bucket, populated: dict[str, SdkKey]
) -> None:
    publisher.publish(kit.project, "prod")
    _refused(bucket, kit, populated["revoked"], "server")
    assert bucket.pointer(kit.project, scope=populated["revoked"].scope_name) is None


def test_kms_unwraps_each_sdk_key_once_per_container(
    kit: TableKit, publisher: Publisher, populated: dict[str, SdkKey]
) -> None:
    calls: list[str] = []
    publisher.reader.kms.meta.events.register(
        "before-call.kms.Decrypt", lambda **_: calls.append("Decrypt"))
    publisher.publish(kit.project, "prod")
    assert len(calls) == 5  # five live keys, the revoked one is never unwrapped
    kit.bump()
    publisher.publish(kit.project, "prod")
    assert len(calls) == 5
