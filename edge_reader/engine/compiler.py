"""The compiler: an environment document → a :class:`CompiledEnvironment`, once.

Every flag becomes one closure ``kinds -> EvaluationDetail`` whose every exit returns an
EvaluationDetail built here, ahead of time. Evaluation order (as LaunchDarkly's):

    disabled → off variation (DISABLED)
    prerequisites (each must be enabled and serve the named variation) → else off (DISABLED)
    targets → TARGETING_MATCH
    rules in order → TARGETING_MATCH (fixed variation) or SPLIT (rollout)
    default → STATIC (a flag with no targeting at all) / DEFAULT / SPLIT

All problems are collected, never stopping at the first. ``strict=True`` raises
:class:`CompileError` listing every error; ``strict=False`` (readers) turns each broken flag
into a closure that serves the caller's default with reason ERROR / PARSE_ERROR.
"""

from __future__ import annotations

import marshal
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

from ._clauses import SegmentCompiler, compile_conditions, lint_attributes
from ._fresh import Fresh
from ._gc import paused_gc
from ._lazy import LazyEnvironment, Pending
from ._rollout import Clock, RolloutPlan, Serve, build_rollout, parse_rollout
from ._runs import Constant, FixedRules, Flag, Match, Noted, OneRule, PrerequisiteTest
from ._validate import (
    KEY_RE,
    KIND_RE,
    VARIANT_RE,
    check_fields,
    did_you_mean,
    get_bool,
    get_int,
    get_list,
    get_mapping,
    get_str,
    get_str_list,
    is_object,
    json_problem,
    type_name,
)
from .context import Kinds
from .detail import ErrorCode, EvaluationDetail, FlagInfo, MetadataValue, Reason
from .errors import CompileError, Problem, Problems
from .evaluator import USE_DEFAULT, CompiledEnvironment, Run
from .features import KNOWN_FEATURES, rollout_features
from .fields import ENABLED_DEFAULT, FLAG_DOCUMENT_FIELDS
from .lists import LIST_TYPE, guard_runs

ENGINE_VERSION = "1"
FORMAT_VERSION = 1
MAX_PREREQUISITE_DEPTH = 32

_TOP_FIELDS = frozenset({"format", "project", "environment", "revision", "generated_at", "engine",
                         "audit_head", "scope", "flags", "segments", "features"})
_FLAG_FIELDS = FLAG_DOCUMENT_FIELDS
_KINDS = ("boolean", "string", "number", "json")
_PREREQ_FIELDS = frozenset({"flag", "variation", "variations", "off", "negate"})
_PREREQ_FORMS = ("variation", "variations", "off")
_TARGET_FIELDS = frozenset({"context_kind", "values", "variation"})
_RULE_FIELDS = frozenset({"id", "description", "clauses", "serve"})
_SERVE_FIELDS = frozenset({"variation", "rollout"})
_NO_TARGETING_KEY = "the flag buckets by targeting key and the context has none"


def compile_environment(
    doc: object, *, strict: bool = True, clock: Clock | None = None, lazy: bool = False,
) -> CompiledEnvironment:
    """Compile an environment document.

    Promises: the only exception raised, whatever ``doc`` holds, is :class:`CompileError`.
    With ``strict=True`` it is raised when any error exists (listing all of them, with
    paths). With ``strict=False`` it is raised only when the document itself is unusable
    (not an object, no ``flags`` object); a broken flag serves the caller's default with
    reason ERROR / PARSE_ERROR, and so does every flag using a broken segment and every
    flag in a prerequisite cycle. A flag whose *prerequisite* flag is broken still
    compiles: that prerequisite fails at evaluation (the broken flag serves no variation),
    so the flag serves its off variation with reason DISABLED — unless the prerequisite is
    negated, which then holds. A clause using something this engine does not know (a newer
    operator, field or literal) never matches and is reported as ``unsupported_clause``;
    the rest of its flag evaluates (docs/flag-format.md, "Forward compatibility").
    ``clock`` (seconds since the epoch, e.g. ``time.time``) drives scheduled ramps; the
    engine never reads the wall clock itself. Without a clock, ramps serve their base weights.
    ``lazy=True`` (readers; only with ``strict=False``) defers compiling each flag to its
    first evaluation (see _lazy.py): the same answers, ``errors`` and ``warnings``, for a
    fraction of the load time. A document that does not survive ``marshal`` unchanged (only
    a Python caller can build one) is compiled eagerly all the same.
    """
    problems = Problems(lenient=not strict)
    try:
        with paused_gc():
            env = _compile(doc, problems, clock, lazy and not strict)
    except CompileError:
        raise
    except Exception as exc:  # a safety net: surprises become a compile error, never a crash
        problems.error("", f"internal compiler error: {type(exc).__name__}: {exc}", "internal")
        raise CompileError(problems.errors, problems.warnings) from exc
    if strict and problems.errors:
        raise CompileError(problems.errors, problems.warnings)
    return env


