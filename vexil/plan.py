"""``vexil plan``: the difference between a flags file and an environment, as changes.

A plan is a list of :class:`Change` objects in the order ``apply`` runs them (project and
environment first, segments before the flags that may reference them, deletions last).
Each change carries the version it was computed against, so ``apply`` writes with
``If-Match`` and fails — instead of overwriting — if someone changed the entity since.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from edge_reader.engine.fields import split_flag
from vexil.errors import VexilError
from vexil.flagsfile import FlagsFile
from vexil.plancheck import Finding, check
from vexil.remote import RemoteState

# Execution order of change kinds.
_ORDER = {
    ("create", "project"): 0,
    ("create", "environment"): 1,
    ("create", "segment"): 2,
    ("update", "segment"): 3,
    ("create", "flag"): 4,
    ("update", "definition"): 5,
    ("update", "configuration"): 6,
    ("delete", "flag"): 7,
    ("delete", "segment"): 8,
}


@dataclass
class Change:
    """One write ``apply`` will make."""

    action: str  # create | update | delete
    kind: str  # project | environment | segment | flag | definition | configuration
    key: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    version: int | None = None  # version read when planning (If-Match on update/delete)
    note: str = ""

    @property
    def order(self) -> int:
        """Position in the execution order."""
        return _ORDER[(self.action, self.kind)]

    def operation(self) -> dict[str, Any] | None:
        """The change-request operation a protected environment would file for this change."""
        if self.kind == "configuration":
            return {"type": "flag.config.put", "flag": self.key, "body": self.after,
                    "base_version": self.version}
        if self.kind == "definition":
            return {"type": "flag.definition.put", "flag": self.key, "body": self.after,
                    "base_version": self.version}
        if self.kind == "flag" and self.action == "delete":
            return {"type": "flag.definition.delete", "flag": self.key,
                    "base_version": self.version}
        if self.kind == "segment" and self.action == "create":
            return {"type": "segment.create", "segment": self.key, "body": self.after}
        if self.kind == "segment" and self.action == "update":
            return {"type": "segment.put", "segment": self.key, "body": self.after,
                    "base_version": self.version}
        if self.kind == "segment":
            return {"type": "segment.delete", "segment": self.key, "base_version": self.version}
        return None

    def lines(self) -> list[str]:
        """Field-level differences ``path: old -> new`` (updates only)."""
        if self.action != "update":
            return []
        return diff_values(self.before or {}, self.after or {})


class Awaiting(NamedTuple):
    """A change an open change request already proposes (not filed again by ``apply``)."""

    change: Change
    request: str  # the change request's id
    environment: str  # where it was filed and awaits approval


@dataclass
class Plan:
    """What it takes to make an environment match a file, and what the result compiles to."""

    project: str
    environment: str
    protected: bool
    changes: list[Change] = field(default_factory=list)
    untracked: list[str] = field(default_factory=list)  # on the server, not in the file
    # Changes an open change request already proposes. Not re-filed, so applying twice to
    # a protected environment opens no duplicate requests — but still pending.
    awaiting: list[Awaiting] = field(default_factory=list)
    errors: list[Finding] = field(default_factory=list)  # apply refuses while any exist
    warnings: list[Finding] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when ``apply`` has nothing to write (changes may still await approval)."""
        return not self.changes

    @property
    def in_sync(self) -> bool:
        """True only when nothing is pending: no change to make, none awaiting approval."""
        return not self.changes and not self.awaiting

    def counts(self) -> dict[str, int]:
        """Changes per action (create/update/delete): the one count plan and apply print."""
        out = {"create": 0, "update": 0, "delete": 0}
        for c in self.changes:
            out[c.action] += 1
        return out

    def totals(self) -> dict[str, int]:
        """:meth:`counts` plus ``awaiting`` (approval), ``errors`` and ``warnings``."""
        return {**self.counts(), "awaiting": len(self.awaiting), "errors": len(self.errors),
                "warnings": len(self.warnings)}


