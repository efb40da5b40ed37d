"""An attacker with bucket write cannot freeze publishing (F3), and pointers stay fresh.

Each test plants something in the live pointer's place on moto S3 — a forged pointer with a
huge revision (unsigned, or signed by a key of the attacker's own), a deleted pointer, a
genuine pointer of another environment or another scope — then makes the next table write
and shows that it is published, signed, and that a reader pinning the publisher's key
(KMS access as in production) receives it. The reader reads the bucket through
:class:`S3Transport` (S3 GetObject with the ETag check a CDN does): moto refuses anonymous
GETs; the CDN path itself is covered by tests/e2e.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from chalicelib.publish.publisher import Publisher

from edge_reader.bundle import Pointer, encode_pointer, pointer_object_key
from edge_reader.bundle.signing import public_key_pem, sign_pointers, verify_pointer
from edge_reader.client import FlagClient
from edge_reader.client._transport import Request, Response
from tests.bundle.signers import LocalSigner
from tests.publisher.conftest import Bucket, kms_access
from tests.publisher.tablekit import TableKit

USER = {"targetingKey": "u-1"}
HUGE = 1_000_000_000


class S3Transport:
    """The reader's transport seam served by S3 GetObject: ``http://s3.test/<key>``."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def handle_request(self, request: Request) -> Response:
        key = request.url.removeprefix("http://s3.test/")
        try:
            got = self.s3.get_object(Bucket=self.bucket, Key=key)
        except self.s3.exceptions.NoSuchKey:
            return Response(404, {}, b"")
        etag = str(got["ETag"])
        if request.headers.get("If-None-Match") == etag:
            return Response(304, {"etag": etag}, b"")
        return Response(200, {"etag": etag}, got["Body"].read())

    def close(self) -> None:
        return None


@pytest.fixture
def reader(kit: TableKit, publisher: Publisher, bucket: Bucket) -> Iterator[FlagClient]:
    """A reader of prod's server scope that requires the publisher's signature."""
    client = _signed_reader(kit, publisher, bucket)
    yield client
    client.close()


def _signed_reader(kit: TableKit, publisher: Publisher, bucket: Bucket) -> FlagClient:
    """A new (cold) reader of prod's server scope that requires the publisher's signature."""
    assert publisher.signer is not None
    pem = public_key_pem(publisher.signer.kms.get_public_key(
        KeyId=publisher.signer.key_id)["PublicKey"])
    url = f"http://s3.test/{pointer_object_key(kit.project, 'prod', 'server')}"
    return FlagClient(project=kit.project, environment="prod", pointer_url=url,
                      start=False, signing_keys=pem,
                      transport=S3Transport(bucket.s3, bucket.name),
                      **kms_access(publisher))


def _start(kit: TableKit, publisher: Publisher, reader: FlagClient) -> None:
    """Revision 1 live and held by the reader: the kill switch is off."""
    kit.env(revision=1)
    kit.flag("kill", default={"variation": "off"})
    assert sorted(publisher.publish(kit.project, "prod").published) == ["client", "server"]
    first = reader.refresh()
    assert first.outcome == "updated", first
    assert reader.get_boolean("kill", USER, True) is False


def _kill_switch_reaches_the_reader(kit: TableKit, publisher: Publisher, bucket: Bucket,
                                    reader: FlagClient) -> None:
    """The next write (kill switch on) is published, signed, and served."""
    kit.flag("kill", version=2, default={"variation": "on"})
    revision = kit.bump()
    outcome = publisher.publish(kit.project, "prod")
    assert "server" in outcome.published
    live = bucket.pointer(kit.project)
    assert live is not None
    assert live.revision == revision
    assert publisher.signer is not None
    verify_pointer(live, [publisher.signer.public_key()])
    result = reader.refresh()
    assert (result.outcome, result.revision) == ("updated", revision)
    assert reader.get_boolean("kill", USER, False) is True


def _plant(bucket: Bucket, key: str, body: bytes) -> None:
    bucket.s3.put_object(Bucket=bucket.name, Key=key, Body=body,
                         ContentType="application/json")


def test_a_forged_unsigned_pointer_with_a_huge_revision_does_not_freeze_publishing(
    kit: TableKit, publisher: Publisher, bucket: Bucket, reader: FlagClient
) -> None:
    _start(kit, publisher, reader)
    live = bucket.pointer(kit.project)
    assert live is not None
    forged = replace(live.unsigned(), revision=HUGE,
                     key=live.key.replace("/1-", f"/{HUGE}-"))
    _plant(bucket, pointer_object_key(kit.project, "prod", "server"), encode_pointer(forged))
    assert reader.refresh().kind == "bad_signature"  # the reader refuses the forgery...
    _kill_switch_reaches_the_reader(kit, publisher, bucket, reader)  # ...and is not frozen