def _compile(doc: object, problems: Problems, clock: Clock | None,
             lazy: bool = False) -> CompiledEnvironment:
    # Everything kept past compilation is copied out of the document: see _fresh.py.
    fresh = Fresh()
    flags, raw_segments, metadata = _read_top(doc, problems, fresh)
    if lazy:
        deferred = _compile_lazily(doc, flags, raw_segments, metadata, problems, fresh, clock)
        if deferred is not None:
            return deferred
    segments = SegmentCompiler(raw_segments, problems, fresh, clock)
    segments.compile_all()
    env = _Compilation(problems, fresh, clock, segments, _shapes(flags), flags.keys())
    failed: dict[str, str] = {}
    edges: dict[str, list[tuple[int, str]]] = {}
    for raw_key, raw in flags.items():
        if not isinstance(raw_key, str):
            problems.error("flags", f"flag keys must be strings, got {raw_key!r}", "type")
            continue
        # unique: not worth a place in the sharing table
        _compile_one(fresh.copy(raw_key), raw, env, failed, edges)
    lint_attributes(problems)
    for key in _check_prerequisite_graph(edges, problems):
        failed.setdefault(key, "prerequisite cycle")
    for key, message in failed.items():
        env.runs[key] = _error_run(f"flag {key!r} does not compile: {message}")
    if problems.features:
        metadata["features"] = tuple(sorted(problems.features))
    guard_runs(env.runs, flags, raw_segments, segments.list_slots)  # list segments: lists.py
    return CompiledEnvironment(env.runs, env.infos, list(problems.errors),
                               list(problems.warnings), metadata, lists=segments.list_slots)


def _compile_one(key: str, raw: object, env: _Compilation, failed: dict[str, str],
                 edges: dict[str, list[tuple[int, str]]]) -> None:
    """Compile flag ``key`` into ``env.runs``/``env.infos``; a broken flag goes to ``failed``
    (with its first error) and its prerequisite edges to ``edges``."""
    problems = env.problems
    before, notes = len(problems.errors), len(problems.notes)
    try:
        run, info, prereqs = _compile_flag(key, raw, env)
    except Exception as exc:  # never let one flag take the document down
        problems.error(f"flags.{key}", f"internal compiler error: {exc!r}", "internal")
        run, info, prereqs = None, None, []
    if prereqs:  # only flags with prerequisites matter to the graph check
        edges[key] = prereqs
    if len(problems.errors) > before or run is None:
        failed[key] = str(problems.errors[before]) if len(problems.errors) > before else "?"
    else:
        env.runs[key] = _noted(run, problems.notes[notes:])
    if info is not None:
        env.infos[key] = info


def _compile_lazily(
    doc: object, flags: Mapping[Any, Any], raw_segments: Mapping[Any, Any],
    metadata: dict[str, Any], problems: Problems, fresh: Fresh, clock: Clock | None,
) -> CompiledEnvironment | None:
    """Reader mode (see _lazy.py): compile segments and the flags with prerequisites now,
    defer every other flag; None when the document does not survive ``marshal`` or has list
    segments (their guards need every flag's document: lists.guard_runs)."""
    if any(isinstance(seg, Mapping) and seg.get("type") == LIST_TYPE
           for seg in raw_segments.values()):
        return None
    sources = _sources(doc, flags)
    if sources is None:
        return None
    # A table of our own, with copied names: the segment compiler outlives the document.
    seg_table = {fresh.copy(k) if k.__class__ is str else k: v for k, v in raw_segments.items()}
    segments = SegmentCompiler(seg_table, problems, fresh, clock)
    segments.compile_all()
    env = _Compilation(problems, fresh, clock, segments, _shapes(flags), flags.keys())
    pending = Pending(env.runs, env.infos, lambda key: _compile_deferred(key, sources, env),
                      lambda: _problems_of(sources, clock),
                      lambda key: _unmarshal(sources.flags[key]))
    failed: dict[str, str] = {}
    edges: dict[str, list[tuple[int, str]]] = {}
    for key, raw in zip(sources.flags, flags.values(), strict=True):
        # (`is dict` first: the ABC check costs more than the rest, 10,000 times a load)
        if (raw.__class__ is dict or isinstance(raw, Mapping)) and not raw.get("prerequisites"):
            env.runs[key] = pending.defer(key)
        else:  # prerequisites: checked as a graph, at once, exactly as an eager compilation
            _compile_one(key, raw, env, failed, edges)
    for key in _check_prerequisite_graph(edges, problems):
        failed.setdefault(key, "prerequisite cycle")
    for key, message in failed.items():
        env.runs[key] = _error_run(f"flag {key!r} does not compile: {message}")
    # Keep nothing of the document (see _fresh.py): its objects are the sharing tables'
    # keys, the segments' sources and the clause cache's keys; and deferred flags have no
    # prerequisites, so they need no flag shapes.
    fresh.forget()
    seg_table.update(dict.fromkeys(seg_table))
    segments.clause_cache.clear()
    env.shape_of = _no_shape
    env.flag_keys = frozenset(env.runs)
    _forget(problems)
    return LazyEnvironment(env.runs, env.infos, metadata, pending)


class _Sources(NamedTuple):
    """A document as ``marshal`` bytes: the flags one by one, the rest in one piece."""

    top: bytes  # the document with ``flags`` set to None (key order kept)
    flags: dict[str, bytes]  # flag key (copied) -> the flag


