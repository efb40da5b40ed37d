"""S3 lifecycle rules, applied by the local emulator as S3 applies them on AWS.

moto stores a bucket's lifecycle configuration and never acts on it, so on the local stack
every bundle the publisher ever wrote stayed in memory (about 1.9 object versions per
revision: most of the emulator's growth, measured by ``loadtests.bench_soak``). On AWS the
bundle bucket's rules (``infra/s3.tf``; the local bucket gets the same rules from
:func:`vexil.resources.bundle_lifecycle_rules`) bound it: bundles the publisher tagged
``vexil-superseded=true`` expire, noncurrent versions beyond the newest N expire.

:func:`apply_lifecycle` is one lifecycle run over every bucket, following S3's semantics:

* ``Expiration.Days``: a *current* object matching the rule's filter (prefix and tags) and
  older than the days (counted from its creation) expires — in a versioned bucket a delete
  marker becomes current and the object becomes noncurrent;
* ``NoncurrentVersionExpiration``: a noncurrent version (counted from when its successor
  was written) older than ``NoncurrentDays`` is deleted for good, except the newest
  ``NewerNoncurrentVersions`` noncurrent versions of the key;
* ``ExpiredObjectDeleteMarker``: a delete marker that is the key's only version goes;
* when several rules match, the one that deletes wins (S3: "permanent deletion takes
  precedence"); disabled rules and transitions are ignored.

Time scale: S3 works in days (and rounds to midnight UTC); locally one lifecycle "day" is
``$VEXIL_EMULATOR_LIFECYCLE_DAY`` seconds, default 10, so a superseded bundle (30 days)
goes 5 minutes after it was written and a noncurrent pointer version 10 s after it was
replaced (runs happen every ``$VEXIL_EMULATOR_MAINTAIN_EVERY``, 60 s).

Nothing here knows what a bundle or a pointer is: the emulator deletes only what the rules
say, so it never hides a publisher that tags a bundle a pointer still names (the tests check
that end to end). Runs from :func:`emulator_bounds.maintain`, between requests.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_DAY_SECONDS = 10.0
_RAW = "_vexil_lifecycle_rules"
_INSTALLED = "_vexil_lifecycle"


def day_seconds() -> float:
    """Seconds in one local lifecycle "day": ``$VEXIL_EMULATOR_LIFECYCLE_DAY`` or 10."""
    raw = os.environ.get("VEXIL_EMULATOR_LIFECYCLE_DAY")
    return float(raw) if raw else DEFAULT_DAY_SECONDS


@dataclass(frozen=True, slots=True)
class Rule:
    """One enabled lifecycle rule, as S3 reads it (only the actions the emulator applies)."""

    prefix: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    expiration_days: int | None = None
    noncurrent_days: int | None = None
    newer_noncurrent: int = 0
    expired_delete_marker: bool = False

    def matches(self, name: str, tags: Mapping[str, str]) -> bool:
        """True when an object called ``name`` with ``tags`` is in this rule's filter."""
        return name.startswith(self.prefix) and all(
            tags.get(k) == v for k, v in self.tags.items())


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def parse_rule(raw: Mapping[str, Any]) -> Rule | None:
    """A rule of a ``PutBucketLifecycleConfiguration`` body as moto parsed it (strings from
    XML); None for a disabled rule."""
    if raw.get("Status") != "Enabled":
        return None
    filt = raw.get("Filter") or {}
    scope = filt.get("And") or filt
    tags = {t["Key"]: t.get("Value", "") for t in _listed(scope.get("Tag"))}
    prefix = scope.get("Prefix") or raw.get("Prefix") or ""
    expiration = raw.get("Expiration") or {}
    noncurrent = raw.get("NoncurrentVersionExpiration") or {}
    days = expiration.get("Days")
    nc_days = noncurrent.get("NoncurrentDays")
    return Rule(prefix=prefix, tags=tags,
                expiration_days=int(days) if days is not None else None,
                noncurrent_days=int(nc_days) if nc_days is not None else None,
                newer_noncurrent=int(noncurrent.get("NewerNoncurrentVersions") or 0),
                expired_delete_marker=str(expiration.get("ExpiredObjectDeleteMarker",
                                                         "")).lower() == "true")


