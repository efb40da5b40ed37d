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

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ._clauses import SegmentCompiler, compile_conditions, lint_attributes
from ._fresh import Fresh
from ._gc import paused_gc
from ._rollout import Clock, RolloutPlan, build_rollout, parse_rollout
from ._runs import Constant, FixedRules, Flag, Match, OneRule
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
from .fields import ENABLED_DEFAULT, FLAG_DOCUMENT_FIELDS
from .lists import guard_runs

ENGINE_VERSION = "1"
FORMAT_VERSION = 1
MAX_PREREQUISITE_DEPTH = 32

_TOP_FIELDS = frozenset({"format", "project", "environment", "revision", "generated_at", "engine",
                         "audit_head", "scope", "flags", "segments"})
_FLAG_FIELDS = FLAG_DOCUMENT_FIELDS
_KINDS = ("boolean", "string", "number", "json")
_PREREQ_FIELDS = frozenset({"flag", "variation"})
_TARGET_FIELDS = frozenset({"context_kind", "values", "variation"})
_RULE_FIELDS = frozenset({"id", "description", "clauses", "serve"})
_SERVE_FIELDS = frozenset({"variation", "rollout"})
_NO_TARGETING_KEY = "the flag buckets by targeting key and the context has none"


def compile_environment(
    doc: object, *, strict: bool = True, clock: Clock | None = None,
) -> CompiledEnvironment:
    """Compile an environment document.

    Promises: the only exception raised, whatever ``doc`` holds, is :class:`CompileError`.
    With ``strict=True`` it is raised when any error exists (listing all of them, with
    paths). With ``strict=False`` it is raised only when the document itself is unusable
    (not an object, no ``flags`` object); a broken flag or segment makes only the flags
    depending on it serve the caller's default with reason ERROR / PARSE_ERROR.
    ``clock`` (seconds since the epoch, e.g. ``time.time``) drives scheduled ramps; the
    engine never reads the wall clock itself. Without a clock, ramps serve their base weights.
    """
    problems = Problems()
    try:
        with paused_gc():
            env = _compile(doc, problems, clock)
    except CompileError:
        raise
    except Exception as exc:  # a safety net: surprises become a compile error, never a crash
        problems.error("", f"internal compiler error: {type(exc).__name__}: {exc}", "internal")
        raise CompileError(problems.errors, problems.warnings) from exc
    if strict and problems.errors:
        raise CompileError(problems.errors, problems.warnings)
    return env


def _compile(doc: object, problems: Problems, clock: Clock | None) -> CompiledEnvironment:
    # Everything kept past compilation is copied out of the document: see _fresh.py.
    fresh = Fresh()
    flags, raw_segments, metadata = _read_top(doc, problems, fresh)
    segments = SegmentCompiler(raw_segments, problems, fresh)
    segments.compile_all()
    env = _Compilation(problems, fresh, clock, segments, _shapes(flags), flags.keys())
    failed: dict[str, str] = {}
    edges: dict[str, list[tuple[int, str]]] = {}
    for raw_key, raw in flags.items():
        if not isinstance(raw_key, str):
            problems.error("flags", f"flag keys must be strings, got {raw_key!r}", "type")
            continue
        key = fresh.copy(raw_key)  # unique: not worth a place in the sharing table
        before = len(problems.errors)
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
            env.runs[key] = run
        if info is not None:
            env.infos[key] = info
    lint_attributes(problems)
    for key in _check_prerequisite_graph(edges, problems):
        failed.setdefault(key, "prerequisite cycle")
    for key, message in failed.items():
        env.runs[key] = _error_run(f"flag {key!r} does not compile: {message}")
    guard_runs(env.runs, flags, raw_segments, segments.list_slots)  # list segments: lists.py
    return CompiledEnvironment(env.runs, env.infos, list(problems.errors),
                               list(problems.warnings), metadata, lists=segments.list_slots)


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
                if k in _TOP_FIELDS and k not in ("flags", "segments")}
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

    pairs: list[tuple[str, str]]  # (flag, variation it must serve)
    always_fail: bool  # a prerequisite flag is disabled
    edges: list[tuple[int, str]]  # (index, flag) of every known flag named, for the graph


