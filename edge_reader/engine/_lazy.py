"""Reader-mode environments that compile each flag on its first evaluation.

Why: a reader's cold start is what a Lambda pays on every new container, and compiling all
of a 10,000-flag bundle costs about 0.3 s while a request reads a handful of flags. The
publisher has already compiled the whole bundle strictly before publishing it (a reader
never meets a bundle the compiler refused), so a reader may defer the work per flag.

How (see ``compile_environment(..., lazy=True)``): at load, every flag that has no
prerequisites is kept as its ``marshal`` serialisation (compact bytes, no object of the
parsed document, so the document can be freed whole — see _fresh.py) behind a
:class:`Deferred` run. Flags with prerequisites are compiled at once, so the prerequisite
graph is checked exactly as an eager compilation checks it. The first evaluation of a
deferred flag compiles it, under a lock, with the compilation state the load kept, and
replaces the placeholder in the environment's run table: later evaluations find the
compiled run with a dict lookup and take no lock. A second thread evaluating the same flag
meanwhile waits for the lock, then finds it compiled. A flag that turns out broken serves
PARSE_ERROR with the very message an eager compilation gives.

``errors`` and ``warnings`` are computed on demand: the first read compiles the kept
serialisations eagerly (same lists as an eager compilation; a reader never needs them on
its hot path, the control plane compiles strictly).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .context import Kinds
from .detail import EvaluationDetail, FlagInfo
from .errors import Problem
from .evaluator import CompiledEnvironment, Run

# compile(key) -> (run, info): compiles one deferred flag (under the pending lock).
CompileOne = Callable[[str], tuple[Run, FlagInfo | None]]
# () -> (errors, warnings) of an eager compilation of the same document.
CompileAll = Callable[[], tuple[list[Problem], list[Problem]]]


class Pending:
    """What a lazy environment still has to compile, and the one lock that guards it."""

    __slots__ = ("_compile_all", "_compile_one", "_infos", "_lock", "_problems", "_runs",
                 "deferred")

    def __init__(self, runs: dict[str, Run], infos: dict[str, FlagInfo],
                 compile_one: CompileOne, compile_all: CompileAll) -> None:
        """``runs``/``infos``: the environment's own tables, completed as flags compile."""
        self._runs = runs
        self._infos = infos
        self._compile_one = compile_one
        self._compile_all = compile_all
        self._lock = threading.Lock()
        self._problems: tuple[list[Problem], list[Problem]] | None = None
        self.deferred: set[str] = set()  # keys not compiled yet

    def defer(self, key: str) -> Run:
        """The placeholder run of ``key`` (compiled on its first call)."""
        self.deferred.add(key)
        return Deferred(key, self).run

    def compile(self, key: str) -> Run:
        """The compiled run of ``key``, compiling it now if no thread has yet."""
        with self._lock:
            if key in self.deferred:
                run, info = self._compile_one(key)
                if info is not None:
                    self._infos[key] = info
                self._runs[key] = run  # from now on evaluations find it without the lock
                self.deferred.discard(key)
            return self._runs[key]

    def problems(self) -> tuple[list[Problem], list[Problem]]:
        """(errors, warnings) of the whole environment, computed once on first use."""
        with self._lock:
            if self._problems is None:
                self._problems = self._compile_all()
            return self._problems


@dataclass(slots=True, eq=False)
class Deferred:
    """The run of a flag not compiled yet: compiles it, then evaluates with the result."""

    key: str
    pending: Pending

    def run(self, kinds: Kinds) -> EvaluationDetail:
        """Compile (once per environment) and evaluate."""
        return self.pending.compile(self.key)(kinds)


class LazyEnvironment(CompiledEnvironment):
    """A :class:`CompiledEnvironment` whose flags compile on first use (see module doc).

    Evaluation, ``flag_keys`` and ``metadata`` behave exactly as in an eager environment;
    ``flag_info`` compiles the flag it is asked about; ``errors`` and ``warnings`` are
    computed on their first read.
    """

    __slots__ = ("_pending",)

    def __init__(self, runs: dict[str, Run], infos: dict[str, FlagInfo],
                 metadata: Mapping[str, Any], pending: Pending) -> None:
        """Wrap the tables ``pending`` completes."""
        self._pending = pending
        super().__init__(runs, infos, [], [], metadata)

    @property
    def errors(self) -> list[Problem]:
        """Every compile error of the environment (computed on first read)."""
        return self._pending.problems()[0]

    @errors.setter
    def errors(self, value: list[Problem]) -> None:
        pass  # the base initialiser's empty list: the real one is computed on demand

    @property
    def warnings(self) -> list[Problem]:
        """Every lint warning of the environment (computed on first read)."""
        return self._pending.problems()[1]

    @warnings.setter
    def warnings(self, value: list[Problem]) -> None:
        pass

    @property
    def deferred_flags(self) -> int:
        """How many flags have not been compiled yet (for tests and benchmarks)."""
        return len(self._pending.deferred)

    def flag_info(self, key: str) -> FlagInfo | None:
        """Static facts about flag ``key`` (compiling it first), or None if there is none."""
        if key in self._pending.deferred:
            self._pending.compile(key)
        return super().flag_info(key)
