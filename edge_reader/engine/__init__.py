"""Vexil's flag engine: pure (no I/O, no clock unless given one), compile once, evaluate fast.

    env = compile_environment(doc, strict=False, clock=time.time)
    env.get_boolean("new-checkout", Context.from_mapping({"targetingKey": "u-1"}), False)

The format is documented in docs/flag-format.md, bucketing in docs/bucketing.md.
"""

from .compiler import ENGINE_VERSION, FORMAT_VERSION, compile_environment
from .context import Context
from .detail import ErrorCode, EvaluationDetail, FlagInfo, Reason
from .errors import CompileError, Problem
from .evaluator import CompiledEnvironment

__all__ = [
    "ENGINE_VERSION",
    "FORMAT_VERSION",
    "CompileError",
    "CompiledEnvironment",
    "Context",
    "ErrorCode",
    "EvaluationDetail",
    "FlagInfo",
    "Problem",
    "Reason",
    "compile_environment",
]
