"""The OFREP edge: one app (``OfrepApp``), two hosts — a local HTTP server
(``python -m edge_reader.edge``) and an AWS Lambda handler (``lambda_handler.handler``).

``EdgeServer`` is resolved lazily (PEP 562): it needs ``http.server`` (~1 MB with
socketserver, mimetypes, html), which the Lambda host never uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from edge_reader.edge._app import HttpResponse, OfrepApp
from edge_reader.edge._config import (
    ConfigError,
    EdgeConfig,
    EdgeEnvironment,
    load_config,
    parse_config,
)
from edge_reader.edge._factory import build_app

if TYPE_CHECKING:
    from edge_reader.edge._server import EdgeServer

__all__ = [
    "ConfigError",
    "EdgeConfig",
    "EdgeEnvironment",
    "EdgeServer",
    "HttpResponse",
    "OfrepApp",
    "build_app",
    "load_config",
    "parse_config",
]


def __getattr__(name: str) -> Any:
    if name == "EdgeServer":
        value = importlib.import_module("edge_reader.edge._server").EdgeServer
        globals()[name] = value  # the next access is a plain module attribute
        return value
    raise AttributeError(f"module 'edge_reader.edge' has no attribute {name!r}")
