"""The local emulator's state on disk: moto's backends saved atomically and restored on start.

Why: moto keeps everything in memory, so every ``vexil dev down`` used to wipe projects,
tokens, SDK keys and — worst — the KMS keys: the publisher's signing key changed on every
start and every reader configured against the stack failed with ``bad_signature``. moto has
no persistence of its own (its ``/moto-api/`` offers reset and a call recorder, not a state
dump), so the launcher pickles the backends of the services the stack uses.

Promises:

* **Atomic**: a snapshot is written to a temporary file, fsynced, then renamed over the state
  file; the previous file is kept as ``<file>.prev`` first. A crash (``kill -9``) at any
  instant leaves the state file whole, or (between the two renames) only ``.prev`` — and
  :func:`load` falls back to it.
* **Checked**: the file carries a SHA-256 of its body; a torn or edited file is refused (and
  the older good copy used), never half-loaded.
* **Consistent**: :class:`Persister` takes the snapshot under the serialising lock of
  :mod:`vexil.devstack.motoserver`, i.e. between two requests, so it never holds half a
  transaction.

KMS keys hold `cryptography` private-key objects, which do not pickle: they are saved as
PKCS#8 DER and loaded back (the same key material, so the signing public key survives).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import io
import logging
import os
import pickle
import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

log = logging.getLogger("vexil.devstack.emulator_state")

# The services the local stack uses. dynamodbstreams keeps only shard iterators (which
# expire anyway); the stream records live in dynamodb's tables.
SERVICES = ("dynamodb", "s3", "kms")
MAGIC = b"VEXIL-EMULATOR-STATE\n"
FORMAT = 1
DEFAULT_INTERVAL = 10.0
# At most this share of the emulator's time goes to holding its lock for snapshots.
MAX_LOCK_SHARE = 0.05
_PRIVATE_KEYS = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)


class StateFileError(Exception):
    """A state file that cannot be used (torn, edited, or from an incompatible moto)."""


def _load_private_key(der: bytes) -> Any:
    return serialization.load_der_private_key(der, password=None)


def _versioned_store(cls: type, lists: dict[str, list[Any]], attrs: dict[str, Any]) -> Any:
    store = cls()
    store.__dict__.update(attrs)
    for key, versions in lists.items():
        store.setlist(key, versions)
    return store


class _Pickler(pickle.Pickler):
    """pickle, plus `cryptography` private keys as their PKCS#8 DER bytes, and S3's
    versioned key store with every version (its ``items()`` yields only the latest, which
    plain pickle would save)."""

    def reducer_override(self, obj: Any) -> Any:
        """Private keys by value; S3 key stores by version list; the rest as pickle does."""
        if isinstance(obj, _PRIVATE_KEYS):
            der = obj.private_bytes(serialization.Encoding.DER,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            return _load_private_key, (der,)
        if type(obj).__name__ == "_VersionedKeyStore" and hasattr(obj, "getlist"):
            lists = {key: list(obj.getlist(key)) for key in dict.keys(obj)}
            return _versioned_store, (type(obj), lists, dict(obj.__dict__))
        return NotImplemented


def _moto_version() -> str:
    from moto import __version__  # noqa: PLC0415 - moto is heavy; only the launcher loads it

    return str(__version__)


def snapshot() -> bytes:
    """The state of :data:`SERVICES` in this process, as the bytes :func:`restore` takes.

    The caller must keep requests out while it runs (the launcher holds its lock).
    """
    from moto.backends import get_backend  # noqa: PLC0415

    state: dict[str, dict[str, dict[str, Any]]] = {}
    for service in SERVICES:
        backends = get_backend(service)  # type: ignore[call-overload]
        state[service] = {account: dict(regions.items())
                          for account, regions in backends.items()}
    buf = io.BytesIO()
    _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(
        {"format": FORMAT, "moto": _moto_version(), "saved_at": time.time(), "state": state}
    )
    return buf.getvalue()


def restore(data: bytes) -> dict[str, Any]:
    """Put the backends saved by :func:`snapshot` in place of this process's; return the
    file's header (``format``, ``moto``, ``saved_at``). Call before serving requests.

    Raises :class:`StateFileError` for a snapshot of another format or moto version
    (pickled classes may have changed shape: loading them could half-work).
    """
    from moto.backends import get_backend  # noqa: PLC0415

    # Our own file (0600, in the user's state dir, checksum verified by the caller): whoever
    # can write it can already run code as this user, so unpickling adds no new trust.
    saved = pickle.loads(data)  # noqa: S301  # nosec B301
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise StateFileError("not a state file of this version")
    if saved.get("moto") != _moto_version():
        raise StateFileError(f"saved by moto {saved.get('moto')}, this is moto "
                             f"{_moto_version()}")
    for service, accounts in saved["state"].items():
        backends = get_backend(service)
        for account, regions in accounts.items():
            per_account = backends[account]
            for region, backend in regions.items():
                per_account[region] = backend
    return {k: saved[k] for k in ("format", "moto", "saved_at")}


def release_free_memory() -> None:
    """Hand freed heap memory back to the OS (glibc ``malloc_trim``; a no-op elsewhere).

    Why: a snapshot allocates a pickle memo and buffer the size of the state and frees them;
    glibc keeps such freed memory in its heap (its mmap threshold rises after the first large
    free), so without a trim the emulator's RSS ratcheted up with every save although the
    live data did not (measured: bench_soak, docs/performance.md).
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _frame(body: bytes) -> bytes:
    return MAGIC + hashlib.sha256(body).hexdigest().encode("ascii") + b"\n" + body


