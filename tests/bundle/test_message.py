"""The light SDK-key decoder (``edge_reader.bundle._message``) against the real ESDK.

Every message is made by the real aws-encryption-sdk: the publisher's own path
(``esdk.encrypt_bundle``, KMS on the session's moto_server plus raw AES keyrings), or, for
suites and shapes the publisher never writes, the ESDK client with MPL keyrings directly.
Where a test needs to know where a field sits, the ESDK's own header parser says so, and
the layout is checked to add up to the message's exact length.
"""

from __future__ import annotations

import base64
import io
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aws_encryption_sdk
import boto3
import pytest
from aws_cryptographic_material_providers.mpl.models import CreateMultiKeyringInput
from aws_encryption_sdk import CommitmentPolicy
from aws_encryption_sdk.identifiers import Algorithm
from aws_encryption_sdk.internal.formatting.deserialize import deserialize_header
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_reader.bundle import (
    EnvelopeError,
    SdkKey,
    _message,
    decrypt_bundle,
    encryption_context,
    esdk,
    generate_sdk_key,
)
from edge_reader.bundle._contract import MAX_ENCRYPTED_DATA_KEYS
from edge_reader.bundle._mpl import mpl
from edge_reader.bundle.esdk import EnvelopeCache, encrypt_bundle
from edge_reader.bundle.hierarchy import BranchKeyStore

CTX = encryption_context("shop", "prod", 7, "server")
FRAME = 65536
SIZES = [0, 1, 65535, 65536, 65537, 5 * FRAME + 123]


@pytest.fixture(scope="module")
def sealer(vexil_resources: dict[str, str]) -> EnvelopeCache:
    """The publisher's envelope state (branch-key store on the session's moto_server), shared
    by the module so KMS is asked for branch-key material once."""
    session = boto3.session.Session()
    store = BranchKeyStore(
        table=vexil_resources["VEXIL_KEY_STORE_TABLE"],
        kms_key_arn=vexil_resources["VEXIL_KMS_KEY_ID"],
        dynamodb_client=session.client("dynamodb"),
        kms_client=session.client("kms"),
    )
    return EnvelopeCache(store)


@pytest.fixture(scope="module")
def keys() -> list[SdkKey]:
    return [generate_sdk_key("srv"), generate_sdk_key("srv"), generate_sdk_key("cli")]


