"""Evaluation contexts: normalised once, read many times.

A context arrives as a mapping, in one of two shapes:

* single kind — ``{"targetingKey": "u-1", "country": "DE"}`` (kind ``user``) or
  ``{"kind": "device", "key": "d-1", ...}``;
* multi kind — ``{"kind": "multi", "user": {"key": "u-1"}, "organization": {"key": "o-9"}}``.

``targetingKey`` and ``key`` are synonyms. :meth:`Context.from_mapping` never raises: a bad
shape gives a Context whose ``error`` says why (evaluation then reports INVALID_CONTEXT).

Internally a Context is ``kinds: dict[kind, attributes]`` where each attribute dict holds
the context's attributes plus ``kind`` and (when present) ``key`` — so a compiled clause
reads an attribute with two dict lookups.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .keys import KIND_RE

Kinds = dict[str, dict[str, Any]]

_EMPTY: Kinds = {}


class Context:
    """A normalised evaluation context. Build once with :meth:`from_mapping`; reuse freely."""

    __slots__ = ("error", "kinds")

    def __init__(self, kinds: Kinds, error: str | None = None) -> None:
        self.kinds: Kinds = kinds
        self.error: str | None = error

    @property
    def targeting_key(self) -> str | None:
        """The key of the ``user`` kind, else of the only kind, else None."""
        user = self.kinds.get("user")
        if user is not None:
            key = user.get("key")
            return key if isinstance(key, str) else None
        if len(self.kinds) == 1:
            key = next(iter(self.kinds.values())).get("key")
            return key if isinstance(key, str) else None
        return None

    def __repr__(self) -> str:
        if self.error is not None:
            return f"Context(error={self.error!r})"
        return f"Context({self.kinds!r})"

    @classmethod
    def from_mapping(cls, data: object) -> Context:
        """Normalise ``data``; never raises (a bad shape sets ``.error`` instead)."""
        if isinstance(data, Context):
            return data
        fast = plain_kinds(data)
        if fast is not None:
            return cls(fast)
        # `type(...) is dict` first: the ABC isinstance check costs more than the rest.
        if type(data) is not dict and not isinstance(data, Mapping):
            return cls(_EMPTY, "context must be a mapping")
        kind = data.get("kind", "user")
        if kind == "multi":
            kinds: Kinds = {}
            for name, sub in data.items():
                if name == "kind":
                    continue
                problem = _check_kind(name)
                if problem is not None:
                    return cls(_EMPTY, problem)
                if not isinstance(sub, Mapping):
                    return cls(_EMPTY, f"context kind {name!r} must be a mapping")
                attrs, problem = _single(name, sub)
                if problem is not None:
                    return cls(_EMPTY, problem)
                kinds[name] = attrs
            if not kinds:
                return cls(_EMPTY, "a multi-kind context needs at least one kind")
            return cls(kinds)
        problem = _check_kind(kind)
        if problem is not None:
            return cls(_EMPTY, problem)
        attrs, problem = _single(kind, data)
        if problem is not None:
            return cls(_EMPTY, problem)
        _learn_names(data)
        return cls({kind: attrs})


def plain_kinds(data: object) -> Kinds | None:
    """The kinds of a valid, plain single-``user`` dict context, else None ("not this case").

    Promise: when this returns kinds, they equal ``Context.from_mapping(data).kinds`` (a
    fresh copy: the caller's dict is neither kept nor changed). It exists because
    applications pass a fresh dict on every call: the full path costs about 1 µs, this one
    a copy and a few C-level lookups. It leaves to the full path: anything but an exact
    ``dict``, an explicit ``kind``, a ``key`` (alone or beside ``targetingKey``), a
    non-string targeting key, and any attribute name not yet seen in a context the full
    path accepted (names are checked against that learned set, not type by type; so an
    object other than a ``str`` that claims equality with a learned name is taken as it).
    """
    if (data.__class__ is not dict or "kind" in data or "key" in data
            or not _NAMES.issuperset(data)):
        return None
    attrs: dict[str, Any] = data.copy()
    key = attrs.pop("targetingKey", None)
    if key is not None:
        if key.__class__ is not str:
            return None
        if key:  # an empty key is the same as no key
            attrs["key"] = key
    attrs["kind"] = "user"
    return {"user": attrs}


def plain_view(data: object) -> Kinds | None:
    """The kinds of a valid, plain single-``user`` dict context for ONE evaluation, without
    copying it; None when it is not that case (exactly when :func:`plain_kinds` says so).

    Promise: every compiled flag evaluates these kinds exactly as it evaluates
    ``plain_kinds(data)``. The user's attributes are the caller's dict itself, so they are
    not normalised: the targeting key may be under ``targetingKey`` (possibly ``""``,
    meaning none) and ``kind`` is absent. Compiled code therefore reads the key with
    :data:`KEY` semantics (``key_in``) and the ``kind`` attribute with ``kind_in`` — every
    reader of those two names in the engine goes through them. Why: applications pass a
    fresh dict on every call, and the copy that renames ``targetingKey`` and adds ``kind``
    was most of what a FlagClient getter added to the engine's evaluation. Never keep the
    result: the caller owns the dict (and may change it after the call).
    """
    # _NAMES never holds "kind" or "key" (_learn_names): the subset test excludes both.
    if data.__class__ is not dict or not _NAMES.issuperset(data):
        return None
    key = data.get("targetingKey")
    if key is not None and key.__class__ is not str:
        return None
    return {"user": data}  # checked: a dict with str names


def key_in(attrs: dict[str, Any]) -> Any:
    """The targeting key of one kind's attributes (normalised, or a :func:`plain_view`),
    None when there is none. Hot paths inline the same expression: see ``KEY_READ``."""
    return attrs.get("key") or attrs.get("targetingKey") or None


def kind_in(attrs: dict[str, Any]) -> Any:
    """The ``kind`` attribute of one kind's attributes (a :func:`plain_view` has only the
    ``user`` kind and no ``kind`` entry)."""
    return attrs.get("kind", "user")


# How compiled code reads a targeting key where a call would cost too much (targets,
# key-list segments, rollouts by key): `attrs.get("key") or attrs.get("targetingKey") or
# None` — a normalised context has a non-empty "key" or none and never "targetingKey"; a
# plain view has "targetingKey" (str, "" meaning none) and never "key". Keep every copy of
# the expression equal to key_in (tests/engine/test_plain_contexts.py pins the answers).
KEY_READ = "attrs.get('key') or attrs.get('targetingKey') or None"


def kinds_of(data: object) -> Kinds | None:
    """The kinds of ``data`` (a Context or a mapping), None when it is not a valid context.

    The typed getters' way in: :func:`plain_kinds` first, the full normalisation after.
    """
    kinds = plain_kinds(data)
    if kinds is not None:
        return kinds
    ctx = Context.from_mapping(data)
    return ctx.kinds if ctx.error is None else None


def _learn_names(data: Mapping[Any, Any]) -> None:
    """Remember the attribute names of a context the full path accepted (exact str only)."""
    if len(_NAMES) < _NAMES_MAX:
        # Never "kind" nor "key": a dict holding either is not a plain view's (the subset
        # test then answers for them, see plain_view).
        _NAMES.update(name for name in data if name.__class__ is str and name not in _SHAPED)


# Attribute names seen in accepted contexts: plain_kinds checks a dict's names against
# this set (one C-level subset test) instead of type by type. Bounded: a caller sending
# ever-new names only loses the shortcut, never memory.
_NAMES: set[str] = {"targetingKey"}
_SHAPED = frozenset({"kind", "key"})
_NAMES_MAX = 4096

# Kinds already checked, so a context built per request skips the regex. Bounded: a
# caller sending ever-new kind names only loses the shortcut, never memory.
_VALID_KINDS: set[str] = {"user"}
_VALID_KINDS_MAX = 1024
_STR_ONLY = frozenset({str})


def _check_kind(kind: object) -> str | None:
    if type(kind) is str and kind in _VALID_KINDS:
        return None
    if not isinstance(kind, str) or not KIND_RE.match(kind) or kind in ("kind", "multi"):
        return f"invalid context kind {kind!r}"
    if len(_VALID_KINDS) < _VALID_KINDS_MAX:
        _VALID_KINDS.add(kind)
    return None


def _single(kind: str, data: Mapping[Any, Any]) -> tuple[dict[str, Any], str | None]:
    # One C-level copy plus a C-level type scan of the names: this runs once per context
    # built from a plain dict (every OpenFeature call), so it must cost well under 1 µs.
    attrs: dict[str, Any] = data.copy() if type(data) is dict else dict(data)
    if attrs and frozenset(map(type, attrs)) != _STR_ONLY:
        for name in attrs:
            if not isinstance(name, str):
                return attrs, f"context attribute names must be strings, got {name!r}"
    key = attrs.pop("targetingKey", None)
    plain = attrs.pop("key", None)
    if key is None:
        key = plain
    elif plain is not None and plain != key:
        return attrs, "context has both 'targetingKey' and 'key' with different values"
    if key is not None and not isinstance(key, str):
        return attrs, f"context key of kind {kind!r} must be a string"
    if key:  # an empty key is the same as no key
        attrs["key"] = key
    attrs["kind"] = kind
    return attrs, None


# --- attribute references -------------------------------------------------------------

Getter = Callable[[dict[str, Any]], Any]


def parse_attribute(ref: str) -> tuple[tuple[str, ...] | None, str | None]:
    """Split an attribute reference into path components, or return an error message.

    A name not starting with ``/`` is one literal top-level attribute. A name starting with
    ``/`` is a JSON pointer into nested objects (``~1`` is ``/``, ``~0`` is ``~``).
    ``targetingKey`` is an alias for ``key``.
    """
    if not ref:
        return None, "attribute must not be empty"
    if not ref.startswith("/"):
        return (("key",) if ref == "targetingKey" else (ref,)), None
    parts: list[str] = []
    for raw in ref[1:].split("/"):
        if raw == "":
            return None, f"attribute reference {ref!r} has an empty path component"
        out: list[str] = []
        i = 0
        while i < len(raw):
            ch = raw[i]
            if ch == "~":
                nxt = raw[i + 1 : i + 2]
                if nxt == "0":
                    out.append("~")
                elif nxt == "1":
                    out.append("/")
                else:
                    return None, f"attribute reference {ref!r} has an invalid '~' escape"
                i += 2
                continue
            out.append(ch)
            i += 1
        parts.append("".join(out))
    if parts == ["targetingKey"]:
        parts = ["key"]
    return tuple(parts), None


def make_getter(path: tuple[str, ...]) -> Getter:
    """A function reading ``path`` from one kind's attributes; None when absent.

    Navigation goes through JSON objects only (as LaunchDarkly's attribute references do):
    an array or scalar on the way means the attribute is absent.
    """
    if path == ("key",):
        return key_in  # a plain view keeps the key under "targetingKey" (see plain_view)
    if path == ("kind",):
        return kind_in
    if len(path) == 1:
        name = path[0]

        def top(attrs: dict[str, Any]) -> Any:
            return attrs.get(name)

        return top

    def nested(attrs: dict[str, Any]) -> Any:
        node: Any = attrs
        for part in path:
            if not isinstance(node, Mapping):
                return None
            node = node.get(part)
            if node is None:
                return None
        return node

    return nested
