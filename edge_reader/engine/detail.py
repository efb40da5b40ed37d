"""What an evaluation returns: OpenFeature's vocabulary, as immutable values.

``Reason`` and ``ErrorCode`` are ``str`` enums whose values are OpenFeature's strings, so
a provider maps them 1:1. ``EvaluationDetail`` is frozen and slotted; the compiler builds
one per (exit point, variation) ahead of time so a successful evaluation allocates nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from types import MappingProxyType
from typing import Any

MetadataValue = str | int | float | bool


class Reason(StrEnum):
    """Why a value was served (OpenFeature reason strings)."""

    STATIC = "STATIC"
    DEFAULT = "DEFAULT"
    TARGETING_MATCH = "TARGETING_MATCH"
    SPLIT = "SPLIT"
    CACHED = "CACHED"
    DISABLED = "DISABLED"
    UNKNOWN = "UNKNOWN"
    STALE = "STALE"
    ERROR = "ERROR"


class ErrorCode(StrEnum):
    """What went wrong when reason is ERROR (OpenFeature error code strings)."""

    PROVIDER_NOT_READY = "PROVIDER_NOT_READY"
    FLAG_NOT_FOUND = "FLAG_NOT_FOUND"
    PARSE_ERROR = "PARSE_ERROR"
    TYPE_MISMATCH = "TYPE_MISMATCH"
    TARGETING_KEY_MISSING = "TARGETING_KEY_MISSING"
    INVALID_CONTEXT = "INVALID_CONTEXT"
    PROVIDER_FATAL = "PROVIDER_FATAL"
    GENERAL = "GENERAL"


# The metadata of every flag without any: one shared, read-only, empty mapping.
NO_METADATA: Mapping[str, MetadataValue] = MappingProxyType({})


@dataclass(frozen=True, slots=True, init=False)
class EvaluationDetail:
    """The result of one evaluation. Never raised, always returned.

    ``value`` is the served value, or the caller's default when ``variant`` is None.
    ``rule_index``/``rule_id`` name the rule that matched (None otherwise).
    ``flag_metadata`` is the flag's ``metadata`` mapping; treat it (and object values)
    as read-only — they are shared between evaluations.
    """

    value: Any
    variant: str | None
    reason: Reason
    error_code: ErrorCode | None = None
    error_message: str | None = None
    rule_index: int | None = None
    rule_id: str | None = None
    flag_metadata: Mapping[str, MetadataValue] = field(default_factory=lambda: NO_METADATA)

    def __init__(self, value: Any, variant: str | None, reason: Reason,
                 error_code: ErrorCode | None = None, error_message: str | None = None,
                 rule_index: int | None = None, rule_id: str | None = None,
                 flag_metadata: Mapping[str, MetadataValue] = NO_METADATA) -> None:
        # The generated frozen __init__ goes through object.__setattr__ once per field
        # (1.0 µs per detail); the slots' own setters take half that. Compiling 10,000 flags
        # builds tens of thousands of details, and error results are built per evaluation.
        _set_value(self, value)
        _set_variant(self, variant)
        _set_reason(self, reason)
        _set_error_code(self, error_code)
        _set_error_message(self, error_message)
        _set_rule_index(self, rule_index)
        _set_rule_id(self, rule_id)
        _set_flag_metadata(self, flag_metadata)

    def with_value(self, value: Any) -> EvaluationDetail:
        """A copy of this detail serving ``value`` (used to put the caller's default in)."""
        return EvaluationDetail(value, self.variant, self.reason, self.error_code,
                                self.error_message, self.rule_index, self.rule_id,
                                self.flag_metadata)


# The slot descriptors' setters (they bypass the frozen __setattr__, as the generated
# __init__ does). Looked up by name, so reordering the fields cannot mix them up.
_SETTERS = {f.name: getattr(EvaluationDetail, f.name).__set__ for f in fields(EvaluationDetail)}
_set_value = _SETTERS["value"]
_set_variant = _SETTERS["variant"]
_set_reason = _SETTERS["reason"]
_set_error_code = _SETTERS["error_code"]
_set_error_message = _SETTERS["error_message"]
_set_rule_index = _SETTERS["rule_index"]
_set_rule_id = _SETTERS["rule_id"]
_set_flag_metadata = _SETTERS["flag_metadata"]


@dataclass(frozen=True, slots=True)
class FlagInfo:
    """Static facts about a compiled flag (for listings, client scoping and OFREP)."""

    kind: str
    tags: tuple[str, ...]
    client_visible: bool
    version: int | None
    description: str | None
