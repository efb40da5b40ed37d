"""Fresh, shared copies of the document values a compiled environment keeps.

Why copies: a parsed document is many small objects (≈17 MB for 10,000 flags) that the JSON
parser packs densely into pymalloc arenas of 1 MiB. CPython gives an arena back to the OS
only once every object in it is freed. If the compiled environment kept the parser's own
strings (a flag key here, a variant name or a clause value there), each of them would pin
its arena, and dropping the document would free almost nothing: measured on 10,000 flags,
3.6 MB of such survivors kept the document's whole 17 MB resident. So every string, number
and JSON value that outlives compilation is a copy made here, after parsing, in arenas the
document never used; the document can then be dropped whole. (The parser must keep none
either: see decode_bundle_document in bundle/document.py.)

Why shared: one :class:`Fresh` per compilation also makes equal values one object — the
variant ``"on"`` of 10,000 flags, their tag tuple, their empty metadata, and the prebuilt
:class:`EvaluationDetail` two flags serve alike (details are immutable, so sharing them is
invisible to callers).

Only exact JSON types (``str``, ``int``, ``float``, ``dict``, ``list``) are copied, as the
parser produces them; anything else a Python caller passed is kept as it is (it did not
come from a parser, and the compiler reports it where it is not allowed).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

from .detail import NO_METADATA, ErrorCode, EvaluationDetail, MetadataValue, Reason
from .evaluator import USE_DEFAULT


def _copy_str(s: str) -> str:
    if s.__class__ is not str:  # a Python caller's str subclass: not the parser's, kept
        return s
    # A join of two parts always builds a new string (str(s), s[:] and f"{s}" return s).
    return "".join((s, ""))


def _copy_int(v: int) -> int:
    # `v + 0` computes a new int object (int(v) and +v would return v itself); CPython's
    # preallocated small ints come back as themselves, and belong to no document anyway.
    return v + 0


class Fresh:
    """One per compilation: copies values out of the document and shares equal ones."""

    __slots__ = ("_details", "_metadata", "_metadata_ids", "_tuples", "copy", "integer", "text")

    def __init__(self) -> None:
        """Empty sharing tables."""
        self.forget()

    def forget(self) -> None:
        """Empty the sharing tables, whose keys are objects of the document being compiled:
        a compilation that outlives its document (a lazy one, see _lazy.py) calls this once
        the document is done with, and shares only what it compiles afterwards."""
        # The copy-and-share tables are functools caches: a hit (the common case: "on",
        # "user", "country"...) is then one C call, no Python frame — compiling 10,000 flags
        # asks for a quarter of a million strings. Unbounded: they live for one compilation.
        # (Called with exact str/int only: the cache would confuse True with 1.)
        self.text: Callable[[str], str] = functools.cache(_copy_str)
        """A copy of a string made after parsing, the same object for every equal string."""
        self.copy: Callable[[str], str] = _copy_str
        """A copy of a string made after parsing, not shared: for values unique by nature
        (flag keys, descriptions, targeted context keys), which would only grow the table."""
        self.integer: Callable[[int], int] = functools.cache(_copy_int)
        """A copy of an int made after parsing, the same object for every equal int."""
        self._tuples: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._metadata: dict[tuple[Any, ...], Mapping[str, MetadataValue]] = {}
        self._metadata_ids: dict[int, int] = {}  # id(shared metadata) -> a small number
        self._details: dict[tuple[Any, ...], EvaluationDetail] = {}

    def scalar(self, v: Any) -> Any:
        """:attr:`text` for strings, a fresh copy for numbers, ``v`` itself otherwise."""
        c = v.__class__
        if c is str:
            return self.text(v)
        if c is int:
            return self.integer(v)
        if c is float:
            return v * 1.0  # a new float; keeps -0.0 (v + 0.0 would not)
        return v

    def json(self, v: Any) -> Any:
        """A deep copy of a JSON value (already checked, so of bounded depth)."""
        c = v.__class__
        if c is dict:
            return {self.scalar(k): self.json(x) for k, x in v.items()}
        if c is list:
            return [self.json(x) for x in v]
        return self.scalar(v)

    def values(self, items: list[Any]) -> list[Any]:
        """A clause's values with every scalar copied (objects and arrays are left as they
        are: operators only keep derived forms of them, such as canonical strings)."""
        return [self.scalar(v) for v in items]

    def texts(self, items: Iterable[str]) -> tuple[str, ...]:
        """A tuple of copied strings, the same tuple for equal contents (e.g. tags)."""
        t = tuple(map(self.text, items))
        return self._tuples.setdefault(t, t)

    def metadata(self, items: Mapping[str, MetadataValue]) -> Mapping[str, MetadataValue]:
        """A read-only copy of a flag's metadata, shared by flags with equal metadata."""
        if not items:
            return NO_METADATA
        # The class keeps True and 1 apart (equal, and equally hashed, in Python).
        key = tuple((k, v.__class__, v) for k, v in items.items())
        got = self._metadata.get(key)
        if got is None:
            got = self._metadata[key] = MappingProxyType(
                {self.text(k): self.scalar(v) for k, v in items.items()})
        elif id(got) not in self._metadata_ids:
            # Used by a second flag: from now on its details are worth sharing. (Details of
            # a flag whose metadata no other flag has — a ticket, an owner... — never are.)
            self._metadata_ids[id(got)] = len(self._metadata_ids) + 1
        return got

    def detail(self, value: Any, variant: str | None, reason: Reason,
               rule_index: int | None = None, rule_id: str | None = None,
               flag_metadata: Mapping[str, MetadataValue] = NO_METADATA) -> EvaluationDetail:
        """An EvaluationDetail, shared with any equal one built in this compilation.

        Shared only when ``value`` is a scalar compared safely by value (its class is part
        of the key) and ``flag_metadata`` is empty or was asked of :meth:`metadata` by more
        than one flag; a float, object or array value gets a detail of its own (-0.0 equals
        0.0, and objects are per flag).
        """
        meta = 0 if flag_metadata is NO_METADATA else self._metadata_ids.get(id(flag_metadata))
        c = value.__class__
        if meta is None or c is float or c is dict or c is list:
            return EvaluationDetail(value, variant if variant is None else self.text(variant),
                                    reason, None, None, rule_index,
                                    rule_id if rule_id is None else self.text(rule_id),
                                    flag_metadata)
        key = (c, value, variant, reason, rule_index, rule_id, meta)
        got = self._details.get(key)
        if got is None:
            got = self._details[key] = EvaluationDetail(
                value, variant if variant is None else self.text(variant), reason, None, None,
                rule_index, rule_id if rule_id is None else self.text(rule_id), flag_metadata)
        return got

    def error(self, code: ErrorCode, message: str,
              flag_metadata: Mapping[str, MetadataValue]) -> EvaluationDetail:
        """A prebuilt error detail serving the caller's default, shared like :meth:`detail`."""
        meta = 0 if flag_metadata is NO_METADATA else self._metadata_ids.get(id(flag_metadata))
        key = (code, message, meta)
        got = self._details.get(key) if meta is not None else None
        if got is None:
            got = EvaluationDetail(USE_DEFAULT, None, Reason.ERROR, code, message, None, None,
                                   flag_metadata)
            if meta is not None:
                self._details[key] = got
        return got
