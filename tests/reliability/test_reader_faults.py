"""A reader facing a misbehaving CDN: every fault keeps the previous bundle and says why.

One table, one real loopback HTTP server (tests.client.cdn.LoopbackCdn), real encrypted
bundles. Each case: revision 2 is loaded and serving ``on``; the CDN then misbehaves while a
revision 3 (serving ``off``) or an attack is on offer; one refresh must fail with the named
kind, keep revision 2 serving ``on``, and report STALE with a reason naming the cause.

The second table runs the same faults against a reader that pins the publisher's signing
key (pointers signed by the publisher's own signer on moto KMS), plus the forgeries only
that key stops: bundles made with a valid SDK key alone, behind unsigned, self-signed or
borrowed-signature pointers, and a genuine pointer with its signature stripped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from edge_reader import ClientStatus
from edge_reader.bundle import Pointer, bundle_object_key, encode_pointer
from tests.bundle.signers import LocalSigner
from tests.client.bundles import USER, BundleFactory, bool_flag, forge_with_sdk_key, make_client
from tests.client.cdn import LoopbackCdn


@dataclass(frozen=True)
class Case:
    kind: str
    act: Callable[[LoopbackCdn, BundleFactory], None]


def _next(cdn: LoopbackCdn, f: BundleFactory) -> None:
    f.publish(cdn, f.build(3, {"a": bool_flag(on=False, version=3)}))


def _status(code: int) -> Callable[[LoopbackCdn, BundleFactory], None]:
    def act(cdn: LoopbackCdn, f: BundleFactory) -> None:
        _next(cdn, f)
        cdn.fault(f.pointer_path, status=code)
    return act


def _slow_pointer(cdn: LoopbackCdn, f: BundleFactory) -> None:
    _next(cdn, f)
    cdn.fault(f.pointer_path, delay=1.5)  # the client's read timeout is 0.5 s


def _slow_bundle(cdn: LoopbackCdn, f: BundleFactory) -> None:
    built = f.build(3, {"a": bool_flag(on=False, version=3)})
    f.publish(cdn, built)
    cdn.fault(built.pointer.key, delay=1.5)


def _truncated(cdn: LoopbackCdn, f: BundleFactory) -> None:
    built = f.build(3, {"a": bool_flag(on=False, version=3)})
    f.publish(cdn, built)
    cdn.fault(built.pointer.key, truncate_to=len(built.ciphertext) // 2)


def _corrupted_body(cdn: LoopbackCdn, f: BundleFactory) -> None:
    built = f.build(3, {"a": bool_flag(on=False, version=3)})
    f.publish(cdn, built)
    bad = bytearray(built.ciphertext)
    bad[len(bad) // 3] ^= 0xFF
    cdn.fault(built.pointer.key, body=bytes(bad))


def _corrupted_and_repointed(cdn: LoopbackCdn, f: BundleFactory) -> None:
    """An attacker who can write the bucket flips a byte and fixes up the pointer."""
    built = f.build(3, {"a": bool_flag(on=False, version=3)})
    bad = bytearray(built.ciphertext)
    bad[-40] ^= 0x01
    sha = hashlib.sha256(bad).hexdigest()
    key = bundle_object_key(f.project, f.environment, f.scope, 3, sha)
    cdn.put(key, bytes(bad))
    cdn.put(f.pointer_path, encode_pointer(Pointer(1, f.project, f.environment, f.scope, 3,
                                                   key, sha, len(bad), "x")))


def _garbage_pointer(cdn: LoopbackCdn, f: BundleFactory) -> None:
    cdn.put(f.pointer_path, b"<html>503 Service Unavailable</html>")


def _replayed_older(cdn: LoopbackCdn, f: BundleFactory) -> None:
    f.publish(cdn, f.build(1, {"a": bool_flag(on=False, version=1)}))


def _other_environment(cdn: LoopbackCdn, f: BundleFactory) -> None:
    staging = BundleFactory(f.envelope, f.sdk_key, environment="staging")
    built = staging.build(9, {"a": bool_flag(on=False, version=9)})
    cdn.put(built.pointer.key, built.ciphertext)
    cdn.put(f.pointer_path, built.pointer_bytes)


def _other_environment_relabelled(cdn: LoopbackCdn, f: BundleFactory) -> None:
    """Another environment's ciphertext behind a pointer rewritten to name ours."""
    staging = BundleFactory(f.envelope, f.sdk_key, environment="staging")
    built = staging.build(9, {"a": bool_flag(on=False, version=9)})
    key = bundle_object_key(f.project, f.environment, f.scope, 9, built.pointer.sha256)
    cdn.put(key, built.ciphertext)
    cdn.put(f.pointer_path, encode_pointer(Pointer(1, f.project, f.environment, f.scope, 9, key,
                                                   built.pointer.sha256, built.pointer.size,
                                                   "x")))


def _deleted_pointer(cdn: LoopbackCdn, f: BundleFactory) -> None:
    with cdn._lock:
        cdn.objects.pop("/" + f.pointer_path)


