"""The import rule: the engine is pure; edge_reader never imports the server side."""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENGINE_ALLOWED = {"mmh3", "re2", "jsonschema"}
ENGINE_FORBIDDEN_STDLIB = {"time", "socket", "http", "urllib", "subprocess", "asyncio", "os",
                           "random"}
# threading for its Lock only (a lazy environment compiles a flag once however many threads
# ask at the same time, engine/_lazy.py): the engine starts no thread and no timer.
ENGINE_THREADING_ALLOWED = {"Lock"}
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


def test_engine_uses_threading_for_locks_only() -> None:
    for path in (ROOT / "edge_reader" / "engine").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "threading":
                raise AssertionError(f"{path}: import threading, use threading.Lock")
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id == "threading"):
                assert node.attr in ENGINE_THREADING_ALLOWED, f"{path}:{node.lineno}: {node.attr}"


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


def _module_name(path: pathlib.Path, root: pathlib.Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _edges(path: pathlib.Path, here: str, modules: set[str]) -> set[str]:
    """The ``modules`` that ``path`` (module ``here``) imports anywhere: deferred imports
    count too, since a circle closed inside a function is still a circle."""
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            source = ".".join(p for p in (base, node.module or "") if p)
            for alias in node.names:
                # `from pkg import module` imports the module; `from pkg import name`, pkg.
                sub = f"{source}.{alias.name}"
                out.add(sub if sub in modules else source)
    return {m for m in out if m in modules and m != here}


def import_cycles(paths: list[pathlib.Path], root: pathlib.Path = ROOT) -> list[list[str]]:
    """Every group of two or more modules that import each other in a circle (Tarjan)."""
    modules = {_module_name(p, root): p for p in paths}
    graph = {name: _edges(path, name, set(modules)) for name, path in modules.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return sorted(cycles)


def test_no_import_circle_among_edge_reader_modules() -> None:
    paths = sorted((ROOT / "edge_reader").rglob("*.py"))
    assert len(paths) > 20
    assert import_cycles(paths) == []


def test_the_circle_check_sees_a_deferred_import_circle(tmp_path: pathlib.Path) -> None:
    # The circle it was written for: envelope imported _message inside a function, and
    # _message imported envelope's constants at load.
    pkg = tmp_path / "edge_reader" / "bundle"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "envelope.py").write_text(
        "def decrypt():\n    from edge_reader.bundle import _message\n"
    )
    (pkg / "_message.py").write_text("from edge_reader.bundle.envelope import LIMIT\n")
    (pkg / "clean.py").write_text("from . import envelope\n")
    found = import_cycles(sorted(pkg.rglob("*.py")), root=tmp_path)
    assert found == [["edge_reader.bundle._message", "edge_reader.bundle.envelope"]]
