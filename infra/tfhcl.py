"""Render Terraform's JSON configuration form as native HCL text.

``chalice package --pkg-format terraform`` writes ``chalice.tf.json``. We turn it into a
``.tf`` file because checkov only scans native ``.tf`` files (``.tf.json`` is silently
ignored), because inline ``#checkov:skip=`` justifications need comments, and because a
reviewer reads HCL. JSON form cannot say whether a nested object is a *block*
(``lifecycle { ... }``) or an *object attribute* (``tags = { ... }``); the schema of the
few resource types Chalice emits answers that, so the block names are listed here and an
unknown nested object is refused rather than guessed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Nested objects that are blocks in the AWS provider schema (every other object is an
# attribute). Unknown names are refused: emitting a block as an attribute (or the
# reverse) produces configuration that Terraform rejects at plan time.
BLOCK_KEYS = frozenset(
    {
        "lifecycle",
        "environment",
        "endpoint_configuration",
        "tracing_config",
        "vpc_config",
        "dead_letter_config",
        "logging_config",
        "ephemeral_storage",
        "snap_start",
        "required_providers",
    }
)
# Nested objects known to be attributes (maps or objects).
ATTRIBUTE_OBJECT_KEYS = frozenset({"tags", "variables", "triggers", "inputs", "default"})
# Reserved key: a list of comment lines written at the top of the enclosing block.
COMMENT_KEY = "#"

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


class HclRenderError(ValueError):
    """The JSON document holds a construct this renderer does not know how to place."""


@dataclass(frozen=True)
class Expr:
    """A raw HCL expression (``var.x``, ``jsonencode(...)``), written without quoting."""

    text: str


def _escape_literal(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )


def _interpolation_end(value: str, start: int) -> int:
    """Index just past the ``}`` closing the ``${``/``%{`` opened at ``start``."""
    depth, i, in_string = 1, start + 1, False
    while i < len(value):
        ch = value[i]
        if in_string:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise HclRenderError(f"unterminated interpolation in {value[:80]!r}")


def quote(value: str) -> str:
    """An HCL quoted template equal to the JSON-form string ``value``.

    JSON-form strings are templates too, so ``${...}`` and ``%{...}`` keep their meaning.
    Literal text is escaped for HCL's quoted-string grammar; interpolations are copied
    verbatim, because inside ``${ }`` HCL reads an expression, where a nested string is
    written with plain quotes (``"${f("x")}"``), not escaped ones.
    """
    out: list[str] = []
    i = 0
    while i < len(value):
        if value.startswith(("$${", "%%{"), i):  # escaped: literal ${ / %{
            out.append(value[i : i + 3])
            i += 3
        elif value.startswith(("${", "%{"), i):
            end = _interpolation_end(value, i + 1)
            out.append(value[i:end])
            i = end
        else:
            j = i + 1
            while j < len(value) and value[j] not in "$%":
                j += 1
            out.append(_escape_literal(value[i:j]))
            i = j
    return '"' + "".join(out) + '"'


def _key(name: str) -> str:
    return name if _IDENT.match(name) else quote(name)


def _value(value: Any, indent: int) -> str:
    pad = "  " * indent
    if isinstance(value, Expr):
        return value.text
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        inner = "\n".join(
            f"{pad}  {quote(str(k))} = {_value(v, indent + 1)}" for k, v in value.items()
        )
        return "{\n" + inner + f"\n{pad}}}"
    if isinstance(value, Sequence):
        if not value:
            return "[]"
        if all(not isinstance(v, Mapping | list) for v in value):
            return "[" + ", ".join(_value(v, indent) for v in value) + "]"
        inner = ",\n".join(f"{pad}  {_value(v, indent + 1)}" for v in value)
        return "[\n" + inner + f",\n{pad}]"
    raise HclRenderError(f"cannot render value of type {type(value).__name__}")


def render_body(body: Mapping[str, Any], indent: int, where: str) -> list[str]:
    """Lines of one block body (attributes, nested blocks, comments) at ``indent``."""
    pad = "  " * indent
    lines: list[str] = []
    for comment in body.get(COMMENT_KEY, []):
        lines.append(f"{pad}# {comment}")
    for name, value in body.items():
        if name == COMMENT_KEY:
            continue
        path = f"{where}.{name}"
        if name in BLOCK_KEYS:
            blocks = value if isinstance(value, list) else [value]
            for block in blocks:
                if not isinstance(block, Mapping):
                    raise HclRenderError(f"{path}: a block must be an object")
                lines.append(f"{pad}{name} {{")
                if name == "required_providers":
                    lines.extend(
                        f"{pad}  {_key(k)} = {_value(v, indent + 1)}" for k, v in block.items()
                    )
                else:
                    lines.extend(render_body(block, indent + 1, path))
                lines.append(f"{pad}}}")
        elif isinstance(value, Mapping) and name not in ATTRIBUTE_OBJECT_KEYS:
            raise HclRenderError(
                f"{path}: unknown nested object; add it to BLOCK_KEYS or "
                "ATTRIBUTE_OBJECT_KEYS in infra/tfhcl.py after checking the provider schema"
            )
        else:
            lines.append(f"{pad}{_key(name)} = {_value(value, indent)}")
    return lines


def _labelled(kind: str, labels: Sequence[str], body: Mapping[str, Any], where: str) -> list[str]:
    head = " ".join([kind, *(quote(label) for label in labels)])
    return [f"{head} {{", *render_body(body, 1, where), "}", ""]


def render_document(doc: Mapping[str, Any], header: Sequence[str] = ()) -> str:
    """The whole Terraform JSON-form document as HCL text.

    Top-level keys: ``terraform``, ``variable``, ``locals``, ``data``, ``resource``,
    ``output``. Anything else raises :class:`HclRenderError`.
    """
    out: list[str] = [f"# {line}" if line else "#" for line in header]
    if out:
        out.append("")
    for kind, section in doc.items():
        if kind == "terraform":
            out.extend(_labelled("terraform", [], section, "terraform"))
        elif kind == "locals":
            out.extend(_labelled("locals", [], section, "locals"))
        elif kind in ("variable", "output"):
            for name, body in section.items():
                out.extend(_labelled(kind, [name], body, f"{kind}.{name}"))
        elif kind in ("resource", "data"):
            for rtype, instances in section.items():
                for name, body in instances.items():
                    out.extend(_labelled(kind, [rtype, name], body, f"{rtype}.{name}"))
        else:
            raise HclRenderError(f"unsupported top-level block {kind!r}")
    return "\n".join(out).rstrip("\n") + "\n"
