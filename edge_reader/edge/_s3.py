"""Reading bundles straight from the bundle bucket: the edge Lambda's transport.

On AWS the edge Lambda is an origin of the same CloudFront distribution that serves the
bundles, so it cannot be configured with that distribution's address (Terraform would have
a cycle: function → distribution → function URL → function). It reads the bucket instead,
with ``s3:GetObject`` on the bundle prefix only, through the reader's one I/O seam
(``Transport.handle_request``): a conditional GET becomes ``GetObject`` with
``IfNoneMatch``, and S3's 304/403/404 come back as HTTP statuses, so the fetcher, poller,
signature checks and last-good rules are exactly the CDN path's.

URLs keep the CDN's shape (``https://<bucket>.s3.amazonaws.com/bundles/...``); the
transport answers only for its own bucket's host and refuses any other, so a pointer can
never send it elsewhere. boto3 is imported when the transport is built (the Lambda runtime
ships it; the local server never loads it), and its client is built once per container.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from edge_reader.client._transport import Request, Response, TransportError

_HEADERS_KEPT = ("etag", "cache-control", "content-type", "last-modified")


def bucket_url(bucket: str) -> str:
    """The CDN-shaped root URL that ``S3Transport(bucket)`` answers for."""
    return f"https://{bucket}.s3.amazonaws.com"


class S3Transport:
    """GETs on ``bucket_url(bucket)`` served by S3 ``GetObject`` (see module docstring)."""

    def __init__(self, bucket: str, *, client: Any = None) -> None:
        """``client``: an S3 client to use (default: one built from the environment, with
        the first request's timeouts and no SDK retries — the poller owns retry policy)."""
        self.bucket = bucket
        self._host = urlsplit(bucket_url(bucket)).hostname
        self._client = client

    def _s3(self, request: Request) -> Any:
        if self._client is None:
            # Late (edge_reader's rule, tests/engine/test_imports.py): no boto3 at import.
            import boto3  # noqa: PLC0415
            from botocore.config import Config  # noqa: PLC0415

            self._client = boto3.client(
                "s3",
                config=Config(
                    # botocore fixes timeouts per client: the first request's (Lambda mode:
                    # the refresh budget), never below a floor a healthy S3 GET needs.
                    connect_timeout=max(request.connect_timeout, 0.2),
                    read_timeout=max(request.read_timeout, 0.2),
                    retries={"max_attempts": 1, "mode": "standard"},
                ),
            )
        return self._client

    def handle_request(self, request: Request) -> Response:
        """GetObject for the URL's key; 304/403/404/5xx as statuses, I/O as TransportError."""
        from botocore.exceptions import (  # noqa: PLC0415 - late, as above
            BotoCoreError,
            ClientError,
            ConnectTimeoutError,
            ReadTimeoutError,
        )

        parts = urlsplit(request.url)
        if parts.hostname != self._host:
            raise TransportError("protocol", f"{parts.hostname!r} is not bucket {self.bucket}")
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": unquote(parts.path.lstrip("/"))}
        etag = request.headers.get("if-none-match") or request.headers.get("If-None-Match")
        if etag:
            args["IfNoneMatch"] = etag
        try:
            result = self._s3(request).get_object(**args)
            body = result["Body"].read(request.max_body + 1)
        except ClientError as exc:
            meta = exc.response.get("ResponseMetadata", {})
            return Response(int(meta.get("HTTPStatusCode") or 500), _headers(meta), b"")
        except (ConnectTimeoutError, ReadTimeoutError) as exc:
            raise TransportError("timeout", str(exc)) from exc
        except BotoCoreError as exc:
            raise TransportError("connect", str(exc)) from exc
        if len(body) > request.max_body:
            raise TransportError("too_large", f"object exceeds {request.max_body} bytes")
        return Response(200, _headers(result.get("ResponseMetadata", {})), body)

    def close(self) -> None:
        """Nothing to release: the client's pool lives as long as the container."""


def _headers(meta: Any) -> dict[str, str]:
    raw = meta.get("HTTPHeaders") or {}
    return {k: str(raw[k]) for k in _HEADERS_KEPT if k in raw}
