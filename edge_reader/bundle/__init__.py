"""Bundle encoding, pointer format, SDK keys and the ESDK envelope.

Public surface (pinned by ``tests/bundle/test_public_api.py``)::

    encode_bundle_document / decode_bundle_document   canonical plaintext
    Pointer, encode_pointer, decode_pointer            current.json
    bundle_object_key, pointer_object_key              S3 layout
    SdkKey, parse_sdk_key, generate_sdk_key            SDK keys
    encryption_context, decrypt_bundle                 the envelope contract (light)
    BundleError, BundleFormatError, SdkKeyFormatError, EnvelopeError

Encrypting (``encrypt_bundle``, ``EnvelopeCache``) and KMS clients live in
:mod:`edge_reader.bundle.esdk`, which loads aws-encryption-sdk, the MPL and boto3; nothing
here imports it, so an SDK-key reader never pays for them.
"""

from edge_reader.bundle._contract import CONTEXT_KEYS, FORMAT_VERSION, encryption_context
from edge_reader.bundle.document import (
    decode_bundle_document,
    decode_bundle_document_lazily,
    encode_bundle_document,
)
from edge_reader.bundle.envelope import decrypt_bundle
from edge_reader.bundle.errors import (
    BundleError,
    BundleFormatError,
    EnvelopeError,
    SdkKeyFormatError,
)
from edge_reader.bundle.pointer import (
    CLIENT_SCOPE,
    POINTER_FORMAT,
    SERVER_SCOPE,
    Pointer,
    bundle_object_key,
    check_scope,
    decode_pointer,
    encode_pointer,
    pointer_object_key,
)
from edge_reader.bundle.sdk_key import SdkKey, generate_sdk_key, parse_sdk_key

__all__ = [
    "CLIENT_SCOPE",
    "CONTEXT_KEYS",
    "FORMAT_VERSION",
    "POINTER_FORMAT",
    "SERVER_SCOPE",
    "BundleError",
    "BundleFormatError",
    "EnvelopeError",
    "Pointer",
    "SdkKey",
    "SdkKeyFormatError",
    "bundle_object_key",
    "check_scope",
    "decode_bundle_document",
    "decode_bundle_document_lazily",
    "decode_pointer",
    "decrypt_bundle",
    "encode_bundle_document",
    "encode_pointer",
    "encryption_context",
    "generate_sdk_key",
    "parse_sdk_key",
    "pointer_object_key",
]
