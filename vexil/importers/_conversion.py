"""What every importer returns, and the rules all importers share (key mapping, report).

One owner for: the ``Conversion`` shape, how a peer key that Vexil's key rule refuses is
mapped (deterministically, independent of the order keys are met), and how report items
are written. The per-system modules only translate semantics.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from edge_reader.engine.keys import KEY_RE, VARIANT_RE

_KEY_MAX = 128
_NOT_KEY_CHAR = re.compile(r"[^a-z0-9._-]+")
_NOT_VARIANT_CHAR = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Conversion:
    """A translated peer export: the Vexil document, the key map and the report."""

    document: dict[str, Any]
    keys: dict[str, str] = field(default_factory=dict)
    report: list[dict[str, Any]] = field(default_factory=list)

    def note(self, path: str, reason: str, *, faithful: bool) -> None:
        """Record one report item about the peer object at ``path``."""
        self.report.append({"path": path, "reason": reason, "faithful": faithful})

    @property
    def unfaithful_paths(self) -> set[str]:
        """Every peer path with at least one report item saying it is not faithful."""
        return {item["path"] for item in self.report if not item["faithful"]}


@dataclass
class PathNotes:
    """Report items about one peer object (a flag, a segment, a saved group...) at ``path``;
    ``faithful`` turns False once anything about it is reported unfaithful."""

    conv: Conversion
    path: str
    faithful: bool = True
    _seen: set[tuple[str, bool]] = field(default_factory=set)

    def bad(self, reason: str) -> None:
        """Record that the translation of this object may serve something else, and why
        (once per reason)."""
        self.faithful = False
        self._note(reason, faithful=False)

    def info(self, reason: str) -> None:
        """Record a note that changes nothing about what is served (once per reason)."""
        self._note(reason, faithful=True)

    def _note(self, reason: str, *, faithful: bool) -> None:
        if (reason, faithful) not in self._seen:
            self._seen.add((reason, faithful))
            self.conv.note(self.path, reason, faithful=faithful)


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def _candidate_key(peer_key: str) -> str:
    key = _NOT_KEY_CHAR.sub("-", peer_key.lower()).strip("-")
    if not key or not key[0].isalnum():
        key = "k" + key
    return key[:_KEY_MAX]


def map_keys(peer_keys: Iterable[str]) -> dict[str, str]:
    """Map peer keys to Vexil keys: valid keys are kept, others are lowercased with every
    run of other characters turned into ``-``; keys that would collide (or are too long)
    get a suffix from a hash of the peer key. The result depends only on the set of keys,
    never on their order, and is injective."""
    keys = sorted(set(peer_keys))
    kept = {k for k in keys if KEY_RE.match(k)}
    candidates = {k: _candidate_key(k) for k in keys if k not in kept}
    taken_counts: dict[str, int] = {}
    for key in kept:
        taken_counts[key] = taken_counts.get(key, 0) + 1
    for cand in candidates.values():
        taken_counts[cand] = taken_counts.get(cand, 0) + 1
    mapping = {k: k for k in kept}
    for peer, cand in candidates.items():
        clash = taken_counts[cand] > 1 or len(peer) > _KEY_MAX
        mapping[peer] = f"{cand[:_KEY_MAX - 9]}-{_short_hash(peer)}" if clash else cand
    return mapping


def variant_name(name: str) -> str:
    """A Vexil variation name for a peer variant name (kept when valid; otherwise invalid
    characters become ``-`` and a hash suffix keeps distinct names distinct)."""
    if VARIANT_RE.match(name):
        return name
    cleaned = _NOT_VARIANT_CHAR.sub("-", name).lstrip(".-")[:100] or "v"
    return f"{cleaned}-{_short_hash(name)}"


def note_renamed_keys(conv: Conversion, kind: str, mapping: dict[str, str]) -> None:
    """Add a faithful report item for every peer key that had to be renamed."""
    for peer, key in sorted(mapping.items()):
        if peer != key:
            conv.note(f"{kind}.{peer}",
                      f"key {peer!r} is not a valid Vexil key; imported as {key!r}", faithful=True)


def flag_kind(values: Iterable[Any]) -> str:
    """The narrowest Vexil flag kind holding every peer variation value: ``boolean``,
    ``string``, ``number`` (never a boolean), else ``json``."""
    values = list(values)
    if all(isinstance(v, bool) for v in values):
        return "boolean"
    if all(isinstance(v, str) for v in values):
        return "string"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "number"
    return "json"
