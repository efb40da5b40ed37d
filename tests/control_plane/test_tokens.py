"""Tokens: 256-bit secrets stored only as SHA-256; bootstrap without HTTP."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from tests.control_plane.conftest import World

CONTROL_PLANE = Path(__file__).resolve().parents[2] / "control_plane"


def test_only_the_hash_is_stored(world: World) -> None:
    from chalicelib import keys

    r = world.api.post("/v1/tokens", {"name": "ci", "role": "viewer", "projects": ["*"]})
    text = r.json["token"]
    item = world.ctx.repo.get(keys.token_pk(hashlib.sha256(text.encode()).hexdigest()),
                                  keys.TOKEN_SK)
    assert item is not None
    assert item["role"] == "viewer"
    assert text not in str(item)
    assert text[len("vxl_tok_"):] not in str(item)


def test_new_token_text_has_256_bits() -> None:
    import base64

    from chalicelib.tokens import new_token_text

    texts = {new_token_text() for _ in range(50)}
    assert len(texts) == 50
    for t in texts:
        raw = base64.urlsafe_b64decode(t[len("vxl_tok_"):] + "=")
        assert len(raw) == 32


def test_bootstrap_entry_point_prints_a_working_admin_token(world: World) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "chalicelib.bootstrap", "--name", "ops-bootstrap"],
        cwd=CONTROL_PLANE, env=dict(os.environ), capture_output=True, text=True, timeout=60,
        check=True,
    )
    token = out.stdout.strip()
    me = world.api.get("/v1/tokens/self", token=token)
    assert me.status_code == 200
    assert me.json["role"] == "admin"
    assert me.json["name"] == "ops-bootstrap"
    env = {k: v for k, v in os.environ.items() if k != "VEXIL_TABLE"}
    bad = subprocess.run([sys.executable, "-m", "chalicelib.bootstrap"], cwd=CONTROL_PLANE,
                         env=env, capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2
    assert "VEXIL_TABLE" in bad.stderr


def test_token_creation_validates_role_and_scope(world: World) -> None:
    r = world.api.post("/v1/tokens", {"name": "x", "role": "root"})
    assert r.status_code == 400
    assert r.json["error"]["details"][0]["path"] == "role"
    r = world.api.post("/v1/tokens", {"name": "x", "role": "viewer", "projects": ["Bad!"]})
    assert r.status_code == 400
    assert r.json["error"]["details"][0]["path"] == "projects[0]"