def test_a_pointer_signed_by_the_attackers_own_key_counts_as_absent(
    kit: TableKit, publisher: Publisher, bucket: Bucket, reader: FlagClient
) -> None:
    _start(kit, publisher, reader)
    live = bucket.pointer(kit.project)
    assert live is not None
    attacker = LocalSigner()
    forged = replace(live.unsigned(), revision=HUGE, key=live.key.replace("/1-", f"/{HUGE}-"),
                     expires_at=2**40)
    (signed,) = sign_pointers([forged], key_fingerprint=attacker.trusted.fingerprint,
                              sign_digest=attacker.sign_digest)
    _plant(bucket, pointer_object_key(kit.project, "prod", "server"), encode_pointer(signed))
    _kill_switch_reaches_the_reader(kit, publisher, bucket, reader)


def test_a_deleted_pointer_is_not_remembered_but_rewritten(
    kit: TableKit, publisher: Publisher, bucket: Bucket, reader: FlagClient
) -> None:
    _start(kit, publisher, reader)
    key = pointer_object_key(kit.project, "prod", "server")
    bucket.s3.delete_object(Bucket=bucket.name, Key=key)
    # The same publisher (same container) publishes again at the same revision: what it
    # wrote before is not trusted over what S3 says now.
    outcome = publisher.publish(kit.project, "prod")
    assert outcome.published == ["server"]
    assert bucket.pointer(kit.project) is not None
    bucket.s3.delete_object(Bucket=bucket.name, Key=key)
    _kill_switch_reaches_the_reader(kit, publisher, bucket, reader)


def test_a_pointer_whose_bundle_was_deleted_is_republished_by_the_heartbeat(
    kit: TableKit, publisher: Publisher, bucket: Bucket, reader: FlagClient
) -> None:
    _start(kit, publisher, reader)
    live = bucket.pointer(kit.project)
    assert live is not None
    bucket.s3.delete_object(Bucket=bucket.name, Key=live.key)  # the attacker's one write
    outcome = publisher.heartbeat([(kit.project, "prod")])[0]
    assert "server" in outcome.published  # same revision, a bundle that exists again
    repaired = bucket.pointer(kit.project)
    assert repaired is not None
    assert repaired.revision == live.revision
    assert bucket.s3.head_object(Bucket=bucket.name, Key=repaired.key)["ContentLength"] == \
        repaired.size
    # A cold reader (nothing cached) loads it.
    cold = _signed_reader(kit, publisher, bucket)
    try:
        assert cold.refresh().outcome == "updated"
        assert cold.get_boolean("kill", USER, True) is False
    finally:
        cold.close()
    # An intact pointer costs nothing more: the next beat publishes nothing.
    assert publisher.heartbeat([(kit.project, "prod")])[0].published == []


def test_a_genuine_pointer_of_another_environment_or_scope_is_not_trusted(
    kit: TableKit, publisher: Publisher, bucket: Bucket, reader: FlagClient
) -> None:
    _start(kit, publisher, reader)
    kit.env("staging", revision=HUGE - 1)  # its genuine pointers carry a huge revision
    kit.flag("kill", "staging", default={"variation": "off"})
    publisher.publish(kit.project, "staging")
    server_key = pointer_object_key(kit.project, "prod", "server")
    foreign = bucket.body(pointer_object_key(kit.project, "staging", "server"))
    _plant(bucket, server_key, foreign)
    assert reader.refresh().kind == "wrong_environment"
    _kill_switch_reaches_the_reader(kit, publisher, bucket, reader)
    # Another scope's genuine pointer (prod's client scope) in the server scope's place.
    _plant(bucket, server_key, bucket.body(pointer_object_key(kit.project, "prod", "client")))
    outcome = publisher.publish(kit.project, "prod")
    assert outcome.published == ["server"]
    assert reader.refresh().outcome == "unchanged"  # back on the revision it holds


def test_an_unsigned_publisher_checks_a_high_revision_against_the_table(
    kit: TableKit, publisher: Publisher, bucket: Bucket
) -> None:
    publisher.signer = None
    kit.env(revision=1)
    kit.flag("kill")
    publisher.publish(kit.project, "prod")
    live = bucket.pointer(kit.project)
    assert live is not None
    assert live.expires_at is None  # no signature, no expiry: anyone could write one
    _plant(bucket, pointer_object_key(kit.project, "prod", "server"),
           encode_pointer(replace(live, revision=HUGE, key=live.key.replace("/1-", f"/{HUGE}-"))))
    revision = kit.bump()
    assert "server" in publisher.publish(kit.project, "prod").published
    after = bucket.pointer(kit.project)
    assert after is not None
    assert after.revision == revision