def _plaintext(size: int) -> bytes:
    # Not all zeros and not periodic in the frame length, so a frame swap would show.
    return (os.urandom(251) * (size // 251 + 1))[:size]


def _publish(sealer: EnvelopeCache, plaintext: bytes, keys: list[SdkKey], **kw: Any) -> bytes:
    return encrypt_bundle(
        plaintext, context=kw.pop("context", CTX), sdk_keys=keys, cache=sealer
    )


def _esdk_open(message: bytes, key: SdkKey) -> bytes:
    """The oracle: the ESDK's own decrypt with the MPL raw AES keyring of ``key``."""
    return esdk.open_with_sdk_key(message, key, expected=CTX)


@dataclass(frozen=True)
class Region:
    name: str
    start: int
    end: int


def layout(message: bytes, plaintext_len: int) -> list[Region]:
    """Every field of ``message``, in order, located with the ESDK's header parser.

    Asserts the regions tile the whole message, so an off-by-one here fails loudly instead
    of making a flip test hit the wrong field.
    """
    header, raw_header = deserialize_header(io.BytesIO(message))
    assert header.algorithm == Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
    regions: list[Region] = []
    pos = 0

    def add(name: str, size: int) -> None:
        nonlocal pos
        regions.append(Region(name, pos, pos + size))
        pos += size

    add("version", 1)
    add("suite id", 2)
    add("message id", 32)
    (context_len,) = struct.unpack_from(">H", message, pos)
    add("context length", 2)
    add("context", context_len)
    (edk_count,) = struct.unpack_from(">H", message, pos)
    assert edk_count == len(header.encrypted_data_keys)
    add("edk count", 2)
    for i in range(edk_count):
        start = pos
        for _field in range(3):
            (n,) = struct.unpack_from(">H", message, pos)
            pos += 2 + n
        regions.append(Region(f"edk {i}", start, pos))
    add("content type", 1)
    add("frame length", 4)
    add("commitment key", 32)
    assert pos == len(raw_header)  # the ESDK agrees where the header body ends
    add("header tag", 16)
    regular, final_len = divmod(plaintext_len, header.frame_length)
    for i in range(1, regular + 1):
        add(f"frame {i} sequence number", 4)
        add(f"frame {i} IV", 12)
        add(f"frame {i} content", header.frame_length)
        add(f"frame {i} tag", 16)
    add("final frame marker", 4)
    add("final frame sequence number", 4)
    add("final frame IV", 12)
    add("final frame content length", 4)
    add("final frame content", final_len)
    add("final frame tag", 16)
    (sig_len,) = struct.unpack_from(">H", message, pos)
    add("signature length", 2)
    add("signature", sig_len)
    assert pos == len(message)
    return [r for r in regions if r.end > r.start]


def _flip(message: bytes, index: int, mask: int = 0x01) -> bytes:
    out = bytearray(message)
    out[index] ^= mask
    return bytes(out)


# ---------------------------------------------------------------------------- opens


@pytest.mark.parametrize("size", SIZES)
def test_every_size_opens_to_the_same_plaintext(
    sealer: EnvelopeCache, keys: list[SdkKey], size: int
) -> None:
    plaintext = _plaintext(size)
    message = _publish(sealer, plaintext, keys[:1])
    assert _message.open_message(message, keys[0], expected=CTX) == plaintext
    assert _esdk_open(message, keys[0]) == plaintext
    # The frame count is what the format says: the layout tiles the message exactly.
    regions = layout(message, size)
    frames = [r for r in regions if r.name.endswith(" tag") and r.name.startswith("frame ")]
    assert len(frames) == size // FRAME


def test_every_sdk_key_of_a_message_opens_it(sealer: EnvelopeCache, keys: list[SdkKey]) -> None:
    plaintext = _plaintext(3 * FRAME + 17)
    message = _publish(sealer, plaintext, keys)
    for key in keys:
        assert _message.open_message(message, key, expected=CTX) == plaintext
        assert decrypt_bundle(message, sdk_key=key.text, expected=CTX) == plaintext


def test_the_data_key_of_the_last_of_the_maximum_number_of_keys_opens() -> None:
    keys = [generate_sdk_key("srv") for _ in range(MAX_ENCRYPTED_DATA_KEYS)]
    message = _esdk_encrypt_many(keys)
    header = _message.parse_header(memoryview(message))
    assert len(header.data_keys) == MAX_ENCRYPTED_DATA_KEYS
    assert _message.open_message(message, keys[-1], expected=CTX) == b"many keys"


def _esdk_encrypt_many(keys: list[SdkKey]) -> bytes:
    # The publisher's client refuses more than MAX_ENCRYPTED_DATA_KEYS on encrypt too, so a
    # hostile-sized message comes from an ESDK client without that bound.
    rings = [esdk._aes_keyring(k) for k in keys]
    multi = mpl().create_multi_keyring(
        CreateMultiKeyringInput(generator=rings[0], child_keyrings=rings[1:])
    )
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )
    message, _ = client.encrypt(
        source=b"many keys", keyring=multi, encryption_context=CTX, frame_length=FRAME
    )
    return bytes(message)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.binary(min_size=1, max_size=97),
    size=st.one_of(
        st.integers(0, 300),
        st.integers(FRAME - 3, FRAME + 3),
        st.integers(0, 3 * FRAME + 5),
    ),
)
def test_property_any_plaintext_round_trips_and_agrees_with_the_esdk(
    sealer: EnvelopeCache, keys: list[SdkKey], seed: bytes, size: int
) -> None:
    plaintext = (seed * (size // len(seed) + 1))[:size]
    message = _publish(sealer, plaintext, keys[:2])
    assert _message.open_message(message, keys[1], expected=CTX) == plaintext
    assert _esdk_open(message, keys[1]) == plaintext


# ---------------------------------------------------------------------------- tampering


@pytest.fixture(scope="module")
def sample(sealer: EnvelopeCache, keys: list[SdkKey]) -> tuple[bytes, bytes, list[Region]]:
    """(message, plaintext, layout): 2 regular frames + a final one, 2 SDK keys + KMS."""
    plaintext = _plaintext(2 * FRAME + 1000)
    message = _publish(sealer, plaintext, keys[:2])
    return message, plaintext, layout(message, len(plaintext))


def _header_end(regions: list[Region]) -> int:
    return next(r.end for r in regions if r.name == "header tag")


def _flip_points(regions: list[Region]) -> Iterator[tuple[str, int]]:
    """Every header byte; first, middle and last byte of every body and footer field."""
    header_end = _header_end(regions)
    for r in regions:
        if r.end <= header_end:
            points = range(r.start, r.end)
        else:
            points = range(r.start, r.end) if r.end - r.start <= 4 else (
                r.start, (r.start + r.end) // 2, r.end - 1
            )
        for index in points:
            yield r.name, index


def test_a_flipped_byte_anywhere_is_refused(
    sample: tuple[bytes, bytes, list[Region]], keys: list[SdkKey]
) -> None:
    message, _, regions = sample
    names = {r.name for r in regions}
    assert {"edk 0", "edk 1", "edk 2", "commitment key", "header tag", "frame 2 IV",
            "final frame content", "signature"} <= names
    points = list(_flip_points(regions))
    assert {i for _, i in points} >= set(range(_header_end(regions)))  # every header byte
    for name, index in points:
        for mask in (0x01, 0x80):
            with pytest.raises(EnvelopeError) as info:
                _message.open_message(_flip(message, index, mask), keys[0], expected=CTX)
            text = str(info.value)
            assert text.startswith("decrypt: "), (name, index, text)
            assert keys[0].text not in text
            assert keys[0].wrapping_key().hex() not in text


@pytest.mark.parametrize(
    ("region", "message_part"),
    [
        ("version", "format version"),
        ("suite id", "algorithm suite"),
        ("content type", "content type"),
        ("commitment key", "key commitment"),
        ("header tag", "header authentication tag"),
        ("frame 1 sequence number", "sequence number"),
        ("frame 2 IV", "IV"),
        ("frame 1 content", "frame 1 does not authenticate"),
        ("frame 2 tag", "frame 2 does not authenticate"),
        ("final frame content", "frame 3 does not authenticate"),
        ("final frame tag", "frame 3 does not authenticate"),
        ("signature", "signature does not verify"),
    ],
)
def test_each_check_names_what_failed(
    sample: tuple[bytes, bytes, list[Region]], keys: list[SdkKey], region: str, message_part: str
) -> None:
    message, _, regions = sample
    r = next(r for r in regions if r.name == region)
    with pytest.raises(EnvelopeError, match=message_part):
        _message.open_message(_flip(message, r.end - 1), keys[0], expected=CTX)


def test_another_keys_edk_is_covered_by_the_header_tag(
    sample: tuple[bytes, bytes, list[Region]], keys: list[SdkKey]
) -> None:
    # The KMS EDK and the other SDK key's EDK are never opened by this reader; altering them
    # must still fail (the header tag authenticates the whole header body).
    message, _, regions = sample
    for name in ("edk 0", "edk 1", "edk 2"):
        r = next(r for r in regions if r.name == name)
        tampered = _flip(message, r.end - 1)
        with pytest.raises(EnvelopeError):
            _message.open_message(tampered, keys[0], expected=CTX)
        with pytest.raises(EnvelopeError):
            _message.open_message(tampered, keys[1], expected=CTX)


def test_every_truncation_is_refused(
    sample: tuple[bytes, bytes, list[Region]], keys: list[SdkKey]
) -> None:
    message, _, regions = sample
    header_end = _header_end(regions)
    cuts = set(range(header_end + 1))  # every prefix of the header
    for r in regions:
        cuts.update((r.start, r.start + 1, r.end - 1))  # both sides of every field boundary
    cuts.update(range(header_end, len(message), 4093))
    cuts.update(range(len(message) - 120, len(message)))  # the whole footer, byte by byte
    for cut in sorted(c for c in cuts if 0 <= c < len(message)):
        with pytest.raises(EnvelopeError, match="truncated") as info:
            _message.open_message(message[:cut], keys[0], expected=CTX)
        assert "decrypt: " in str(info.value)


@pytest.mark.parametrize("extra", [b"\x00", b"\xff" * 100, b"footer"])
def test_bytes_after_the_footer_are_refused(
    sample: tuple[bytes, bytes, list[Region]], keys: list[SdkKey], extra: bytes
) -> None:
    message, _, _ = sample
    with pytest.raises(EnvelopeError, match="after the footer"):
        _message.open_message(message + extra, keys[0], expected=CTX)
    with pytest.raises(EnvelopeError, match="after the footer"):
        _message.open_message(message + message, keys[0], expected=CTX)


def test_frames_cannot_be_reordered_or_dropped(
    sample: tuple[bytes, bytes, list[Region]], keys: list[SdkKey]
) -> None:
    message, _, regions = sample
    f1 = [r for r in regions if r.name.startswith("frame 1 ")]
    f2 = [r for r in regions if r.name.startswith("frame 2 ")]
    a, b = message[f1[0].start : f1[-1].end], message[f2[0].start : f2[-1].end]
    swapped = message[: f1[0].start] + b + a + message[f2[-1].end :]
    dropped = message[: f1[0].start] + b + message[f2[-1].end :]
    for bad in (swapped, dropped):
        with pytest.raises(EnvelopeError, match="sequence number"):
            _message.open_message(bad, keys[0], expected=CTX)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_property_random_damage_only_ever_raises_envelope_error(
    sample: tuple[bytes, bytes, list[Region]], keys: list[SdkKey], data: st.DataObject
) -> None:
    message, _, _ = sample
    kind = data.draw(st.sampled_from(["flip", "cut", "splice", "garbage"]))
    if kind == "flip":
        index = data.draw(st.integers(0, len(message) - 1))
        bad = _flip(message, index, data.draw(st.integers(1, 255)))
    elif kind == "cut":
        bad = message[: data.draw(st.integers(0, len(message) - 1))]
    elif kind == "splice":
        index = data.draw(st.integers(0, len(message)))
        bad = message[:index] + data.draw(st.binary(min_size=1, max_size=40)) + message[index:]
    else:
        bad = data.draw(st.binary(max_size=2000))
    with pytest.raises(EnvelopeError):
        _message.open_message(bad, keys[0], expected=CTX)


# ---------------------------------------------------------------------------- keys, context


def test_a_key_without_a_data_key_in_the_message_is_refused(
    sample: tuple[bytes, bytes, list[Region]], keys: list[SdkKey]
) -> None:
    message, _, _ = sample
    stranger = generate_sdk_key("srv")
    with pytest.raises(EnvelopeError, match=f"no encrypted data key for SDK key {stranger.key_id}"):
        _message.open_message(message, stranger, expected=CTX)


def test_the_right_key_id_with_the_wrong_secret_is_refused(
    sample: tuple[bytes, bytes, list[Region]], keys: list[SdkKey]
) -> None:
    message, _, _ = sample
    impostor = SdkKey(kind="srv", key_id=keys[0].key_id, secret=os.urandom(32))
    with pytest.raises(EnvelopeError, match="does not open") as info:
        _message.open_message(message, impostor, expected=CTX)
    assert impostor.text not in str(info.value)


@pytest.mark.parametrize(
    ("expected", "field"),
    [
        (encryption_context("shop", "staging", 7, "server"), "vexil:environment"),
        (encryption_context("shop", "prod", 6, "server"), "vexil:revision"),
        (encryption_context("shop", "prod", 7, "client"), "vexil:scope"),
        ({**CTX, "extra": "x"}, "extra"),
    ],
)
def test_the_context_must_be_exactly_the_expected_one(
    sample: tuple[bytes, bytes, list[Region]],
    keys: list[SdkKey],
    expected: dict[str, str],
    field: str,
) -> None:
    message, _, _ = sample
    with pytest.raises(EnvelopeError, match=field):
        _message.open_message(message, keys[0], expected=expected)


def test_more_data_keys_than_the_bound_are_refused_before_any_is_read() -> None:
    keys = [generate_sdk_key("srv") for _ in range(MAX_ENCRYPTED_DATA_KEYS + 1)]
    message = _esdk_encrypt_many(keys)
    with pytest.raises(EnvelopeError, match=f"exceeds the limit of {MAX_ENCRYPTED_DATA_KEYS}"):
        _message.open_message(message, keys[0], expected=CTX)


# ---------------------------------------------------------------------------- other suites


def _esdk_message(algorithm: Algorithm, *, frame_length: int = FRAME) -> tuple[bytes, SdkKey]:
    """A message the real ESDK makes for one SDK key with another suite or framing."""
    key = generate_sdk_key("srv")
    committing = algorithm.is_committing()
    policy = (
        CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
        if committing
        else CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT
    )
    client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=policy)
    keyring = esdk._aes_keyring(key)
    message, _ = client.encrypt(
        source=b"x" * 1000,
        keyring=keyring,
        encryption_context=CTX,
        algorithm=algorithm,
        frame_length=frame_length,
    )
    # It is a valid message: the ESDK itself opens it.
    assert client.decrypt(source=message, keyring=keyring)[0] == b"x" * 1000
    return bytes(message), key


@pytest.mark.parametrize(
    ("algorithm", "reason"),
    [
        (Algorithm.AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384, "format version 0x01"),
        (Algorithm.AES_256_GCM_IV12_TAG16_HKDF_SHA256, "format version 0x01"),
        (Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY, "algorithm suite 0x0478"),
    ],
)
def test_messages_of_other_suites_are_refused(algorithm: Algorithm, reason: str) -> None:
    message, key = _esdk_message(algorithm)
    with pytest.raises(EnvelopeError, match=reason):
        _message.open_message(message, key, expected=CTX)


def test_non_framed_messages_are_refused() -> None:
    message, key = _esdk_message(
        Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384, frame_length=0
    )
    with pytest.raises(EnvelopeError, match="content type 0x01"):
        _message.open_message(message, key, expected=CTX)


# ---------------------------------------------------------------------------- the oracle


def test_the_light_decoder_and_the_esdk_agree_on_a_corpus(
    sealer: EnvelopeCache, keys: list[SdkKey]
) -> None:
    """Same plaintext where the ESDK opens; both refuse every damaged variant."""
    corpus: list[tuple[bytes, SdkKey]] = []
    for i, size in enumerate([0, 100, FRAME, 2 * FRAME + 5]):
        message = _publish(sealer, _plaintext(size), keys[: 1 + i % 3])
        corpus.extend((message, k) for k in keys[: 1 + i % 3])
    agreed = 0
    for message, key in corpus:
        assert _message.open_message(message, key, expected=CTX) == _esdk_open(message, key)
        header_len = len(deserialize_header(io.BytesIO(message))[1]) + 16
        damaged = [
            _flip(message, 0),
            _flip(message, header_len // 2),
            _flip(message, header_len + 20),
            _flip(message, len(message) - 5),
            message[:-1],
            message[: header_len + 3],
        ]
        for bad in damaged:
            with pytest.raises(EnvelopeError):
                _message.open_message(bad, key, expected=CTX)
            with pytest.raises(EnvelopeError):
                _esdk_open(bad, key)
            agreed += 1
        other = encryption_context("shop", "prod", 8, "server")
        with pytest.raises(EnvelopeError, match="vexil:revision"):
            _message.open_message(message, key, expected=other)
        with pytest.raises(EnvelopeError, match="vexil:revision"):
            esdk.open_with_sdk_key(message, key, expected=other)
    assert agreed == 6 * len(corpus)


# ---------------------------------------------------------------------------- strict parsing
# Faults a valid signature would never carry, injected into a real message: each must be
# refused by the parser itself, by name, before any key is touched.


def _entries(context: bytes) -> list[tuple[bytes, bytes]]:
    (count,) = struct.unpack_from(">H", context, 0)
    pos, out = 2, []
    for _ in range(count):
        (n,) = struct.unpack_from(">H", context, pos)
        k = context[pos + 2 : pos + 2 + n]
        pos += 2 + n
        (n,) = struct.unpack_from(">H", context, pos)
        v = context[pos + 2 : pos + 2 + n]
        pos += 2 + n
        out.append((k, v))
    assert pos == len(context)
    return out


def _serialize(entries: list[tuple[bytes, bytes]], count: int | None = None) -> bytes:
    body = b"".join(struct.pack(">H", len(k)) + k + struct.pack(">H", len(v)) + v
                    for k, v in entries)
    return struct.pack(">H", len(entries) if count is None else count) + body


def _replace(message: bytes, regions: list[Region], name: str, new: bytes) -> bytes:
    r = next(r for r in regions if r.name == name)
    return message[: r.start] + new + message[r.end :]


def _with_context(message: bytes, regions: list[Region], context: bytes) -> bytes:
    length = next(r for r in regions if r.name == "context length")
    r = next(r for r in regions if r.name == "context")
    return message[: length.start] + struct.pack(">H", len(context)) + context + message[r.end :]


def _fault(name: str, message: bytes, regions: list[Region]) -> bytes:
    ctx_region = next(r for r in regions if r.name == "context")
    entries = _entries(message[ctx_region.start : ctx_region.end])
    if name == "context out of order":
        return _with_context(message, regions, _serialize([entries[1], entries[0], *entries[2:]]))
    if name == "context duplicate key":
        return _with_context(message, regions, _serialize([entries[0], *entries]))
    if name == "context not utf-8":
        k, v = entries[-1]
        return _with_context(message, regions, _serialize([*entries[:-1], (k, v[:-1] + b"\xff")]))
    if name == "context trailing bytes":
        return _with_context(message, regions, _serialize(entries) + b"\x00\x00")
    if name == "context count 0":
        return _with_context(message, regions, _serialize(entries, count=0))
    if name == "context empty":
        return _with_context(message, regions, b"")
    if name == "no data keys":
        return _replace(message, regions, "edk count", b"\x00\x00")
    if name == "frame length 0":
        return _replace(message, regions, "frame length", struct.pack(">I", 0))
    if name == "frame length 2**31":
        return _replace(message, regions, "frame length", struct.pack(">I", 2**31))
    if name == "final frame longer than a frame":
        return _replace(message, regions, "final frame content length",
                        struct.pack(">I", FRAME + 1))
    if name == "signature length 0":
        return _replace(message, regions, "signature length", b"\x00\x00")
    if name == "signature length 105":
        return _replace(message, regions, "signature length", struct.pack(">H", 105))
    raise AssertionError(name)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("context out of order", "entry 1 is duplicated or out of order"),
        ("context duplicate key", "entry 1 is duplicated or out of order"),
        ("context not utf-8", "is not UTF-8"),
        ("context trailing bytes", "bytes after its last entry"),
        ("context count 0", "count is 0"),
        ("context empty", "context is empty"),
        ("no data keys", "no encrypted data keys"),
        ("frame length 0", "frame length 0 out of range"),
        ("frame length 2**31", "frame length 2147483648 out of range"),
        ("final frame longer than a frame", "more than the frame length"),
        ("signature length 0", "signature length 0 out of range"),
        ("signature length 105", "signature length 105 out of range"),
    ],
)
def test_malformed_fields_are_refused_by_name(
    sample: tuple[bytes, bytes, list[Region]], keys: list[SdkKey], fault: str, reason: str
) -> None:
    message, _, regions = sample
    with pytest.raises(EnvelopeError, match=reason):
        _message.open_message(_fault(fault, message, regions), keys[0], expected=CTX)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "has no aws-crypto-public-key"),
        ("not base64!", "not base64"),
        (_b64(b"\x02" * 3), "not a compressed P-384 point"),  # too short
        (_b64(b"\x04" + b"\x01" * 48), "not a compressed P-384 point"),  # not 0x02/0x03
        (_b64(b"\x02" + b"\x01" * 48)[:-3] + "F==", "not a compressed P-384 point"),  # pad bits
        (_b64(b"\x02" + b"\xff" * 48), "not a P-384 point"),  # x >= p: no such point
    ],
)
def test_the_verification_key_must_be_a_canonical_compressed_p384_point(
    value: str | None, reason: str
) -> None:
    context = {} if value is None else {"aws-crypto-public-key": value}
    with pytest.raises(EnvelopeError, match=reason):
        _message._public_key(context)