def install() -> None:
    """Patch moto (idempotent) so a bucket keeps its lifecycle rules as sent: moto's own
    model drops ``NewerNoncurrentVersions``, which the pointer rule needs."""
    from moto.s3.models import FakeBucket  # noqa: PLC0415 - heavy import

    if getattr(FakeBucket.set_lifecycle, _INSTALLED, False):
        return
    moto_set = FakeBucket.set_lifecycle
    moto_delete = FakeBucket.delete_lifecycle

    def set_lifecycle(self: Any, rules: list[dict[str, Any]]) -> None:
        moto_set(self, rules)  # validates (MalformedXML) before anything is kept
        setattr(self, _RAW, [r for r in (parse_rule(raw) for raw in rules) if r])

    def delete_lifecycle(self: Any) -> None:
        moto_delete(self)
        setattr(self, _RAW, [])

    setattr(set_lifecycle, _INSTALLED, True)
    FakeBucket.set_lifecycle = set_lifecycle  # type: ignore[method-assign]
    FakeBucket.delete_lifecycle = delete_lifecycle  # type: ignore[method-assign]


def _buckets() -> Iterator[tuple[Any, Any]]:
    from moto.s3.models import s3_backends  # noqa: PLC0415

    backend: Any
    for _account, _region, backend in s3_backends.iter_backends():
        for bucket in list(backend.buckets.values()):
            yield backend, bucket


def apply_lifecycle(now: dt.datetime | None = None, day: float | None = None
                    ) -> dict[str, int]:
    """One lifecycle run over every bucket with rules; return what it did
    (``s3_expired``: delete markers placed, ``s3_versions_deleted``: versions and markers
    removed for good). Call between two requests (under the launcher's lock)."""
    from moto.s3.models import FakeDeleteMarker  # noqa: PLC0415

    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    span = dt.timedelta(seconds=day_seconds() if day is None else day)
    done = {"s3_expired": 0, "s3_versions_deleted": 0}
    for backend, bucket in _buckets():
        rules: list[Rule] = getattr(bucket, _RAW, [])
        if not rules or not bucket.is_versioned:
            continue  # the local bundle bucket is versioned; nothing else has rules
        for name in list(bucket.keys):
            if not any(name.startswith(r.prefix) for r in rules):
                continue
            versions = list(bucket.keys.getlist(name))
            current = versions[-1]
            if not isinstance(current, FakeDeleteMarker) and _expires(
                    rules, name, _tags(backend, current), current.last_modified, now, span):
                bucket.keys[name] = FakeDeleteMarker(key=current)  # appends: now current
                done["s3_expired"] += 1
                versions = list(bucket.keys.getlist(name))
            keep = _keep_noncurrent(backend, rules, name, versions, now, span)
            if len(keep) == 1 and isinstance(keep[0], FakeDeleteMarker) and any(
                    r.expired_delete_marker and r.matches(name, {}) for r in rules):
                keep = []
            kept = {id(v) for v in keep}
            gone = [v for v in versions if id(v) not in kept]
            for version in gone:
                _forget(backend, version)
            done["s3_versions_deleted"] += len(gone)
            if not keep:
                # dict.pop: moto's own pop disposes every version, and a delete marker has
                # no dispose (the versions were freed above).
                dict.pop(bucket.keys, name)
            elif gone:
                bucket.keys.setlist(name, keep)
    return done


def _expires(rules: list[Rule], name: str, tags: Mapping[str, str], born: dt.datetime,
             now: dt.datetime, span: dt.timedelta) -> bool:
    return any(r.expiration_days is not None and r.matches(name, tags)
               and now - born >= span * r.expiration_days for r in rules)


def _keep_noncurrent(backend: Any, rules: list[Rule], name: str, versions: list[Any],
                     now: dt.datetime, span: dt.timedelta) -> list[Any]:
    """``versions`` (oldest first) without the noncurrent ones some rule expires."""
    keep = [versions[-1]]
    # Newest noncurrent first: its rank decides NewerNoncurrentVersions; it became
    # noncurrent when the version after it was written.
    for rank, index in enumerate(range(len(versions) - 2, -1, -1)):
        version, since = versions[index], versions[index + 1].last_modified
        tags = _tags(backend, version)
        if not any(r.noncurrent_days is not None and r.matches(name, tags)
                   and rank >= r.newer_noncurrent and now - since >= span * r.noncurrent_days
                   for r in rules):
            keep.insert(0, version)
    return keep


def _tags(backend: Any, version: Any) -> dict[str, str]:
    arn = getattr(version, "arn", None)
    if arn is None:
        return {}  # a delete marker has no tags
    listed = backend.tagger.list_tags_for_resource(arn).get("Tags", [])
    return {t["Key"]: t["Value"] for t in listed}


def _forget(backend: Any, version: Any) -> None:
    """Free a deleted version: its tags (moto keeps them per version ARN, for good) and
    its buffer."""
    arn = getattr(version, "arn", None)
    if arn is not None:
        backend.tagger.delete_all_tags_for_resource(arn)
    dispose = getattr(version, "dispose", None)
    if dispose is not None:
        dispose()
