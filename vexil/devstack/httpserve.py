"""What every Python HTTP server of the local stack shares: a read timeout and a request
log without query strings.

``READ_TIMEOUT_SECONDS`` bounds every socket read of a request (request line, headers,
body): a client that stops sending mid-request is dropped after that long instead of
holding a server thread open (the nginx stand-in uses the same value for
``client_header_timeout`` / ``client_body_timeout``). It is an idle timeout per read, as
nginx's are: a client dripping a byte every few seconds is bounded by the body size
limits, not by this.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler

READ_TIMEOUT_SECONDS = 5


def path_only(target: str) -> str:
    """The request target without its query string (a query may carry a pasted secret)."""
    return target.split("?", 1)[0]


class GuardedHandler(BaseHTTPRequestHandler):
    """Base for the stack's handlers: reads time out, the access log omits query strings."""

    # StreamRequestHandler.setup() puts this on the socket; BaseHTTPRequestHandler then
    # answers a TimeoutError by closing the connection.
    timeout = READ_TIMEOUT_SECONDS

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log method, path (no query string), protocol, status and size."""
        code_text = str(getattr(code, "value", code))
        self.log_message('"%s %s %s" %s %s', self.command, path_only(self.path),
                         self.request_version, code_text, str(size))
