"""Import direction between the API and the publisher (``chalicelib/publish/``, issue 22).

The API never imports the publish package, so an API cold start never loads the publisher
or the encryption SDK; ``app.py``'s ``publisher`` Lambda entry alone imports it, inside the
function. The publisher uses only the modules it shares with the API (an allow-list, so a
new API module is out of its reach without anyone having to list it here).
"""

from __future__ import annotations

import ast
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONTROL_PLANE = ROOT / "control_plane"
CHALICELIB = CONTROL_PLANE / "chalicelib"
PUBLISH = CHALICELIB / "publish"
# What the publisher may take from the API's side: the shared stored shapes and formats.
SHARED = frozenset({"chalicelib.keys", "chalicelib.repository", "chalicelib.sdk_key_record",
                    "chalicelib.list_record",
                    "chalicelib.anchors", "chalicelib.audit", "chalicelib.canonical",
                    "chalicelib.observability"})
# The one place the API side may name the publisher: the Lambda entry registered in app.py.
LAMBDA_ENTRY = ("control_plane/app.py", "publisher")


def _imported(node: ast.AST) -> list[str]:
    """The modules an import statement names (``from a import b`` names ``a`` and ``a.b``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return []


def _imports_by_function(path: pathlib.Path) -> list[tuple[str | None, str]]:
    """(enclosing top-level function or None, module) for every import in ``path``,
    deferred (in-function) imports included."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: list[tuple[str | None, str]] = []
    for top in tree.body:
        owner = top.name if isinstance(top, ast.FunctionDef | ast.AsyncFunctionDef) else None
        for node in ast.walk(top):
            out.extend((owner, name) for name in _imported(node))
    return out


def _is_publish(name: str) -> bool:
    return name == "chalicelib.publish" or name.startswith("chalicelib.publish.")


def _api_files() -> list[pathlib.Path]:
    files = [p for p in CHALICELIB.rglob("*.py") if PUBLISH not in p.parents]
    return sorted([*files, CONTROL_PLANE / "app.py"])


def test_the_scans_read_both_sides() -> None:
    api = {p.relative_to(ROOT).as_posix() for p in _api_files()}
    publish = {p.name for p in PUBLISH.rglob("*.py")}
    assert {"control_plane/app.py", "control_plane/chalicelib/anchor_check.py",
            "control_plane/chalicelib/anchors.py"} <= api
    assert {"publisher.py", "stream.py", "snapshot.py", "build.py", "signing.py", "store.py",
            "retention.py", "anchoring.py"} <= publish


def test_api_modules_do_not_import_the_publish_package() -> None:
    offenders = []
    for path in _api_files():
        rel = path.relative_to(ROOT).as_posix()
        for owner, name in _imports_by_function(path):
            if _is_publish(name) and (rel, owner) != LAMBDA_ENTRY:
                offenders.append(f"{rel} ({owner or 'module level'}): {name}")
    assert offenders == []


def test_the_lambda_entry_is_the_one_place_app_names_the_publisher() -> None:
    # Guards the exemption above: the entry really imports the stream handler.
    entry = [name for owner, name in _imports_by_function(CONTROL_PLANE / "app.py")
             if owner == LAMBDA_ENTRY[1]]
    assert "chalicelib.publish.stream" in entry


def test_the_publisher_imports_only_shared_modules_of_the_api_side() -> None:
    offenders = []
    for path in sorted(PUBLISH.rglob("*.py")):
        for _, name in _imports_by_function(path):
            # `from chalicelib import keys` also names the (empty) package itself.
            if not name.startswith("chalicelib.") or _is_publish(name):
                continue
            if name not in SHARED and name.rpartition(".")[0] not in SHARED:
                offenders.append(f"{path.relative_to(ROOT).as_posix()}: {name}")
    assert offenders == []


def _loaded_after(statements: str) -> set[str]:
    """Module names loaded by a fresh interpreter (in control_plane/, as Lambda runs it)
    after ``statements``, filtered to the ones this test watches."""
    code = (statements + "\nimport sys\nprint(' '.join(m for m in sys.modules if "
            "m.startswith(('chalicelib.publish', 'aws_encryption_sdk'))))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEXIL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(CONTROL_PLANE), str(ROOT)])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=CONTROL_PLANE, env=env)
    return set(out.stdout.split())


def test_an_api_cold_start_loads_neither_the_publisher_nor_the_encryption_sdk() -> None:
    assert _loaded_after("import app") == set()


def test_the_watch_sees_the_publisher_when_it_is_loaded() -> None:
    # The Lambda entry's import loads both, so the empty set above is not a blind check.
    loaded = _loaded_after("import app\nfrom chalicelib.publish import stream")
    assert {"chalicelib.publish.publisher", "aws_encryption_sdk"} <= loaded


def test_importing_one_publish_module_loads_only_what_it_needs() -> None:
    # publish/__init__.py imports nothing: `vexil audit anchor` and the tests that sign
    # with PointerSigner do not pay for the encryption SDK.
    loaded = _loaded_after("import chalicelib.publish.anchoring")
    assert loaded == {"chalicelib.publish", "chalicelib.publish.anchoring",
                      "chalicelib.publish.signing"}
