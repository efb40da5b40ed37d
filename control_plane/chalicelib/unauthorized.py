"""The exception an authorizer raises to make the gateway answer 401.

On API Gateway, a Lambda authorizer signals 401 by failing with the message
``Unauthorized``. ``chalice local`` (and ``chalice.test.Client``) would turn an arbitrary
exception into a 500, but it answers 401 for its own ``NotAuthorizedError``; so, when that
class is importable (locally), we subclass it; in Lambda (where ``chalice.local`` is not
packaged) we subclass ``Exception``. Same behaviour in both places: 401.
"""

from __future__ import annotations

from typing import Any

_UNAUTHORIZED_BODY = b'{"message":"Unauthorized"}'

try:  # pragma: no branch - which branch runs depends on where we are deployed
    from chalice.local import NotAuthorizedError as _Base

    _LOCAL = True
except ImportError:  # pragma: no cover - Lambda
    _Base = Exception  # type: ignore[misc,assignment]
    _LOCAL = False


class AuthorizerUnauthorized(_Base):
    """Raise from the authorizer for a missing, invalid, revoked or expired token."""

    def __init__(self) -> None:
        args: tuple[Any, ...] = (
            ({"x-amzn-ErrorType": "UnauthorizedException", "Content-Type": "application/json"},
             _UNAUTHORIZED_BODY)
            if _LOCAL
            else ("Unauthorized",)
        )
        super().__init__(*args)

    def __str__(self) -> str:
        return "Unauthorized"
