"""`vexil plan` shows every compile error and lint warning of the resulting environment,
located at file:line, with "did you mean", a summary, JSON output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vexil.errors import VexilError
from vexil.flagsfile import load, parse
from vexil.plan import build_plan, confirm_apply, plan_exit_code, render, to_json
from vexil.plancheck import check_offline
from vexil.remote import PendingRequest, RemoteFlag, RemoteSegment, RemoteState

# Line numbers matter below: each problem's line is asserted.
BROKEN = """\
project: shop
environment: staging
flags:
  checkout:
    kind: boolean
    variations: {on: true, off: false}
    off_variation: off
    rules:
      - clauses:
          - attribute: plan
            op: inn
            values: [pro]
        serve: {variation: onn}
      - clauses:
          - {op: segment_match, values: [beta-tester]}
        serve: {variation: on}
    default:
      rollout:
        variations:
          - {variation: on, weight: 25}
          - {variation: off, weight: 75}
  search:
    kind: string
    variations: {old: a, new: b}
    enabled: true
    prerequisites: [{flag: chekout, variation: on}]
    default: {variation: old}
segments:
  beta-testers: {included: [u-1]}
"""


def _load(tmp_path: Path, text: str = BROKEN) -> Any:
    p = tmp_path / "f.yaml"
    p.write_text(text, encoding="utf-8")
    return load(str(p))


def _state(**flags: RemoteFlag) -> RemoteState:
    state = RemoteState("shop", "staging")
    state.flags.update(flags)
    return state


def test_every_error_and_warning_is_shown_with_file_line_path_and_suggestion(
    tmp_path: Path,
) -> None:
    f = _load(tmp_path)
    plan = build_plan(f, _state())
    text = render(plan, source=f.source)
    src = f.source
    expected_errors = [
        f"{src}:11: error: flags.checkout.rules[0].clauses[0].op: unknown operator 'inn' "
        "(did you mean 'in'?)",
        f"{src}:13: error: flags.checkout.rules[0].serve.variation: unknown variation 'onn' "
        "(did you mean 'on'?)",
        f"{src}:15: error: flags.checkout.rules[1].clauses[0].values[0]: unknown segment "
        "'beta-tester' (did you mean 'beta-testers'?)",
        f"{src}:26: error: flags.search.prerequisites[0].flag: unknown flag 'chekout' "
        "(did you mean 'checkout'?)",
    ]
    for line in expected_errors:
        assert line in text.splitlines(), text
    assert len(plan.errors) == 4  # every one of them, not the first "(+3 more)"
    codes = {w.code for w in plan.warnings}
    assert {"weights_percent", "enabled_absent"} <= codes
    (percent,) = [w for w in plan.warnings if w.code == "weights_percent"]
    assert percent.line == 19
    assert percent.path == "flags.checkout.default.rollout.variations"
    assert "look like percentages: for 25 % / 75 % write weights 25000, 75000" in percent.message
    assert "read as 0.025 % / 0.075 %" in percent.message
    assert f"{src}:19: warning: flags.checkout.default.rollout.variations: weights sum to 100" \
        in text
    n = len(plan.warnings)
    assert f"4 errors, {n} warnings; 3 to create, 0 to update, 0 to delete." in text
    assert "apply refuses while there are errors" in text


def test_the_whole_resulting_environment_is_compiled(tmp_path: Path) -> None:
    """A file change that breaks a flag only on the server (a prerequisite on a variation
    the file removes) is an error, shown at the server; the file's own flag compiles."""
    f = _load(tmp_path, """\
project: shop
environment: staging
flags:
  base:
    kind: boolean
    variations: {yes: true, no: false}
    enabled: true
    default: {variation: yes}
""")
    other = RemoteFlag("dependent", {"kind": "boolean", "variations": {"on": True}}, 1,
                       {"enabled": True, "prerequisites": [{"flag": "base", "variation": "on"}],
                        "default": {"variation": "on"}}, 3)
    plan = build_plan(f, _state(dependent=other))
    (err,) = plan.errors
    assert err.where == "(server)"
    assert err.entity == "flag dependent"
    assert "flag 'base' has no variation 'on'" in err.message
    assert "(server): error: flags.dependent.prerequisites[0].variation" in render(
        plan, source=f.source)
    # Pruned, the server's flag is gone from the result, and with it the error.
    assert build_plan(f, _state(dependent=other), prune=True).errors == []


def test_file_structure_problems_join_the_compile_errors(tmp_path: Path) -> None:
    f = _load(tmp_path, """\
project: shop
environment: staging
flags:
  a:
    kind: boolean
    variations: {on: true}
    enabeld: true
    default: {variation: on}
""")
    plan = build_plan(f, _state())
    assert [(e.line, e.message) for e in plan.errors] == [
        (7, "unknown field 'enabeld' (did you mean 'enabled'?)")]
    assert plan_exit_code(plan, detailed=False) == 1


