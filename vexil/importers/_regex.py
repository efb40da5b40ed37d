"""Peer regular expressions → RE2 patterns for Vexil's ``matches`` operator.

One owner for what the importers know about regex dialects. Unleash's engine (Rust's
``regex`` crate) and GrowthBook (JavaScript ``RegExp``) both search (not full-match) as
``matches`` does; their syntax and character classes differ from RE2 in a few places. Each
function returns ``(pattern, problem)``: ``pattern`` None means the peer never matches with
it (it does not compile there either); ``problem`` set means the translation may evaluate
differently for some inputs and must be reported unfaithful.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

# Escapes whose meaning depends on the dialect: Rust's are Unicode-aware, RE2's ASCII-only.
_RUST_EXACT = {"d": r"\p{Nd}", "D": r"\P{Nd}"}
_RUST_UNICODE = set("wWsSbB")
# JavaScript's \s is Unicode whitespace, RE2's ASCII: the others agree (ASCII both).
_JS_UNICODE = set("sS")


@functools.cache
def _compile() -> Callable[[str], Any]:
    import re2  # noqa: PLC0415

    options = re2.Options()
    options.log_errors = False
    return functools.partial(re2.compile, options=options)


def compiles(pattern: str) -> bool:
    """Whether RE2 (as Vexil's engine configures it) accepts ``pattern``."""
    try:
        _compile()(pattern)
    except Exception:
        return False
    return True


def _python_rejects(pattern: str) -> bool:
    """Whether Python's ``re`` (a third dialect) also refuses ``pattern``: a pattern that RE2
    and Python both refuse is taken as broken everywhere."""
    try:
        re.compile(pattern)
    except re.error:
        return True
    return False


def _uses_lookaround_or_backref(pattern: str) -> bool:
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            if (pattern[i + 1].isdigit() and pattern[i + 1] != "0") or pattern[i + 1] == "k":
                return True
            i += 2
            continue
        if pattern.startswith(("(?=", "(?!", "(?<=", "(?<!"), i):
            return True
        i += 1
    return False


def _rewrite_escapes(pattern: str, exact: dict[str, str], unsafe: set[str]) -> tuple[str, set[str]]:
    out: list[str] = []
    found: set[str] = set()
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if nxt in exact:
                out.append(exact[nxt])
            else:
                if nxt in unsafe:
                    found.add("\\" + nxt)
                out.append(ch + nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out), found


def translate_rust_regex(pattern: str) -> tuple[str | None, str | None]:
    """A Rust-``regex`` pattern (Unleash's engine) as an RE2 pattern."""
    if _uses_lookaround_or_backref(pattern):
        return None, None  # Rust refuses these too: Unleash's constraint never matches
    rewritten, unsafe = _rewrite_escapes(pattern, _RUST_EXACT, _RUST_UNICODE)
    if not compiles(rewritten):
        if _python_rejects(pattern):
            return None, None  # broken for every engine (an unclosed group...): never matches
        return None, f"regex {pattern!r} is not valid RE2 (Unleash may accept it)"
    if unsafe:
        names = ", ".join(sorted(unsafe))
        return rewritten, (f"regex {pattern!r} uses {names}: Unicode-aware in Unleash's "
                           "engine, ASCII-only in RE2 (differs for non-ASCII input)")
    return rewritten, None


def translate_js_regex(pattern: str) -> tuple[str | None, str | None]:
    """A JavaScript ``RegExp`` source (GrowthBook) as an RE2 pattern. Returns a problem for
    anything JavaScript accepts that RE2 does not, or reads differently."""
    if _uses_lookaround_or_backref(pattern):
        if _python_rejects(pattern):
            return None, None
        return None, f"regex {pattern!r} uses lookaround or backreferences (not RE2)"
    if "(?" in pattern.replace("(?:", "").replace("(?<", ""):
        return None, f"regex {pattern!r} uses an inline group JavaScript may reject"
    rewritten, unsafe = _rewrite_escapes(pattern, {}, _JS_UNICODE)
    if not compiles(rewritten):
        if _python_rejects(pattern):
            return None, None  # broken for every engine: JavaScript throws, GrowthBook: false
        return None, f"regex {pattern!r} is not valid RE2 (JavaScript may accept it)"
    problems = []
    if unsafe:
        problems.append("\\s is Unicode whitespace in JavaScript, ASCII in RE2")
    if "." in pattern.replace("\\.", ""):
        problems.append("'.' also excludes \\r, U+2028 and U+2029 in JavaScript")
    if problems:
        return rewritten, f"regex {pattern!r}: " + "; ".join(problems)
    return rewritten, None