CASES = {
    "cdn-500": Case("http_500", _status(500)),
    "cdn-502": Case("http_502", _status(502)),
    "cdn-503": Case("http_503", _status(503)),
    "cdn-403": Case("http_403", _status(403)),
    "pointer-timeout": Case("timeout", _slow_pointer),
    "bundle-timeout": Case("timeout", _slow_bundle),
    "truncated-bundle": Case("truncated", _truncated),
    "corrupted-bundle": Case("sha_mismatch", _corrupted_body),
    "corrupted-bundle-repointed": Case("decrypt_failed", _corrupted_and_repointed),
    "garbage-pointer": Case("invalid_pointer", _garbage_pointer),
    "replayed-older-bundle": Case("rollback", _replayed_older),
    "other-environment": Case("wrong_environment", _other_environment),
    "other-environment-relabelled": Case("decrypt_failed", _other_environment_relabelled),
    "pointer-deleted": Case("http_404", _deleted_pointer),
}


def _forged_with_sdk_key(cdn: LoopbackCdn, f: BundleFactory) -> None:
    """Any holder of the SDK key: a bundle every holder opens, behind an unsigned pointer."""
    f.publish(cdn, forge_with_sdk_key(f, 3, {"a": bool_flag(on=False, version=3)}))


def _forged_self_signed(cdn: LoopbackCdn, f: BundleFactory) -> None:
    """The forgery signed with the attacker's own P-256 key."""
    forged = forge_with_sdk_key(f, 3, {"a": bool_flag(on=False, version=3)})
    (pointer,) = LocalSigner().sign([forged.pointer])
    cdn.put(forged.pointer.key, forged.ciphertext)
    cdn.put(f.pointer_path, encode_pointer(pointer))


def _forged_with_a_borrowed_signature(cdn: LoopbackCdn, f: BundleFactory) -> None:
    """The forgery wearing a genuine signature of the publisher (over another pointer)."""
    genuine = f.build(3, {"a": bool_flag(on=True, version=3)})
    f.publish(cdn, forge_with_sdk_key(f, 3, {"a": bool_flag(on=False, version=3)},
                                      signature=genuine.pointer.signature))


def _signature_stripped(cdn: LoopbackCdn, f: BundleFactory) -> None:
    """A genuine bundle and pointer with the signature removed (a downgrade)."""
    built = f.build(3, {"a": bool_flag(on=False, version=3)})
    cdn.put(built.pointer.key, built.ciphertext)
    cdn.put(f.pointer_path, encode_pointer(built.pointer.unsigned()))


# With signatures required: the same faults, where an unsigned attacker-made pointer now
# fails on its signature, before any download or decrypt, plus the forgeries.
SIGNED_CASES = {
    **CASES,
    "corrupted-bundle-repointed": Case("bad_signature", _corrupted_and_repointed),
    "other-environment-relabelled": Case("bad_signature", _other_environment_relabelled),
    "forged-with-sdk-key": Case("bad_signature", _forged_with_sdk_key),
    "forged-self-signed": Case("bad_signature", _forged_self_signed),
    "forged-borrowed-signature": Case("bad_signature", _forged_with_a_borrowed_signature),
    "signature-stripped": Case("bad_signature", _signature_stripped),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(CASES))
def test_each_fault_keeps_the_previous_bundle_and_says_why(
    cdn: LoopbackCdn, factory: BundleFactory, name: str
) -> None:
    _fault_keeps_the_previous_bundle(cdn, factory, CASES[name])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(SIGNED_CASES))
def test_with_signatures_required_each_fault_keeps_the_previous_bundle_and_says_why(
    cdn: LoopbackCdn, signed_factory: BundleFactory, publisher_pem: str, name: str
) -> None:
    _fault_keeps_the_previous_bundle(cdn, signed_factory, SIGNED_CASES[name],
                                     signing_keys=publisher_pem)


def _fault_keeps_the_previous_bundle(cdn: LoopbackCdn, factory: BundleFactory, case: Case,
                                     **client_options: object) -> None:
    factory.publish(cdn, factory.build(2, {"a": bool_flag(on=True, version=2)}))
    client = make_client(cdn, factory, read_timeout=0.5, connect_timeout=0.5,
                         **client_options)
    assert client.refresh().revision == 2
    assert client.status().state is ClientStatus.READY

    case.act(cdn, factory)
    result = client.refresh()
    assert result.outcome == "failed", result
    assert result.kind == case.kind, result
    assert client.revision == 2  # the previous bundle is kept...
    assert client.get_boolean("a", USER, False) is True  # ...and still serves
    report = client.status()
    assert report.state is ClientStatus.STALE
    assert report.revision == 2
    assert report.error_kind == case.kind
    says = case.kind.replace("http_", "HTTP ")
    assert report.reason is not None
    assert says in report.reason, report.reason


def test_slow_but_within_timeout_is_just_slow(cdn: LoopbackCdn, factory: BundleFactory) -> None:
    factory.publish(cdn, factory.build(2, {"a": bool_flag(on=True, version=2)}))
    client = make_client(cdn, factory, read_timeout=5.0)
    assert client.refresh().revision == 2
    _next(cdn, factory)
    cdn.fault(factory.pointer_path, delay=0.3)
    assert client.refresh().outcome == "updated"
    assert client.status().state is ClientStatus.READY
    assert client.get_boolean("a", USER, True) is False


def test_recovery_after_a_fault_moves_forward(cdn: LoopbackCdn, factory: BundleFactory) -> None:
    factory.publish(cdn, factory.build(2, {"a": bool_flag(on=True, version=2)}))
    client = make_client(cdn, factory)
    assert client.refresh().revision == 2
    _status(503)(cdn, factory)
    assert not client.refresh().ok
    cdn.clear_faults()
    assert client.refresh().outcome == "updated"
    report = client.status()
    assert (report.state, report.revision, report.reason) == (ClientStatus.READY, 3, None)
