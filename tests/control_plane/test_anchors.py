"""The audit anchor format (chalicelib.anchors): names, digest, encoding, signature checks.

Pure: a local P-256 key stands in for the publisher's KMS key (same signature format).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import orjson
import pytest
from chalicelib.anchors import (
    Anchor,
    AnchorFormatError,
    anchor_digest,
    chain_prefix,
    decode_anchor,
    encode_anchor,
    load_verified,
    object_key,
    parse_name,
    verify_anchor,
)
from chalicelib.audit import Chain

from edge_reader.bundle.signing import SignatureError, sign_digest_set
from tests.bundle.signers import LocalSigner

HEAD = "ab" * 32


def _signed(anchor: Anchor, signer: LocalSigner, *others: str) -> Anchor:
    signature = sign_digest_set([anchor_digest(anchor), *others],
                                key_fingerprint=signer.trusted.fingerprint,
                                sign_digest=signer.sign_digest)
    return replace(anchor, signature=signature)


def _env_anchor(seq: int = 7, head: str = HEAD) -> Anchor:
    return Anchor.of_head(Chain.for_environment("shop", "prod"), seq, head,
                          "2026-12-06T01:00:00.000Z")


def test_names_carry_the_claim_and_parse_back() -> None:
    anchor = _env_anchor()
    key = object_key(anchor)
    assert key == f"anchors/env/shop/prod/000000000007-{HEAD}.json"
    assert parse_name(key, chain_prefix(Chain.for_environment("shop", "prod"))) == (7, HEAD)
    glob = Anchor.of_head(Chain.global_chain(), 12, HEAD, "t")
    assert object_key(glob) == f"anchors/global/000000000012-{HEAD}.json"
    # Another chain's prefix, a stray file, or a short hash is not an anchor of this chain.
    assert parse_name(key, "anchors/env/shop/pro/") is None
    assert parse_name("anchors/env/shop/prod/notes.txt", "anchors/env/shop/prod/") is None
    assert parse_name(f"anchors/env/shop/prod/7-{HEAD}.json", "anchors/env/shop/prod/") is None


def test_digest_is_domain_separated_and_covers_every_field() -> None:
    anchor = _env_anchor()
    body = orjson.dumps({"format": 1, "project": "shop", "environment": "prod", "seq": 7,
                         "hash": HEAD, "at": anchor.at}, option=orjson.OPT_SORT_KEYS)
    assert anchor_digest(anchor) == hashlib.sha256(b"vexil audit anchor v1\n" + body).hexdigest()
    variants = [replace(anchor, seq=8), replace(anchor, hash="cd" * 32),
                replace(anchor, environment="staging"), replace(anchor, at="later"),
                replace(anchor, project=None, environment=None)]
    assert len({anchor_digest(v) for v in variants} | {anchor_digest(anchor)}) == 6


def test_encode_decode_round_trip_with_signature() -> None:
    signer = LocalSigner()
    anchor = _signed(_env_anchor(), signer, "0" * 64)
    again = decode_anchor(encode_anchor(anchor))
    assert again == anchor
    verify_anchor(again, [signer.trusted])
    assert load_verified(encode_anchor(anchor), object_key(anchor), [signer.trusted]) == anchor


@pytest.mark.parametrize(("change", "field"), [
    ({"format": 2}, "anchor.format"),
    ({"seq": 0}, "anchor.seq"),
    ({"seq": True}, "anchor.seq"),
    ({"hash": "AB" * 32}, "anchor.hash"),
    ({"hash": HEAD + "\n"}, "anchor.hash"),
    ({"project": None}, "anchor.project/environment"),
    ({"at": 5}, "anchor.at"),
    ({"extra": 1}, "unknown field"),
    ({"signature": {"key": "x"}}, "anchor.signature"),
    ({"signature": {"key": HEAD, "digests": ["b" * 64, "a" * 64], "value": "A" * 20}},
     "anchor.signature.digests"),
    ({"signature": {"key": HEAD, "digests": ["a" * 64], "value": "not base64!"}},
     "anchor.signature.value"),
])
def test_decode_names_the_bad_field(change: dict[str, object], field: str) -> None:
    raw = orjson.loads(encode_anchor(_env_anchor()))
    raw.update(change)
    with pytest.raises(AnchorFormatError, match=field.replace(".", r"\.")):
        decode_anchor(orjson.dumps(raw))


def test_unsigned_wrong_key_and_edited_anchors_are_refused() -> None:
    signer, other = LocalSigner(), LocalSigner()
    anchor = _env_anchor()
    with pytest.raises(AnchorFormatError, match="not signed"):
        verify_anchor(anchor, [signer.trusted])
    with pytest.raises(SignatureError, match="untrusted key"):
        verify_anchor(_signed(anchor, other), [signer.trusted])
    genuine = _signed(anchor, signer)
    # The claim edited after signing: its digest is no longer the signed one.
    with pytest.raises(SignatureError, match="does not cover"):
        verify_anchor(replace(genuine, hash="cd" * 32), [signer.trusted])
    # The signature value of another set: does not verify.
    foreign = _signed(anchor, signer, "1" * 64).signature
    assert foreign is not None
    assert genuine.signature is not None
    with pytest.raises(SignatureError, match="does not verify"):
        verify_anchor(replace(genuine, signature=replace(genuine.signature,
                                                         value=foreign.value)),
                      [signer.trusted])


def test_a_genuine_anchor_stored_under_another_name_is_refused() -> None:
    signer = LocalSigner()
    anchor = _signed(_env_anchor(), signer)
    elsewhere = object_key(replace(anchor, seq=8))
    with pytest.raises(AnchorFormatError, match="does not match its name"):
        load_verified(encode_anchor(anchor), elsewhere, [signer.trusted])


def test_a_pointer_digest_set_signature_does_not_make_an_anchor() -> None:
    # A pointer set signed by the publisher: an anchor whose digest is not in it is refused,
    # even if it copies that genuine signature.
    signer = LocalSigner()
    pointer_set = sign_digest_set(["2" * 64], key_fingerprint=signer.trusted.fingerprint,
                                  sign_digest=signer.sign_digest)
    with pytest.raises(SignatureError, match="does not cover"):
        verify_anchor(replace(_env_anchor(), signature=pointer_set), [signer.trusted])
