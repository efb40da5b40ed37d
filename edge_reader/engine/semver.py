"""Semantic versions, LaunchDarkly-style.

* SemVer 2.0.0 syntax and precedence, pre-release identifiers included (numeric
  identifiers sort numerically and below alphanumeric ones; a release sorts above its
  pre-releases); build metadata is parsed and ignored.
* Partial versions are padded with ``.0``: ``"2"`` is ``2.0.0``, ``"2.3-beta"`` is
  ``2.3.0-beta`` (LaunchDarkly adds missing components the same way).
* Anything else — a leading ``v``, leading zeros, four components, a non-string — is not a
  version, and an operator given one does not match.

The ``flagd`` dialect (a clause's ``"semver": "flagd"``, :func:`flagd_text`) is flagd's
``sem_ver``: one leading ``v``/``V`` is dropped, a JSON number is its decimal text (``1`` is
``1.0.0``), and a partial version may not carry a pre-release or build (``1.2-beta`` is not a
version there, as in Go's ``golang.org/x/mod/semver`` that flagd uses).
"""

from __future__ import annotations

import re

# A parsed version as a tuple that compares by SemVer precedence:
# (major, minor, patch, is_release, prerelease identifiers as (0, int) | (1, str)).
Version = tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]

_NUM = r"0|[1-9][0-9]*"
_ID = r"0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*"
# Anchored by fullmatch, not "$": "$" also matches before a final newline ("1.0.0\n").
_SEMVER = re.compile(
    rf"({_NUM})(?:\.({_NUM}))?(?:\.({_NUM}))?"
    rf"(?:-((?:{_ID})(?:\.(?:{_ID}))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?",
    re.ASCII,
)
MAX_LENGTH = 256  # longer strings are not versions (bounds the work per value)


def parse_semver(text: object) -> Version | None:
    """Parse ``text`` into a comparable :data:`Version`, or None if it is not a version."""
    if not isinstance(text, str) or len(text) > MAX_LENGTH:
        return None
    m = _SEMVER.fullmatch(text)
    if m is None:
        return None
    major, minor, patch, pre, _build = m.groups()
    if pre is None:
        return (int(major), int(minor or 0), int(patch or 0), 1, ())
    ids = tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split("."))
    return (int(major), int(minor or 0), int(patch or 0), 0, ids)


CACHE: dict[str, Version | None] = {}
CACHE_MAX = 4096


def parse_semver_cached(text: object) -> Version | None:
    """:func:`parse_semver` through a small bounded cache (context values repeat a lot)."""
    if text.__class__ is not str:
        return parse_semver(text)
    try:
        return CACHE[text]
    except KeyError:
        pass
    version = parse_semver(text)
    if len(CACHE) >= CACHE_MAX:
        CACHE.clear()  # crude but bounded; a hot working set refills in microseconds
    CACHE[text] = version
    return version


DIALECTS = frozenset({"flagd"})
"""Values of a clause's ``semver`` option (the default is the syntax above)."""


def flagd_text(value: object) -> str | None:
    """The version text flagd's ``sem_ver`` reads from ``value`` (a string without its one
    leading ``v``/``V``, or a number's decimal text), or None when flagd would refuse it.

    What is returned always parses with :func:`parse_semver` to the version flagd compares.
    """
    c = value.__class__
    if c is str:
        assert isinstance(value, str)
        text = value[1:] if value[:1] in ("v", "V") else value
    elif c is int:
        text = str(value)
    elif c is float:
        assert isinstance(value, float)
        # JSON has one number type: an integral float is the integer flagd's SDKs print.
        text = str(int(value)) if value.is_integer() else repr(value)
    else:
        return None  # a boolean, null, object or array is not a version for flagd either
    if parse_semver_cached(text) is None:
        return None
    core = _PRE_OR_BUILD.split(text, maxsplit=1)
    if len(core) > 1 and core[0].count(".") != 2:
        return None  # "1.2-beta": a shorthand version has no pre-release or build in flagd
    return text


_PRE_OR_BUILD = re.compile(r"[-+]")
