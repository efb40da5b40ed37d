"""The import rule: the engine is pure; edge_reader never imports the server side."""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENGINE_ALLOWED = {"mmh3", "re2", "jsonschema"}
ENGINE_FORBIDDEN_STDLIB = {"time", "socket", "http", "urllib", "subprocess", "threading",
                           "asyncio", "os", "random"}
EDGE_FORBIDDEN = {"control_plane", "chalicelib", "vexil", "chalice"}
# boto3 may only be imported lazily (inside a function, for the optional KMS path) so a
# reader that decrypts with an SDK key never needs it; never at module level.
EDGE_FORBIDDEN_AT_MODULE_LEVEL = {"boto3", "botocore"}


def _imports(path: pathlib.Path, module_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: set[str] = set()
    nodes = _module_level(tree) if module_level_only else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module)
    return out


def _module_level(tree: ast.Module) -> list[ast.AST]:
    """Statements executed at import time (descending into if/try, not into defs)."""
    out: list[ast.AST] = []
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        out.append(node)
        if isinstance(node, ast.If | ast.Try | ast.With):
            for field in ("body", "orelse", "finalbody", "handlers"):
                todo.extend(getattr(node, field, []))
        elif isinstance(node, ast.ExceptHandler):
            todo.extend(node.body)
    return out


def _stdlib() -> frozenset[str]:
    import sys

    return frozenset(sys.stdlib_module_names)


def test_engine_imports_only_the_allow_list() -> None:
    stdlib = _stdlib()
    files = sorted((ROOT / "edge_reader" / "engine").rglob("*.py"))
    assert files
    for path in files:
        for name in _imports(path):
            top = name.split(".")[0]
            if top == "__future__":
                continue
            assert top in ENGINE_ALLOWED or top in stdlib, f"{path}: imports {name}"
            assert top not in ENGINE_FORBIDDEN_STDLIB, f"{path}: imports {name}"


def test_engine_never_reads_the_wall_clock() -> None:
    banned = {"now", "utcnow", "today", "time", "time_ns", "perf_counter", "monotonic"}
    for path in (ROOT / "edge_reader" / "engine").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                assert node.attr not in banned, f"{path}:{node.lineno}: .{node.attr}"


def test_edge_reader_never_imports_the_server_side() -> None:
    files = sorted((ROOT / "edge_reader").rglob("*.py"))
    assert files
    for path in files:
        for name in _imports(path):
            assert name.split(".")[0] not in EDGE_FORBIDDEN, f"{path}: imports {name}"
        for name in _imports(path, module_level_only=True):
            top = name.split(".")[0]
            assert top not in EDGE_FORBIDDEN_AT_MODULE_LEVEL, f"{path}: imports {name} at load"