def _sources(doc: object, flags: Mapping[Any, Any]) -> _Sources | None:
    """``doc`` serialised for deferred compilation, or None when marshal would change it."""
    if not isinstance(doc, dict) or flags.__class__ is not dict:
        return None
    try:
        # marshal (stdlib, C): 1.5 µs a flag, where json.dumps takes 8. It refuses every
        # type but the exact builtins (a str subclass, a MappingProxyType...): no surprise
        # on the way back. Version 4 writes repeated objects once (faster than 2 here).
        top = marshal.dumps({k: (None if k == "flags" else v) for k, v in doc.items()}, 4)
        by_key = {}
        for key, raw in flags.items():
            if key.__class__ is not str:
                return None
            by_key["".join((key, ""))] = marshal.dumps(raw, 4)  # a copy: see _fresh.py
    except ValueError:
        return None
    return _Sources(top, by_key)


def _compile_deferred(key: str, sources: _Sources,
                      env: _Compilation) -> tuple[Run, FlagInfo | None]:
    """Compile one deferred flag with the load's compilation state (under Pending's lock)."""
    failed: dict[str, str] = {}
    # The clause cache stays: flags compiled later share this one's clauses (its keys pin
    # one parsed copy per distinct clause, not per flag).
    _compile_one(key, _unmarshal(sources.flags[key]), env, failed, {})
    _forget(env.problems)
    if key in failed:
        return _error_run(f"flag {key!r} does not compile: {failed[key]}"), env.infos.get(key)
    return env.runs[key], env.infos.get(key)


def _problems_of(sources: _Sources, clock: Clock | None
                 ) -> tuple[list[Problem], list[Problem], tuple[str, ...]]:
    """(errors, warnings, features used) of an eager compilation of the document
    ``sources`` holds."""
    doc = _unmarshal(sources.top)
    doc["flags"] = {key: _unmarshal(raw) for key, raw in sources.flags.items()}
    problems = Problems(lenient=True)  # lazy loads are readers' (strict=False) loads
    try:
        with paused_gc():
            _compile(doc, problems, clock)
    except CompileError:
        pass  # cannot happen: the load compiled the same document; its problems are kept
    return list(problems.errors), list(problems.warnings), tuple(sorted(problems.features))


def _unmarshal(data: bytes) -> Any:
    # Only ever bytes this process made with marshal.dumps (_sources), never input.
    return marshal.loads(data)  # noqa: S302  # nosec B302


def _no_shape(key: str) -> _Shape | None:
    """After a lazy load: no deferred flag has prerequisites, so no shape is ever asked."""
    return None


def _forget(problems: Problems) -> None:
    """Empty ``problems``: a lazy environment reports its problems on demand (_lazy.py)."""
    problems.errors.clear()
    problems.warnings.clear()
    problems.attributes.clear()
    problems.notes.clear()


def _read_top(
    doc: object, problems: Problems, fresh: Fresh,
) -> tuple[Mapping[str, Any], Mapping[str, Any], dict[str, Any]]:
    """Check the document's top-level fields; return its flags, segments and metadata.

    Raises CompileError when the document cannot be compiled at all (not an object, or no
    ``flags`` object); every other problem is only reported.
    """
    if not isinstance(doc, Mapping):
        problems.error("", f"the document must be an object, got {type_name(doc)}", "type")
        raise CompileError(problems.errors, problems.warnings)
    check_fields(doc, "", _TOP_FIELDS, ("flags",), problems)
    metadata = {fresh.text(k): fresh.scalar(v) for k, v in doc.items()
                if k in _TOP_FIELDS and k not in ("flags", "segments", "features")}
    _check_features(doc, problems)
    fmt = doc.get("format")
    if fmt is not None and (fmt != FORMAT_VERSION or isinstance(fmt, bool)):
        problems.error("format", f"unsupported format {fmt!r} (this engine reads {FORMAT_VERSION})",
                       "format")
    for name in ("project", "environment"):
        get_str(doc, name, "", problems, pattern=KEY_RE)
    for name in ("generated_at", "engine", "audit_head", "scope"):
        get_str(doc, name, "", problems)
    get_int(doc, "revision", "", problems)
    flags = doc.get("flags")
    if not isinstance(flags, Mapping):
        if "flags" in doc:
            problems.error("flags", f"must be an object, got {type_name(flags)}", "type")
        raise CompileError(problems.errors, problems.warnings)
    return flags, get_mapping(doc, "segments", "", problems) or {}, metadata


def _check_features(doc: Mapping[str, Any], problems: Problems) -> None:
    """The document's ``features``: a name this engine does not know is reported once.

    A reader (lenient) warns and carries on: whatever uses the unknown feature degrades
    where it is met. A writer (strict) refuses it: no publisher writes a name it does not
    know.
    """
    for i, name in enumerate(get_str_list(doc, "features", "", problems)):
        if name not in KNOWN_FEATURES:
            report = problems.warn if problems.lenient else problems.error
            report(f"features[{i}]", f"engine feature {name!r} is not known to this reader "
                   f"(engine {ENGINE_VERSION}): what uses it is evaluated as far as "
                   "this engine can", "unknown_feature")


def _noted(run: Run, notes: list[str]) -> Run:
    """``run``, or, when clauses of the flag were degraded, a run whose details say why."""
    if not notes:
        return run
    return Noted(run, "; ".join(dict.fromkeys(notes)), {}).run


