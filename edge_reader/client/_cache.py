"""Last known good on disk: the latest verified bundle, still encrypted, with its pointer.

One file per (project, environment, scope)::

    b"VEXILCACHE1\\n" + <8-digit pointer length> + b"\\n" + pointer bytes + ciphertext

Pointer and bundle live in ONE file so they can never disagree, and it is written with
temp file + fsync + ``os.replace``, so a crash leaves either the old or the new file, never
half of one. The ciphertext stays encrypted at rest: reading it back goes through the same
verification (sha256, size, envelope context) as a download.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("edge_reader.client")

MAGIC = b"VEXILCACHE1\n"
_LEN_DIGITS = 8


@dataclass(frozen=True, slots=True)
class CachedBundle:
    """The two byte strings a cache file holds."""

    pointer_bytes: bytes
    ciphertext: bytes


def encode_cache_file(pointer_bytes: bytes, ciphertext: bytes) -> bytes:
    """The bytes of a cache file holding ``pointer_bytes`` and ``ciphertext``."""
    return MAGIC + f"{len(pointer_bytes):0{_LEN_DIGITS}d}\n".encode() + pointer_bytes + ciphertext


def decode_cache_file(data: bytes) -> CachedBundle | None:
    """Split a cache file; None when it is not one (wrong magic, bad length)."""
    if not data.startswith(MAGIC):
        return None
    head = len(MAGIC)
    digits = data[head : head + _LEN_DIGITS]
    if not digits.isdigit() or data[head + _LEN_DIGITS : head + _LEN_DIGITS + 1] != b"\n":
        return None
    start = head + _LEN_DIGITS + 1
    end = start + int(digits)
    if end > len(data):
        return None
    return CachedBundle(pointer_bytes=data[start:end], ciphertext=data[end:])


class DiskCache:
    """Reads and atomically replaces one cache file."""

    def __init__(
        self, directory: str | os.PathLike[str], project: str, environment: str, scope: str
    ) -> None:
        """Cache under ``directory`` (created on first write) for one bundle identity."""
        self.directory = Path(directory)
        # Keys are restricted to [a-z0-9._-] by the flag format, so they are safe file names.
        self.path = self.directory / f"{project}.{environment}.{scope}.vexilcache"

    def load(self) -> CachedBundle | None:
        """The cached bundle, or None when absent or unreadable (never raises)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("cannot read cache %s: %s", self.path, exc)
            return None
        cached = decode_cache_file(data)
        if cached is None:
            log.warning("ignoring malformed cache file %s", self.path)
        return cached

    def store(self, pointer_bytes: bytes, ciphertext: bytes) -> bool:
        """Atomically replace the cache file; False (logged) if the disk refused."""
        # Late: tempfile pulls in shutil, bz2 and lzma (~0.5 MB); only a writer needs it.
        import tempfile  # noqa: PLC0415

        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".vexilcache")
        except OSError as exc:
            log.warning("cannot write cache in %s: %s", self.directory, exc)
            return False
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(encode_cache_file(pointer_bytes, ciphertext))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
            return True
        except OSError as exc:
            log.warning("cannot write cache %s: %s", self.path, exc)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            return False