def test_the_publishers_verification_key_is_accepted(
    sample: tuple[bytes, bytes, list[Region]],
) -> None:
    message, _, _ = sample
    header = _message.parse_header(memoryview(message))
    assert _message._public_key(header.context).curve.name == "secp384r1"


@pytest.mark.parametrize("change", ["provider id", "tag length", "iv length", "ciphertext length"])
def test_an_edk_of_the_wrong_shape_is_skipped_not_tried(
    sample: tuple[bytes, bytes, list[Region]], keys: list[SdkKey], change: str
) -> None:
    # The raw AES keyring only tries EDKs whose provider id, key name, tag and IV lengths are
    # its own; a reshaped copy of our EDK is therefore "no data key", not "did not open".
    message, _, regions = sample
    ours = next(r for r in regions if r.name.startswith("edk ")
                and keys[0].key_id.encode() in message[r.start : r.end])
    edk = message[ours.start : ours.end]
    pid_len = struct.unpack_from(">H", edk, 0)[0]
    pid = edk[2 : 2 + pid_len]
    rest = edk[2 + pid_len :]
    info_len = struct.unpack_from(">H", rest, 0)[0]
    info, ct_field = bytearray(rest[2 : 2 + info_len]), rest[2 + info_len :]
    name_len = len(keys[0].key_id)
    if change == "provider id":
        pid = b"vexim"
    elif change == "tag length":
        info[name_len : name_len + 4] = struct.pack(">I", 96)
    elif change == "iv length":
        info[name_len + 4 : name_len + 8] = struct.pack(">I", 16)
    else:
        (n,) = struct.unpack_from(">H", ct_field, 0)
        ct_field = struct.pack(">H", n + 1) + ct_field[2:] + b"\x00"
    new = struct.pack(">H", len(pid)) + pid + struct.pack(">H", len(info)) + bytes(info) + ct_field
    with pytest.raises(EnvelopeError, match="no encrypted data key for SDK key"):
        _message.open_message(
            message[: ours.start] + new + message[ours.end :], keys[0], expected=CTX
        )
