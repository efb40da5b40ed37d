"""The OFREP edge: one app (``OfrepApp``), two hosts — a local HTTP server
(``python -m edge_reader.edge``) and an AWS Lambda handler (``lambda_handler.handler``)."""

from edge_reader.edge._app import HttpResponse, OfrepApp
from edge_reader.edge._config import (
    ConfigError,
    EdgeConfig,
    EdgeEnvironment,
    load_config,
    parse_config,
)
from edge_reader.edge._factory import build_app
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