def _unframe(data: bytes) -> bytes:
    if not data.startswith(MAGIC):
        raise StateFileError("not a Vexil emulator state file")
    digest, sep, body = data[len(MAGIC):].partition(b"\n")
    if not sep or hashlib.sha256(body).hexdigest().encode("ascii") != digest:
        raise StateFileError("checksum mismatch (torn or edited file)")
    return body


def previous(path: Path) -> Path:
    """Where the last good copy before ``path``'s current one is kept."""
    return path.with_name(path.name + ".prev")


def write(path: Path, body: bytes) -> None:
    """Write ``body`` to ``path`` atomically, keeping the current file as ``.prev``.

    Order: temp file + fsync; current → ``.prev``; temp → current; fsync the directory.
    After a crash at any point, :func:`load` finds a whole snapshot.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(_frame(body))
        fh.flush()
        os.fsync(fh.fileno())
    if path.exists():
        os.replace(path, previous(path))
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load(path: Path) -> dict[str, Any] | None:
    """Restore the newest usable snapshot at ``path`` (or its ``.prev``) into this process.

    Returns the header plus ``file`` (which copy was used), or None when there is no state
    yet. A copy that reads but fails to restore (another moto version) is skipped for the
    older one; when none can be used :class:`StateFileError` says why.
    """
    problems: list[str] = []
    for candidate in (path, previous(path)):
        try:
            body = _unframe(candidate.read_bytes())
            header = restore(body)
        except FileNotFoundError:
            continue
        except (OSError, StateFileError, pickle.UnpicklingError, EOFError,
                AttributeError, ImportError) as exc:
            problems.append(f"{candidate.name}: {exc}")
            log.warning("emulator state %s unusable: %s", candidate, exc)
            continue
        return {**header, "file": str(candidate)}
    if problems:
        raise StateFileError("; ".join(problems))
    return None


@dataclass
class SaveStats:
    """What the last save cost (for the launcher's log and the soak benchmark)."""

    saves: int = 0
    last_bytes: int = 0
    last_seconds: float = 0.0
    last_lock_seconds: float = 0.0


class Persister:
    """Saves the emulator's state to ``path`` every ``interval`` seconds when something was
    written since the last save, and once more on :meth:`close`.

    ``lock`` is the launcher's request lock: the snapshot is taken while holding it (between
    two requests); the file is written after releasing it, so requests wait only for the
    pickling, not for the disk.
    """

    def __init__(self, path: Path, lock: AbstractContextManager[Any], *,
                 interval: float = DEFAULT_INTERVAL) -> None:
        self.path = path
        self.lock = lock
        self.interval = interval
        self.stats = SaveStats()
        # Writes seen, and how many of them the last completed save holds.
        self.generation = 0
        self.saved_generation = 0
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._write_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True, name="emulator-state")

    def mark_dirty(self) -> None:
        """Something may have changed: the next tick saves. Call under ``lock``."""
        self.generation += 1
        self._dirty.set()

    def start(self) -> Persister:
        """Start the periodic saver thread."""
        self._thread.start()
        return self

    def save_now(self) -> None:
        """Take a snapshot between two requests and write it (atomically)."""
        with self._write_lock:
            started = time.monotonic()
            with self.lock:
                self._dirty.clear()
                body = snapshot()
                generation = self.generation
            self.stats.last_lock_seconds = time.monotonic() - started
            write(self.path, body)
            self.saved_generation = generation
            self.stats.saves += 1
            self.stats.last_bytes = len(body)
            self.stats.last_seconds = time.monotonic() - started
            del body
            release_free_memory()

    def next_wait(self) -> float:
        """Seconds until the next save: ``interval``, stretched so that holding the lock
        for snapshots takes at most :data:`MAX_LOCK_SHARE` of the emulator's time as the
        state grows (requests wait while a snapshot is taken)."""
        return max(self.interval, self.stats.last_lock_seconds / MAX_LOCK_SHARE)

    def _run(self) -> None:
        while not self._stop.wait(self.next_wait()):
            if self._dirty.is_set():
                try:
                    self.save_now()
                except Exception:
                    # The previous good file stays; the next tick tries again.
                    log.exception("saving the emulator state failed")
                    self._dirty.set()

    def close(self) -> None:
        """Stop the thread and save a last time if anything changed since the last save."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.interval + 30)
        if self._dirty.is_set():
            self.save_now()