def build_plan(desired: FlagsFile, remote: RemoteState, *, prune: bool = False) -> Plan:
    """Compare ``desired`` with ``remote``; return the changes that make them equal.

    Flags and segments present only on the server are listed as untracked and deleted
    only with ``prune`` (deleting a flag definition removes it from every environment).
    The environment that results is compiled with the readers' compiler: ``errors`` and
    ``warnings`` hold every finding, located in the file (:mod:`vexil.plancheck`).
    """
    plan = Plan(desired.project, desired.environment, protected=remote.protected)
    plan.errors, plan.warnings = check(desired, remote, prune=prune)
    if not remote.project_exists:
        plan.changes.append(Change("create", "project", desired.project))
    if not remote.environment_exists:
        plan.changes.append(Change("create", "environment", desired.environment))

    for key, seg in desired.segments.items():
        current = remote.segments.get(key)
        if current is None:
            plan.changes.append(Change("create", "segment", key, after=seg))
        elif current.body != seg:
            plan.changes.append(
                Change("update", "segment", key, current.body, seg, version=current.version)
            )

    for key, flag in desired.flags.items():
        definition, configuration = split_flag(flag)
        current_flag = remote.flags.get(key)
        if current_flag is None:
            plan.changes.append(Change("create", "flag", key, after=flag))
            continue
        if current_flag.definition != definition:
            plan.changes.append(
                Change("update", "definition", key, current_flag.definition, definition,
                       version=current_flag.definition_version,
                       note=f"shared by every environment of {desired.project}")
            )
        # Version 0: defined but not configured here (a protected environment gets a new
        # flag only through an approved change request), so configure it even if the file
        # holds the defaults.
        unconfigured = current_flag.configuration_version == 0
        if unconfigured or current_flag.configuration != configuration:
            plan.changes.append(
                Change("update", "configuration", key, current_flag.configuration,
                       configuration, version=current_flag.configuration_version,
                       note=f"not yet in {desired.environment}" if unconfigured else "")
            )

    for key in sorted(set(remote.flags) - set(desired.flags)):
        if prune:
            plan.changes.append(
                Change("delete", "flag", key, version=remote.flags[key].definition_version,
                       note=f"removes it from every environment of {desired.project}")
            )
        else:
            plan.untracked.append(f"flag {key}")
    for key in sorted(set(remote.segments) - set(desired.segments)):
        if prune:
            plan.changes.append(
                Change("delete", "segment", key, version=remote.segments[key].version)
            )
        else:
            plan.untracked.append(f"segment {key}")

    for change in list(plan.changes):
        op = change.operation()
        for pending in remote.pending:
            if op is not None and _proposes(pending.operation, op):
                plan.changes.remove(change)
                plan.awaiting.append(Awaiting(change, pending.id, pending.environment))
                break
    plan.changes.sort(key=lambda c: c.order)
    return plan


def _proposes(pending: dict[str, Any], op: dict[str, Any]) -> bool:
    """Whether a filed operation is ``op``: the control plane adds fields when it files one
    (e.g. the reviewed ``definition_version``), so compare the fields ``op`` names."""
    return all(pending.get(k) == v for k, v in op.items())


def _show(value: Any) -> str:
    if value is _MISSING:
        return "(absent)"
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= 120 else text[:117] + "..."


_MISSING = object()


def diff_values(before: Any, after: Any, path: str = "") -> list[str]:
    """Readable ``path: old -> new`` lines for every leaf that differs.

    Mappings are compared key by key; lists element by element when their lengths match
    (a rule edited in place shows as ``rules[1].clauses[0].values``), as a whole otherwise.
    """
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for k in sorted(set(before) | set(after)):
            sub = f"{path}.{k}" if path else str(k)
            out += diff_values(before.get(k, _MISSING), after.get(k, _MISSING), sub)
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        out = []
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            out += diff_values(b, a, f"{path}[{i}]")
        return out
    return [f"{path or '(value)'}: {_show(before)} -> {_show(after)}"]


def _label(change: Change) -> str:
    return {"definition": "flag definition", "configuration": "flag configuration"}.get(
        change.kind, change.kind)


