"""Flags-as-code files: one YAML (or JSON) file describes one project environment.

::

    format: 1
    project: shop
    environment: production
    flags:
      new-checkout:            # exactly a FLAG of docs/flag-format.md, minus `version`
        kind: boolean
        variations: {on: true, off: false}
        enabled: true
        default: {variation: off}
    segments:
      beta-testers: {context_kind: user, included: [u-1]}

A flag mixes its *definition* (shared by every environment of the project: kind,
variations, schema, description, tags, client_visible, deprecated, metadata) and its
*configuration* in this environment (enabled, off_variation, prerequisites, targets,
rules, default). Server-managed fields (``version``) never appear in a file.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edge_reader.engine import Problem
from edge_reader.engine._validate import did_you_mean
from edge_reader.engine.fields import (
    CONFIG_FIELDS,
    DEFINITION_FIELDS,
    ENABLED_DEFAULT,
    SEGMENT_FIELDS,
)
from edge_reader.engine.keys import is_key
from vexil.errors import UsageError

FORMAT = 1

SERVER_FIELDS = ("version", "created_at", "updated_at", "updated_by", "created_by", "key",
                 "project", "environment", "etag")

# Optional fields whose absence means exactly this value: dropped when equal, so a file
# that omits them and a server that spells them out compare equal.
_FLAG_DEFAULTS: dict[str, Any] = {
    "schema": None, "description": "", "tags": [], "client_visible": False,
    "deprecated": False, "metadata": {}, "off_variation": None, "prerequisites": [],
    "targets": [], "rules": [],
}
_SEGMENT_DEFAULTS: dict[str, Any] = {
    "context_kind": "user", "included": [], "excluded": [], "rules": [], "description": "",
    "tags": [],
}


class Locator:
    """Finds the line of a flags file that holds a document path (``flags.a.rules[0].op``).

    Built from PyYAML's node tree (every node keeps its start mark), so it works for YAML
    and JSON files alike. Keys may contain dots (``flags.web.checkout``), so each step
    takes the longest key of the mapping that the rest of the path starts with.
    """

    def __init__(self, root: yaml.Node | None) -> None:
        self._root = root
        # id(mapping node) -> {key: (key node, value node)}, built on first use, so a
        # lookup costs the path's length, not the mapping's size (10,000 flags).
        self._index: dict[int, dict[str, tuple[yaml.Node, yaml.Node]]] = {}

    def line(self, path: str) -> int | None:
        """The 1-based line of ``path``, or of its deepest ancestor the file holds (a
        missing field is reported where its parent starts); None without a file."""
        node, rest = self._root, path
        if node is None:
            return None
        line = node.start_mark.line + 1
        while rest:
            if isinstance(node, yaml.MappingNode):
                step = self._key_step(node, rest)
                if step is None:
                    break
                key_node, node, rest = step
                line = key_node.start_mark.line + 1
            elif isinstance(node, yaml.SequenceNode):
                m = _INDEX.match(rest)
                if m is None or int(m.group(1)) >= len(node.value):
                    break
                node, rest = node.value[int(m.group(1))], rest[m.end():]
                line = node.start_mark.line + 1
            else:
                break
        return line

    def _key_step(self, node: yaml.MappingNode,
                  rest: str) -> tuple[yaml.Node, yaml.Node, str] | None:
        """(key node, value node, remaining path) for the longest key ``rest`` starts with
        (keys may contain dots: ``flags.web.checkout``)."""
        index = self._index.get(id(node))
        if index is None:
            index = {str(k.value): (k, v) for k, v in node.value
                     if isinstance(k, yaml.ScalarNode)}
            self._index[id(node)] = index
        cuts = [i for i, ch in enumerate(rest) if ch in ".["] + [len(rest)]
        for cut in reversed(cuts):
            found = index.get(rest[:cut])
            if found is not None:
                tail = rest[cut:]
                return found[0], found[1], tail[1:] if tail[:1] == "." else tail
        return None


_INDEX = re.compile(r"\[(\d+)\]\.?")


@dataclass
class FlagsFile:
    """The desired state of one environment.

    ``problems`` are errors found while reading the file that the engine cannot see
    (unknown fields are dropped before compiling); ``plan`` shows them with the compile
    errors. ``locator`` maps a document path back to a line of the file.
    """

    project: str
    environment: str
    flags: dict[str, dict[str, Any]] = field(default_factory=dict)
    segments: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str = ""
    # Flags whose `enabled` the file leaves out (it means on): plan warns when that is
    # what turns a flag on.
    implicit_enabled: set[str] = field(default_factory=set, compare=False)
    problems: list[Problem] = field(default_factory=list, compare=False)
    locator: Locator = field(default_factory=lambda: Locator(None), compare=False, repr=False)

    def line_of(self, path: str) -> int | None:
        """The line of the file holding document path ``path`` (None when not from a file)."""
        return self.locator.line(path)

    def to_document(self) -> dict[str, Any]:
        """The file's content as a plain dict, keys in a stable, readable order."""
        return {
            "format": FORMAT,
            "project": self.project,
            "environment": self.environment,
            "flags": {k: self.flags[k] for k in sorted(self.flags)},
            "segments": {k: self.segments[k] for k in sorted(self.segments)},
        }


