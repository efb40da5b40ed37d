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

from edge_reader.engine import CompileError, compile_environment
from edge_reader.engine.fields import CONFIG_FIELDS, DEFINITION_FIELDS, SEGMENT_FIELDS
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


@dataclass
class FlagsFile:
    """The desired state of one environment."""

    project: str
    environment: str
    flags: dict[str, dict[str, Any]] = field(default_factory=dict)
    segments: dict[str, dict[str, Any]] = field(default_factory=dict)

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
    # A flag's kill switch is always spelled out: absence means off.
    out["enabled"] = bool(flag.get("enabled", False))
    return out


def normalize_segment(segment: Mapping[str, Any]) -> dict[str, Any]:
    """A segment with server fields removed and default-valued fields dropped."""
    return {
        name: segment[name]
        for name in SEGMENT_FIELDS
        if name in segment and segment[name] != _SEGMENT_DEFAULTS.get(name, object())
    }


def _check_key(kind: str, key: object, where: str) -> str:
    if not is_key(key):
        raise UsageError(
            f"{where}: invalid {kind} key {key!r} (lowercase letters, digits, '.', '_', '-'; "
            "starts with a letter or digit; at most 128 characters)"
        )
    return key


def parse(data: object, *, source: str) -> FlagsFile:
    """Validate the structure of a loaded file and return it normalized.

    Raises UsageError naming the source and the field at fault. The flags themselves are
    checked by the engine's compiler (see :func:`compile_check`) and then by the API.
    """
    if not isinstance(data, dict):
        raise UsageError(f"{source}: the file must be a mapping with project, environment, flags")
    unknown = sorted(set(data) - {"format", "project", "environment", "flags", "segments"})
    if unknown:
        raise UsageError(f"{source}: unknown top-level field '{unknown[0]}'")
    if data.get("format", FORMAT) != FORMAT:
        raise UsageError(f"{source}: format: unsupported value {data.get('format')!r} (want 1)")
    project = _check_key("project", data.get("project"), f"{source}: project")
    environment = _check_key("environment", data.get("environment"), f"{source}: environment")
    flags_in = data.get("flags") or {}
    segments_in = data.get("segments") or {}
    if not isinstance(flags_in, dict):
        raise UsageError(f"{source}: flags: must be a mapping of flag key to flag")
    if not isinstance(segments_in, dict):
        raise UsageError(f"{source}: segments: must be a mapping of segment key to segment")
    flags: dict[str, dict[str, Any]] = {}
    for key, flag in flags_in.items():
        _check_key("flag", key, f"{source}: flags")
        if not isinstance(flag, dict):
            raise UsageError(f"{source}: flags.{key}: must be a mapping")
        bad = sorted(set(flag) - set(DEFINITION_FIELDS) - set(CONFIG_FIELDS))
        if bad:
            hint = " (server-managed; remove it)" if bad[0] in SERVER_FIELDS else ""
            raise UsageError(f"{source}: flags.{key}.{bad[0]}: unknown field{hint}")
        if "kind" not in flag:
            raise UsageError(f"{source}: flags.{key}.kind: required")
        flags[key] = normalize_flag(flag)
    segments: dict[str, dict[str, Any]] = {}
    for key, seg in segments_in.items():
        _check_key("segment", key, f"{source}: segments")
        if not isinstance(seg, dict):
            raise UsageError(f"{source}: segments.{key}: must be a mapping")
        bad = sorted(set(seg) - set(SEGMENT_FIELDS))
        if bad:
            raise UsageError(f"{source}: segments.{key}.{bad[0]}: unknown field")
        segments[key] = normalize_segment(seg)
    return FlagsFile(project=project, environment=environment, flags=flags, segments=segments)


def load(path: str) -> FlagsFile:
    """Read and validate a flags file (YAML or JSON; ``-`` reads stdin)."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        # YAML 1.1 would read a bare `on`/`off` key as a boolean; flags use them as
        # variation names, so keys are loaded with a loader that keeps them strings.
        # _FlagsLoader is a yaml.SafeLoader subclass (bandit and ruff cannot see through it).
        data = yaml.load(text, Loader=_FlagsLoader)  # noqa: S506  # nosec B506
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise UsageError(f"{path}:{where}: not valid YAML/JSON ({_yaml_problem(exc)})") from None
    return parse(data, source=path)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None)
    return str(problem) if problem else str(exc).splitlines()[0]


class _FlagsLoader(yaml.SafeLoader):
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


def compile_check(flags_file: FlagsFile) -> list[str]:
    """Compile the file's flags and segments with the engine; return problems as lines.

    The API validates with the same compiler; checking here gives the error before any
    network call, with the path inside the file.
    """
    doc = {"flags": flags_file.flags, "segments": flags_file.segments}
    try:
        compile_environment(doc, strict=True)
    except CompileError as exc:
        return [f"{p.path}: {p.message}" for p in exc.errors]
    return []
