"""A decrypt-only reader of AWS Encryption SDK messages, for the SDK-key path.

Why this exists: importing aws-encryption-sdk costs a reader about 62 MB (it loads boto3 and
botocore unconditionally, the Dafny-generated MPL and wrapt/asyncio), more than the whole
memory goal of a reader. Opening a bundle with an SDK key needs none of that: it is AES-GCM,
HKDF and one ECDSA verification, all in ``cryptography``. The publisher still encrypts with
the real ESDK (:mod:`edge_reader.bundle.esdk`), KMS readers still decrypt with it, and
``tests/bundle/test_message.py`` checks that this reader and the ESDK agree.

It reads exactly what the publisher writes and rejects everything else:

* message format version 2.0, algorithm suite 0x0578
  (AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384), framed content;
* the data key is unwrapped from the raw AES keyring EDK of *one* SDK key: key provider id
  ``vexil``, provider info ``key name ‖ tag length in bits (u32) ‖ IV length (u32) ‖ IV``,
  ciphertext ``encrypted key ‖ tag``, AES-256-GCM under the SDK key's wrapping key with the
  serialized encryption context as AAD (MPL raw AES keyring specification).

The steps follow the specification's decrypt operation (``client-apis/decrypt.md``), in its
order, and nothing is returned unless every one passes:

1. parse the header exactly: version, suite, message id, encryption context (canonical:
   non-empty, keys strictly ascending by UTF-8 bytes, valid UTF-8), encrypted data keys
   (at most ``MAX_ENCRYPTED_DATA_KEYS``, refused as soon as the count is read), content type,
   frame length, commitment key, header authentication tag;
2. unwrap the data key from this SDK key's EDK;
3. derive the data encryption key and the commitment key with HKDF-SHA512 (salt = message
   id; info = suite id ‖ ``DERIVEKEY``, resp. ``COMMITKEY``) and compare the commitment key
   in constant time;
4. verify the header authentication tag (AES-GCM, IV 0, empty ciphertext, AAD = header body;
   the "encryption context to only authenticate" is empty: no required context keys);
5. decrypt the frames in order: sequence numbers 1, 2, …; each IV must be the sequence number
   left-padded with zeros; regular frames hold exactly the frame length; exactly one final
   frame, last, no longer than the frame length; body AAD = message id ‖ frame label ‖
   sequence number (u32) ‖ content length (u64);
6. verify the footer's ECDSA P-384 / SHA-384 signature over every byte before the footer,
   with the compressed public point carried in the ``aws-crypto-public-key`` context entry;
7. refuse trailing bytes (and any truncation, wherever it falls);
8. only then compare the encryption context with the expected one, exactly
   (:func:`edge_reader.bundle._contract.check_expected_context`).

Every failure raises :class:`EnvelopeError` naming the step and field; no message ever
contains key material (only the public key id).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from edge_reader.bundle._contract import (
    ALGORITHM_ID,
    KEY_NAMESPACE,
    MAX_ENCRYPTED_DATA_KEYS,
    check_expected_context,
)
from edge_reader.bundle.errors import EnvelopeError, KeyNotInBundleError
from edge_reader.bundle.sdk_key import SdkKey

# Message format and suite constants (data-format/*.md, framework/algorithm-suites.md).
FORMAT_VERSION_2 = 0x02
CONTENT_TYPE_FRAMED = 0x02
MESSAGE_ID_LEN = 32
COMMIT_KEY_LEN = 32  # the suite's "algorithm suite data"
DATA_KEY_LEN = 32  # key derivation input length of 0x0578
IV_LEN = 12
TAG_LEN = 16
MAX_FRAME_LENGTH = 2**31 - 1  # what the ESDK accepts; a larger value is not a real message
SEQUENCE_NUMBER_END = 0xFFFFFFFF
PUBLIC_KEY_CONTEXT_KEY = "aws-crypto-public-key"
_FRAME_LABEL = b"AWSKMSEncryptionClient Frame"
_FINAL_FRAME_LABEL = b"AWSKMSEncryptionClient Final Frame"
_DERIVE_INFO = struct.pack(">H", ALGORITHM_ID) + b"DERIVEKEY"
_COMMIT_INFO = b"COMMITKEY"
_HEADER_IV = bytes(IV_LEN)
# Raw AES keyring wrapping: AES-256-GCM, 12-byte IV, 16-byte tag (tag length stored in bits).
_WRAP_TAG_BITS = 128
_WRAP_IV_LEN = 12
_WRAPPED_KEY_LEN = DATA_KEY_LEN + TAG_LEN
_P384_COMPRESSED_LEN = 49
# DER ECDSA-Sig-Value for P-384 is at most 104 bytes (two 49-byte INTEGERs and headers).
_MAX_SIGNATURE_LEN = 104


@dataclass(frozen=True, slots=True)
class EncryptedDataKey:
    """One entry of the header's encrypted data key list."""

    provider_id: bytes
    provider_info: bytes
    ciphertext: bytes


