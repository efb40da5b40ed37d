"""JavaScript's value coercions, as GrowthBook's reference SDK applies them to attributes.

GrowthBook conditions are evaluated by JavaScript: ``String(v)``, ``v * 1``, ``!!v``,
``JSON.stringify(v)`` and its ``paddedVersionString``. The GrowthBook importer reproduces
those exactly by giving each context the results of these functions (``context()``) and
comparing them in plain Vexil clauses; this module is the one owner of the functions.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from edge_reader.engine.bucketing import js_number_string

# StrWhiteSpaceChar: what Number(" 5 ") trims.
_JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007" \
            "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_RADIX = {"0x": 16, "0o": 8, "0b": 2}
_VERSION_STRIP = re.compile(r"^v|\+.*$")
_VERSION_SEPARATOR = re.compile(r"[-.]")
_DIGITS = re.compile(r"[0-9]+")


def js_type(value: Any) -> str:
    """GrowthBook's ``getType``: null, array, string, number, boolean or object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def number_string(value: float) -> str:
    """``String(n)`` of a JSON number (integers exactly, floats as JavaScript prints them)."""
    if isinstance(value, int) and abs(value) < 2**53:
        return str(value)
    as_float = float(value)
    return js_number_string(as_float) if math.isfinite(as_float) else "Infinity"


def js_string(value: Any) -> str:
    """``String(value)``; arrays join their elements with "," (null elements as "")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return number_string(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join("" if v is None else js_string(v) for v in value)
    return "[object Object]"


def js_number(value: Any) -> float | None:
    """``Number(value)`` (``value * 1``), or None for NaN and the infinities."""
    if value is None or value is False:
        return 0.0
    if value is True:
        return 1.0
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, list):
        return js_number(js_string(value))
    if not isinstance(value, str):
        return None
    text = value.strip(_JS_SPACE)
    if not text:
        return 0.0
    radix = _RADIX.get(text[:2].lower())
    if radix is not None:
        try:
            return float(int(text[2:], radix)) if text[2:].isalnum() else None
        except ValueError:
            return None
    if not _DECIMAL.fullmatch(text):
        return None
    number = float(text)
    return number if math.isfinite(number) else None


def js_truthy(value: Any) -> bool:
    """``!!value``."""
    if isinstance(value, (list, dict)):
        return True
    if isinstance(value, float) and math.isnan(value):
        return False
    return bool(value)


def js_json(value: Any) -> str:
    """``JSON.stringify(value)``: keys in document order, no spaces, JavaScript numbers."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{js_json(v)}"
                              for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(js_json(v) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return number_string(value) if math.isfinite(float(value)) else "null"
    return json.dumps(value, ensure_ascii=False)


def padded_version(value: Any) -> str:
    """GrowthBook's ``paddedVersionString``: "v" and build info dropped, numeric parts
    left-padded to 5, "~" appended to a release so that it sorts after its pre-releases."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = number_string(value)
    if not value or not isinstance(value, str):
        value = "0"
    parts = _VERSION_SEPARATOR.split(_VERSION_STRIP.sub("", value))
    if len(parts) == 3:
        parts.append("~")
    return "-".join(p.rjust(5, " ") if _DIGITS.fullmatch(p) else p for p in parts)
