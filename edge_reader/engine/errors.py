"""Compile-time problems and the one exception the compiler raises.

Exception tree (the whole of it — evaluation never raises)::

    Exception
     └── CompileError            raised by compile_environment(strict=True) when any
                                 Problem is an error, and in either mode when the
                                 document itself is unusable (not a mapping, no flags)

A :class:`Problem` is data, not an exception: a dotted/indexed path into the document
(``flags.checkout.rules[2].clauses[0].values[1]``), a human message and a stable code.
Errors and warnings share the type; which list holds a Problem says which it is.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding of the compiler: where (``path``), what (``message``), and a stable ``code``."""

    path: str
    message: str
    code: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class CompileError(Exception):
    """The document does not compile; ``errors`` lists every error found, with paths."""

    def __init__(self, errors: list[Problem], warnings: list[Problem] | None = None) -> None:
        self.errors: list[Problem] = list(errors)
        self.warnings: list[Problem] = list(warnings or [])
        super().__init__(self._summary())

    def _summary(self) -> str:
        shown = "; ".join(str(p) for p in self.errors[:20])
        more = len(self.errors) - 20
        suffix = f"; and {more} more" if more > 0 else ""
        return f"{len(self.errors)} compile error(s): {shown}{suffix}"


class Problems:
    """An accumulator the compiler threads through every step (errors never stop it)."""

    __slots__ = ("attributes", "errors", "features", "lenient", "notes", "warnings")

    def __init__(self, *, lenient: bool = False) -> None:
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []
        # A reader's compilation (strict=False): a clause using something this engine does
        # not know (newer operator, field, value) degrades to "never matches" instead of
        # failing its flag (docs/flag-format.md, "Forward compatibility").
        self.lenient = lenient
        # Why clauses were degraded ("path: reason"), in order: the compiler attaches the
        # notes a flag collected to that flag's details.
        self.notes: list[str] = []
        # Engine features the document uses beyond the base format (features.py names them).
        self.features: set[str] = set()
        # (context kind, top-level attribute) -> paths of the clauses testing it: the
        # environment-wide attribute lint reads it once every clause is compiled.
        self.attributes: dict[tuple[str, str], list[str]] = {}

    def attribute(self, kind: str, name: str, path: str) -> None:
        """Record that the clause at ``path`` tests attribute ``name`` of ``kind``."""
        self.attributes.setdefault((kind, name), []).append(path)

    def error(self, path: str, message: str, code: str) -> None:
        """Record an error at ``path``."""
        self.errors.append(Problem(path, message, code))

    def warn(self, path: str, message: str, code: str) -> None:
        """Record a lint warning at ``path`` (warnings never block)."""
        self.warnings.append(Problem(path, message, code))
