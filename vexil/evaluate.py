"""``vexil eval``: evaluate one flag exactly as an SDK would, from a URL or a file.

The work is :func:`edge_reader.client.cli_eval.evaluate_from_source` (the reader's own
fetch → verify → decrypt → compile path); this module only fills in defaults from the
running local stack (its CDN URL, CA, the demo's SDK keys and the publisher's signing key).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from vexil.errors import UsageError
from vexil.kmsaccess import kms_access
from vexil.settings import load_dev_json


def _signing_keys(given: list[str] | None, source: str,
                  dev: dict[str, Any]) -> list[str] | None:
    """Which publisher keys to require for ``source`` (None: do not check the publisher)."""
    if given:
        return given
    from_env = os.environ.get("VEXIL_SIGNING_KEY")
    if from_env:
        return [p for p in from_env.split(os.pathsep) if p]
    # The stack's key belongs to the stack's CDN only: a pointer from elsewhere was signed
    # (or not) by another publisher.
    cdn, pem = dev.get("cdn"), dev.get("signing_public_key")
    if cdn and pem and source.startswith(str(cdn).rstrip("/") + "/"):
        return [str(pem)]
    return None


def _scope_of(sdk_key: str | None) -> str:
    """The pointer scope an SDK key reads by default (server when there is no valid key:
    loading then fails on the key itself, with its own message)."""
    # Imported on use, like cli_eval: edge_reader.bundle is not needed by other commands.
    from edge_reader.bundle import SERVER_SCOPE, parse_sdk_key  # noqa: PLC0415

    try:
        return parse_sdk_key(sdk_key).kind_name if sdk_key else SERVER_SCOPE
    except ValueError:
        return SERVER_SCOPE


def pointer_url(cdn: str, project: str, environment: str, scope: str = "server") -> str:
    """The CDN URL of an environment's pointer for ``scope``."""
    base = f"{cdn.rstrip('/')}/bundles/{project}/{environment}"
    return f"{base}/current.json" if scope == "server" else f"{base}/scopes/{scope}/current.json"


def evaluate(
    *,
    flag: str,
    context: dict[str, Any],
    default: Any,
    source: str | None,
    project: str | None,
    environment: str | None,
    sdk_key: str | None,
    ca_bundle: str | None,
    state_dir: Path,
    signing_keys: list[str] | None = None,
    kms: bool = False,
    kms_key_id: str | None = None,
    key_store_table: str | None = None,
) -> dict[str, Any]:
    """Evaluate ``flag``; return the evaluation detail as a JSON-ready dict.

    With ``kms`` the bundle is opened through KMS and the branch-key store (as a reader
    inside AWS does, with its own credentials) instead of an SDK key.

    ``signing_keys`` (PEM files): the pointer must be signed by one of them. Default:
    ``$VEXIL_SIGNING_KEY`` (files separated by ``os.pathsep``), else — for a source on the
    running local stack's CDN — the stack's own key; otherwise the publisher is not checked.
    """
    # Imported on use: it loads the encryption SDK, which other commands never need.
    cli_eval = importlib.import_module("edge_reader.client.cli_eval")
    dev = load_dev_json(state_dir)
    access = kms_access(dev, kms_key_id, key_store_table) if kms else {}
    sdk_key = None if kms else sdk_key or os.environ.get("VEXIL_SDK_KEY")
    if sdk_key is None and not kms and environment and dev:
        sdk_key = (dev.get("sdk_keys") or {}).get(environment, {}).get("server")
    if source is None:
        if not (dev.get("cdn") and project and environment):
            raise UsageError(
                "no --source: give a pointer URL or file, or --project and --environment "
                "with a running local stack"
            )
        scope = _scope_of(sdk_key)
        source = pointer_url(str(dev["cdn"]), project, environment, scope)
    ca = ca_bundle or os.environ.get("VEXIL_CA_BUNDLE") or dev.get("ca_bundle")
    detail = cli_eval.evaluate_from_source(
        source, flag, context, sdk_key, default=default, project=project,
        environment=environment, ca_bundle=ca,
        signing_keys=_signing_keys(signing_keys, source, dev), **access,
    )
    return {
        "flag": flag,
        "value": detail.value,
        "variant": detail.variant,
        "reason": str(getattr(detail.reason, "value", detail.reason)),
        "error_code": (
            str(getattr(detail.error_code, "value", detail.error_code))
            if detail.error_code else None
        ),
        "error_message": detail.error_message,
    }

