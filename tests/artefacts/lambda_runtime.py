"""A stand-in for the Lambda Python runtime: ``python -I -S lambda_runtime.py TASK [RUNTIME]``.

Like the runtime, it puts only the unpacked zip (``TASK``, /var/task on Lambda) in front of
the standard library (``-I -S``: no site-packages, no environment paths, no checkout), makes
it the working directory, and keeps one warm "container": handlers are imported once and
invoked for each request. Requests arrive as JSON lines on stdin
(``{"handler": "app.publisher", "event": {...}}``); each answer is one JSON line on the
original stdout: ``{"result": ...}`` or ``{"errorType": ..., "errorMessage": ...}``, as the
runtime reports a failed invocation. ``{"handler": ..., "import_only": true}`` only imports;
``{"modules": true}`` answers where every loaded non-standard-library module came from.
Anything the handlers print goes to stderr.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
import uuid
from typing import Any

TASK = os.path.abspath(sys.argv[1])
# After /var/task, Lambda's path holds /var/runtime (the runtime's own boto3): RUNTIME_DIRS.
sys.path[:0] = [TASK, *(os.path.abspath(d) for d in sys.argv[2:])]
os.chdir(TASK)
ANSWERS = sys.stdout
sys.stdout = sys.stderr  # handler logs (powertools prints JSON lines) never mix with answers


class Context:
    """The attributes of Lambda's context object that handlers and powertools read."""

    def __init__(self, function_name: str, timeout: float = 30) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}")
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "2026/12/06/[$LATEST]0123456789abcdef"
        self._deadline = time.monotonic() + timeout  # the function's configured timeout

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.monotonic()) * 1000)


def _handler(spec: str) -> Any:
    module, _, attr = spec.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def _modules() -> dict[str, str]:
    stdlib = os.path.dirname(os.__file__)
    return {name: str(getattr(mod, "__file__", None)) for name, mod in list(sys.modules.items())
            if getattr(mod, "__file__", None) and not str(mod.__file__).startswith(stdlib)}


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        answer: dict[str, Any]
        if request.get("modules"):
            answer = {"modules": _modules(), "path": sys.path}
        elif request.get("import_only"):
            try:
                answer = {"result": callable(_handler(request["handler"]))}
            except Exception as exc:  # an import failure is the answer, not a crash
                answer = {"errorType": type(exc).__name__, "errorMessage": str(exc),
                          "stackTrace": traceback.format_exc()}
        else:
            try:
                fn = _handler(request["handler"])
                context = Context(request["handler"].rpartition(".")[2],
                                  float(request.get("timeout", 30)))
                answer = {"result": fn(request.get("event", {}), context)}
            except Exception as exc:  # the runtime reports any failure this way
                answer = {"errorType": type(exc).__name__, "errorMessage": str(exc),
                          "stackTrace": traceback.format_exc()}
        ANSWERS.write(json.dumps(answer, default=str) + "\n")
        ANSWERS.flush()


if __name__ == "__main__":
    main()
