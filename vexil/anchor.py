"""``vexil audit anchor``: anchor every audit chain now (AWS direct, the periodic path).

Runs :func:`chalicelib.publish.anchoring.run_from_env` — the function the publisher's heartbeat
calls — with the caller's AWS credentials (they need what the publisher role has: read the
table, ``kms:Sign``/``GetPublicKey`` on the signing key, ``s3:PutObject`` on ``anchors/``).
With no ``VEXIL_TABLE`` in the environment it anchors the running local stack (dev.json).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stdout
from typing import Any

from vexil.devstack.aws import local_aws_env
from vexil.errors import UsageError
from vexil.extras import requires


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, old in saved.items():
            if old is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = old


def _target(dev: Mapping[str, Any]) -> dict[str, str]:
    if os.environ.get("VEXIL_TABLE"):
        if not os.environ.get("VEXIL_SIGNING_KEY_ID"):
            raise UsageError("VEXIL_SIGNING_KEY_ID: the publisher's signing key is required")
        return {}
    if not dev:
        raise UsageError("no table: set VEXIL_TABLE (and VEXIL_SIGNING_KEY_ID, VEXIL_BUCKET "
                         "or VEXIL_ANCHOR_BUCKET), or start the local stack")
    return {**local_aws_env(str(dev["aws_endpoint"])), "VEXIL_TABLE": str(dev["table"]),
            "VEXIL_BUCKET": str(dev["bucket"]),
            "VEXIL_SIGNING_KEY_ID": str(dev["signing_key_id"])}


def anchor_now(dev: Mapping[str, Any]) -> dict[str, Any]:
    """Anchor every chain whose head is not anchored yet; return what was done
    (``written`` keys, ``already`` anchored, ``failed``)."""
    # The publisher's structured log lines go to stderr: stdout is this command's answer.
    with _environment(_target(dev)), redirect_stdout(sys.stderr):
        with requires("vexil audit anchor"):
            from chalicelib.publish.anchoring import run_from_env  # noqa: PLC0415 - server pkg

        run = run_from_env()
    return {"written": run.written, "already": run.already, "failed": run.failed}
