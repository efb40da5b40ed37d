"""The public surface of edge_reader is small and pinned."""

from __future__ import annotations

import subprocess
import sys

import pytest

import edge_reader


def test_exported_names_are_pinned() -> None:
    assert sorted(edge_reader.__all__) == [
        "ClientStatus",
        "Context",
        "ErrorCode",
        "EvaluationDetail",
        "FlagClient",
        "Reason",
        "StatusReport",
    ]
    for name in edge_reader.__all__:
        assert getattr(edge_reader, name).__name__ == name


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="Nope"):
        getattr(edge_reader, "Nope")  # noqa: B009


def test_importing_the_engine_does_not_import_the_http_client() -> None:
    code = (
        "import sys, edge_reader.engine; "
        "bad = [m for m in ('urllib3', 'aws_encryption_sdk', 'edge_reader.client') "
        "if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
