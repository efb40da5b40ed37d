"""Errors raised by :mod:`edge_reader.bundle`.

::

    BundleError                 base of everything this package raises
    ├── BundleFormatError       bytes that are not a well-formed document, pointer or SDK key
    │   └── SdkKeyFormatError   SDK key text that does not match ``vxl_<kind>_<keyid>_<secret>``
    └── EnvelopeError           encryption or decryption failed, or the message's encryption
        │                       context is not exactly the one the caller expected
        └── KeyNotInBundleError a well-formed message this SDK key cannot open: no data key
                                for its key id, or one its secret does not unwrap (revoked,
                                another environment's key, a mistyped secret)

Every message names the field at fault and why, and never contains secret material.
"""

from __future__ import annotations


class BundleError(Exception):
    """Base class of the bundle package's errors."""


class BundleFormatError(BundleError, ValueError):
    """A document, pointer or SDK key is malformed; the message names the field."""


class SdkKeyFormatError(BundleFormatError):
    """SDK key text is malformed (the message never echoes the secret)."""


class EnvelopeError(BundleError):
    """An envelope could not be produced or opened, or its context does not match."""


class KeyNotInBundleError(EnvelopeError):
    """The bundle was not encrypted for this SDK key: retrying with the same key cannot help
    until a publish includes it (readers report it as a refusal, like a 401/403)."""
