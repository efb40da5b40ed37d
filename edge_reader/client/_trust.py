"""Which publisher keys a reader trusts: the ``signing_keys`` option, parsed once.

Encryption keeps bundles secret but does not say who made them: every holder of an SDK
key (and client keys ship inside apps) can make a bundle other holders of that key open.
The publisher therefore signs every pointer with a KMS key only it may use
(:mod:`edge_reader.bundle.signing`), and a reader given that key's public half refuses
any pointer — from the CDN, the disk cache or a bootstrap cache file — that the key did
not sign. Several keys may be trusted at once (old and new, while the signing key is
rotated). A reader given none accepts signed and unsigned pointers alike and says once
in its log that it does not verify the publisher.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Union

from edge_reader.bundle.errors import BundleFormatError
from edge_reader.bundle.signing import TrustedKey, load_trusted_keys

log = logging.getLogger("edge_reader.client")

# One entry of ``signing_keys``: PEM text (one or more PUBLIC KEY blocks), DER bytes (as KMS
# GetPublicKey returns them), a path to a file holding either, or an already loaded key.
SigningKeySource = Union[TrustedKey, str, bytes, "os.PathLike[str]"]

_warned = threading.Event()


def load_signing_keys(
    spec: SigningKeySource | Iterable[SigningKeySource] | None,
) -> tuple[TrustedKey, ...]:
    """The trusted keys ``spec`` names, deduplicated by fingerprint; () for None.

    ``spec`` is one source or a list of them. A ``str`` holding ``-----BEGIN`` is PEM text,
    any other ``str`` (or a path object) is a file to read. Raises ``ValueError`` naming
    the entry for an unreadable file, a non-P-256 key, or an empty list (an empty list is
    refused rather than read as "verify nothing": pass None to opt out of verification).
    """
    if spec is None:
        return ()
    single = (str, bytes, bytearray, os.PathLike, TrustedKey)
    items = [spec] if isinstance(spec, single) else list(spec)
    if not items:
        raise ValueError("signing_keys: empty; give the publisher's public key(s), or None")
    trusted: dict[str, TrustedKey] = {}
    for index, item in enumerate(items):
        try:
            keys = _load(item)
        except (BundleFormatError, ValueError) as exc:
            raise ValueError(f"signing_keys[{index}]: {exc}") from None
        for key in keys:
            trusted.setdefault(key.fingerprint, key)
    return tuple(trusted.values())


def _load(item: object) -> list[TrustedKey]:
    if isinstance(item, TrustedKey):
        return [item]
    if isinstance(item, (bytes, bytearray)):
        return load_trusted_keys(bytes(item))
    if isinstance(item, str) and "-----BEGIN" in item:
        return load_trusted_keys(item)
    if isinstance(item, (str, os.PathLike)):
        path = Path(item)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
        return load_trusted_keys(data)
    raise ValueError(
        f"expected PEM text, DER bytes or a file path, got {type(item).__name__}"
    )


def warn_unverified_once() -> None:
    """Log, once per process, that readers without signing keys trust whoever wrote S3."""
    if not _warned.is_set():
        _warned.set()
        log.warning(
            "no signing_keys configured: this reader does not verify that the publisher made "
            "the bundles it serves (any holder of an SDK key of the environment could); "
            "configure the publisher's public key (docs/sdk-guide.md, verifying the publisher)"
        )