@dataclass(frozen=True, slots=True)
class Header:
    """The parsed, not yet authenticated, header of a message."""

    message_id: bytes
    context: dict[str, str]
    context_bytes: bytes  # the serialized key-value pairs: the EDKs' AAD
    data_keys: tuple[EncryptedDataKey, ...]
    frame_length: int
    commitment_key: bytes
    body_end: int  # offset of the header authentication tag
    auth_tag: bytes
    end: int  # offset of the first body byte


class _Cursor:
    """Reads fields front to back; every read past the end is a named truncation error."""

    __slots__ = ("data", "pos")

    def __init__(self, data: memoryview) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> memoryview:
        end = self.pos + n
        if end > len(self.data):
            raise EnvelopeError(
                f"decrypt: message truncated in {what} (offset {self.pos}: needs {n} bytes, "
                f"{len(self.data) - self.pos} left)"
            )
        out = self.data[self.pos : end]
        self.pos = end
        return out

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u16(self, what: str) -> int:
        value: int = struct.unpack(">H", self.take(2, what))[0]
        return value

    def u32(self, what: str) -> int:
        value: int = struct.unpack(">I", self.take(4, what))[0]
        return value


def open_message(message: bytes, key: SdkKey, *, expected: Mapping[str, str]) -> bytes:
    """Decrypt an ESDK message with one SDK key; return the plaintext only if all checks pass.

    Promises: the message is format 2.0, suite 0x0578, framed; it carries a raw AES data key
    for ``key`` that opens; the commitment key, header tag, every frame tag, the frame order
    and the ECDSA signature verify; no byte follows the footer; and its encryption context
    (apart from ``aws-crypto-public-key``) equals ``expected`` exactly. Otherwise raises
    :class:`EnvelopeError` (never with key material in the message).
    """
    data = memoryview(bytes(message) if not isinstance(message, bytes) else message)
    header = parse_header(data)
    data_key = _unwrap_data_key(header, key)
    derived = _derive_keys(header, data_key)
    try:
        AESGCM(derived).decrypt(_HEADER_IV, header.auth_tag, data[: header.body_end])
    except InvalidTag:
        raise EnvelopeError("decrypt: header authentication tag does not verify") from None
    plaintext, footer_start = _decrypt_body(data, header, derived)
    _verify_signature(data, header, footer_start)
    check_expected_context(header.context, expected)
    return plaintext


def parse_header(data: memoryview) -> Header:
    """Parse the header exactly (nothing is authenticated yet); raise EnvelopeError if not
    a format 2.0, suite 0x0578, framed message with a canonical context and 1..MAX EDKs."""
    cur = _Cursor(data)
    version = cur.u8("version")
    if version != FORMAT_VERSION_2:
        raise EnvelopeError(f"decrypt: message format version {version:#04x}, expected 0x02")
    suite = cur.u16("algorithm suite id")
    if suite != ALGORITHM_ID:
        raise EnvelopeError(
            f"decrypt: algorithm suite {suite:#06x}, expected {ALGORITHM_ID:#06x} "
            "(AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384)"
        )
    message_id = bytes(cur.take(MESSAGE_ID_LEN, "message id"))
    context_len = cur.u16("encryption context length")
    context_bytes = bytes(cur.take(context_len, "encryption context"))
    context = _parse_context(context_bytes)
    data_keys = _parse_data_keys(cur)
    content_type = cur.u8("content type")
    if content_type != CONTENT_TYPE_FRAMED:
        raise EnvelopeError(f"decrypt: content type {content_type:#04x}, expected framed (0x02)")
    frame_length = cur.u32("frame length")
    if not 0 < frame_length <= MAX_FRAME_LENGTH:
        raise EnvelopeError(f"decrypt: frame length {frame_length} out of range")
    commitment_key = bytes(cur.take(COMMIT_KEY_LEN, "commitment key"))
    body_end = cur.pos
    auth_tag = bytes(cur.take(TAG_LEN, "header authentication tag"))
    return Header(
        message_id=message_id,
        context=context,
        context_bytes=context_bytes,
        data_keys=data_keys,
        frame_length=frame_length,
        commitment_key=commitment_key,
        body_end=body_end,
        auth_tag=auth_tag,
        end=cur.pos,
    )


