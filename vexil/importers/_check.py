"""The last step every importer shares: the document must compile, and unfaithfulness spreads.

One owner for two rules:

* **Compiles or is reported.** The translated document is compiled with the engine's own
  strict compiler (what ``vexil plan``/``apply`` and the control plane use). A flag or
  segment with a compile error is replaced by a stand-in that compiles (a flag: off, same
  variations; a segment: empty) and reported ``faithful: False`` with the compiler's message,
  so an importer's output is always accepted and never silently wrong.
* **A flag is only as faithful as what it uses.** A flag that uses (directly or through
  other flags and segments) a segment, evaluator, saved group or prerequisite flag reported
  unfaithful gets its own ``faithful: False`` item naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge_reader.engine import CompileError, compile_environment
from vexil.importers._conversion import Conversion

_MAX_ROUNDS = 8


def finish(conv: Conversion, flag_keys: Mapping[str, str], segment_keys: Mapping[str, str],
           uses: Mapping[str, set[str]]) -> None:
    """Make ``conv.document`` compile (stand-ins for what does not, reported) and report every
    flag or segment that uses something unfaithful. ``uses`` maps a peer path
    (``flags.<key>``) to the peer paths it uses (``segments.<key>``, ``flags.<key>``...)."""
    _compile_or_stand_in(conv, flag_keys, segment_keys)
    _spread(conv, uses)


def _compile_or_stand_in(conv: Conversion, flag_keys: Mapping[str, str],
                         segment_keys: Mapping[str, str]) -> None:
    owners = {f"flags.{v}": f"flags.{k}" for k, v in flag_keys.items()}
    owners.update({f"segments.{v}": f"segments.{k}" for k, v in segment_keys.items()})
    # Longest first: keys may contain dots, so `flags.a.b` must not be read as `flags.a`.
    prefixes = sorted(owners, key=len, reverse=True)
    for _ in range(_MAX_ROUNDS):
        try:
            compile_environment(conv.document, strict=True)
            return
        except CompileError as exc:
            broken: dict[str, str] = {}
            for problem in exc.errors:
                prefix = next((p for p in prefixes if problem.path == p
                               or problem.path.startswith((p + ".", p + "["))), None)
                if prefix is None:
                    raise  # a document-level error is an importer bug: let it show
                broken.setdefault(prefix, f"{problem.path}: {problem.message}")
            for prefix, message in sorted(broken.items()):
                same = _stand_in(conv, prefix)
                conv.note(owners[prefix], f"does not compile in Vexil ({message}); imported "
                          "as a stand-in (a flag: off; a segment: empty)", faithful=same)
    compile_environment(conv.document, strict=True)  # still failing: raise for the bug report


def _stand_in(conv: Conversion, prefix: str) -> bool:
    """Replace the flag or segment at ``prefix`` by one that compiles; True when the stand-in
    serves exactly what the original would (a disabled flag keeps its variations and off
    variation, and a disabled flag serves nothing else)."""
    section, key = prefix.split(".", 1)
    items: dict[str, Any] = conv.document[section]
    if section == "segments":
        items[key] = {}
        return False
    flag = items[key]
    variations = flag.get("variations")
    same = flag.get("enabled") is False and isinstance(variations, dict) and bool(variations)
    if not isinstance(variations, dict) or not variations:
        variations = {"off": False}
    kind = flag.get("kind") if flag.get("kind") in ("boolean", "string", "number", "json") \
        else "json"
    items[key] = {"kind": kind, "variations": variations, "enabled": False,
                  "default": {"variation": next(iter(variations))}}
    if flag.get("off_variation") in variations:  # an off flag keeps serving what it served
        items[key]["off_variation"] = flag["off_variation"]
    return same


def _spread(conv: Conversion, uses: Mapping[str, set[str]]) -> None:
    bad = set(conv.unfaithful_paths)
    for path in sorted(uses):
        seen: set[str] = set()
        todo = list(uses[path])
        while todo:
            used = todo.pop()
            if used in seen or used == path:
                continue
            seen.add(used)
            todo.extend(uses.get(used, ()))
        for used in sorted(seen & bad):
            conv.note(path, f"uses {used}, which is not translated faithfully", faithful=False)