def _shapes(flags: Mapping[str, Any]) -> Callable[[str], _Shape | None]:
    """``shape_of(key)``: the shape of flag ``key`` (None if there is no such flag).

    On demand, for prerequisites only: computed for every flag up front they were 2.7 MB
    (10,000 flags) of objects living through the whole compilation.
    """
    shapes: dict[str, _Shape | None] = {}

    def shape_of(key: str) -> _Shape | None:
        if key not in shapes:
            shapes[key] = _shape(flags[key]) if key in flags else None
        return shapes[key]

    return shape_of


_Shape = tuple[frozenset[str], bool]


def _shape(raw: object) -> _Shape | None:
    """(variation names, enabled) of a flag, read before compiling (for prerequisites)."""
    if not isinstance(raw, Mapping):
        return None
    variations = raw.get("variations")
    names = frozenset(k for k in variations if isinstance(k, str)) if isinstance(
        variations, Mapping) else frozenset()
    return names, raw.get("enabled", ENABLED_DEFAULT) is True


def _error_run(message: str) -> Run:
    return Constant(EvaluationDetail(USE_DEFAULT, None, Reason.ERROR, ErrorCode.PARSE_ERROR,
                                     message)).run


def _const(detail: EvaluationDetail, constants: dict[int, Run]) -> Run:
    """The run serving ``detail``; flags serving the same (shared) detail share it."""
    run = constants.get(id(detail))  # the run keeps `detail` alive: its id stays unique
    if run is None:
        run = constants[id(detail)] = Constant(detail).run
    return run


def _check_kind_value(kind: str | None, value: object) -> str | None:
    if kind == "boolean" and value is not True and value is not False:
        return f"a boolean flag's variation must be true or false, got {type_name(value)}"
    if kind == "string" and not isinstance(value, str):
        return f"a string flag's variation must be a string, got {type_name(value)}"
    if kind == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
        return f"a number flag's variation must be a number, got {type_name(value)}"
    return json_problem(value)


@dataclass(slots=True, eq=False)
class _Compilation:
    """What the flags of one compilation share."""

    problems: Problems
    fresh: Fresh
    clock: Clock | None
    segments: SegmentCompiler
    shape_of: Callable[[str], _Shape | None]
    flag_keys: Collection[Any] = ()  # every flag key of the document (for suggestions)
    runs: dict[str, Run] = field(default_factory=dict)  # read by prerequisites at evaluation
    infos: dict[str, FlagInfo] = field(default_factory=dict)
    constants: dict[int, Run] = field(default_factory=dict)  # id(detail) -> the run serving it


@dataclass(slots=True, eq=False)  # not frozen: a frozen __init__ costs 0.9 µs, this 0.2 µs
class _Definition:
    """A flag's checked definition: what the rest of the flag is compiled against."""

    variations: dict[str, Any]  # the valid variations, values copied (see _fresh.py)
    raw_variations: Mapping[str, Any]  # as written: names the definition already reported
    metadata: Mapping[str, MetadataValue]
    info: FlagInfo


class _Prerequisites(NamedTuple):
    """A flag's checked prerequisites."""

    pairs: list[tuple[str, str | PrerequisiteTest]]  # (flag, variation it must serve/test)
    always_fail: bool  # a prerequisite flag is disabled
    edges: list[tuple[int, str]]  # (index, flag) of every known flag named, for the graph


_Target = tuple[str, dict[str, EvaluationDetail]]  # (context kind, key -> detail)
_Rule = tuple[Match, EvaluationDetail | None, Serve | None]  # (condition, fixed hit, rollout)


def _compile_flag(
    key: str, raw: object, env: _Compilation,
) -> tuple[Run | None, FlagInfo | None, list[tuple[int, str]]]:
    """Compile one flag in the spec's order: definition, prerequisites, targets, rules, default.

    Returns its run (None if it cannot serve), its info (None if it is not an object) and
    its prerequisite edges; every problem is reported to ``env.problems``.
    """
    path = f"flags.{key}"
    problems = env.problems
    if not KEY_RE.match(key):
        problems.error(path, f"flag key {key!r} does not match {KEY_RE.pattern}", "invalid_key")
    if not isinstance(raw, Mapping):
        problems.error(path, f"a flag must be an object, got {type_name(raw)}", "type")
        return None, None, []
    check_fields(raw, path, _FLAG_FIELDS, ("kind", "variations"), problems)
    flag = _FlagCompiler(key, path, env, _definition(raw, path, problems, env.fresh))
    enabled = get_bool(raw, "enabled", path, problems, ENABLED_DEFAULT)
    off_name = flag.variation(raw, "off_variation", path)
    prereqs = flag.prerequisites(raw)
    targets = flag.targets(raw)
    rules, unconditional_at = flag.rules(raw)
    has_targeting = bool(prereqs.pairs or targets or rules or prereqs.edges)
    default_run, default_detail = flag.default(raw, has_targeting, unconditional_at)
    flag.report_unused_variations()
    info = flag.definition.info
    if default_run is None:
        return None, info, prereqs.edges
    if not enabled or prereqs.always_fail:
        return _const(flag.off_detail(off_name), env.constants), info, prereqs.edges
    off_detail = flag.off_detail(off_name) if prereqs.pairs else None
    return _flag_run(env.runs, tuple(prereqs.pairs), tuple(targets), tuple(rules), default_run,
                     default_detail, off_detail), info, prereqs.edges