def normalize_flag(flag: Mapping[str, Any]) -> dict[str, Any]:
    """A flag with server fields removed and default-valued optional fields dropped."""
    out: dict[str, Any] = {}
    for name in (*DEFINITION_FIELDS, *CONFIG_FIELDS):
        if name not in flag:
            continue
        value = flag[name]
        if name in _FLAG_DEFAULTS and value == _FLAG_DEFAULTS[name]:
            continue
        out[name] = value
    # The kill switch is always spelled out, so a file and the server compare equal. Absent
    # means on, as everywhere else (docs/flag-format.md: the engine's ENABLED_DEFAULT).
    out["enabled"] = bool(flag.get("enabled", ENABLED_DEFAULT))
    return out


def normalize_segment(segment: Mapping[str, Any]) -> dict[str, Any]:
    """A segment with server fields removed and default-valued fields dropped."""
    return {
        name: segment[name]
        for name in SEGMENT_FIELDS
        if name in segment and segment[name] != _SEGMENT_DEFAULTS.get(name, object())
    }


def _check_key(kind: str, key: object, where: str) -> str:
    if key is None:
        raise UsageError(f"{where}: required — the {kind} key this file is for "
                         f"(e.g. `{kind}: shop`)" if kind in ("project", "environment")
                         else f"{where}: a {kind} key is required")
    if not is_key(key):
        raise UsageError(
            f"{where}: invalid {kind} key {key!r} (lowercase letters, digits, '.', '_', '-'; "
            "starts with a letter or digit; at most 128 characters)"
        )
    return key


_TOP_FIELDS = ("format", "project", "environment", "flags", "segments")


def parse(data: object, *, source: str, locator: Locator | None = None) -> FlagsFile:
    """Validate the structure of a loaded file and return it normalized.

    Raises UsageError naming ``source:line`` and the field at fault when the file cannot be
    read as one environment at all (not a mapping, no or a bad project/environment key,
    flags not a mapping). Unknown fields of a flag or segment and a missing ``kind`` are
    collected in ``problems`` instead (all of them, with a "did you mean"), so ``plan``
    shows them with every compile error. The flags themselves are checked by the engine's
    compiler, over the whole resulting environment (``vexil.plancheck``), then by the API.
    """
    loc = locator or Locator(None)

    def at(path: str) -> str:
        line = loc.line(path) if path else None
        return f"{source}:{line}: {path}" if line else f"{source}: {path}"

    if not isinstance(data, dict):
        raise UsageError(f"{source}: the file must be a mapping with project, environment, flags")
    unknown = sorted(set(data) - set(_TOP_FIELDS), key=str)
    if unknown:
        raise UsageError(f"{at(str(unknown[0]))}: unknown top-level field '{unknown[0]}'"
                         f"{did_you_mean(unknown[0], _TOP_FIELDS)}")
    if data.get("format", FORMAT) != FORMAT:
        raise UsageError(f"{at('format')}: unsupported value {data.get('format')!r} (want 1)")
    project = _check_key("project", data.get("project"), at("project"))
    environment = _check_key("environment", data.get("environment"), at("environment"))
    flags_in = data.get("flags") or {}
    segments_in = data.get("segments") or {}
    if not isinstance(flags_in, dict):
        raise UsageError(f"{at('flags')}: must be a mapping of flag key to flag")
    if not isinstance(segments_in, dict):
        raise UsageError(f"{at('segments')}: must be a mapping of segment key to segment")
    out = FlagsFile(project=project, environment=environment, source=source, locator=loc)
    for key, flag in flags_in.items():
        _check_key("flag", key, at(f"flags.{key}"))
        if not isinstance(flag, dict):
            raise UsageError(f"{at(f'flags.{key}')}: must be a mapping")
        _unknown_fields(flag, f"flags.{key}", (*DEFINITION_FIELDS, *CONFIG_FIELDS), out.problems)
        if "kind" not in flag:
            out.problems.append(Problem(f"flags.{key}.kind", "is required", "required"))
        if "enabled" not in flag:
            out.implicit_enabled.add(key)
        out.flags[key] = normalize_flag(flag)
    for key, seg in segments_in.items():
        _check_key("segment", key, at(f"segments.{key}"))
        if not isinstance(seg, dict):
            raise UsageError(f"{at(f'segments.{key}')}: must be a mapping")
        _unknown_fields(seg, f"segments.{key}", SEGMENT_FIELDS, out.problems)
        out.segments[key] = normalize_segment(seg)
    return out


