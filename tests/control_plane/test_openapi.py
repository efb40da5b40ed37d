"""The OpenAPI document covers every route, and docs/ holds exactly what the app serves."""

from __future__ import annotations

import json
from pathlib import Path

from tests.control_plane.conftest import World

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_openapi_covers_every_route(world: World) -> None:
    import app as app_module

    r = world.api.get("/v1/openapi.json", token="")
    assert r.status_code == 200
    doc = r.json
    served = {(path, m.lower()) for path, methods in app_module.app.routes.items()
              for m in methods}
    documented = {(path, m) for path, ops in doc["paths"].items() for m in ops}
    assert served == documented
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["operationId"], (path, method)
            assert op["summary"], (path, method)
            if method in ("post", "put", "patch") and op["x-vexil-permission"] != "public":
                assert "requestBody" in op, (path, method)


def test_openapi_document_is_valid_and_committed(world: World) -> None:
    from openapi_spec_validator import validate

    doc = world.api.get("/v1/openapi.json", token="").json
    validate(doc)
    committed = json.loads((DOCS / "openapi.json").read_text(encoding="utf-8"))
    assert committed == doc, "docs/openapi.json is stale: python -m chalicelib.openapi"


def test_roles_doc_is_current() -> None:
    from chalicelib.roles_doc import render

    assert (DOCS / "roles.md").read_text(encoding="utf-8") == render(), (
        "docs/roles.md is stale: python -m chalicelib.roles_doc")