def _definition(raw: Mapping[str, Any], path: str, problems: Problems,
                fresh: Fresh) -> _Definition:
    """Check a flag's kind, variations (against the kind and schema) and descriptive fields."""
    kind = get_str(raw, "kind", path, problems)
    if kind is not None and kind not in _KINDS:
        problems.error(f"{path}.kind", f"must be one of {', '.join(_KINDS)}, got {kind!r}",
                       "invalid_kind")
        kind = None
    if kind is not None:
        kind = fresh.text(kind)
    raw_variations = get_mapping(raw, "variations", path, problems) or {}
    variations = _variations(raw_variations, kind, path, problems, fresh)
    if "variations" in raw and not raw_variations and isinstance(raw.get("variations"), Mapping):
        problems.error(f"{path}.variations", "a flag needs at least one variation", "empty")
    if "schema" in raw:
        _check_schema(raw.get("schema"), kind, variations, path, problems)
    description = get_str(raw, "description", path, problems)
    tags = fresh.texts(get_str_list(raw, "tags", path, problems))
    client_visible = get_bool(raw, "client_visible", path, problems, False)
    version = get_int(raw, "version", path, problems)
    get_bool(raw, "deprecated", path, problems, False)
    metadata = fresh.metadata(_metadata(raw, path, problems))
    info = FlagInfo(kind or "", tags, client_visible,
                    None if version is None else fresh.integer(version),
                    None if description is None else fresh.copy(description))
    return _Definition(variations, raw_variations, metadata, info)


def _variations(raw_variations: Mapping[str, Any], kind: str | None, path: str,
                problems: Problems, fresh: Fresh) -> dict[str, Any]:
    """The variations with a valid name and a value of the flag's kind (copied)."""
    variations: dict[str, Any] = {}
    for name, value in raw_variations.items():
        where = f"{path}.variations.{name}"
        if not isinstance(name, str) or not VARIANT_RE.match(name):
            problems.error(where, f"variation name {name!r} does not match {VARIANT_RE.pattern}",
                           "invalid_variation_name")
            continue
        problem = _check_kind_value(kind, value)
        if problem is not None:
            problems.error(where, problem, "variation_type")
            continue
        # (booleans need no copy: True and False are the only two of them)
        variations[fresh.text(name)] = (value if value is True or value is False
                                        else fresh.json(value))
    return variations