def _parse_context(raw: bytes) -> dict[str, str]:
    """The serialized encryption context, held to its canonical form.

    The specification requires at least one pair, no duplicates and keys sorted by their
    UTF-8 bytes; the ESDK writes exactly that. Holding it here means the header bytes are the
    serialization the EDK's AAD is computed over, with no re-encoding step in between.
    """
    if not raw:
        raise EnvelopeError("decrypt: encryption context is empty (a signed message has one)")
    cur = _Cursor(memoryview(raw))
    count = cur.u16("encryption context count")
    if count == 0:
        raise EnvelopeError("decrypt: encryption context count is 0")
    context: dict[str, str] = {}
    previous: bytes | None = None
    for index in range(count):
        key_bytes = bytes(cur.take(cur.u16("context key length"), "context key"))
        value_bytes = bytes(cur.take(cur.u16("context value length"), "context value"))
        if previous is not None and key_bytes <= previous:
            raise EnvelopeError(
                f"decrypt: encryption context entry {index} is duplicated or out of order"
            )
        previous = key_bytes
        try:
            context[key_bytes.decode("utf-8")] = value_bytes.decode("utf-8")
        except UnicodeDecodeError:
            raise EnvelopeError(
                f"decrypt: encryption context entry {index} is not UTF-8"
            ) from None
    if cur.pos != len(raw):
        raise EnvelopeError("decrypt: encryption context has bytes after its last entry")
    return context


def _parse_data_keys(cur: _Cursor) -> tuple[EncryptedDataKey, ...]:
    count = cur.u16("encrypted data key count")
    if count == 0:
        raise EnvelopeError("decrypt: message has no encrypted data keys")
    if count > MAX_ENCRYPTED_DATA_KEYS:
        # Refused before reading any of them: bounds what a hostile header can make us do.
        raise EnvelopeError(
            f"decrypt: {count} encrypted data keys exceeds the limit of {MAX_ENCRYPTED_DATA_KEYS}"
        )
    keys = []
    for index in range(count):
        what = f"encrypted data key {index}"
        provider_id = bytes(cur.take(cur.u16(what + " provider id length"), what + " provider id"))
        info = bytes(cur.take(cur.u16(what + " provider info length"), what + " provider info"))
        ciphertext = bytes(cur.take(cur.u16(what + " ciphertext length"), what + " ciphertext"))
        keys.append(EncryptedDataKey(provider_id, info, ciphertext))
    return tuple(keys)


def _unwrap_data_key(header: Header, key: SdkKey) -> bytes:
    """The plaintext data key from the raw AES EDK of ``key`` (raw AES keyring OnDecrypt)."""
    namespace = KEY_NAMESPACE.encode("utf-8")
    name = key.key_id.encode("utf-8")
    # Provider info = key name ‖ tag length in bits ‖ IV length ‖ IV.
    info_len = len(name) + 8 + _WRAP_IV_LEN
    wrapping: AESGCM | None = None
    tried = 0
    for edk in header.data_keys:
        info = edk.provider_info
        if edk.provider_id != namespace or len(info) != info_len or info[: len(name)] != name:
            continue
        tag_bits, iv_len = struct.unpack_from(">II", info, len(name))
        if tag_bits != _WRAP_TAG_BITS or iv_len != _WRAP_IV_LEN:
            continue
        if len(edk.ciphertext) != _WRAPPED_KEY_LEN:
            continue
        if wrapping is None:
            wrapping = AESGCM(key.wrapping_key())
        tried += 1
        try:
            return wrapping.decrypt(info[len(name) + 8 :], edk.ciphertext, header.context_bytes)
        except InvalidTag:
            continue  # the spec: try each matching EDK until one opens
    if tried == 0:
        raise KeyNotInBundleError(f"decrypt: no encrypted data key for SDK key {key.key_id}")
    raise KeyNotInBundleError(
        f"decrypt: the encrypted data key for SDK key {key.key_id} does not open "
        "(wrong secret, or the header was altered)"
    )