def render(plan: Plan, *, source: str) -> str:
    """The plan as text for humans (what ``vexil plan`` prints): the changes with their
    field diffs, what awaits approval and where, every error and warning at its
    ``file:line``, and a summary line."""
    where = f"{plan.project}/{plan.environment}"
    head = f"Plan for {where} from {source}"
    if plan.protected:
        head += " (protected: configuration changes become change requests)"
    lines = [head]
    symbol = {"create": "+", "update": "~", "delete": "-"}
    for c in plan.changes:
        label = _label(c)
        extra = ""
        if c.kind == "flag" and c.action == "create" and c.after:
            extra = f" ({c.after.get('kind')}, {'enabled' if c.after.get('enabled') else 'off'})"
        if c.note:
            extra += f" — {c.note}"
        lines.append(f"  {symbol[c.action]} {label} {c.key}{extra}")
        lines += [f"      {ln}" for ln in c.lines()]
    for a in plan.awaiting:
        lines.append(f"  = {_label(a.change)} {a.change.key}: proposed in CR {a.request}, "
                     f"awaiting approval in {plan.project}/{a.environment}")
    for item in plan.untracked:
        lines.append(f"  ? {item}: not in the file (kept; `--prune` deletes it)")
    lines += [f.text() for f in (*plan.errors, *plan.warnings)]
    if plan.in_sync and not plan.errors:
        lines.append(f"No changes: {where} matches {source}.")
    lines.append(summary(plan))
    if plan.errors:
        lines.append("apply refuses while there are errors: fix them and plan again.")
    return "\n".join(lines)



def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary(plan: Plan) -> str:
    """``2 errors, 1 warning; 4 to create, 1 to update, 0 to delete`` (plus what awaits
    approval): :meth:`Plan.totals`, whose change counts apply reports too."""
    n = plan.totals()
    text = (f"{_n(n['errors'], 'error')}, {_n(n['warnings'], 'warning')}; "
            f"{n['create']} to create, {n['update']} to update, {n['delete']} to delete")
    if n["awaiting"]:
        text += f"; {n['awaiting']} awaiting approval"
    return text + "."


def to_json(plan: Plan, *, source: str) -> dict[str, Any]:
    """The plan as one JSON object (``vexil plan --json``; schema in docs/getting-started.md)."""
    return {
        "format": "vexil-plan/1",
        "project": plan.project,
        "environment": plan.environment,
        "source": source,
        "protected": plan.protected,
        "in_sync": plan.in_sync,
        "counts": plan.totals(),
        "changes": [_change_json(c) for c in plan.changes],
        "pending_change_requests": [
            {**_change_json(a.change), "change_request": a.request,
             "environment": a.environment} for a in plan.awaiting],
        "untracked": plan.untracked,
        "errors": [f.to_json() for f in plan.errors],
        "warnings": [f.to_json() for f in plan.warnings],
    }


def _change_json(c: Change) -> dict[str, Any]:
    return {"action": c.action, "kind": c.kind, "key": c.key, "version": c.version,
            "note": c.note, "before": c.before, "after": c.after, "diff": c.lines()}


def plan_exit_code(plan: Plan, *, detailed: bool) -> int:
    """What ``vexil plan`` exits with: 1 on errors; with ``detailed``, 2 while anything is
    pending (a change to make, or one awaiting approval in a change request), 0 only when
    nothing is (Terraform's convention, so CI drift checks read it the same way)."""
    if plan.errors:
        return 1
    return 2 if detailed and not plan.in_sync else 0


def confirm_apply(plan: Plan, *, yes: bool, interactive: bool,
                  ask: Callable[[str], str] = input) -> None:
    """Raise VexilError unless ``apply`` may go ahead: never with errors; with warnings
    only after a "y" on a terminal, or with ``yes`` (``--yes``, for CI). Without a
    terminal and without ``yes`` warnings refuse, so a pipeline cannot apply them unseen."""
    n = plan.totals()
    if plan.errors:
        raise VexilError(f"apply refused: {_n(n['errors'], 'error')} in the resulting "
                         "environment (listed above); nothing was written")
    if not plan.warnings or plan.empty or yes:
        return
    warned = _n(n["warnings"], "warning")
    if not interactive:
        raise VexilError(f"apply refused: {warned} (listed above) and no terminal to confirm "
                         "on; read them, then re-run with --yes to apply anyway")
    if ask(f"{warned} above. Apply anyway? [y/N] ").strip().lower() not in ("y", "yes"):
        raise VexilError("apply cancelled; nothing was written")