def test_the_heartbeat_renews_due_pointers_without_rebuilding_and_repairs_deleted_ones(
    kit: TableKit, publisher: Publisher, bucket: Bucket, s3: Any
) -> None:
    kit.env(revision=3)
    kit.flag("a")
    publisher.publish(kit.project, "prod")
    first = bucket.pointer(kit.project)
    assert first is not None
    assert first.expires_at is not None
    assert first.expires_at - publisher.clock() > publisher.freshness.max_age - 60
    bundles_before = _objects(s3, bucket, kit.project)
    # Straight away nothing is due: the heartbeat writes nothing.
    (quiet,) = publisher.heartbeat([(kit.project, "prod")])
    assert {s.status for s in quiet.scopes} == {"up-to-date"}
    # Half an interval later both scopes are due: re-signed, same bundle, later expiry.
    start = publisher.clock()
    publisher.clock = lambda: start + publisher.freshness.heartbeat / 2 + 1
    (beat,) = publisher.heartbeat([(kit.project, "prod")])
    assert sorted(beat.renewed) == ["client", "server"]
    renewed = bucket.pointer(kit.project)
    assert renewed is not None
    assert (renewed.revision, renewed.key) == (first.revision, first.key)
    assert renewed.expires_at is not None
    assert renewed.expires_at > first.expires_at
    assert publisher.signer is not None
    verify_pointer(renewed, [publisher.signer.public_key()])
    assert _objects(s3, bucket, kit.project) == bundles_before  # no bundle rebuilt
    # A pointer deleted between writes is back after the next heartbeat.
    s3.delete_object(Bucket=bucket.name, Key=pointer_object_key(kit.project, "prod", "server"))
    (repair,) = publisher.heartbeat([(kit.project, "prod")])
    assert repair.published == ["server"]
    assert bucket.pointer(kit.project) is not None


def _objects(s3: Any, bucket: Bucket, project: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=bucket.name, Prefix=f"bundles/{project}/")
    return sorted(o["Key"] for o in listed.get("Contents", []) if o["Key"].endswith(".bundle"))


def test_the_heartbeat_walks_every_environment_of_every_project(
    kit: TableKit, publisher: Publisher, bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.publish.stream import handler

    kit.register_project()
    for environment in ("prod", "staging"):
        kit.env(environment, revision=2)
        kit.flag("a", environment)
    listed = publisher.reader.environments()
    assert {(kit.project, "prod"), (kit.project, "staging")} <= set(listed)
    # The schedule's event reaches the heartbeat through the publisher Lambda's handler
    # (the shared table holds other tests' projects: the walk is narrowed to this one).
    ours = [pair for pair in listed if pair[0] == kit.project]
    monkeypatch.setattr(publisher.reader, "environments", lambda: ours)
    monkeypatch.setattr("chalicelib.publish.stream._PUBLISHER", publisher)
    result = handler({"source": "vexil.heartbeat"}, None)
    anchors = result["heartbeat"].pop("anchors")
    assert result == {"heartbeat": {"environments": 2, "renewed": 0, "published": 4}}
    assert anchors["failed"] == 0  # every chain head is anchored (by its publish or the beat)
    for environment in ("prod", "staging"):
        live = bucket.pointer(kit.project, environment)
        assert live is not None
        assert live.revision == 2


def test_freshness_configuration_has_safe_defaults_and_refuses_unsafe_values() -> None:
    from chalicelib.publish.signing import Freshness

    assert Freshness.from_env({}) == Freshness(max_age=3600, heartbeat=900)
    assert Freshness.from_env({"VEXIL_POINTER_MAX_AGE": "600",
                               "VEXIL_HEARTBEAT_INTERVAL": "300"}) == Freshness(600, 300)
    for max_age, heartbeat in ((1000, 900), (3600, 0), (3600, -5)):
        with pytest.raises(ValueError, match="max age"):
            Freshness(max_age=max_age, heartbeat=heartbeat)
    fresh = Freshness()
    live = replace(_POINTER, expires_at=fresh.expires_at(1000.0))
    assert not fresh.needs_renewal(live, 1000.0 + 449)  # younger than half an interval
    assert fresh.needs_renewal(live, 1000.0 + 451)
    assert fresh.needs_renewal(replace(live, expires_at=None), 1000.0)


_POINTER = Pointer(
    format=1, project="p", environment="prod", scope="server", revision=1,
    key=f"bundles/p/prod/1-{'ab' * 32}.bundle", sha256="ab" * 32, size=1,
    generated_at="2026-11-24T06:00:00.000Z")
