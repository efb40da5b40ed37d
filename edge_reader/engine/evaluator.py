"""A compiled environment: the object readers hold and evaluate against.

Evaluation is a dict lookup plus a call into the flag's closure, which returns one of the
EvaluationDetail objects the compiler built. Nothing here raises: each call is wrapped in
one try/except (free in CPython 3.11 unless something is raised) that turns any surprise
into reason ERROR / GENERAL.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any, Final

from .context import Context, Kinds, kinds_of, plain_view
from .detail import ErrorCode, EvaluationDetail, FlagInfo, Reason
from .errors import Problem
from .lists import ListSlot


class _UseDefault:
    """Marks a prebuilt detail whose value is the caller's default (filled in on return)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<caller default>"


USE_DEFAULT: Final = _UseDefault()
Run = Callable[[Kinds], EvaluationDetail]


def _error(default: Any, code: ErrorCode, message: str) -> EvaluationDetail:
    return EvaluationDetail(default, None, Reason.ERROR, code, message)


def _context(ctx: object) -> Context:
    return ctx if ctx.__class__ is Context else Context.from_mapping(ctx)


class CompiledEnvironment:
    """Compiled flags of one environment; immutable, safe to share between threads."""

    __slots__ = ("_infos", "_runs", "errors", "flag_keys", "lists", "metadata", "warnings")

    def __init__(self, runs: dict[str, Run], infos: dict[str, FlagInfo], errors: list[Problem],
                 warnings: list[Problem], metadata: Mapping[str, Any],
                 lists: Mapping[str, ListSlot] | None = None) -> None:
        self._runs = runs
        self._infos = infos
        self.errors: list[Problem] = errors
        self.warnings: list[Problem] = warnings
        self.metadata: Mapping[str, Any] = dict(metadata)
        self.flag_keys: frozenset[str] = frozenset(runs)
        # List segments by key: the reader fills each slot's members (engine/lists.py).
        self.lists: Mapping[str, ListSlot] = lists or {}

    def __repr__(self) -> str:
        return (f"CompiledEnvironment({len(self._runs)} flags, {len(self.errors)} errors, "
                f"{len(self.warnings)} warnings)")

    def flag_info(self, key: str) -> FlagInfo | None:
        """Static facts about flag ``key``, or None if the environment has no such flag."""
        return self._infos.get(key)

    # --- details ------------------------------------------------------------------------

    def evaluate(self, key: str, ctx: Context | Mapping[str, Any], default: Any = None,
                 ) -> EvaluationDetail:
        """Evaluate flag ``key`` for ``ctx``; never raises.

        On any error the detail's value is ``default`` and ``error_code`` says why:
        FLAG_NOT_FOUND, INVALID_CONTEXT, PARSE_ERROR (the flag did not compile),
        TARGETING_KEY_MISSING, GENERAL (anything unexpected).
        """
        run = self._runs.get(key)
        if run is None:
            return _error(default, ErrorCode.FLAG_NOT_FOUND, f"flag {key!r} not found")
        try:
            # A plain dict is viewed as it is (plain_view: no copy, no Context built).
            kinds = None if ctx.__class__ is Context else plain_view(ctx)
            if kinds is None:
                context = _context(ctx)
                if context.error is not None:
                    return _error(default, ErrorCode.INVALID_CONTEXT, context.error)
                kinds = context.kinds
            detail = run(kinds)
        except Exception as exc:
            return _error(default, ErrorCode.GENERAL, f"evaluation failed: {exc!r}")
        if detail.value is USE_DEFAULT:
            return detail.with_value(default)
        return detail

    def evaluate_all(self, ctx: Context | Mapping[str, Any]) -> dict[str, EvaluationDetail]:
        """Every flag evaluated for ``ctx`` (default None), from this one immutable snapshot."""
        context = _context(ctx)
        return {key: self.evaluate(key, context, None) for key in self._runs}

    def _typed(
        self, key: str, ctx: Context | Mapping[str, Any], default: Any,
               accept: Callable[[Any], bool], convert: Callable[[Any], Any], type_name: str,
               ) -> EvaluationDetail:
        detail = self.evaluate(key, ctx, default)
        if detail.variant is None:  # error or "serve the caller's default"
            return detail
        value = detail.value
        if accept(value):
            converted = convert(value)
            return detail if converted is value else detail.with_value(converted)
        return EvaluationDetail(
            default, None, Reason.ERROR, ErrorCode.TYPE_MISMATCH,
            f"flag {key!r} served {type(value).__name__}, not {type_name}",
            flag_metadata=detail.flag_metadata)

    def get_boolean_details(self, key: str, ctx: Context | Mapping[str, Any], default: bool,
                            ) -> EvaluationDetail:
        """:meth:`evaluate`, plus TYPE_MISMATCH (and ``default``) unless a bool is served."""
        return self._typed(key, ctx, default, _is_bool, _same, "bool")

    def get_string_details(self, key: str, ctx: Context | Mapping[str, Any], default: str,
                           ) -> EvaluationDetail:
        """:meth:`evaluate`, plus TYPE_MISMATCH (and ``default``) unless a str is served."""
        return self._typed(key, ctx, default, _is_str, _same, "str")

    def get_integer_details(self, key: str, ctx: Context | Mapping[str, Any], default: int,
                            ) -> EvaluationDetail:
        """:meth:`evaluate`; an integral number is served as int, anything else mismatches."""
        return self._typed(key, ctx, default, _is_integral, int, "int")

    def get_float_details(self, key: str, ctx: Context | Mapping[str, Any], default: float,
                          ) -> EvaluationDetail:
        """:meth:`evaluate`; any number (not bool) is served as float."""
        return self._typed(key, ctx, default, _is_number, float, "float")

    def get_object_details(self, key: str, ctx: Context | Mapping[str, Any], default: Any,
                           ) -> EvaluationDetail:
        """:meth:`evaluate`; an object or array is served (as a private deep copy)."""
        return self._typed(key, ctx, default, _is_structure, copy.deepcopy, "object")

    # --- typed values: the hot path ------------------------------------------------------
    # The getters below repeat the same eight lines on purpose: a shared helper would add
    # a Python call (~60-80 ns, a tenth of an evaluation) to every flag read.

    def get_boolean(self, key: str, ctx: Context | Mapping[str, Any], default: bool) -> bool:
        """The flag's bool value for ``ctx``, or ``default`` on any error or type mismatch."""
        run = self._runs.get(key)
        if run is None:
            return default
        try:
            if ctx.__class__ is Context and ctx.error is None:
                kinds = ctx.kinds
            else:  # a plain dict: viewed as it is, no copy (plain_view)
                found = plain_view(ctx) or kinds_of(ctx)
                if found is None:
                    return default
                kinds = found
            value = run(kinds).value
        except Exception:
            return default
        return value if value is True or value is False else default

    def get_string(self, key: str, ctx: Context | Mapping[str, Any], default: str) -> str:
        """The flag's str value for ``ctx``, or ``default`` on any error or type mismatch."""
        run = self._runs.get(key)
        if run is None:
            return default
        try:
            if ctx.__class__ is Context and ctx.error is None:
                kinds = ctx.kinds
            else:  # a plain dict: viewed as it is, no copy (plain_view)
                found = plain_view(ctx) or kinds_of(ctx)
                if found is None:
                    return default
                kinds = found
            value = run(kinds).value
        except Exception:
            return default
        return value if isinstance(value, str) else default

    def get_integer(self, key: str, ctx: Context | Mapping[str, Any], default: int) -> int:
        """The flag's value as int (integral numbers only, never bool), else ``default``."""
        run = self._runs.get(key)
        if run is None:
            return default
        try:
            if ctx.__class__ is Context and ctx.error is None:
                kinds = ctx.kinds
            else:  # a plain dict: viewed as it is, no copy (plain_view)
                found = plain_view(ctx) or kinds_of(ctx)
                if found is None:
                    return default
                kinds = found
            value = run(kinds).value
        except Exception:
            return default
        if value.__class__ is int:
            return value
        return int(value) if _is_integral(value) else default

    def get_float(self, key: str, ctx: Context | Mapping[str, Any], default: float) -> float:
        """The flag's value as float (any number, never bool), else ``default``."""
        run = self._runs.get(key)
        if run is None:
            return default
        try:
            if ctx.__class__ is Context and ctx.error is None:
                kinds = ctx.kinds
            else:  # a plain dict: viewed as it is, no copy (plain_view)
                found = plain_view(ctx) or kinds_of(ctx)
                if found is None:
                    return default
                kinds = found
            value = run(kinds).value
        except Exception:
            return default
        return float(value) if _is_number(value) else default

    def get_object(self, key: str, ctx: Context | Mapping[str, Any], default: Any) -> Any:
        """A deep copy of the flag's object/array value, else ``default``."""
        detail = self.get_object_details(key, ctx, default)
        return detail.value

    def detail_of(self, key: str, ctx: Context | Mapping[str, Any]) -> EvaluationDetail | None:
        """The detail flag ``key``'s compiled run returns for ``ctx``, as it is; None when
        the flag does not exist, the context is invalid or evaluation failed.

        Promises: one of the details compiled into the flag (the same object each time the
        same outcome is served: per-evaluation hooks may key on its identity); its value
        may be the caller's-default marker (then ``variant`` is None), and no type is
        checked: a value getter's answer is its value when ``TYPED`` accepts it (converted),
        else the caller's default. It exists for evaluation insights: one call gives the value and
        the (variant, reason) to count, where the ``*_details`` getters copy and check.
        """
        run = self._runs.get(key)
        if run is None:
            return None
        try:
            if ctx.__class__ is Context and ctx.error is None:
                kinds = ctx.kinds
            else:  # a plain dict: viewed as it is, no copy (plain_view)
                found = plain_view(ctx) or kinds_of(ctx)
                if found is None:
                    return None
                kinds = found
            return run(kinds)
        except Exception:
            return None


def _same(value: Any) -> Any:
    return value


def _is_bool(value: Any) -> bool:
    return value is True or value is False


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integral(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and value.is_integer()


def _is_structure(value: Any) -> bool:
    return isinstance(value, dict | list)


Accept = Callable[[Any], bool]
Convert = Callable[[Any], Any] | None

TYPED: Final[Mapping[str, tuple[type | None, Accept, Convert]]] = {
    # Per typed getter: (a class whose exact instances are served as they are, what else is
    # accepted, how that is converted: None for "as it is"). The one statement of what each
    # value getter serves, shared with FlagClient's counted path (client/_client.py), which
    # tests the exact class inline first (no call for the common case).
    "bool": (bool, _is_bool, None),
    "str": (str, _is_str, None),
    "int": (int, _is_integral, int),
    "float": (float, _is_number, float),
    "object": (None, _is_structure, copy.deepcopy),
}
