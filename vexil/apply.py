"""``vexil apply``: run a plan's changes through the API, in order, each conditional.

Every update and delete sends ``If-Match`` with the version the plan read: if anyone
changed the entity in between, the API answers 412 and apply stops with a clear line
(re-run ``vexil plan``). In a protected environment the API answers a configuration
write with 202 and a change request; apply reports it and carries on. Running apply
twice is harmless: the second plan is empty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from edge_reader.engine.fields import split_flag
from vexil.errors import ApiError, VexilError
from vexil.plan import Change, Plan
from vexil.remote import Writer, WriteResult


@dataclass
class ApplyReport:
    """What apply did."""

    applied: list[str] = field(default_factory=list)
    change_requests: list[str] = field(default_factory=list)


def _describe(change: Change) -> str:
    return f"{change.action} {change.kind} {change.key}"


def apply_plan(
    plan: Plan, writer: Writer, *, echo: Callable[[str], None] = lambda _line: None
) -> ApplyReport:
    """Make every change of ``plan``; stop at the first error with VexilError."""
    report = ApplyReport()
    for change in plan.changes:
        try:
            results = _run(change, writer)
        except ApiError as exc:
            hint = ""
            if exc.status == 412:
                hint = " — it changed since the plan; run `vexil plan` again"
            done = f" (after {len(report.applied)} applied change(s))" if report.applied else ""
            raise VexilError(f"{_describe(change)} failed{done}: {exc.message}{hint}") from None
        for what, result in results:
            if result.applied:
                report.applied.append(what)
                echo(f"  done: {what}")
            else:
                report.change_requests.append(f"{what}: {result.change_request}")
                echo(
                    f"  change request {result.change_request}: {what} "
                    "(protected environment: needs approval, then `apply` of the request)"
                )
    return report


def _run(change: Change, writer: Writer) -> list[tuple[str, WriteResult]]:
    kind, action, what = change.kind, change.action, _describe(change)
    if kind == "project":
        return [(what, writer.create_project())]
    if kind == "environment":
        return [(what, writer.create_environment())]
    if kind == "segment":
        if action == "create":
            return [(what, writer.create_segment(change.key, change.after or {}))]
        if action == "update":
            return [(what, writer.put_segment(change.key, change.after or {}, _v(change)))]
        return [(what, writer.delete_segment(change.key, _v(change)))]
    if kind == "flag" and action == "create":
        definition, configuration = split_flag(change.after or {})
        created = writer.create_flag(change.key, definition)
        # The new flag's configuration exists (disabled) in every unprotected environment
        # (version 1) and nowhere in a protected one (version 0: the write becomes a change
        # request); write this environment's, conditional on that version.
        version = writer.config_version(change.key)
        configured = writer.put_configuration(change.key, configuration, version)
        return [(what, created),
                (f"configure flag {change.key} in {writer.environment}", configured)]
    if kind == "flag" and action == "delete":
        return [(what, writer.delete_flag(change.key, _v(change)))]
    if kind == "definition":
        return [(what, writer.put_definition(change.key, change.after or {}, _v(change)))]
    if kind == "configuration":
        return [(what, writer.put_configuration(change.key, change.after or {}, _v(change)))]
    raise VexilError(f"internal: no writer for {what}")


def _v(change: Change) -> int:
    if change.version is None:
        raise VexilError(f"internal: {_describe(change)} has no version to send as If-Match")
    return change.version