def _derive_keys(header: Header, data_key: bytes) -> bytes:
    """HKDF-SHA512 data encryption key; raise unless the commitment key matches."""
    derived = HKDF(
        algorithm=hashes.SHA512(), length=DATA_KEY_LEN, salt=header.message_id, info=_DERIVE_INFO
    ).derive(data_key)
    commitment = HKDF(
        algorithm=hashes.SHA512(), length=COMMIT_KEY_LEN, salt=header.message_id, info=_COMMIT_INFO
    ).derive(data_key)
    if not hmac.compare_digest(commitment, header.commitment_key):
        raise EnvelopeError("decrypt: key commitment does not match the header")
    return derived


def _frame_iv(sequence: int) -> bytes:
    return bytes(IV_LEN - 4) + struct.pack(">I", sequence)


def _decrypt_body(data: memoryview, header: Header, derived: bytes) -> tuple[bytes, int]:
    """Decrypt every frame in order; return the plaintext and the footer's offset."""
    cur = _Cursor(data)
    cur.pos = header.end
    aead = AESGCM(derived)
    chunks: list[bytes] = []
    expected_sequence = 1
    while True:
        what = f"frame {expected_sequence}"
        first = cur.u32(what + " sequence number")
        final = first == SEQUENCE_NUMBER_END
        sequence = cur.u32(what + " sequence number") if final else first
        if sequence != expected_sequence:
            raise EnvelopeError(
                f"decrypt: frame sequence number {sequence}, expected {expected_sequence}"
            )
        iv = cur.take(IV_LEN, what + " IV")
        if iv != _frame_iv(sequence):
            raise EnvelopeError(f"decrypt: {what} IV is not its sequence number")
        if final:
            length = cur.u32(what + " content length")
            if length > header.frame_length:
                raise EnvelopeError(
                    f"decrypt: final frame holds {length} bytes, more than the frame length "
                    f"{header.frame_length}"
                )
        else:
            length = header.frame_length
        # Content and tag are adjacent, as AES-GCM decrypt wants them: one zero-copy slice.
        sealed = cur.take(length + TAG_LEN, what + " content")
        aad = b"".join(
            (
                header.message_id,
                _FINAL_FRAME_LABEL if final else _FRAME_LABEL,
                struct.pack(">IQ", sequence, length),
            )
        )
        try:
            chunks.append(aead.decrypt(iv, sealed, aad))
        except InvalidTag:
            raise EnvelopeError(f"decrypt: {what} does not authenticate") from None
        if final:
            return b"".join(chunks), cur.pos
        expected_sequence += 1


def _verify_signature(data: memoryview, header: Header, footer_start: int) -> None:
    """ECDSA P-384/SHA-384 over everything before the footer; nothing may follow it."""
    cur = _Cursor(data)
    cur.pos = footer_start
    length = cur.u16("footer signature length")
    if not 0 < length <= _MAX_SIGNATURE_LEN:
        raise EnvelopeError(f"decrypt: footer signature length {length} out of range")
    signature = bytes(cur.take(length, "footer signature"))
    if cur.pos != len(data):
        raise EnvelopeError(f"decrypt: {len(data) - cur.pos} unexpected bytes after the footer")
    public_key = _public_key(header.context)
    digest = hashlib.sha384(data[:footer_start]).digest()
    try:
        public_key.verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA384())))
    except InvalidSignature:
        raise EnvelopeError("decrypt: message signature does not verify") from None


def _public_key(context: Mapping[str, str]) -> ec.EllipticCurvePublicKey:
    """The verification key: base64 of a compressed P-384 point, in canonical form only."""
    text = context.get(PUBLIC_KEY_CONTEXT_KEY)
    if text is None:
        raise EnvelopeError(f"decrypt: encryption context has no {PUBLIC_KEY_CONTEXT_KEY}")
    try:
        point = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise EnvelopeError(f"decrypt: {PUBLIC_KEY_CONTEXT_KEY} is not base64") from None
    if (
        len(point) != _P384_COMPRESSED_LEN
        or point[0] not in (2, 3)
        or base64.b64encode(point).decode("ascii") != text
    ):
        raise EnvelopeError(f"decrypt: {PUBLIC_KEY_CONTEXT_KEY} is not a compressed P-384 point")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP384R1(), point)
    except ValueError:
        raise EnvelopeError(f"decrypt: {PUBLIC_KEY_CONTEXT_KEY} is not a P-384 point") from None
