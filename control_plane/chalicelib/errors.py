"""Domain errors of the control plane, each mapped to one HTTP status.

::

    ApiError                    (500 only if raised bare — never done on purpose)
    ├── BadRequest              400  body/parameter invalid; ``details`` names every field at fault
    ├── Unauthorized            401  missing, unknown, revoked or expired token
    ├── Forbidden               403  valid token without the right
    ├── NotFound                404
    ├── Conflict                409  already exists / state does not allow it
    ├── PreconditionFailed      412  If-Match does not match; carries ``current_version``
    ├── ChangesetConflict       412  a changeset's base versions moved; ``conflicts`` names all
    ├── PayloadTooLarge         413
    ├── UnsupportedMediaType    415
    ├── PreconditionRequired    428  a write without If-Match
    └── ServiceUnavailable      503  storage/KMS throttled or down past our retries; retryable

The JSON body is always ``{"error": {"code", "message", "details": [{"path", "message"}]}}``
(412 adds a top-level ``current_version``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class Detail:
    """One problem: where (a dotted/indexed path into the request) and what."""

    path: str
    message: str

    def to_json(self) -> dict[str, str]:
        """The wire form of this detail."""
        return {"path": self.path, "message": self.message}


class ApiError(Exception):
    """Base of every error the API answers on purpose."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal"

    def __init__(self, message: str, details: list[Detail] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details or [])

    def body(self) -> dict[str, Any]:
        """The JSON body answered for this error."""
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "details": [d.to_json() for d in self.details],
            }
        }


class BadRequest(ApiError):
    """The request is malformed or invalid; details list every field at fault."""

    status = 400
    code = "invalid_request"


class Unauthorized(ApiError):
    """No valid credentials."""

    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    """Valid credentials without the right for this action."""

    status = 403
    code = "forbidden"


class NotFound(ApiError):
    """The resource does not exist."""

    status = 404
    code = "not_found"


class Conflict(ApiError):
    """The resource exists already, or its state does not allow the action."""

    status = 409
    code = "conflict"


class PreconditionFailed(ApiError):
    """The If-Match version is not the current one."""

    status = 412
    code = "precondition_failed"

    def __init__(self, current_version: int, message: str | None = None) -> None:
        super().__init__(message or f"resource is at version {current_version}")
        self.current_version = current_version

    def body(self) -> dict[str, Any]:
        """Error body plus the current version, so a client can re-read and retry."""
        out = super().body()
        out["current_version"] = self.current_version
        return out


class ChangesetConflict(ApiError):
    """Some items of a changeset are not at their base version: nothing was written.

    The body lists EVERY conflicting item (``conflicts``: index, kind, key, base and current
    version) so a client re-plans once, not once per item.
    """

    status = 412
    code = "precondition_failed"

    def __init__(self, conflicts: list[dict[str, Any]]) -> None:
        super().__init__(
            f"{len(conflicts)} item(s) of the changeset changed since they were read; "
            "nothing was written — re-read (vexil plan) and retry",
            [Detail(f"changes[{c['index']}]",
                    f"{c['kind']} {c['key']!r} is at version {c['current_version']}, "
                    f"not {c['base_version']}") for c in conflicts])
        self.conflicts = conflicts

    def body(self) -> dict[str, Any]:
        """Error body plus the structured list of conflicts."""
        out = super().body()
        out["conflicts"] = self.conflicts
        return out


class PayloadTooLarge(ApiError):
    """Request body over the limit."""

    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ApiError):
    """Request body is not JSON."""

    status = 415
    code = "unsupported_media_type"


class PreconditionRequired(ApiError):
    """A write arrived without If-Match."""

    status = 428
    code = "precondition_required"


class ServiceUnavailable(ApiError):
    """An AWS dependency was throttled or down past our retries; nothing was written.

    Answered 503 with ``Retry-After`` so a client can tell "try again" from a bug.
    """

    status = 503
    code = "service_unavailable"
    retry_after_seconds: ClassVar[int] = 2