_Target = tuple[str, dict[str, EvaluationDetail]]  # (context kind, key -> detail)
_Rule = tuple[Match, EvaluationDetail | None, Run | None]  # (condition, fixed hit, rollout)


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
    check_fields(raw, path, _FLAG_FIELDS, ("kind", "variations", "default"), problems)
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
        pairs: list[tuple[str, str]] = []
        edges: list[tuple[int, str]] = []
        always_fail = False
        for i, item in enumerate(get_list(raw, "prerequisites", self.path, problems)):
            where = f"{self.path}.prerequisites[{i}]"
            if not is_object(item, where, problems, _PREREQ_FIELDS, ("flag", "variation")):
                continue
            other = get_str(item, "flag", where, problems)
            wanted = get_str(item, "variation", where, problems)
            if other is None or wanted is None:
                continue
            shape = self.env.shape_of(other)
            if shape is None:
                problems.error(f"{where}.flag",
                               f"unknown flag {other!r}{did_you_mean(other, self.env.flag_keys)}",
                               "unknown_flag")
                continue
            edges.append((i, other))
            names, other_enabled = shape
            if wanted not in names:
                problems.error(f"{where}.variation",
                               f"flag {other!r} has no variation {wanted!r}"
                               f"{did_you_mean(wanted, names)}", "unknown_variation")
                continue
            if not other_enabled:
                # LaunchDarkly's rule: a prerequisite that is off fails, whatever it serves.
                problems.warn(where, f"flag {other!r} is disabled: this prerequisite always "
                              "fails", "prerequisite_disabled")
                always_fail = True
            pairs.append((self.fresh.text(other), self.fresh.text(wanted)))
        return _Prerequisites(pairs, always_fail, edges)

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
            for existing_kind, existing in targets:
                if existing_kind == kind:
                    existing.update(table)  # first target wins: earlier keys were skipped
                    break
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
                                                     segments.clause_cache)
            if unconditional and unconditional_at is None:
                unconditional_at = i
            fixed, rollout = self.serve(item.get("serve"), f"{where}.serve")
            if fixed is not None:
                rules.append((cond, self.detail(fixed, Reason.TARGETING_MATCH, i, rule_id), None))
            elif rollout is not None:
                rules.append((cond, None, self.rollout(rollout, f"{where}.serve", i, rule_id)))
        return rules, unconditional_at

    def default(self, raw: Mapping[str, Any], has_targeting: bool, unconditional_at: int | None,
                ) -> tuple[Run | None, EvaluationDetail | None]:
        """The run serving ``default`` (None if it cannot serve), and its detail if fixed."""
        where = f"{self.path}.default"
        if unconditional_at is not None:
            self.problems.warn(where, f"unreachable: rule {unconditional_at} matches every "
                                   "context", "unreachable_default")
        if "default" not in raw:
            return None, None
        fixed, rollout = self.serve(raw.get("default"), where)
        if fixed is not None:
            detail = self.detail(fixed, Reason.DEFAULT if has_targeting else Reason.STATIC)
            return _const(detail, self.env.constants), detail
        if rollout is not None:
            return self.rollout(rollout, where), None
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
        plan = parse_rollout(raw.get("rollout"), f"{where}.rollout", self.key,
                             self.definition.variations, problems, self.fresh)
        if plan is not None:
            self.served.update(plan.served())
        return None, plan

    def rollout(self, plan: RolloutPlan, where: str, index: int | None = None,
                rule_id: str | None = None) -> Run:
        """The run of a rollout served at ``where`` (a schedule without a clock is a lint)."""
        fresh = self.fresh
        # Only the variations the rollout names: a detail costs a microsecond to build.
        details = {n: self.detail(n, Reason.SPLIT, index, rule_id) for n in plan.variations}
        # The message does not name the flag (the caller knows which one it asked for), so
        # flags with equal metadata share this detail.
        missing_key = fresh.error(ErrorCode.TARGETING_KEY_MISSING, _NO_TARGETING_KEY,
                                  self.definition.metadata)
        run = build_rollout(plan, details, missing_key, self.env.clock, fresh)
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
    runs: Mapping[str, Run], prereqs: tuple[tuple[str, str], ...],
    targets: tuple[tuple[str, dict[str, EvaluationDetail]], ...],
    rules: tuple[tuple[Callable[[Kinds], bool], EvaluationDetail | None, Run | None], ...],
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
