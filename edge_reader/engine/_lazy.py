"""Reader-mode environments that compile each flag on its first evaluation.

Why: a reader's cold start is what a Lambda pays on every new container, and compiling all
of a 10,000-flag bundle costs about 0.3 s while a request reads a handful of flags. The
publisher has already compiled the whole bundle strictly before publishing it (a reader
never meets a bundle the compiler refused), so a reader may defer the work per flag.

How (see ``compile_environment(..., lazy=True)``): at load, every flag that has no
prerequisites is kept as its source behind a placeholder run — its JSON text when the
bundle decoder left the flags undecoded (:class:`FlagSources`, what readers get from
``decode_bundle_document_lazily``: the 10,000 flags are never built at load), else its
``marshal`` serialisation (compact bytes, no object of the parsed document, so the document
can be freed whole — see _fresh.py). Flags with prerequisites are compiled at once, so the
prerequisite graph is checked exactly as an eager compilation checks it. The first evaluation of a
deferred flag compiles it, under a lock, with the compilation state the load kept, and
replaces the placeholder in the environment's run table: later evaluations find the
compiled run with a dict lookup and take no lock. A second thread evaluating the same flag
meanwhile waits for the lock, then finds it compiled. A flag that turns out broken serves
PARSE_ERROR with the very message an eager compilation gives.

``errors`` and ``warnings`` are computed on demand: the first read compiles the kept
sources eagerly (same lists as an eager compilation; a reader never needs them on
its hot path, the control plane compiles strictly).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Any

from .context import Kinds
from .detail import EvaluationDetail, FlagInfo
from .errors import Problem
from .evaluator import CompiledEnvironment, Run

# compile(key) -> (run, info): compiles one deferred flag (under the pending lock).
CompileOne = Callable[[str], tuple[Run, FlagInfo | None]]
# () -> (errors, warnings) of an eager compilation of the same document.
# (errors, warnings, features used) of an eager compilation of the whole document.
Problems3 = tuple[list[Problem], list[Problem], tuple[str, ...]]
CompileAll = Callable[[], Problems3]


class Pending:
    """What a lazy environment still has to compile, and the one lock that guards it."""

    __slots__ = ("_compile_all", "_compile_one", "_infos", "_lock", "_problems",
                 "_problems_lock", "_runs", "deferred", "source")

    def __init__(self, runs: dict[str, Run], infos: dict[str, FlagInfo],
                 compile_one: CompileOne, compile_all: CompileAll,
                 source: Callable[[str], Any]) -> None:
        """``runs``/``infos``: the environment's own tables, completed as flags compile;
        ``source(key)``: a fresh copy of flag ``key`` as the document held it."""
        self.source = source
        self._runs = runs
        self._infos = infos
        self._compile_one = compile_one
        self._compile_all = compile_all
        self._lock = threading.Lock()
        # Its own lock: computing the problems takes a whole eager compilation, and
        # evaluations of deferred flags must not wait for it.
        self._problems_lock = threading.Lock()
        self._problems: Problems3 | None = None
        self.deferred: set[str] = set()  # keys not compiled yet

    def defer(self, key: str) -> Run:
        """The placeholder run of ``key`` (compiled on its first call)."""
        self.deferred.add(key)
        # A C-level partial, not an object with a method: made 10,000 times per load.
        return partial(_run_deferred, self, key)

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

    def problems(self) -> Problems3:
        """(errors, warnings, features) of the whole environment, computed once on first
        use."""
        with self._problems_lock:
            if self._problems is None:
                self._problems = self._compile_all()
            return self._problems


def _run_deferred(pending: Pending, key: str, kinds: Kinds) -> EvaluationDetail:
    """The run of a flag not compiled yet: compile it (once per environment), evaluate."""
    return pending.compile(key)(kinds)


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
        # "features" is what compiling every flag finds: computed only when that key is read.
        self.metadata = _LazyMetadata(dict(metadata), pending)

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

    def flag_document(self, key: str) -> Any:
        """A fresh copy of flag ``key`` as the document held it (KeyError if there is none):
        what the reader fingerprints for change events, long after the document is gone."""
        return self._pending.source(key)

    @property
    def deferred_flags(self) -> int:
        """How many flags have not been compiled yet (for tests and benchmarks)."""
        return len(self._pending.deferred)

    def flag_info(self, key: str) -> FlagInfo | None:
        """Static facts about flag ``key`` (compiling it first), or None if there is none."""
        if key in self._pending.deferred:
            self._pending.compile(key)
        return super().flag_info(key)


class FlagSources(Mapping[str, Any]):
    """A document's ``flags`` object kept as each flag's serialised text, decoded on read.

    What a bundle decoder hands the compiler so that a reader never builds the 10,000 flag
    objects it will not evaluate (bundle/document.py, ``decode_bundle_document_lazily``):
    ``compile_environment(..., lazy=True)`` keeps the texts as its per-flag sources and
    decodes one when the flag is first compiled. As a Mapping it behaves as the decoded
    ``flags`` object (each read a fresh decode), so every other path reads it unchanged.
    ``texts``: key -> text; ``decode(text)``: the flag's value, exactly as decoding the
    whole document would give it; ``may_have_prerequisites(text)``: False only when the
    flag surely has no ``prerequisites`` field (a cheap test on the text: such flags are
    deferred without being decoded at load).
    """

    __slots__ = ("decode", "may_have_prerequisites", "texts")

    def __init__(self, texts: Mapping[str, Any], decode: Callable[[Any], Any],
                 may_have_prerequisites: Callable[[Any], bool]) -> None:
        """Wrap ``texts`` (not copied: the decoder made them for this document only)."""
        self.texts = texts
        self.decode = decode
        self.may_have_prerequisites = may_have_prerequisites

    def __getitem__(self, key: str) -> Any:
        return self.decode(self.texts[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self.texts)

    def __len__(self) -> int:
        return len(self.texts)


class _LazyMetadata(Mapping[str, Any]):
    """An environment's metadata whose ``features`` entry (the engine features the flags
    use, as an eager compilation reports them) is computed on first need: reading
    ``revision`` costs nothing, listing the keys compiles the document once."""

    __slots__ = ("_base", "_pending")

    def __init__(self, base: dict[str, Any], pending: Pending) -> None:
        self._base = base
        self._pending = pending

    def _full(self) -> dict[str, Any]:
        features = self._pending.problems()[2]
        return {**self._base, "features": features} if features else self._base

    def __getitem__(self, key: str) -> Any:
        if key == "features":
            return self._full()[key]
        return self._base[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._full())

    def __len__(self) -> int:
        return len(self._full())
