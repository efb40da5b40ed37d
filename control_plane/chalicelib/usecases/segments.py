"""Segments of an environment: read, create, replace, delete.

Each write is compiled strictly against the environment with the change applied (a delete
must leave no flag referring to the segment), turned into a change request in a protected
environment, and committed with the environment's revision bump and audit record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from chalicelib import keys
from chalicelib.audit import Chain, Entry
from chalicelib.canonical import canonical, iso
from chalicelib.envdoc import Versioned, check, load_state, versioned
from chalicelib.errors import Conflict, NotFound
from chalicelib.repository import Item, Step, delete, put
from chalicelib.requests import encode_cursor
from chalicelib.usecases import base
from chalicelib.usecases.base import Approved, Call, Ctx, NeedsApproval
from edge_reader.engine import fields


def segment_view(project: str, environment: str, segment: str, s: Versioned
                 ) -> dict[str, Any]:
    """Public form of a segment."""
    return {"key": segment, "project": project, "environment": environment, **s.body,
            "version": s.version, "updated_at": s.updated_at}


def get_segment(ctx: Ctx, project: str, environment: str, segment: str) -> dict[str, Any]:
    """One segment."""
    item = base.require_item(ctx, keys.env_pk(project, environment), keys.segment_sk(segment),
                             f"segment {segment!r} in {environment!r}")
    return segment_view(project, environment, segment, versioned(item))


def list_segments(ctx: Ctx, project: str, environment: str, query: Mapping[str, str],
                  limit: int, cursor: str | None) -> dict[str, Any]:
    """Page of segments (filters ``tag``, ``prefix``)."""
    base.environment_item(ctx, project, environment)
    tag = query.get("tag")
    items, last = ctx.repo.query(keys.env_pk(project, environment),
                                 keys.SEGMENT_SK_PREFIX + query.get("prefix", ""),
                                 limit=limit, start_sk=cursor)
    out = []
    for i in items:
        s = versioned(i)
        if tag is None or tag in s.body.get("tags", []):
            out.append(segment_view(project, environment, str(i["segment"]), s))
    return {"items": out, "next_cursor": encode_cursor(last)}


@dataclass(frozen=True)
class _Target:
    """The segment a write addresses, as read before the write."""

    project: str
    environment: str
    segment: str
    env: Item
    item: Item | None

    @property
    def what(self) -> str:
        return f"segment {self.segment!r} in {self.environment!r}"

    @property
    def key(self) -> tuple[str, str]:
        return keys.env_pk(self.project, self.environment), keys.segment_sk(self.segment)


def _read(ctx: Ctx, project: str, environment: str, segment: str,
          if_match: int | None) -> _Target:
    """The environment and the segment; 409 if creating one that exists, else 404/412."""
    env = base.environment_item(ctx, project, environment)
    target = _Target(project, environment, segment, env,
                     ctx.repo.get(keys.env_pk(project, environment), keys.segment_sk(segment)))
    if if_match is None and target.item is not None:
        raise Conflict(f"{target.what} already exists")
    if if_match is not None:
        if target.item is None:
            raise NotFound(f"{target.what} does not exist")
        base.match(target.item, if_match, target.what)
    return target


def _check(ctx: Ctx, t: _Target, content: dict[str, Any] | None, version: int,
           approved: Approved | None, operation: dict[str, Any]) -> None:
    """Compile the environment with the change; in a protected environment, unless
    applying an approved request, ask for approval of ``operation``."""
    state = load_state(ctx.repo, t.project, t.environment)
    if content is None:
        state.segments.pop(t.segment, None)
    else:
        state.segments[t.segment] = Versioned(content, version)
    check(state, focus=None if content is None else f"segments.{t.segment}", clock=ctx.now)
    if t.env.get("protected") and approved is None:
        raise NeedsApproval(t.project, t.environment, operation)


def _commit(ctx: Ctx, call: Call, t: _Target, step: Step, action: str,
            after: dict[str, Any] | None, approved: Approved | None, creating: bool,
            extra: tuple[Step, ...] = ()) -> None:
    def conflict() -> NoReturn:
        if approved:
            approved.check_cr()
        if creating:
            raise Conflict(f"{t.what} already exists")
        base.stale(ctx, *t.key, t.what)

    before = versioned(t.item).body if t.item else None
    base.commit(ctx, call, steps=[step, *extra, *([approved.step] if approved else [])],
                bump=[(t.project, t.environment)], on_conflict=conflict,
                entries=[Entry(Chain.for_environment(t.project, t.environment), action,
                               f"projects/{t.project}/environments/{t.environment}/segments/"
                               f"{t.segment}", before, after)])


def _item(ctx: Ctx, t: _Target, content: dict[str, Any], version: int) -> dict[str, Any]:
    pk, sk = t.key
    return {"pk": pk, "sk": sk, "segment": t.segment, "body": canonical(content),
            "version": version, "updated_at": iso(ctx.now())}


def create_segment(ctx: Ctx, call: Call, project: str, environment: str, segment: str,
                   body: Mapping[str, Any], approved: Approved | None = None
                   ) -> dict[str, Any]:
    """Create a segment (409 if it exists)."""
    t = _read(ctx, project, environment, segment, None)
    content = base.pick(body, fields.SEGMENT_FIELDS)
    _check(ctx, t, content, 1, approved,
           {"type": "segment.create", "segment": segment, "body": content})
    _commit(ctx, call, t, put(_item(ctx, t, content, 1), "attribute_not_exists(pk)"),
            "segment.create", content, approved, creating=True)
    return get_segment(ctx, project, environment, segment)


def put_segment(ctx: Ctx, call: Call, project: str, environment: str, segment: str,
                body: Mapping[str, Any], if_match: int, approved: Approved | None = None
                ) -> dict[str, Any]:
    """Replace a segment at version ``if_match`` (404 if absent, 412 if it moved)."""
    t = _read(ctx, project, environment, segment, if_match)
    content = base.pick(body, fields.SEGMENT_FIELDS)
    _check(ctx, t, content, if_match + 1, approved,
           {"type": "segment.put", "segment": segment, "body": content,
            "base_version": if_match})
    _commit(ctx, call, t, put(_item(ctx, t, content, if_match + 1), "version = :v", v=if_match),
            "segment.put", content, approved, creating=False)
    return get_segment(ctx, project, environment, segment)


def delete_segment(ctx: Ctx, call: Call, project: str, environment: str, segment: str,
                   if_match: int, approved: Approved | None = None) -> dict[str, Any]:
    """Delete a segment at version ``if_match``; refused while a flag still refers to it."""
    t = _read(ctx, project, environment, segment, if_match)
    _check(ctx, t, None, if_match + 1, approved,
           {"type": "segment.delete", "segment": segment, "base_version": if_match})
    # A list segment's state goes with it: a segment created later under the same key
    # starts a new list (new list id and secret), never the deleted one's batches.
    list_state = (delete(t.key[0], keys.list_sk(segment)),)
    _commit(ctx, call, t, delete(*t.key, "version = :v", v=if_match), "segment.delete", None,
            approved, creating=False,
            extra=list_state if ctx.repo.get(t.key[0], keys.list_sk(segment)) else ())
    return {"key": segment, "deleted": True}
