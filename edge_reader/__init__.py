"""Vexil's reader: evaluate feature flags from encrypted, CDN-served bundles.

The public surface is small and pinned by ``tests/client/test_public_api.py``::

    from edge_reader import FlagClient, ClientStatus, StatusReport, Context,
                            EvaluationDetail, Reason, ErrorCode

Names are resolved lazily (PEP 562) so that ``import edge_reader.engine`` — which the
control plane does — never pulls in the HTTP client or the encryption SDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edge_reader.client import ClientStatus, FlagClient, StatusReport
    from edge_reader.engine import Context, ErrorCode, EvaluationDetail, Reason

__all__ = [
    "ClientStatus",
    "Context",
    "ErrorCode",
    "EvaluationDetail",
    "FlagClient",
    "Reason",
    "StatusReport",
]

_HOMES = {
    "FlagClient": "edge_reader.client",
    "ClientStatus": "edge_reader.client",
    "StatusReport": "edge_reader.client",
    "Context": "edge_reader.engine",
    "EvaluationDetail": "edge_reader.engine",
    "Reason": "edge_reader.engine",
    "ErrorCode": "edge_reader.engine",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'edge_reader' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # cache: the next access is a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
