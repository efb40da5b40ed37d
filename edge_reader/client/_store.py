"""The store: holds the current snapshot and swaps it atomically.

Decrypting and compiling happen before ``install`` is called (outside the lock, in
``_verify``); the lock only guards the revision comparison and the reference swap, so an
evaluation never waits for a compile. Readers take ``current`` without a lock — one
attribute read, which is atomic in CPython — and keep using that snapshot for the whole of
an ``evaluate_all``, so bulk evaluation is consistent.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable

from edge_reader.bundle import Pointer
from edge_reader.client._verify import BundleRejected, Snapshot, changed_flags

log = logging.getLogger("edge_reader.client")

ChangeListener = Callable[[frozenset[str]], None]


class Store:
    """The current snapshot plus change listeners; revisions only move forward."""

    def __init__(self) -> None:
        """Start empty."""
        self._lock = threading.Lock()
        # A plain attribute, not a property: getters read it on every evaluation, and one
        # attribute load is the cheapest atomic read CPython offers. Only install() writes it.
        self.current: Snapshot | None = None
        self._listeners: list[ChangeListener] = []

    @property
    def revision(self) -> int | None:
        """The revision being served, or None."""
        snap = self.current
        return None if snap is None else snap.revision

    def add_listener(self, listener: ChangeListener) -> None:
        """Call ``listener(changed_flag_keys)`` after every swap that changed something."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: ChangeListener) -> None:
        """Stop calling ``listener``; unknown listeners are ignored."""
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def renew(self, pointer: Pointer) -> bool:
        """Keep the held bundle but remember ``pointer`` (a re-signed pointer for the very
        revision held, e.g. a later expiry); True when it was taken, False when the held
        snapshot is not a verified bundle of that revision. Notifies no listener."""
        with self._lock:
            held = self.current
            if held is None or not held.verified or held.revision != pointer.revision:
                return False
            self.current = dataclasses.replace(held, pointer=pointer)
            return True

    def install(self, snapshot: Snapshot) -> frozenset[str]:
        """Swap in ``snapshot`` and return the flags that changed.

        Raises ``BundleRejected("rollback")`` when ``snapshot`` is older than the verified
        bundle held (a plaintext bootstrap document never blocks a verified bundle).
        Re-loading identical content at the held revision is a no-op (empty set).
        """
        old = self.current
        # Diff before taking the lock: it only reads immutable snapshots.
        changed = changed_flags(old, snapshot)
        with self._lock:
            held = self.current
            if held is not old:  # someone swapped meanwhile; diff against the real one
                changed = changed_flags(held, snapshot)
            if held is not None and held.verified and snapshot.revision < held.revision:
                raise BundleRejected(
                    "rollback",
                    f"revision {snapshot.revision} is older than the held revision {held.revision}",
                )
            if held is not None and snapshot.revision == held.revision and not changed:
                return frozenset()
            self.current = snapshot
            listeners = list(self._listeners)
        if changed:
            for listener in listeners:
                try:
                    listener(changed)
                except Exception:  # a listener's bug must not stop the others or the poller
                    log.exception("change listener failed")
        return changed
