"""The one exception the ``vexil`` CLI turns into a one-line message and an exit code.

::

    VexilError                 message + exit code (1 unless said otherwise)
    ├── UsageError             bad arguments or configuration (exit 2)
    ├── ApiError               the control plane answered with an error (status, code, details)
    ├── StackError             the local stack could not start, stop or be found
    └── BackupError            a backup file or its target table is not usable (vexil.backup)
"""

from __future__ import annotations


class VexilError(Exception):
    """An error the CLI reports as one line on stderr with ``exit_code``."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(VexilError):
    """Bad command-line arguments, a bad flags file or missing configuration."""

    exit_code = 2


class ApiError(VexilError):
    """An HTTP error from the control plane, with its status and structured error body."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str = "",
        details: list[dict[str, str]] | None = None,
        body: object = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.details = details or []
        self.body = body


class StackError(VexilError):
    """The local stack failed to start, stop or report its state."""


class BackupError(VexilError):
    """A backup file or the table it goes into is not usable; nothing was written."""