class _FlagCompiler:
    """The steps of one flag after its definition, each reporting its own problems."""

    __slots__ = ("definition", "env", "fresh", "key", "path", "problems", "served")

    def __init__(self, key: str, path: str, env: _Compilation, definition: _Definition) -> None:
        self.key = key
        self.path = path
        self.env = env
        self.problems = env.problems
        self.fresh = env.fresh
        self.definition = definition
        self.served: set[str] = set()  # variations some path serves (the unused-variation lint)

    def variation(self, obj: Mapping[str, Any], name: str, where: str) -> str | None:
        """The valid variation ``obj[name]`` refers to (now counted as served), else None.

        Reports a name the flag does not define; a name it defines but that is invalid was
        already reported by the definition.
        """
        wanted = get_str(obj, name, where, self.problems)
        if wanted is None:
            return None
        if wanted in self.definition.variations:
            self.served.add(wanted)
            return wanted
        if wanted not in self.definition.raw_variations:
            hint = did_you_mean(wanted, self.definition.raw_variations)
            self.problems.error(f"{where}.{name}", f"unknown variation {wanted!r}{hint}",
                                "unknown_variation")
        return None

    def detail(self, name: str, reason: Reason, index: int | None = None,
               rule_id: str | None = None) -> EvaluationDetail:
        """The prebuilt detail serving variation ``name`` (shared where equal: _fresh.py)."""
        d = self.definition
        return self.fresh.detail(d.variations.get(name), name, reason, index, rule_id,
                                     d.metadata)

    def off_detail(self, off_name: str | None) -> EvaluationDetail:
        """What the flag serves when disabled: the off variation, else the caller's default."""
        if off_name is not None:
            return self.detail(off_name, Reason.DISABLED)
        return self.fresh.detail(USE_DEFAULT, None, Reason.DISABLED,
                                     flag_metadata=self.definition.metadata)

    def prerequisites(self, raw: Mapping[str, Any]) -> _Prerequisites:
        """Check ``prerequisites``: known flags, variations they define, enabled ones."""
        problems = self.problems
        pairs: list[tuple[str, str | PrerequisiteTest]] = []
        edges: list[tuple[int, str]] = []
        always_fail = False
        for i, item in enumerate(get_list(raw, "prerequisites", self.path, problems)):
            where = f"{self.path}.prerequisites[{i}]"
            if not is_object(item, where, problems, _PREREQ_FIELDS, ("flag",)):
                continue
            if not any(form in item for form in _PREREQ_FORMS):
                problems.error(f"{where}.variation", "is required", "required")
            other = get_str(item, "flag", where, problems)
            form = self._prerequisite_form(item, where)
            if other is None or form is None:
                continue
            shape = self.env.shape_of(other)
            if shape is None:
                problems.error(f"{where}.flag",
                               f"unknown flag {other!r}{did_you_mean(other, self.env.flag_keys)}",
                               "unknown_flag")
                continue
            edges.append((i, other))
            names, other_enabled = shape
            wanted, negate = form
            if not self._known_variations(other, names, item, where):
                continue
            if not other_enabled:
                # LaunchDarkly's rule: a prerequisite that is off serves no variation that
                # counts, whatever it serves; "off" holds. Either way it is decided now.
                holds = (wanted is None) is not negate
                problems.warn(where, f"flag {other!r} is disabled: this prerequisite always "
                              f"{'holds' if holds else 'fails'}", "prerequisite_disabled")
                if holds:
                    continue
                always_fail = True
            test: str | PrerequisiteTest
            if wanted is not None and len(wanted) == 1 and not negate:
                test = self.fresh.text(wanted[0])  # today's form: the fastest check
            else:
                test = PrerequisiteTest(
                    None if wanted is None else frozenset(map(self.fresh.text, wanted)), negate)
            pairs.append((self.fresh.text(other), test))
        return _Prerequisites(pairs, always_fail, edges)

    def _prerequisite_form(self, item: Mapping[str, Any], where: str,
                           ) -> tuple[tuple[str, ...] | None, bool] | None:
        """(variations any of which must be served — None for ``off`` —, negate), or None
        when the prerequisite says neither (reported)."""
        problems = self.problems
        negate = get_bool(item, "negate", where, problems, False)
        off = get_bool(item, "off", where, problems, False)
        for name, feature in (("variations", "prerequisite_any_of"), ("off", "prerequisite_off"),
                              ("negate", "prerequisite_negate")):
            if name in item:
                problems.features.add(feature)
        forms = [form for form in _PREREQ_FORMS if form in item]
        if len(forms) > 1 or ("off" in item and not off):
            problems.error(where, "needs exactly one of 'variation', 'variations' or "
                           "'off': true", "prerequisite")
            return None
        if off:
            return None, negate
        if "variation" in item:
            wanted = get_str(item, "variation", where, problems)
            return None if wanted is None else ((wanted,), negate)
        if "variations" not in item:
            return None
        names = tuple(get_str_list(item, "variations", where, problems))
        if not names and isinstance(item.get("variations"), list):
            problems.error(f"{where}.variations", "needs at least one variation", "empty")
            return None
        return (names, negate) if names else None

    def _known_variations(self, other: str, names: frozenset[str], item: Mapping[str, Any],
                          where: str) -> bool:
        """Does flag ``other`` define every variation the prerequisite names? (reported)"""
        ok = True
        named = item.get("variations")
        listed = ([(f"{where}.variation", item.get("variation"))] if "variation" in item else
                  [(f"{where}.variations[{j}]", v) for j, v in enumerate(named)]
                  if isinstance(named, list) else [])
        for at, wanted in listed:
            if isinstance(wanted, str) and wanted not in names:
                problems = self.problems
                problems.error(at, f"flag {other!r} has no variation {wanted!r}"
                               f"{did_you_mean(wanted, names)}", "unknown_variation")
                ok = False
        return ok

    def targets(self, raw: Mapping[str, Any]) -> list[_Target]:
        """``targets`` as one key table per context kind; the first target of a key wins."""
        problems = self.problems
        targets: list[_Target] = []
        seen_targets: dict[str, set[str]] = {}
        for i, item in enumerate(get_list(raw, "targets", self.path, problems)):
            where = f"{self.path}.targets[{i}]"
            if not is_object(item, where, problems, _TARGET_FIELDS, ("values", "variation")):
                continue
            kind = get_str(item, "context_kind", where, problems, pattern=KIND_RE) or "user"
            name = self.variation(item, "variation", where)
            keys = get_str_list(item, "values", where, problems)
            if name is None:
                continue
            hit = self.detail(name, Reason.TARGETING_MATCH)
            table = self._target_table(keys, seen_targets.setdefault(kind, set()), hit, where)
            # Targets are tried in list order (a multi-kind context can match several, and
            # the first listed wins, as in LaunchDarkly); only neighbours of one kind merge.
            # Within a kind the first target of a key wins: earlier keys were skipped.
            if targets and targets[-1][0] == kind:
                targets[-1][1].update(table)
            else:
                targets.append((self.fresh.text(kind), table))
        return targets

    def _target_table(self, keys: list[str], seen: set[str], hit: EvaluationDetail,
                      where: str) -> dict[str, EvaluationDetail]:
        """One target's key table; a key ``seen`` in an earlier target of the kind is a lint."""
        table = {}
        for j, k in enumerate(keys):
            if k in seen:
                self.problems.warn(f"{where}.values[{j}]",
                                       f"key {k!r} is already targeted by an earlier target",
                                       "duplicate_target")
                continue
            seen.add(k)
            table[self.fresh.copy(k)] = hit
        return table

    def rules(self, raw: Mapping[str, Any]) -> tuple[list[_Rule], int | None]:
        """The compiled ``rules``, and the index of the first rule matching every context."""
        problems = self.problems
        segments = self.env.segments
        rules: list[_Rule] = []
        rule_ids: set[str] = set()
        unconditional_at: int | None = None
        for i, item in enumerate(get_list(raw, "rules", self.path, problems)):
            where = f"{self.path}.rules[{i}]"
            if not is_object(item, where, problems, _RULE_FIELDS, ("serve",)):
                continue
            rule_id = get_str(item, "id", where, problems, max_length=256)
            if rule_id is not None:
                if rule_id in rule_ids:
                    problems.error(f"{where}.id", f"duplicate rule id {rule_id!r}",
                                   "duplicate_id")
                rule_ids.add(rule_id)
            get_str(item, "description", where, problems)
            if unconditional_at is not None:
                problems.warn(where, f"unreachable: rule {unconditional_at} above matches every "
                              "context", "unreachable_rule")
            cond, unconditional = compile_conditions(item.get("clauses"), f"{where}.clauses",
                                                     problems, segments.resolve, self.fresh,
                                                     segments.clause_cache, self.env.clock)
            fixed, rollout = self.serve(item.get("serve"), f"{where}.serve")
            # A rollout with gaps (or missing: skip) lets some contexts through to what follows.
            if unconditional and unconditional_at is None and (
                    rollout is None or rollout.always_serves()):
                unconditional_at = i
            if fixed is not None:
                rules.append((cond, self.detail(fixed, Reason.TARGETING_MATCH, i, rule_id), None))
            elif rollout is not None:
                # A gap in a rule's rollout serves None: the flag tries the next rule.
                rules.append((cond, None, self.rollout(rollout, f"{where}.serve", None, i,
                                                       rule_id)))
        return rules, unconditional_at

    def default(self, raw: Mapping[str, Any], has_targeting: bool, unconditional_at: int | None,
                ) -> tuple[Run | None, EvaluationDetail | None]:
        """The run serving ``default`` (None if it cannot serve), and its detail if fixed."""
        where = f"{self.path}.default"
        if "default" not in raw:
            # flagd's "no defaultVariant": the caller's default, reason DEFAULT.
            self.problems.features.add("optional_default")
            detail = self.fresh.detail(USE_DEFAULT, None, Reason.DEFAULT,
                                       flag_metadata=self.definition.metadata)
            return _const(detail, self.env.constants), detail
        if unconditional_at is not None:
            self.problems.warn(where, f"unreachable: rule {unconditional_at} matches every "
                                   "context", "unreachable_default")
        fixed, rollout = self.serve(raw.get("default"), where)
        if fixed is not None:
            detail = self.detail(fixed, Reason.DEFAULT if has_targeting else Reason.STATIC)
            return _const(detail, self.env.constants), detail
        if rollout is not None:
            # A gap in the default serves the caller's default: the run always returns a
            # detail, so it is a Run.
            gap = self.fresh.detail(USE_DEFAULT, None, Reason.DEFAULT,
                                    flag_metadata=self.definition.metadata)
            return cast(Run, self.rollout(rollout, where, gap)), None
        return None, None

    def serve(self, raw: object, where: str) -> tuple[str | None, RolloutPlan | None]:
        """Parse ``{"variation": name}`` or ``{"rollout": ROLLOUT}``."""
        problems = self.problems
        if not isinstance(raw, Mapping):
            problems.error(where, f"must be an object, got {type_name(raw)}", "type")
            return None, None
        check_fields(raw, where, _SERVE_FIELDS, (), problems)
        if ("variation" in raw) == ("rollout" in raw):
            problems.error(where, "needs exactly one of 'variation' or 'rollout'", "serve")
            return None, None
        if "variation" in raw:
            return self.variation(raw, "variation", where), None
        problems.features.update(rollout_features(raw.get("rollout")))
        plan = parse_rollout(raw.get("rollout"), f"{where}.rollout", self.key,
                             self.definition.variations, problems, self.fresh)
        if plan is not None:
            self.served.update(plan.served())
            # Weights summing below the total leave the rest of the buckets to the last
            # entry: a variation there is served even with weight 0.
            last, total = plan.variations[-1], plan.bucketing.buckets
            if last is not None and any(sum(weights) < total for weights in (
                    plan.weights, *(step for _, step in plan.steps))):
                self.served.add(last)
        return None, plan

    def rollout(self, plan: RolloutPlan, where: str, gap: EvaluationDetail | None,
                index: int | None = None, rule_id: str | None = None) -> Serve:
        """The run of a rollout served at ``where`` (a schedule without a clock is a lint).

        ``gap``: what a context the rollout does not serve gets (a gap, ``missing: skip``).
        """
        fresh = self.fresh
        # Only the variations the rollout names: a detail costs a microsecond to build.
        details = {n: self.detail(n, Reason.SPLIT, index, rule_id)
                   for n in plan.variations if n is not None}
        # The message does not name the flag (the caller knows which one it asked for), so
        # flags with equal metadata share this detail.
        missing_key = fresh.error(ErrorCode.TARGETING_KEY_MISSING, _NO_TARGETING_KEY,
                                  self.definition.metadata)
        run = build_rollout(plan, details, missing_key, gap, self.env.clock, fresh)
        if plan.steps and self.env.clock is None:
            self.problems.warn(f"{where}.rollout.schedule",
                                   "no clock given to the compiler: the schedule is ignored",
                                   "no_clock")
        return run

    def report_unused_variations(self) -> None:
        """Warn about every valid variation no path serves."""
        d = self.definition
        for name in d.raw_variations:
            if isinstance(name, str) and name in d.variations and name not in self.served:
                self.problems.warn(f"{self.path}.variations.{name}",
                                       "no path serves this variation", "unused_variation")


