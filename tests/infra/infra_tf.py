"""Read the Terraform in infra/ with python-hcl2 and resolve the references tests need.

No terraform binary exists here, so tests read the configuration as data. ``Tf`` merges
every ``.tf`` file of a directory; ``resolve`` evaluates the small subset of expressions
our names are built from (``local.*`` templates over ``resources.json``) and refuses
anything else, so a test cannot silently compare against an unevaluated string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
SHARED = json.loads((INFRA / "resources.json").read_text(encoding="utf-8"))

_OPTIONS = hcl2.SerializationOptions(
    with_comments=False, explicit_blocks=False, strip_string_quotes=True
)
_REF = re.compile(r"\$\{([^{}]+)\}")


def parse_file(path: Path) -> dict[str, Any]:
    """One .tf file as python-hcl2 data (string quotes stripped)."""
    text = path.read_text(encoding="utf-8")
    data: dict[str, Any] = hcl2.loads(text, serialization_options=_OPTIONS)
    return data


@dataclass
class Tf:
    """Every block of one Terraform directory, merged across its files."""

    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    data: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: Path) -> Tf:
        """Parse every ``*.tf`` file directly in ``directory``."""
        tf = cls()
        for path in sorted(directory.glob("*.tf")):
            tf.raw[path.name] = path.read_text(encoding="utf-8")
            doc = parse_file(path)
            for block in doc.get("resource", []):
                for rtype, named in block.items():
                    for name, body in named.items():
                        tf.resources[(rtype, name)] = body
            for block in doc.get("data", []):
                for rtype, named in block.items():
                    for name, body in named.items():
                        tf.data[(rtype, name)] = body
            for block in doc.get("variable", []):
                tf.variables.update(block)
            for block in doc.get("output", []):
                tf.outputs.update(block)
            for block in doc.get("module", []):
                tf.modules.update(block)
            for block in doc.get("locals", []):
                tf.locals.update(block)
        return tf

    def of_type(self, rtype: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(name, body) of every resource of one type."""
        for (kind, name), body in self.resources.items():
            if kind == rtype:
                yield name, body

    def resolve(self, value: Any, name_prefix: str | None = None) -> Any:
        """Evaluate ``${local.*}`` references over resources.json; refuse anything else."""
        prefix = name_prefix or SHARED["default_name_prefix"]
        if not isinstance(value, str):
            return value
        whole = re.fullmatch(r"\$\{([^{}]+)\}", value)
        if whole:
            return self._ref(whole.group(1).strip(), prefix)
        return _REF.sub(lambda m: str(self._ref(m.group(1).strip(), prefix)), value)

    def _ref(self, ref: str, prefix: str) -> Any:
        if ref == "local.name_prefix":
            return prefix
        if ref.startswith("local.shared."):
            node: Any = SHARED
            for part in ref.removeprefix("local.shared.").split("."):
                node = node[part]
            return node
        if ref.startswith("local.") and ref.removeprefix("local.") in self.locals:
            return self.resolve(self.locals[ref.removeprefix("local.")], prefix)
        raise ValueError(f"cannot resolve {ref!r} offline")


def first(blocks: Any) -> dict[str, Any]:
    """The single nested block python-hcl2 returns as a one-element list."""
    assert isinstance(blocks, list), blocks
    assert len(blocks) == 1, blocks
    block: dict[str, Any] = blocks[0]
    return block


def all_blocks(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """Every nested block called ``name`` (none -> empty list)."""
    blocks = body.get(name, [])
    return list(blocks) if isinstance(blocks, list) else [blocks]
