"""Assemble an environment document from the table and compile it with the readers' engine.

Every flag/segment write is checked by building the document the publisher would build —
definitions + configurations + segments of that environment, with the change applied — and
compiling it strictly with ``edge_reader.engine.compile_environment``. So a write is
accepted only if every reader can load the resulting bundle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from chalicelib import keys
from chalicelib.errors import BadRequest, Detail
from chalicelib.repository import Item, Repository
from edge_reader.engine import (
    CompiledEnvironment,
    CompileError,
    Problem,
    compile_environment,
    fields,
)


@dataclass
class Versioned:
    """A stored JSON body and its version."""

    body: dict[str, Any]
    version: int
    updated_at: str = ""


@dataclass
class EnvState:
    """Everything of one environment that goes into its bundle."""

    project: str
    environment: str
    definitions: dict[str, Versioned] = field(default_factory=dict)
    configs: dict[str, Versioned] = field(default_factory=dict)
    segments: dict[str, Versioned] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        """The environment document as the publisher builds it (docs/data-model.md)."""
        flags = {
            key: fields.merge_flag(self.definitions[key].body, cfg.body, cfg.version)
            for key, cfg in self.configs.items()
            if key in self.definitions
        }
        segments = {
            key: fields.segment_document(seg.body, seg.version)
            for key, seg in self.segments.items()
        }
        return {
            "format": 1,
            "project": self.project,
            "environment": self.environment,
            "flags": flags,
            "segments": segments,
        }


def versioned(item: Item) -> Versioned:
    """Decode a stored item's ``body`` and ``version``."""
    return Versioned(
        orjson.loads(item["body"]), int(item["version"]), str(item.get("updated_at", ""))
    )


def load_definitions(repo: Repository, project: str) -> dict[str, Versioned]:
    """All flag definitions of a project, by flag key."""
    items, _ = repo.query(keys.project_pk(project), keys.FLAGDEF_SK_PREFIX)
    return {str(i["sk"])[len(keys.FLAGDEF_SK_PREFIX):]: versioned(i) for i in items}


def load_state(
    repo: Repository,
    project: str,
    environment: str,
    definitions: dict[str, Versioned] | None = None,
) -> EnvState:
    """Read an environment's definitions, configurations and segments."""
    defs = definitions if definitions is not None else load_definitions(repo, project)
    pk = keys.env_pk(project, environment)
    flag_items, _ = repo.query(pk, keys.FLAG_SK_PREFIX)
    seg_items, _ = repo.query(pk, keys.SEGMENT_SK_PREFIX)
    return EnvState(
        project,
        environment,
        dict(defs),
        {str(i["sk"])[len(keys.FLAG_SK_PREFIX):]: versioned(i) for i in flag_items},
        {str(i["sk"])[len(keys.SEGMENT_SK_PREFIX):]: versioned(i) for i in seg_items},
    )


def check(
    state: EnvState,
    *,
    focus: str | None,
    clock: Callable[[], float],
    label_environment: bool = False,
) -> CompiledEnvironment:
    """Compile the state strictly; raise :class:`BadRequest` listing every error, else
    return the compiled environment (its ``warnings`` are the linter's).

    ``focus`` (e.g. ``flags.checkout``) is the document path of the entity being written:
    errors under it are reported relative to the request body (``rules[2].clauses[0]``);
    other errors keep their document path, prefixed with ``environments.<env>.`` when
    ``label_environment`` (a definition write checks every environment).
    """
    try:
        return compile_environment(state.document(), strict=True, clock=clock)
    except CompileError as exc:
        raise BadRequest(
            "the change does not compile", details(exc.errors, state, focus, label_environment)
        ) from exc


def details(
    problems: list[Problem], state: EnvState, focus: str | None, label_environment: bool = False
) -> list[Detail]:
    """``problems`` as request details, paths relative to ``focus`` as :func:`check` says."""
    out: list[Detail] = []
    for problem in problems:
        path = problem.path
        if focus and not label_environment and path.startswith(focus + "."):
            path = path[len(focus) + 1:]
        elif focus and not label_environment and path == focus:
            path = "$"
        elif label_environment:
            path = f"environments.{state.environment}.{path}"
        out.append(Detail(path, problem.message))
    return out