def _flag_run(
    runs: Mapping[str, Run], prereqs: tuple[tuple[str, str | PrerequisiteTest], ...],
    targets: tuple[tuple[str, dict[str, EvaluationDetail]], ...],
    rules: tuple[tuple[Callable[[Kinds], bool], EvaluationDetail | None, Serve | None], ...],
    default_run: Run, fixed_default: EvaluationDetail | None,
    off_detail: EvaluationDetail | None,
) -> Run:
    """The cheapest shape (see _runs.py) that evaluates this flag."""
    if not (prereqs or targets or rules):
        return default_run
    if not (prereqs or targets) and fixed_default is not None and all(
        rollout is None for _, _, rollout in rules
    ):
        fixed = tuple((cond, hit) for cond, hit, _ in rules if hit is not None)
        if len(fixed) == 1:
            ((cond, hit),) = fixed
            return OneRule(cond, hit, fixed_default).run
        return FixedRules(fixed, fixed_default).run
    return Flag(runs, prereqs, targets, rules, default_run, off_detail).run




def _metadata(raw: Mapping[str, Any], path: str, problems: Problems) -> dict[str, MetadataValue]:
    """The valid entries of a flag's ``metadata`` (Fresh.metadata copies and shares them)."""
    meta = get_mapping(raw, "metadata", path, problems)
    if not meta:
        return {}
    out: dict[str, MetadataValue] = {}
    for name, value in meta.items():
        if isinstance(value, str | bool | int | float) and json_problem(value) is None:
            out[str(name)] = value
        else:
            problems.error(f"{path}.metadata.{name}",
                           f"metadata values must be strings, numbers or booleans, "
                           f"got {type_name(value)}", "type")
    return out


