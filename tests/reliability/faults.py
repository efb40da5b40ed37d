"""Fault injection at the HTTP layer of a boto3 client (botocore's ``before-send`` hook).

A canned error response is returned *instead of* sending the request, so botocore's own
retry logic, error parsing and our code's handling all run as they would against AWS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson
from botocore.awsrequest import AWSResponse, HTTPHeaders


class _Raw:
    """The minimal raw-body object botocore reads an AWSResponse from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def json_error(status: int, code: str, message: str = "injected fault") -> AWSResponse:
    """An AWS JSON-protocol error response (DynamoDB, KMS)."""
    body = orjson.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}",
                         "message": message})
    headers = HTTPHeaders()
    headers["Content-Type"] = "application/x-amz-json-1.0"
    headers["Content-Length"] = str(len(body))
    return AWSResponse("http://fault.invalid", status, headers, _Raw(body))


class Injector:
    """Fails chosen operations of one client once armed; counts what it intercepted.

    Created disarmed (set-up traffic of the same client passes untouched); ``arm`` starts it.
    """

    def __init__(self, client: Any, operation: str, response: Callable[[], AWSResponse],
                 times: int | None = 1, before: Callable[[], None] | None = None) -> None:
        """``times`` failures (None: every call); ``before`` runs once before the first."""
        self.operation = operation
        self.response = response
        self.remaining = times
        self.before = before
        self.fired = 0
        self.seen = 0
        self.armed = False
        client.meta.events.register(f"before-send.{client.meta.service_model.service_name}"
                                    f".{operation}", self._hook)

    def arm(self, times: int | None = 1, before: Callable[[], None] | None = None) -> Injector:
        """Start failing: ``times`` calls (None: all) after running ``before`` once."""
        self.remaining, self.before, self.armed = times, before, True
        return self

    def disarm(self) -> None:
        """Let every call through again."""
        self.armed = False

    def _hook(self, request: Any, **_: Any) -> AWSResponse | None:
        if not self.armed:
            return None
        self.seen += 1
        if self.before is not None:
            before, self.before = self.before, None
            before()
            return None
        if self.remaining is not None and self.remaining <= 0:
            return None
        if self.remaining is not None:
            self.remaining -= 1
        self.fired += 1
        return self.response()
