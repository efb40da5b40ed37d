"""The shape of the control plane's HTTP side (issue 22): thin routes, one way to call a use
case, no private seams crossed.

- every route in ``app.py`` parses, calls and returns: a few statements, no storage access,
  and every call into a use-case module passes ``req.ctx`` first;
- every use case in ``chalicelib/usecases`` takes the context first (views and pure helpers
  aside), so the routes and the approvals registry call them one way;
- no chalicelib module reaches into another's private names (``approvals`` once called
  ``service._commit``; the seam is now ``usecases.base.commit``).
"""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
APP = ROOT / "control_plane" / "app.py"
CHALICELIB = ROOT / "control_plane" / "chalicelib"
USE_CASE_MODULES = frozenset({"projects", "sdk_keys", "flag_definitions", "flag_configs",
                              "segments", "audit_log", "approvals", "tokens", "impact",
                              "changesets", "strategies", "rollouts", "insights", "lists",
                              "list_imports"})
MAX_STATEMENTS = 5  # parse, check, call, return: more than this is logic in a route
# Public functions of chalicelib/usecases that are not use cases: views of an item and
# pure builders shared by use cases.
NOT_USE_CASES = frozenset({"default_config", "config_steps", "kms_client", "s3_client", "pick",
                           "match", "raise_conflict", "authorize_write", "authorize",
                           # guarded rollouts: the plan, the step shape and the state record
                           "plan", "view", "rollout_resource", "serve", "state_of", "event",
                           "record_step", "restored", "next_due", "is_due",
                           # list segments: what the audit log records instead of raw ids
                           "ids_digest", "audited_operation"})


def _tree(path: pathlib.Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _routes() -> list[ast.FunctionDef]:
    out = []
    for node in _tree(APP).body:
        if isinstance(node, ast.FunctionDef) and any(
                isinstance(d, ast.Call) and isinstance(d.func, ast.Name) and d.func.id == "route"
                for d in node.decorator_list):
            out.append(node)
    return out


def _is_req_ctx(node: ast.expr) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "ctx"
            and isinstance(node.value, ast.Name) and node.value.id == "req")


def test_the_scan_finds_every_route() -> None:
    from chalicelib.routes import ROUTES

    assert len(_routes()) == len(ROUTES)


def test_routes_are_thin() -> None:
    fat = [f"{fn.name}: {len(fn.body)} statements" for fn in _routes()
           if len(fn.body) > MAX_STATEMENTS]
    assert fat == []


def test_routes_never_touch_storage_or_key_strings() -> None:
    offenders = []
    for fn in _routes():
        for node in ast.walk(fn):
            if isinstance(node, ast.Attribute) and node.attr in ("repo", "service", "now"):
                offenders.append(f"{fn.name}:{node.lineno} .{node.attr}")
            if isinstance(node, ast.Name) and node.id == "keys":
                offenders.append(f"{fn.name}:{node.lineno} keys")
    assert offenders == []


def test_every_use_case_call_passes_the_context_first() -> None:
    calls = []
    for fn in _routes():
        for node in ast.walk(fn):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id in USE_CASE_MODULES and node.func.attr != "view"):
                calls.append((fn.name, node))
    assert len(calls) >= len(_routes()) - 2  # health and openapi call no use case
    wrong = [f"{name}:{c.lineno}" for name, c in calls if not c.args or not _is_req_ctx(c.args[0])]
    assert wrong == []


def test_every_use_case_takes_the_context_first() -> None:
    checked = 0
    wrong = []
    for path in sorted((CHALICELIB / "usecases").glob("*.py")):
        if path.name in ("__init__.py", "base.py"):
            continue
        for node in _tree(path).body:
            if (not isinstance(node, ast.FunctionDef) or node.name.startswith("_")
                    or node.name.endswith("_view") or node.name in NOT_USE_CASES):
                continue
            checked += 1
            first = node.args.args[0] if node.args.args else None
            if first is None or first.arg != "ctx":
                wrong.append(f"{path.name}:{node.name}")
    assert checked >= 25
    assert wrong == []


def _private_reaches(tree: ast.AST) -> list[str]:
    """``x._name`` for any ``x`` but ``self``/``cls``: a private name used from outside."""
    return [f"{n.lineno} {n.value.id}.{n.attr}" for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
            and n.attr.startswith("_") and not n.attr.startswith("__")
            and n.value.id not in ("self", "cls")]


def test_the_private_reach_check_sees_the_old_seam() -> None:
    # What approvals.py did before the split: it must be caught.
    old = ast.parse("def file(service, call):\n    service._commit(call, steps=[])\n")
    assert _private_reaches(old) == ["2 service._commit"]


def test_no_module_reaches_into_another_objects_private_names() -> None:
    offenders = []
    for path in sorted(CHALICELIB.rglob("*.py")):
        offenders += [f"{path.relative_to(ROOT)}:{o}" for o in _private_reaches(_tree(path))]
    assert offenders == []
