"""A change request, readable: what it changes, field by field, against the current state.

``vexil changes show`` prints this. It is pure (no HTTP): the caller fetches the resource the
operation targets (:func:`target_path`) and hands it to :func:`describe`. Operation types it
does not know (a newer control plane's) are printed whole, never dropped.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any

from vexil.api import path

# Fields the API adds around an entity's content: not part of what a change request writes.
_META = frozenset({"key", "project", "environment", "version", "updated_at", "created_at",
                   "revision", "audit_seq", "audit_head", "reason"})
_GONE = object()  # marks "the resource is deleted by this change"


def actor(value: Any) -> str:
    """``name (token id)`` for an author/approver record, or the value itself."""
    if isinstance(value, Mapping):
        name, tid = value.get("name"), value.get("token_id")
        return f"{name} ({tid})" if name and tid else str(name or tid or "?")
    return str(value) if value else "?"


def target(op: Mapping[str, Any]) -> str:
    """What an operation changes, in words: ``flag checkout``, ``segment beta``, ..."""
    if op.get("flag"):
        return f"flag {op['flag']}"
    if op.get("segment"):
        return f"segment {op['segment']}"
    if str(op.get("type", "")).startswith("environment."):
        return "the environment"
    return "-"


def target_path(project: str, environment: str, op: Mapping[str, Any]) -> str | None:
    """The API path of the resource's current state, or None when there is no single one."""
    kind = str(op.get("type", ""))
    env = ("v1", "projects", project, "environments", environment)
    if kind.startswith("flag.definition.") and op.get("flag"):
        return path("v1", "projects", project, "flags", str(op["flag"]))
    if kind.startswith("flag.") and op.get("flag"):
        return path(*env, "flags", str(op["flag"]))
    if kind.startswith("segment.") and op.get("segment"):
        return path(*env, "segments", str(op["segment"]))
    if kind == "environment.patch":
        return path(*env)
    return None


def before_after(op: Mapping[str, Any], current: Mapping[str, Any] | None
                 ) -> tuple[dict[str, Any] | None, Any]:
    """The content now and the content after applying (``None``: absent; ``_GONE``: deleted)."""
    kind = str(op.get("type", ""))
    now: dict[str, Any] | None = None
    if current is not None:
        source = current.get("config") if kind.startswith("flag.") and \
            not kind.startswith("flag.definition.") else current
        now = {k: v for k, v in dict(source or {}).items() if k not in _META}
    if kind.endswith(".delete"):
        return now, _GONE
    body = {k: v for k, v in dict(op.get("body") or {}).items() if k not in _META}
    if kind == "environment.patch":
        trimmed = {k: (now or {}).get(k) for k in ("name", "protected")}
        return trimmed, {**trimmed, **body}
    return now, body


def field_lines(before: Mapping[str, Any] | None, after: Any) -> list[str]:
    """Per-field lines: ``+ field: v`` added, ``- field: v`` removed, ``~ field: a → b``
    changed (multi-line values as a small unified diff of their JSON)."""
    if after is _GONE:
        gone = sorted((before or {}).items())
        return ["  (deleted)"] + [f"  - {k}: {_short(v)}" for k, v in gone]
    lines: list[str] = [] if before is not None else ["  (new)"]
    old, new = dict(before or {}), dict(after or {})
    for name in sorted(old.keys() | new.keys()):
        if name not in old:
            lines.append(f"  + {name}: {_short(new[name])}")
        elif name not in new:
            lines.append(f"  - {name}: {_short(old[name])}")
        elif old[name] != new[name]:
            lines.extend(_changed(name, old[name], new[name]))
    return lines or ["  (no change: the request writes what is already there)"]


def describe(cr: Mapping[str, Any], current: Mapping[str, Any] | None) -> list[str]:
    """The lines of ``vexil changes show``: header, review state, then the per-field diff."""
    op = cr.get("operation") or {}
    lines = [
        f"change request {cr.get('id')}  [{cr.get('status')}]  "
        f"{cr.get('project')}/{cr.get('environment')}",
        f"  operation:  {op.get('type', '?')}"
        + (f" on {target(op)}" if target(op) != "-" else ""),
        f"  author:     {actor(cr.get('author'))}   filed {cr.get('created_at')}",
        "  approvals:  " + (", ".join(f"{actor(a)} at {a.get('at', '?')}" for a in
                                       cr.get("approvals") or [] if isinstance(a, Mapping))
                             or "none yet"),
    ]
    if cr.get("reason"):
        lines.append(f"  reason:     {cr['reason']}")
    lines.append(f"  hash:       {cr.get('change_hash')}")
    if target_path(str(cr.get("project")), str(cr.get("environment")), op) is None:
        lines.append("operation (this CLI has no field view for it):")
        lines.extend("  " + ln for ln in json.dumps(op, indent=2, sort_keys=True).splitlines())
        return lines
    base = op.get("base_version")
    now_version = (current or {}).get("version")
    if base is not None and current is not None and now_version is not None \
            and now_version != base and cr.get("status") in ("pending", "approved"):
        lines.append(f"  WARNING: the target is at version {now_version}, the request was "
                     f"filed against {base}: applying it will fail (412); re-propose it")
    lines.append("changes against the current state:")
    before, after = before_after(op, current)
    lines.extend(field_lines(before, after))
    return lines


def _short(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _changed(name: str, old: Any, new: Any) -> list[str]:
    a, b = _short(old), _short(new)
    if len(a) + len(b) < 70 and not (isinstance(old, dict | list) or isinstance(new, dict | list)):
        return [f"  ~ {name}: {a} → {b}"]
    old_lines = json.dumps(old, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    new_lines = json.dumps(new, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    diff = difflib.unified_diff(old_lines, new_lines, lineterm="", n=1)
    body = [ln for ln in diff if not ln.startswith(("---", "+++"))]
    # Hunk headers ("@@ -2,3 +2,3 @@") mean nothing here: the first goes, later ones say "…".
    shown = ["…" if ln.startswith("@@") else ln for ln in body][1:]
    return [f"  ~ {name}:"] + [f"      {ln}" for ln in shown]
