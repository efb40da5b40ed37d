"""`vexil eval` on the local stack picks the pointer scope from the SDK key's kind."""

from __future__ import annotations

import pytest

from edge_reader.bundle import generate_sdk_key
from vexil.evaluate import _scope_of, pointer_url


@pytest.mark.parametrize(("kind", "scope"), [("srv", "server"), ("cli", "client")])
def test_a_valid_key_reads_the_scope_of_its_kind(kind: str, scope: str) -> None:
    text = generate_sdk_key(kind).text  # type: ignore[arg-type]
    assert _scope_of(text) == scope
    url = pointer_url("https://cdn.test", "shop", "staging", _scope_of(text))
    assert url.endswith("/shop/staging/current.json" if scope == "server"
                        else "/shop/staging/scopes/client/current.json")


@pytest.mark.parametrize("text", [None, "", "vxl_cli_notakey", "garbage"])
def test_no_valid_key_reads_the_server_scope(text: str | None) -> None:
    # Loading then fails on the key itself, with its own message (not on a scope guess).
    assert _scope_of(text) == "server"
