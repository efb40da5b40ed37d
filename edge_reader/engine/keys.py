"""The one rule for names: keys, variation names and context kinds — written once, here.

Every layer imports these (the compiler, contexts, the bundle's S3 object names, the control
plane's request schemas and URL parameters, the flags file), so a name the API accepts is a
name the reader accepts, and a test fails if a second copy of a pattern appears in the tree.

The compiled patterns are anchored with ``\\A`` and ``\\Z``, never ``$``: in Python ``$`` also
matches *before a final newline*, so ``re.match(r"^[a-z]+$", "x\\n")`` succeeds and a key
``"x\\n"`` would reach S3 object names. With ``\\Z`` ``match``, ``fullmatch`` and ``search``
all mean "the whole string".

JSON Schema patterns (request schemas, ``flag.schema.json``, the OpenAPI document) must read
the same in ECMA-262, where ``\\Z`` is not an anchor, and in Python's ``jsonschema``, which
calls ``re.search``. They end ``$(?!\\n)``: in ECMA-262 ``$`` is the end of input and the
lookahead is always true; in Python the lookahead refuses the spot before a final newline.
"""

from __future__ import annotations

import re
from typing import TypeGuard

_KEY = "[a-z0-9][a-z0-9._-]{0,127}"
_VARIANT = "[A-Za-z0-9_][A-Za-z0-9._-]{0,127}"
_KIND = "[A-Za-z0-9._-]{1,64}"

KEY_RULE = f"^{_KEY}$"
"""How messages and docs show the key rule (a whole string of 1–128 of ``[a-z0-9._-]``,
starting with a letter or digit)."""

KEY_RE = re.compile(rf"\A{_KEY}\Z")
"""Project, environment, flag and segment keys. Matches the whole string only."""
VARIANT_RE = re.compile(rf"\A{_VARIANT}\Z")
"""Variation names. Matches the whole string only."""
KIND_RE = re.compile(rf"\A{_KIND}\Z")
"""Context kinds. Matches the whole string only."""


def json_pattern(rule: re.Pattern[str]) -> str:
    """The JSON Schema ``pattern`` for one of this module's rules (same language in
    ECMA-262 and in Python's ``jsonschema``; see the module docstring)."""
    body = rule.pattern.removeprefix(r"\A").removesuffix(r"\Z")
    return f"^{body}$(?!\\n)"


KEY_JSON_PATTERN = json_pattern(KEY_RE)
"""The key rule as a JSON Schema ``pattern``."""


def is_key(value: object) -> TypeGuard[str]:
    """True when ``value`` is a string that is a valid key (the whole string, no newline)."""
    return isinstance(value, str) and KEY_RE.match(value) is not None