def test_json_output_has_changes_findings_counts_and_pending_requests(tmp_path: Path) -> None:
    f = _load(tmp_path)
    remote = _state(search=RemoteFlag(
        "search", {"kind": "string", "variations": {"old": "a", "new": "b"}}, 2,
        {"enabled": False, "default": {"variation": "old"}}, 5))
    remote.protected = True
    first = build_plan(f, remote)
    (config,) = [c for c in first.changes if c.key == "search"]
    remote.pending.append(PendingRequest("cr-9", config.operation() or {}, "staging"))
    doc = json.loads(json.dumps(to_json(build_plan(f, remote), source=f.source)))
    assert doc["format"] == "vexil-plan/1"
    assert (doc["project"], doc["environment"], doc["protected"]) == ("shop", "staging", True)
    assert doc["counts"] == {"create": 2, "update": 0, "delete": 0, "awaiting": 1,
                             "errors": 4, "warnings": len(doc["warnings"])}
    assert doc["in_sync"] is False
    assert [(c["action"], c["kind"], c["key"]) for c in doc["changes"]] == [
        ("create", "segment", "beta-testers"), ("create", "flag", "checkout")]
    for change in doc["changes"]:
        assert set(change) == {"action", "kind", "key", "version", "note", "before", "after",
                               "diff"}
    (pending,) = doc["pending_change_requests"]
    assert (pending["change_request"], pending["environment"], pending["key"]) == (
        "cr-9", "staging", "search")
    assert pending["diff"] == ["enabled: false -> true", "prerequisites: (absent) -> "
                               '[{"flag": "chekout", "variation": "on"}]']
    err = doc["errors"][0]
    assert set(err) == {"severity", "code", "path", "message", "entity", "file", "line"}
    assert (err["severity"], err["code"], err["entity"], err["file"], err["line"]) == (
        "error", "unknown_operator", "flag checkout", f.source, 11)


def _synced() -> tuple[Any, RemoteState]:
    flag = {"kind": "boolean", "variations": {"on": True, "off": False}, "enabled": True,
            "off_variation": "off", "default": {"variation": "on"}}
    desired = parse({"project": "shop", "environment": "prod", "flags": {"a": flag}},
                    source="f.yaml")
    d = {"kind": "boolean", "variations": {"on": True, "off": False}}
    c = {"enabled": True, "off_variation": "off", "default": {"variation": "on"}}
    remote = RemoteState("shop", "prod", protected=True)
    remote.flags["a"] = RemoteFlag("a", d, 1, c, 1)
    remote.segments["s"] = RemoteSegment("s", {"included": ["u"]}, 1)
    return desired, remote


def test_detailed_exit_code_counts_changes_awaiting_approval_as_pending() -> None:
    desired, remote = _synced()
    assert plan_exit_code(build_plan(desired, remote), detailed=True) == 0
    pruning = build_plan(desired, remote, prune=True)
    assert plan_exit_code(pruning, detailed=True) == 2
    (delete,) = pruning.changes
    # The delete was proposed already — in another environment's change request.
    remote.pending.append(PendingRequest("cr-7", delete.operation() or {}, "production"))
    plan = build_plan(desired, remote, prune=True)
    assert plan.empty
    assert not plan.in_sync
    assert plan_exit_code(plan, detailed=True) == 2
    assert plan_exit_code(plan, detailed=False) == 0
    text = render(plan, source="f.yaml")
    assert ("= segment s: proposed in CR cr-7, awaiting approval in shop/production"
            in text)
    assert "No changes" not in text
    assert text.endswith("0 to create, 0 to update, 0 to delete; 1 awaiting approval.")


def test_apply_refuses_errors_and_confirms_warnings(tmp_path: Path) -> None:
    broken = build_plan(_load(tmp_path), _state())
    with pytest.raises(VexilError, match="apply refused: 4 errors"):
        confirm_apply(broken, yes=True, interactive=True, ask=lambda _q: "y")
    warned = build_plan(_load(tmp_path, BROKEN.replace("inn", "in").replace("onn", "on")
                              .replace("beta-tester]", "beta-testers]")
                              .replace("chekout", "checkout")), _state())
    assert not warned.errors
    assert warned.warnings
    with pytest.raises(VexilError, match="re-run with --yes"):
        confirm_apply(warned, yes=False, interactive=False)
    confirm_apply(warned, yes=True, interactive=False)
    asked: list[str] = []

    def ask(question: str) -> str:
        asked.append(question)
        return "y"

    confirm_apply(warned, yes=False, interactive=True, ask=ask)
    assert asked
    assert "warnings above. Apply anyway? [y/N]" in asked[0]
    with pytest.raises(VexilError, match="cancelled; nothing was written"):
        confirm_apply(warned, yes=False, interactive=True, ask=lambda _q: "")


def test_offline_check_stops_only_on_what_the_file_alone_decides(tmp_path: Path) -> None:
    """Before any network call: local errors stop plan/apply; a reference to a segment or
    flag that may exist on the server does not (the full plan decides it)."""
    refers = _load(tmp_path, """\
project: shop
environment: staging
flags:
  a:
    kind: boolean
    variations: {on: true, off: false}
    enabled: true
    off_variation: off
    prerequisites: [{flag: on-server, variation: on}]
    rules:
      - clauses: [{op: segment_match, values: [server-segment]}]
        serve: {variation: on}
    default: {variation: off}
""")
    echoed: list[str] = []
    check_offline(refers, echo=echoed.append)
    assert echoed == []
    # The unknown segment and prerequisite flag of BROKEN wait for the full plan.
    with pytest.raises(VexilError, match=r"f\.yaml: 2 errors in the file \(listed above\); "
                                         "nothing was sent"):
        check_offline(_load(tmp_path), echo=echoed.append)
    assert [e.split(": error: ")[0].rsplit(":", 1)[1] for e in echoed] == ["11", "13"]
