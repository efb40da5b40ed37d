"""``vexil apply``: a plan's changes sent as ONE changeset (all or nothing, one revision).

A missing project or environment is created first (one call each); then every other change
of the plan goes to ``POST .../changesets`` in one request, each item carrying the version the
plan read (``base_version``; 0 = must not exist). If anything moved since the plan, the API
answers 412 naming every stale item and nothing is written (re-run ``vexil plan``). In a
protected environment — or when a shared definition change reaches one — the whole set
becomes ONE change request, reviewed in the environment the API names. Running apply twice
is harmless: the second plan is empty (or everything in it is already proposed).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from edge_reader.engine.fields import split_flag
from vexil.errors import ApiError, VexilError
from vexil.plan import Change, Plan
from vexil.remote import Writer, send_changeset

_SETUP = ("project", "environment")


@dataclass
class ApplyReport:
    """What apply did: the changes applied (as the plan counts them), the revision that went
    live, or the change request filed and the environment to review it in."""

    applied: list[str] = field(default_factory=list)
    change_requests: list[str] = field(default_factory=list)
    revision: int | None = None
    changeset: str | None = None
    review_environment: str | None = None
    proposed: int = 0  # changes waiting in the change request

    def summary(self, project: str, environment: str, counts: Mapping[str, int]) -> str:
        """One line for humans, in the plan's own numbers (``counts``: ``Plan.counts()``):
        what is live, or what waits in which change request where."""
        totals = (f"{counts.get('create', 0)} to create, {counts.get('update', 0)} to update, "
                  f"{counts.get('delete', 0)} to delete")
        if not self.change_requests:
            line = f"Applied {totals}"
            if self.revision is not None:
                line += f"; revision {self.revision} of {project}/{environment} is live"
            return line + "."
        review = self.review_environment or environment
        return (f"Proposed {totals} as change request {self.change_requests[0]}: it awaits "
                f"approval in {project}/{review} ({self.proposed} change(s); vexil changes "
                f"show {self.change_requests[0]} --project {project} --environment {review}).")


def _describe(change: Change) -> str:
    return f"{change.action} {change.kind} {change.key}"


def apply_plan(
    plan: Plan, writer: Writer, *, echo: Callable[[str], None] = lambda _line: None,
    replan: Callable[[], Plan] | None = None,
) -> ApplyReport:
    """Create what the plan's environment needs, then send every other change as one
    changeset; raise VexilError (nothing of the changeset written) on any refusal.

    ``replan``: when the project or environment was just created, the plan is computed again
    (the new environment got every flag's default configuration at version 1), so the
    changeset carries the versions the API holds now.
    """
    report = ApplyReport()
    setup = [c for c in plan.changes if c.kind in _SETUP]
    for change in setup:
        _call(change, functools.partial(_create, change, writer), report)
        report.applied.append(_describe(change))
        echo(f"  done: {_describe(change)}")
    if setup and replan is not None:
        plan = replan()
    rest = [c for c in plan.changes if c.kind not in _SETUP]
    if not rest:
        return report
    items = [item for change in rest for item in changeset_items(change)]
    result = _call(rest[0], lambda: send_changeset(writer.api, writer.project,
                                                   writer.environment, items, writer.reason),
                   report, whole=len(rest))
    if result.applied:
        report.applied += [_describe(c) for c in rest]
        report.revision, report.changeset = result.revision, result.changeset
        echo(f"  done: {len(rest)} change(s) as changeset {result.changeset} "
             f"(revision {result.revision})")
    else:
        assert result.change_request is not None
        report.change_requests.append(result.change_request)
        report.review_environment, report.proposed = result.environment, len(rest)
        echo(f"  change request {result.change_request}: {len(rest)} change(s) "
             f"(protected: review and apply it in {writer.project}/{result.environment})")
    return report


def _call(change: Change, run: Callable[[], Any], report: ApplyReport,
          whole: int = 0) -> Any:
    try:
        return run()
    except ApiError as exc:
        hint = ""
        if exc.status == 412:
            hint = " — they changed since the plan; run `vexil plan` again"
        done = f" (after {len(report.applied)} applied change(s))" if report.applied else ""
        what = f"the changeset of {whole} change(s)" if whole else _describe(change)
        raise VexilError(f"{what} failed{done}, nothing of it was written: "
                         f"{exc.message}{hint}") from None


def _create(change: Change, writer: Writer) -> Any:
    return writer.create_project() if change.kind == "project" else writer.create_environment()


def changeset_items(change: Change) -> list[dict[str, Any]]:
    """The changeset items of one plan change (a new flag is its definition and its
    configuration here; deleting a flag deletes its definition, hence everywhere)."""
    base = change.version or 0
    if change.kind == "segment" and change.action == "delete":
        return [_item("segment", change.key, "delete", base)]
    if change.kind == "segment":
        return [_item("segment", change.key, "put", base, change.after or {})]
    if change.kind == "flag" and change.action == "create":
        definition, configuration = split_flag(change.after or {})
        return [_item("definition", change.key, "put", 0, definition),
                _item("config", change.key, "put", 0, configuration)]
    if change.kind == "flag" and change.action == "delete":
        return [_item("definition", change.key, "delete", base)]
    if change.kind == "definition":
        return [_item("definition", change.key, "put", base, change.after or {})]
    if change.kind == "configuration":
        return [_item("config", change.key, "put", base, change.after or {})]
    raise VexilError(f"internal: no changeset item for {_describe(change)}")


def _item(kind: str, key: str, action: str, base: int,
          body: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": kind, "key": key, "action": action, "base_version": base}
    if body is not None:
        out["body"] = body
    return out
