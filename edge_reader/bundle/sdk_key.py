"""SDK keys: ``vxl_<kind>_<keyid>_<secret>``.

``kind`` is ``srv`` (server SDKs) or ``cli`` (client-side / edge); ``keyid`` is 10 lowercase
base32 characters (public: it names the raw AES keyring and the ``key-<keyid>`` scope);
``secret`` is base64url without padding of 32 random bytes. The AES-256 wrapping key is
derived from the secret with HKDF-SHA256, so the bundle key is never the raw secret.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from edge_reader.bundle.errors import SdkKeyFormatError
from edge_reader.bundle.pointer import CLIENT_SCOPE, SERVER_SCOPE

SdkKeyKind = Literal["srv", "cli"]
KINDS: frozenset[str] = frozenset({"srv", "cli"})
# The one mapping between a key's short kind (its text: vxl_srv_/vxl_cli_) and its long name:
# the ``kind`` of the API and of the stored SDK-key record, which is also the pointer scope an
# unscoped key of that kind reads (pointer.SERVER_SCOPE / CLIENT_SCOPE).
KIND_NAMES: Mapping[SdkKeyKind, str] = MappingProxyType({"srv": SERVER_SCOPE, "cli": CLIENT_SCOPE})
_KIND_OF_NAME: Mapping[str, SdkKeyKind] = MappingProxyType(
    {name: kind for kind, name in KIND_NAMES.items()}
)
SECRET_BYTES = 32
_KEY_RE = re.compile(r"^vxl_(srv|cli)_([a-z2-7]{10})_([A-Za-z0-9_-]{43})$")
_KEYID_RE = re.compile(r"^[a-z2-7]{10}$")
_HKDF_INFO = b"vexil bundle wrapping key v1"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class SdkKey:
    """A parsed SDK key. ``repr`` never shows the secret."""

    kind: SdkKeyKind
    key_id: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SdkKeyFormatError(f"sdk_key.kind: must be 'srv' or 'cli', got {self.kind!r}")
        if not _KEYID_RE.match(self.key_id):
            raise SdkKeyFormatError("sdk_key.key_id: must be 10 lowercase base32 characters")
        if len(self.secret) != SECRET_BYTES:
            raise SdkKeyFormatError(f"sdk_key.secret: must be {SECRET_BYTES} bytes")

    @property
    def text(self) -> str:
        """The full key as handed to an SDK (contains the secret: treat as a credential)."""
        return f"vxl_{self.kind}_{self.key_id}_{_b64url(self.secret)}"

    @property
    def kind_name(self) -> str:
        """``server`` or ``client``: the API/record kind and the scope an unscoped key reads."""
        return KIND_NAMES[self.kind]

    @property
    def scope_name(self) -> str:
        """Name of this key's own scope when it is scoped: ``key-<keyid>``."""
        return f"key-{self.key_id}"

    def wrapping_key(self) -> bytes:
        """The AES-256 key of this SDK key's raw keyring (HKDF-SHA256 of the secret)."""
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=self.key_id.encode(), info=_HKDF_INFO
        ).derive(self.secret)


def kind_of_name(name: str) -> SdkKeyKind:
    """The short kind (``srv``/``cli``) of a long kind name (``server``/``client``).

    Raises :class:`SdkKeyFormatError` for any other name.
    """
    try:
        return _KIND_OF_NAME[name]
    except (KeyError, TypeError):
        raise SdkKeyFormatError(
            f"sdk_key.kind: must be {' or '.join(map(repr, _KIND_OF_NAME))}, got {name!r}"
        ) from None


def parse_sdk_key(text: str) -> SdkKey:
    """Parse ``vxl_<kind>_<keyid>_<secret>``; raise :class:`SdkKeyFormatError` otherwise.

    The error message never includes the input, which may be a real credential.
    """
    if not isinstance(text, str):
        raise SdkKeyFormatError("sdk_key: expected a string")
    match = _KEY_RE.match(text.strip())
    if match is None:
        raise SdkKeyFormatError(
            "sdk_key: expected vxl_<srv|cli>_<10 base32 chars>_<43 base64url chars>"
        )
    kind, key_id, secret_text = match.groups()
    secret = base64.urlsafe_b64decode(secret_text + "=")
    return SdkKey(kind=kind, key_id=key_id, secret=secret)  # type: ignore[arg-type]


def generate_key_id() -> str:
    """A fresh random key id: 10 lowercase base32 characters (50 bits)."""
    return base64.b32encode(secrets.token_bytes(10)).decode("ascii")[:10].lower()


def generate_sdk_key(kind: SdkKeyKind) -> SdkKey:
    """Create a new SDK key of ``kind`` ('srv' or 'cli') from the OS CSPRNG."""
    if kind not in KINDS:
        raise SdkKeyFormatError(f"sdk_key.kind: must be 'srv' or 'cli', got {kind!r}")
    return SdkKey(kind=kind, key_id=generate_key_id(), secret=secrets.token_bytes(SECRET_BYTES))
