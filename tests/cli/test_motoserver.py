"""The serialised moto launcher (``vexil.devstack.motoserver``) keeps its two promises.

1. No two requests are ever inside the wrapped app at once (an app that sleeps while it
   counts who else is inside sees nobody; the same app unwrapped does — so the check bites).
2. A client that sends half a body and stalls holds nobody up: the body is read before the
   lock, so real DynamoDB calls are answered while the stalled connection is still open.
Plus: the launcher's process serves moto and stops on SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from werkzeug.serving import make_server

from tests.conftest import free_port
from vexil.devstack import procs
from vexil.devstack.motoserver import SerialisedApp, SerialMotoServer


class Counting:
    """A WSGI app that notes the most requests it ever had inside at once."""

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        with self.lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
        time.sleep(0.02)  # widens the window in which another request could enter
        with self.lock:
            self.inside -= 1
        reply = b"echo:" + body
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(reply)))])
        return [reply]


def _hammer(app: Any, clients: int = 12) -> list[bytes]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    replies: list[bytes] = []
    try:
        def one(n: int) -> None:
            with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
                body = f"req{n}".encode()
                s.sendall(b"POST / HTTP/1.0\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
                replies.append(data.split(b"\r\n\r\n", 1)[1])

        threads = [threading.Thread(target=one, args=(n,)) for n in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        server.shutdown()
        server.server_close()
    return replies


def test_requests_never_overlap_inside_the_wrapped_app() -> None:
    bare = Counting()
    _hammer(bare)
    assert bare.most > 1  # without the lock they do overlap: the check can fail
    wrapped = Counting()
    replies = _hammer(SerialisedApp(wrapped))
    assert wrapped.most == 1
    assert sorted(replies) == sorted(f"echo:req{n}".encode() for n in range(12))


@pytest.fixture
def serial_moto() -> Iterator[str]:
    with SerialMotoServer("127.0.0.1", 0) as server:
        yield server.url


def _ddb(url: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(retries={"max_attempts": 1},
                                      read_timeout=20, connect_timeout=5))


def test_a_stalled_body_holds_nobody_up(serial_moto: str) -> None:
    port = int(serial_moto.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as stalled:
        stalled.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0"
                        b"\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\n"
                        b"Content-Length: 1000\r\n\r\n{\"Li")
        # The stalled request is mid-body; other clients are still served in full.
        ddb = _ddb(serial_moto)
        name = f"stall-{os.getpid()}"
        ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
        ddb.put_item(TableName=name, Item={"pk": {"S": "a"}})
        assert ddb.get_item(TableName=name, Key={"pk": {"S": "a"}})["Item"] == {"pk": {"S": "a"}}


def test_the_launcher_process_serves_moto_and_stops_on_sigterm() -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "vexil.devstack.motoserver",
                             "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        ddb = _ddb(url)
        for _ in range(300):
            try:
                ddb.list_tables()
                break
            except Exception:
                if proc.poll() is not None:
                    raise
                time.sleep(0.1)
        assert isinstance(ddb.list_tables()["TableNames"], list)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        procs.stop(proc)  # no-op once it exited; TERM then KILL otherwise
