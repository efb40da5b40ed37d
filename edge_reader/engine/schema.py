"""The JSON Schema of the environment document, shipped as package data.

The schema is for editors, CI linters and documentation; the compiler remains the
authority (it checks references and literals a schema cannot). A test keeps the two in
agreement on structure.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def flag_schema() -> dict[str, Any]:
    """The parsed ``flag.schema.json`` (draft 2020-12); the same object on every call."""
    text = resources.files(__package__).joinpath("flag.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
