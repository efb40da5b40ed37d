"""Reader-side helpers: read what the publisher put on S3 the way an SDK would.

``OriginProxy`` is a loopback HTTP server standing in for CloudFront with origin access:
it answers ``GET /<key>`` from the real bucket (on moto_server) with boto3, forwarding
``If-None-Match`` and the ETag, so a real ``FlagClient`` polls exactly what the publisher
wrote. (The bucket is private: anonymous GETs to moto answer 403, as S3 would.)
"""

from __future__ import annotations

import functools
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
from botocore.exceptions import ClientError

from edge_reader.bundle import decode_pointer, decrypt_bundle, encryption_context
from edge_reader.bundle import pointer_object_key as _pointer_key
from edge_reader.client import FlagClient


class OriginProxy:
    """GET /<key> → S3 GetObject on the session bucket (ETag / 304 preserved)."""

    def __init__(self) -> None:
        client = boto3.session.Session().client("s3")
        bucket = os.environ["VEXIL_BUCKET"]
        self.requests: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                key = self.path.lstrip("/").split("?", 1)[0]
                proxy.requests.append(key)
                extra: dict[str, Any] = {}
                if inm := self.headers.get("If-None-Match"):
                    extra["IfNoneMatch"] = inm
                try:
                    out = client.get_object(Bucket=bucket, Key=key, **extra)
                    status, body, etag = 200, out["Body"].read(), str(out["ETag"])
                except ClientError as exc:
                    code = str(exc.response.get("Error", {}).get("Code", ""))
                    status = 304 if code in ("304", "NotModified") else 404
                    body, etag = b"", inm or ""
                self.send_response(status)
                if etag:
                    self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def pointer_url(self, project: str, environment: str = "prod", scope: str = "server"
                    ) -> str:
        """The URL of a pointer through this proxy."""
        return f"{self.base}/{_pointer_key(project, environment, scope)}"

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@functools.lru_cache(maxsize=4)
def publisher_public_key(signing_key_id: str) -> str:
    """The PEM public key of the publisher's signing key (the session's, on moto)."""
    from vexil.resources import signing_public_key_pem

    return signing_public_key_pem(signing_key_id)


def reader(origin: OriginProxy, project: str, sdk_key: str, environment: str = "prod",
           **kw: Any) -> FlagClient:
    """A FlagClient on the real bucket through ``origin``, refreshed by hand (no thread).

    It verifies the publisher (the session's signing key), as a deployed reader should:
    every publish these tests make must come out signed, or the reader refuses it.
    """
    options: dict[str, Any] = {"project": project, "environment": environment,
                               "sdk_key": sdk_key,
                               "pointer_url": origin.pointer_url(project, environment),
                               "start": False, "first_retry": 0.01,
                               "signing_keys": publisher_public_key(
                                   os.environ["VEXIL_SIGNING_KEY_ID"])}
    options.update(kw)
    return FlagClient(**options)


def s3() -> Any:
    """A plain S3 client for assertions."""
    return boto3.session.Session().client("s3")


def live_revision(project: str, environment: str = "prod", scope: str = "server") -> int | None:
    """The revision the live pointer names, or None when there is no pointer."""
    try:
        body = s3().get_object(Bucket=os.environ["VEXIL_BUCKET"],
                               Key=_pointer_key(project, environment, scope))["Body"].read()
    except ClientError as exc:  # NoSuchKey: nothing published yet
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
    return decode_pointer(body).revision


def live_plaintext(project: str, sdk_key: str, environment: str = "prod",
                   scope: str = "server") -> bytes:
    """Download the live pointer's bundle and decrypt it with an SDK key (no KMS)."""
    client = s3()
    bucket = os.environ["VEXIL_BUCKET"]
    pointer = decode_pointer(client.get_object(
        Bucket=bucket, Key=_pointer_key(project, environment, scope))["Body"].read())
    ciphertext = client.get_object(Bucket=bucket, Key=pointer.key)["Body"].read()
    return decrypt_bundle(ciphertext, sdk_key=sdk_key, expected=encryption_context(
        project, environment, pointer.revision, scope))