def _unknown_fields(obj: Mapping[Any, Any], path: str, known: tuple[str, ...],
                    problems: list[Problem]) -> None:
    """Report every field of ``obj`` not in ``known`` (normalizing would silently drop it)."""
    for name in sorted(set(obj) - set(known), key=str):
        if name in SERVER_FIELDS:
            hint = " (server-managed; remove it)"
        else:
            hint = did_you_mean(name, known)
        problems.append(Problem(f"{path}.{name}", f"unknown field {name!r}{hint}",
                                "unknown_field"))


def load(path: str) -> FlagsFile:
    """Read and validate a flags file (YAML or JSON; ``-`` reads stdin)."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror or exc})") from None
    source = "stdin" if path == "-" else path
    # YAML 1.1 would read a bare `on`/`off` key as a boolean; flags use them as
    # variation names, so keys are loaded with a loader that keeps them strings.
    # The node tree is kept so problems can be reported by line.
    loader = _FlagsLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{mark.line + 1}:" if mark is not None else ""
        raise UsageError(f"{source}:{where} not valid YAML/JSON ({_yaml_problem(exc)})") from None
    finally:
        loader.dispose()
    return parse(data, source=source, locator=Locator(node))


def _yaml_problem(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None)
    return str(problem) if problem else str(exc).splitlines()[0]


# libyaml's parser when PyYAML was built with it (the wheels are): 10x faster on a
# 10,000-flag file; the resolver below is Python either way, so both read the same.
_SafeBase: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _FlagsLoader(_SafeBase):  # type: ignore[misc, valid-type]
    """SafeLoader in which only ``true``/``false`` (any case) are booleans, as in JSON."""


_FlagsLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_FlagsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def load_yaml_data(text: str) -> Any:
    """YAML text as plain data, with only ``true``/``false`` as booleans (YAML 1.2, as JSON
    and Go's yaml.v3 read ``on``/``off``/``yes``/``no``: strings). Raises ``yaml.YAMLError``."""
    loader = _FlagsLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


class _Dumper(yaml.SafeDumper):
    """Dumps in block style and quotes strings YAML 1.1 readers would take as booleans."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = '"' if value.lower() in {"on", "off", "yes", "no", "y", "n"} else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def dump(flags_file: FlagsFile) -> str:
    """The file as YAML, stable across runs (sorted flags, fixed field order)."""
    header = (
        "# Vexil flags file: `vexil plan -f FILE` shows what `vexil apply -f FILE` would do.\n"
    )
    return header + yaml.dump(
        flags_file.to_document(), Dumper=_Dumper, sort_keys=False, allow_unicode=True,
        default_flow_style=False, width=100,
    )


def dump_json(flags_file: FlagsFile) -> str:
    """The file as JSON (for machines)."""
    return json.dumps(flags_file.to_document(), indent=2) + "\n"
