"""Plans: what changes, in which order, and how they read."""

from __future__ import annotations

from typing import Any

from vexil.flagsfile import parse
from vexil.plan import build_plan, diff_values, render
from vexil.remote import PendingRequest, RemoteFlag, RemoteSegment, RemoteState

BOOL = {"on": True, "off": False}


def _file(**flags: dict[str, Any]) -> Any:
    return parse({"project": "shop", "environment": "staging", "flags": flags,
                  "segments": {"beta": {"included": ["u-1"]}}}, source="f.yaml")


def _flag(**extra: Any) -> dict[str, Any]:
    return {"kind": "boolean", "variations": BOOL, "enabled": True,
            "default": {"variation": "on"}, **extra}


def _remote(flags: dict[str, dict[str, Any]], protected: bool = False) -> RemoteState:
    state = RemoteState("shop", "staging", protected=protected)
    for key, flag in flags.items():
        f = parse({"project": "shop", "environment": "staging", "flags": {key: flag}},
                  source="r").flags[key]
        d = {k: v for k, v in f.items() if k in ("kind", "variations", "description", "tags")}
        c = {k: v for k, v in f.items() if k not in d}
        state.flags[key] = RemoteFlag(key, d, 4, c, 7)
    state.segments["beta"] = RemoteSegment("beta", {"included": ["u-1"]}, 2)
    return state


def test_equal_state_gives_an_empty_plan() -> None:
    plan = build_plan(_file(a=_flag()), _remote({"a": _flag()}))
    assert plan.empty
    assert "No changes: shop/staging matches f.yaml." in render(plan, source="f.yaml")


def test_missing_project_environment_and_flag_are_created_in_order() -> None:
    state = RemoteState("shop", "staging", project_exists=False, environment_exists=False)
    plan = build_plan(_file(a=_flag()), state)
    assert [(c.action, c.kind, c.key) for c in plan.changes] == [
        ("create", "project", "shop"), ("create", "environment", "staging"),
        ("create", "segment", "beta"), ("create", "flag", "a"),
    ]
    assert "0 errors, 1 warning; 4 to create, 0 to update, 0 to delete." in render(
        plan, source="f.yaml")


def test_config_and_definition_changes_carry_versions_and_field_diffs() -> None:
    plan = build_plan(
        _file(a=_flag(enabled=False, description="new")),
        _remote({"a": _flag(description="old")}),
    )
    kinds = {c.kind: c for c in plan.changes}
    assert kinds["definition"].version == 4
    assert kinds["configuration"].version == 7
    assert kinds["configuration"].lines() == ["enabled: true -> false"]
    text = render(plan, source="f.yaml")
    assert '~ flag definition a — shared by every environment of shop' in text
    assert 'description: "old" -> "new"' in text


def test_untracked_flags_are_kept_unless_pruned() -> None:
    remote = _remote({"a": _flag(), "old": _flag()})
    kept = build_plan(_file(a=_flag()), remote)
    assert kept.empty
    assert kept.untracked == ["flag old"]
    assert "? flag old: not in the file" in render(kept, source="f.yaml")
    pruned = build_plan(_file(a=_flag()), remote, prune=True)
    assert [(c.action, c.key, c.version) for c in pruned.changes] == [("delete", "old", 4)]


def test_protected_environment_is_announced() -> None:
    plan = build_plan(_file(a=_flag(enabled=False)), _remote({"a": _flag()}, protected=True))
    assert "protected: configuration changes become change requests" in render(
        plan, source="f.yaml")


def test_diff_values_paths() -> None:
    before = {"rules": [{"clauses": [{"values": ["DE"]}]}], "x": 1}
    after = {"rules": [{"clauses": [{"values": ["DE", "FR"]}]}], "y": 2}
    assert diff_values(before, after) == [
        'rules[0].clauses[0].values: ["DE"] -> ["DE", "FR"]',
        "x: 1 -> (absent)",
        "y: (absent) -> 2",
    ]


def test_changes_already_proposed_are_not_filed_again() -> None:
    remote = _remote({"a": _flag()}, protected=True)
    desired = _file(a=_flag(enabled=False))
    first = build_plan(desired, remote)
    (change,) = first.changes
    remote.pending.append(PendingRequest("cr-1", change.operation() or {}, "staging"))
    second = build_plan(desired, remote)
    assert second.empty
    assert not second.in_sync  # still pending: proposed, not yet applied
    assert ("= flag configuration a: proposed in CR cr-1, awaiting approval in shop/staging"
            in render(second, source="f.yaml"))


def test_a_flag_defined_but_not_configured_here_plans_its_configuration() -> None:
    """A protected environment gets a new flag only by change request: even a file holding
    the defaults plans that configuration (If-Match 0), and an open request matching it by
    its named fields counts as already proposed."""
    disabled = {"kind": "boolean", "variations": BOOL, "enabled": False}
    state = _remote({"a": disabled}, protected=True)
    state.flags["a"].configuration = {"enabled": False}
    state.flags["a"].configuration_version = 0
    plan = build_plan(_file(a=disabled), state)
    (change,) = plan.changes
    assert (change.action, change.kind, change.version) == ("update", "configuration", 0)
    assert "not yet in staging" in render(plan, source="f.yaml")
    op = change.operation()
    assert op is not None
    state.pending = [PendingRequest("cr-1", {**op, "definition_version": 4}, "staging")]
    plan = build_plan(_file(a=disabled), state)
    assert plan.empty
    assert [a.request for a in plan.awaiting] == ["cr-1"]
