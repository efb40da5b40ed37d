"""The OpenFeature provider: a thin, 1:1 mapping over ``FlagClient``.

The engine already speaks OpenFeature's vocabulary (reason strings, error codes, variant,
flag metadata), so resolving is: build our context from the evaluation context
(``targeting_key`` + attributes), call the client's typed ``*_details`` getter, copy the
fields across. Events follow the client's status:

==========================  ================================================
client                      provider event
==========================  ================================================
becomes READY               PROVIDER_READY
becomes STALE               PROVIDER_STALE (serving last known good)
becomes ERROR               PROVIDER_ERROR (nothing to serve; reason given):
                            error code PROVIDER_FATAL when the CDN answered 401/403
                            or the bundle is not encrypted for this SDK key
                            (this reader is refused: retrying will not help),
                            GENERAL otherwise
bundle swap changes flags   PROVIDER_CONFIGURATION_CHANGED (flags_changed)
==========================  ================================================

``initialize`` raises ``ProviderFatalError`` in those refused cases (the SDK's status becomes
FATAL) and ``ProviderNotReadyError`` for any other timeout. A later READY still recovers.

Context: ``datetime`` attributes (at any depth) become epoch milliseconds, a naive one taken
as UTC, so ``before``/``after`` compare them as instants.

Usage::

    client = FlagClient(project="shop", environment="prod", sdk_key=..., cdn_url=...)
    api.set_provider_and_wait(VexilProvider(client))
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEventDetails
from openfeature.exception import ErrorCode as OFErrorCode
from openfeature.exception import ProviderFatalError, ProviderNotReadyError
from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType
from openfeature.provider import AbstractProvider, Metadata

from edge_reader.client import ClientStatus, FlagClient, StatusReport
from edge_reader.engine import EvaluationDetail

__all__ = ["VexilProvider"]

_ERROR_CODES = {code.value: code for code in OFErrorCode}
# The reader's failure kinds (``http_<status>``, see RefreshResult) that mean "this reader is
# refused": a wrong or revoked credential, not an outage, so retrying will not help.
# ``key_refused``: the bundle (as the pointer names it) holds no data key this SDK key opens.
_REFUSED_KINDS = frozenset({"http_401", "http_403", "key_refused"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SCALARS = frozenset({str, int, float, bool, type(None)})  # passed through untouched


class VexilProvider(AbstractProvider):
    """An OpenFeature provider backed by one ``FlagClient`` (one project/environment)."""

    def __init__(
        self, client: FlagClient, *, init_timeout: float = 5.0, close_client: bool = True
    ) -> None:
        """Wrap ``client``; ``initialize`` waits up to ``init_timeout`` s for its first bundle.

        ``close_client``: close the FlagClient when the provider is shut down.
        """
        super().__init__()
        self.client = client
        self._init_timeout = init_timeout
        self._close_client = close_client
        self._forward = threading.Event()  # forward status events only once the SDK listens
        client.add_status_listener(self._on_status)
        client.add_change_listener(self._on_change)

    def get_metadata(self) -> Metadata:
        """Provider name shown by the OpenFeature SDK."""
        return Metadata(name="vexil")

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        """Wait for the first verified bundle; raise ProviderNotReadyError on timeout.

        The SDK turns the exception into PROVIDER_ERROR; when the bundle arrives later the
        client's status change emits PROVIDER_READY.
        """
        try:
            if not self.client.wait_until_ready(self._init_timeout):
                report = self.client.status()
                message = f"no flags loaded after {self._init_timeout}s" + (
                    f": {report.reason}" if report.reason else ""
                )
                if _error_code(report) is OFErrorCode.PROVIDER_FATAL:
                    raise ProviderFatalError(message)
                raise ProviderNotReadyError(message)
        finally:
            self._forward.set()

    def shutdown(self) -> None:
        """Stop forwarding events; close the client if this provider owns it."""
        self._forward.clear()
        if self._close_client:
            self.client.close()

    # ------------------------------------------------------------------ resolution

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        """Boolean flag, 1:1 from the engine detail."""
        return _map(
            self.client.get_boolean_details(flag_key, _context(evaluation_context), default_value)
        )

    def resolve_string_details(
        self,
        flag_key: str,
        default_value: str,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[str]:
        """String flag, 1:1 from the engine detail."""
        return _map(
            self.client.get_string_details(flag_key, _context(evaluation_context), default_value)
        )

    def resolve_integer_details(
        self,
        flag_key: str,
        default_value: int,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[int]:
        """Integer (number flag), 1:1 from the engine detail."""
        return _map(
            self.client.get_integer_details(flag_key, _context(evaluation_context), default_value)
        )

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        """Float (number flag), 1:1 from the engine detail."""
        return _map(
            self.client.get_float_details(flag_key, _context(evaluation_context), default_value)
        )

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        """Object (json flag), 1:1 from the engine detail."""
        return _map(
            self.client.get_object_details(flag_key, _context(evaluation_context), default_value)
        )

    # ------------------------------------------------------------------ events

    def _on_status(self, report: StatusReport) -> None:
        if not self._forward.is_set():
            return
        details = ProviderEventDetails(message=report.reason)
        if report.state is ClientStatus.READY:
            self.emit_provider_ready(details)
        elif report.state is ClientStatus.STALE:
            self.emit_provider_stale(details)
        elif report.state is ClientStatus.ERROR:
            details.error_code = _error_code(report)
            self.emit_provider_error(details)

    def _on_change(self, changed: frozenset[str]) -> None:
        if self._forward.is_set():
            self.emit_provider_configuration_changed(
                ProviderEventDetails(flags_changed=sorted(changed))
            )


def _error_code(report: StatusReport) -> OFErrorCode:
    """PROVIDER_FATAL when nothing is held and the CDN refused this reader, else GENERAL."""
    if report.state is ClientStatus.ERROR and report.error_kind in _REFUSED_KINDS:
        return OFErrorCode.PROVIDER_FATAL
    return OFErrorCode.GENERAL


def _context(evaluation_context: EvaluationContext | None) -> dict[str, Any]:
    """OpenFeature context → our mapping: ``targetingKey`` plus attributes.

    ``datetime`` values, at any depth, become epoch milliseconds (see :func:`_instant`).
    """
    if evaluation_context is None:
        return {}
    attributes = evaluation_context.attributes
    # All scalars (the common case): one C-level type scan and a copy, no Python loop —
    # this runs on every evaluation through the provider.
    if _SCALARS.issuperset(map(type, attributes.values())):
        out: dict[str, Any] = dict(attributes)
    else:
        out = {name: _instant(value) for name, value in attributes.items()}
    if evaluation_context.targeting_key is not None:
        out["targetingKey"] = evaluation_context.targeting_key
    return out


def _instant(value: Any) -> Any:
    """``value`` with every ``datetime`` replaced by milliseconds since the epoch.

    Why numbers: the engine's ``before``/``after`` take epoch ms or RFC 3339 *with* an
    offset, and ``isoformat()`` of a naive datetime has none (never matched). A naive
    datetime is taken as UTC: a server's local zone is no meaningful default.
    """
    if isinstance(value, datetime):
        aware = value if value.utcoffset() is not None else value.replace(tzinfo=UTC)
        return (aware - _EPOCH) / timedelta(milliseconds=1)
    if isinstance(value, dict):
        return {k: _instant(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_instant(v) for v in value]
    return value


def _map(detail: EvaluationDetail) -> FlagResolutionDetails[Any]:
    code = detail.error_code
    return FlagResolutionDetails(
        value=detail.value,
        error_code=_ERROR_CODES.get(str(code.value), OFErrorCode.GENERAL)
        if code is not None
        else None,
        error_message=detail.error_message,
        reason=detail.reason,  # a str enum with OpenFeature's values: no conversion
        variant=detail.variant,
        flag_metadata=detail.flag_metadata,  # shared, read-only: no copy per evaluation
    )
