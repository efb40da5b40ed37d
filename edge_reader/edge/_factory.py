"""Building the edge's FlagClients from its config (server mode and Lambda mode)."""

from __future__ import annotations

from typing import Any

from edge_reader.client import FlagClient
from edge_reader.edge._app import OfrepApp
from edge_reader.edge._config import EdgeConfig, EdgeEnvironment
from edge_reader.edge._s3 import S3Transport


def build_app(config: EdgeConfig, *, mode: str = "background", **client_options: Any) -> OfrepApp:
    """An ``OfrepApp`` with one client-scope FlagClient per environment.

    ``mode="background"``: each client polls in its own thread (local server).
    ``mode="lambda"``: no threads; each client starts on its first request and refreshes on
    use within ``config.lambda_timeout``.
    """
    lazy = mode == "lambda"
    if config.s3_bucket is not None and "transport" not in client_options:
        # One transport (one boto3 client) for every environment of the container.
        client_options["transport"] = S3Transport(config.s3_bucket)

    def factory(env: EdgeEnvironment) -> FlagClient:
        # With a server key the edge reads the server bundle (list segments included); the
        # app serves only client-visible flags either way.
        server = env.server_sdk_key
        return FlagClient(
            project=env.project,
            environment=env.environment,
            sdk_key=server or env.sdk_key,
            scope="server" if server is not None else "client",
            cdn_url=config.cdn,
            ca_bundle=config.ca_bundle,
            mode="lambda" if lazy else "background",
            poll_interval=config.poll_interval,
            lambda_ttl=config.lambda_ttl,
            lambda_timeout=config.lambda_timeout,
            cache_dir=config.cache_dir,
            signing_keys=config.signing_keys or None,
            insights=config.insights,
            insights_url=config.insights_url,
            insights_flush_interval=config.insights_flush_interval,
            start=not lazy,
            **client_options,
        )

    return OfrepApp(config, factory, lazy_start=lazy)