def _check_schema(schema: object, kind: str | None, variations: Mapping[str, Any], path: str,
                  problems: Problems) -> None:
    where = f"{path}.schema"
    if kind != "json":
        problems.error(where, "only json flags carry a schema", "schema_kind")
        return
    if not isinstance(schema, Mapping | bool):
        problems.error(where, f"must be a JSON Schema object, got {type_name(schema)}", "type")
        return
    problem = json_problem(schema)
    if problem is not None:
        problems.error(where, problem, "type")
        return
    # Imported here: only json flags with a schema pay for jsonschema.
    import jsonschema  # noqa: PLC0415
    from jsonschema.exceptions import SchemaError  # noqa: PLC0415

    try:
        validator_cls = jsonschema.validators.validator_for(schema)
        validator_cls.check_schema(schema)  # type: ignore[arg-type]
        validator = validator_cls(schema)
    except SchemaError as exc:
        problems.error(where, f"not a valid JSON Schema: {exc.message}", "invalid_schema")
        return
    for name, value in variations.items():
        # A schema might recurse or use formats; errors here are reported, never raised.
        try:
            errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
        except Exception as exc:
            problems.error(f"{path}.variations.{name}", f"schema check failed: {exc}", "schema")
            continue
        if errors:
            first = errors[0]
            at = "".join(f"[{p!r}]" for p in first.path)
            problems.error(f"{path}.variations.{name}",
                           f"does not satisfy the flag's schema{(' at ' + at) if at else ''}: "
                           f"{first.message}", "schema")


def _check_prerequisite_graph(
    edges: Mapping[str, list[tuple[int, str]]], problems: Problems,
) -> set[str]:
    """Report prerequisite cycles and over-deep chains; return the flags that are affected."""
    bad: set[str] = set()
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    depth: dict[str, int] = {}
    stack: list[str] = []

    def visit(key: str) -> int:
        if len(stack) > MAX_PREREQUISITE_DEPTH:  # stop descending: bounded recursion
            problems.error(f"flags.{key}.prerequisites",
                           f"prerequisite chain deeper than {MAX_PREREQUISITE_DEPTH}",
                           "prerequisite_depth")
            bad.add(key)
            state[key] = 2
            depth[key] = MAX_PREREQUISITE_DEPTH + 1
            return depth[key]
        state[key] = 1
        stack.append(key)
        deepest = 0
        for index, other in edges.get(key, []):
            if state.get(other) == 1:
                cycle = [*stack[stack.index(other):], other]
                problems.error(f"flags.{key}.prerequisites[{index}]",
                               "prerequisite cycle: " + " -> ".join(cycle), "prerequisite_cycle")
                bad.update(cycle)
                continue
            if state.get(other) != 2:
                visit(other)
            deepest = max(deepest, depth.get(other, 0) + 1)
        stack.pop()
        state[key] = 2
        depth[key] = deepest
        if deepest > MAX_PREREQUISITE_DEPTH:
            if key not in bad:
                problems.error(f"flags.{key}.prerequisites",
                               f"prerequisite chain deeper than {MAX_PREREQUISITE_DEPTH}",
                               "prerequisite_depth")
            bad.add(key)
        return deepest

    for key in edges:
        if state.get(key) is None:
            visit(key)
    return bad


__all__ = ["ENGINE_VERSION", "FORMAT_VERSION", "CompileError", "Problem", "compile_environment"]
