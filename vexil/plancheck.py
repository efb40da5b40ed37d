"""The compile check of ``vexil plan``: the whole resulting environment, every finding.

``plan`` compiles what the environment will hold after ``apply`` — the server's flags and
segments with the file's laid over them (and, with ``--prune``, without those the file
drops) — with the readers' own compiler (``edge_reader.engine``), the one the API and the
publisher use. Every error and every lint warning comes back as a :class:`Finding` that
names the file and line (for what the file holds) or the server (for what it does not),
the document path, and the engine's message (with its "did you mean").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from edge_reader.engine import CompileError, Problem, compile_environment
from edge_reader.engine.fields import merge_flag
from vexil.errors import VexilError
from vexil.flagsfile import FlagsFile
from vexil.remote import RemoteState

SERVER = "(server)"

# Errors that depend on what else the environment holds (a prerequisite on a server flag,
# a segment defined on the server): the file alone cannot decide them.
_CROSS_REFERENCE = frozenset({"unknown_flag", "unknown_segment", "invalid_segment",
                              "segment_cycle", "prerequisite_cycle", "prerequisite_depth"})


@dataclass(frozen=True)
class Finding:
    """One compile error or lint warning, located in the file (or on the server)."""

    severity: str  # "error" | "warning"
    code: str  # the engine's stable code (unknown_operator, weights_percent, ...)
    path: str  # document path: flags.<key>.rules[0].clauses[0].op
    message: str
    entity: str = ""  # "flag <key>" / "segment <key>" / "" (the document)
    file: str | None = None  # the flags file, when the path is in it
    line: int | None = None

    @property
    def where(self) -> str:
        """``file:line`` (or ``file`` / ``(server)``): where to look."""
        if self.file is None:
            return SERVER
        return f"{self.file}:{self.line}" if self.line else self.file

    def text(self) -> str:
        """One line, compiler style: ``f.yaml:12: error: flags.a.rules[0].op: message``."""
        path = f"{self.path}: " if self.path else ""
        return f"{self.where}: {self.severity}: {path}{self.message}"

    def to_json(self) -> dict[str, Any]:
        """The finding as a JSON object (``vexil plan --json``)."""
        return {"severity": self.severity, "code": self.code, "path": self.path,
                "message": self.message, "entity": self.entity, "file": self.file,
                "line": self.line}


def resulting_document(desired: FlagsFile, remote: RemoteState, *,
                       prune: bool = False) -> dict[str, Any]:
    """The environment document ``apply`` would leave (what the publisher would build).

    A flag defined in the project but not configured here (configuration version 0: a
    protected environment before approval) is not in the environment's bundle, so it is
    left out unless the file configures it.
    """
    flags: dict[str, Any] = {}
    segments: dict[str, Any] = {}
    if not prune:
        flags = {key: merge_flag(f.definition, f.configuration)
                 for key, f in remote.flags.items() if f.configuration_version > 0}
        segments = {key: s.body for key, s in remote.segments.items()}
    flags.update(desired.flags)
    segments.update(desired.segments)
    return {"format": 1, "project": desired.project, "environment": desired.environment,
            "flags": flags, "segments": segments}


def check(desired: FlagsFile, remote: RemoteState, *,
          prune: bool = False) -> tuple[list[Finding], list[Finding]]:
    """(errors, warnings) of the resulting environment: the file's own structural problems
    first, then every compile error and lint warning, each located."""
    doc = resulting_document(desired, remote, prune=prune)
    try:
        # Strict, as the API will compile it: a clause only a newer engine reads is an
        # error here, not a reader's "unsupported clause" warning.
        env = compile_environment(doc, strict=True, clock=time.time)
        errors, warnings = list(env.errors), list(env.warnings)
    except CompileError as exc:  # any error: the exception lists them all, and the warnings
        errors, warnings = exc.errors, exc.warnings
    locate = _Locate(desired, doc)
    return (_in_file_order([locate(p, "error") for p in [*desired.problems, *errors]]),
            _in_file_order([locate(p, "warning")
                            for p in [*_enabling_by_absence(desired, remote), *warnings]]))


def _in_file_order(findings: list[Finding]) -> list[Finding]:
    """The file's findings by line (as an editor walks them), then the server's."""
    return sorted(findings, key=lambda f: (f.file is None, f.line or 0))


def _enabling_by_absence(desired: FlagsFile, remote: RemoteState) -> Iterable[Problem]:
    """A warning for each flag the plan turns on only because the file leaves ``enabled``
    out (it means on: docs/flag-format.md) — a file written when absence meant off."""
    for key in sorted(desired.implicit_enabled):
        current = remote.flags.get(key)
        if current is not None and current.configuration.get("enabled") is True:
            continue
        yield Problem(f"flags.{key}.enabled",
                      "absent, which means on: this plan turns the flag on; write "
                      "`enabled: true` to confirm, or `enabled: false` to keep it off",
                      "enabled_absent")


class _Locate:
    """Turns an engine :class:`Problem` into a :class:`Finding` with file and line."""

    def __init__(self, desired: FlagsFile, doc: dict[str, Any]) -> None:
        self.desired = desired
        self.groups = {"flags": ("flag", doc["flags"], desired.flags),
                       "segments": ("segment", doc["segments"], desired.segments)}

    def __call__(self, problem: Problem, severity: str) -> Finding:
        entity, in_file = self._entity(problem.path)
        line = self.desired.line_of(problem.path) if in_file else None
        return Finding(severity, problem.code, problem.path, problem.message, entity,
                       self.desired.source if in_file else None, line)

    def _entity(self, path: str) -> tuple[str, bool]:
        """("flag <key>", whether the file holds it) for a path under flags/segments."""
        group, _, rest = path.partition(".")
        if group not in self.groups or not rest:
            return "", True
        label, keys, from_file = self.groups[group]
        # Keys may contain dots: the longest key the rest of the path starts with.
        cuts = [i for i, ch in enumerate(rest) if ch in ".["] + [len(rest)]
        for cut in reversed(cuts):
            key = rest[:cut]
            if key in keys:
                return f"{label} {key}", key in from_file
        return "", True


def check_offline(desired: FlagsFile, *, echo: Callable[[str], None]) -> None:
    """Raise VexilError when the file alone is wrong, after echoing every error the file
    decides by itself (all but references to flags and segments the server may hold).

    For when the server cannot be read (no API configured, unreachable, refused): the
    file's own errors are then reported instead of only the connection's. With the
    server, :func:`check` of the whole resulting environment says more."""
    errors, _ = check(desired, RemoteState(desired.project, desired.environment))
    local = [e for e in errors if e.code not in _CROSS_REFERENCE
             and ".prerequisites[" not in e.path]
    if not local:
        return
    for finding in local:
        echo(finding.text())
    n = len(local)
    raise VexilError(f"{desired.source}: {n} error{'' if n == 1 else 's'} in the file "
                     "(listed above); nothing was sent")
