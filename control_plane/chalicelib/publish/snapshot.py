"""A consistent read of one environment's bundle-relevant state from the table.

Protocol (docs/architecture.md): get the environment item (consistent) → query the project's
flag definitions and the environment partition (consistent) → get the environment item again;
if its ``revision`` moved, a write landed in between: start over (bounded). Every write that
changes bundle content bumps ``revision`` in the same transaction, so an unchanged revision
proves the reads in between saw exactly the state of that revision.

A changeset (``chalicelib.changesets``) writes in several transactions under a lock on the
environment item (``cs_lock``): a locked environment is never snapshotted
(:class:`SnapshotLocked`), and the revision check also compares ``cs_seq``, which every
rollback moves, so a changeset that started and was rolled back between the two reads is
noticed too. Readers therefore see a changeset all or nothing.

SDK-key secrets are unwrapped with KMS and cached per process by (key id, wrapped bytes), so a
publish costs no KMS Decrypt for keys already seen.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson

from chalicelib import keys, list_record, sdk_key_record
from chalicelib.repository import decode_item
from edge_reader.bundle import SdkKey
from edge_reader.engine import fields

_PROJECTED = ("sk", "body", "version", *sdk_key_record.READ_FIELDS, *list_record.READ_FIELDS)


class SnapshotError(Exception):
    """The environment's state could not be read consistently or is malformed (retryable
    unless the message says the data is malformed; either way nothing is published)."""


class SnapshotLocked(SnapshotError):
    """A changeset holds the environment: its state is half-written, so nothing may be
    published now. Not a failure: the changeset's final commit (or its rollback) moves the
    environment item again, and that stream record publishes."""


_LOCK = keys.CHANGESET_LOCK_ATTR


def _stamp(env: Mapping[str, Any]) -> tuple[int, int]:
    """What a consistent snapshot requires unchanged: the revision and the changeset seq."""
    return int(env.get("revision", 0)), int(env.get(keys.CHANGESET_SEQ_ATTR, 0))


@dataclass(frozen=True, slots=True)
class SdkKeyRecord:
    """One non-secret view of an SDK key record plus its unwrapped key."""

    key: SdkKey
    kind: str  # "server" | "client"
    tags: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    revoked: bool = False

    @property
    def scoped(self) -> bool:
        """True when the key is limited to flags with given tags or key prefixes."""
        return bool(self.tags or self.prefixes)


@dataclass(frozen=True, slots=True)
class EnvironmentSnapshot:
    """Everything a bundle of one environment is built from, at one revision."""

    project: str
    environment: str
    revision: int
    updated_at: str
    audit_head: str
    flags: dict[str, dict[str, Any]] = field(default_factory=dict)
    segments: dict[str, dict[str, Any]] = field(default_factory=dict)
    sdk_keys: tuple[SdkKeyRecord, ...] = ()
    audit_seq: int = 0  # with audit_head: the chain head this revision's anchor names
    lists: dict[str, list_record.ListState] = field(default_factory=dict)  # by segment


def _body(item: Mapping[str, Any], where: str) -> dict[str, Any]:
    body = item.get("body")
    try:
        value = orjson.loads(body) if isinstance(body, str | bytes) else None
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise SnapshotError(f"{where}.body: not a JSON object string (malformed item)")
    return value


class _SecretCache:
    """Unwrapped SDK-key secrets by (key id, sha256 of the wrapped bytes); bounded."""

    def __init__(self, capacity: int = 4096) -> None:
        self._data: dict[tuple[str, str], SdkKey] = {}
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> SdkKey | None:
        with self._lock:
            return self._data.get(key)

    def put(self, key: tuple[str, str], value: SdkKey) -> None:
        with self._lock:
            if len(self._data) >= self._capacity:
                self._data.clear()  # rare; a refill costs one KMS Decrypt per key
            self._data[key] = value


class SnapshotReader:
    """Reads :class:`EnvironmentSnapshot` objects with the low-level DynamoDB client."""

    def __init__(
        self,
        *,
        table: str,
        dynamodb: Any,
        kms: Any,
        max_attempts: int = 5,
        secret_cache: _SecretCache | None = None,
    ) -> None:
        self.table = table
        self.dynamodb = dynamodb
        self.kms = kms
        self.max_attempts = max_attempts
        self._secrets = secret_cache or _SecretCache()
        # One helper thread, used only inside read() (nothing runs between invocations).
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vexil-snapshot")

    def read(self, project: str, environment: str) -> EnvironmentSnapshot | None:
        """A consistent snapshot, or None when the environment item does not exist.

        Raises :class:`SnapshotError` when the revision keeps moving for ``max_attempts``
        rounds or an item is malformed; boto3 errors propagate (the caller retries).
        """
        for _ in range(self.max_attempts):
            env = self._get_env(project, environment)
            if env is None:
                return None
            if _LOCK in env:
                raise SnapshotLocked(f"{project}/{environment}: changeset "
                                     f"{str(env[_LOCK]).rsplit('.', 1)[0]} in progress")
            # The two queries are independent: run them side by side (each is one or more
            # round trips; the snapshot's latency is the slower of the two, not the sum).
            defs_future = self._pool.submit(
                lambda: list(self._query(keys.project_pk(project),
                                         prefix=keys.FLAGDEF_SK_PREFIX)))
            # From FLAG# onwards: flag configurations, SDK keys and segments. Change requests
            # (CR#, sorted before) never reach a bundle and may be many, so they are not read.
            partition = list(self._query(keys.env_pk(project, environment),
                                         start=keys.FLAG_SK_PREFIX))
            definitions = {
                str(it["sk"])[len(keys.FLAGDEF_SK_PREFIX):]: it for it in defs_future.result()
            }
            again = self._get_env(project, environment)
            if again is None:
                return None
            if _LOCK not in again and _stamp(again) == _stamp(env):
                return self._assemble(project, environment, again, definitions, partition)
        raise SnapshotError(
            f"{project}/{environment}: revision kept moving during {self.max_attempts} reads"
        )

    def revision(self, project: str, environment: str) -> int | None:
        """The environment's revision now (consistent read); None when it does not exist."""
        env = self._get_env(project, environment)
        return None if env is None else int(env.get("revision", 0))

    def environments(self) -> list[tuple[str, str]]:
        """Every (project, environment) in the table: projects from gsi1, then each
        project's environment items (consistent). What the publisher's heartbeat walks."""
        pairs: list[tuple[str, str]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table, "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :p",
            "ExpressionAttributeValues": {":p": {"S": keys.PROJECTS_GSI_PK}},
            "ProjectionExpression": "gsi1sk",
        }
        projects: list[str] = []
        while True:
            resp = self.dynamodb.query(**kwargs)
            projects += [str(it["gsi1sk"]["S"]) for it in resp.get("Items", [])]
            if not resp.get("LastEvaluatedKey"):
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        for project in projects:
            for item in self._query(keys.project_pk(project), prefix=keys.ENV_SK_PREFIX):
                pairs.append((project, str(item["sk"])[len(keys.ENV_SK_PREFIX):]))
        return pairs

    def _get_env(self, project: str, environment: str) -> dict[str, Any] | None:
        resp = self.dynamodb.get_item(
            TableName=self.table,
            Key={
                "pk": {"S": keys.project_pk(project)},
                "sk": {"S": keys.environment_sk(environment)},
            },
            ConsistentRead=True,
        )
        raw = resp.get("Item")
        return decode_item(raw) if raw else None

    def _query(
        self, pk: str, *, prefix: str | None = None, start: str | None = None
    ) -> Iterator[dict[str, Any]]:
        condition = "pk = :pk"
        values: dict[str, Any] = {":pk": {"S": pk}}
        if prefix is not None:
            condition += " AND begins_with(sk, :p)"
            values[":p"] = {"S": prefix}
        elif start is not None:
            condition += " AND sk >= :s"
            values[":s"] = {"S": start}
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "ConsistentRead": True,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            # Only what a bundle needs: less to read, ship and parse (moto's cost is per
            # attribute; DynamoDB's per byte).
            "ProjectionExpression": ", ".join(f"#a{i}" for i in range(len(_PROJECTED))),
            "ExpressionAttributeNames": {f"#a{i}": a for i, a in enumerate(_PROJECTED)},
        }
        while True:
            resp = self.dynamodb.query(**kwargs)
            for raw in resp.get("Items", []):
                yield decode_item(raw)
            last = resp.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    def _assemble(
        self,
        project: str,
        environment: str,
        env: dict[str, Any],
        definitions: dict[str, dict[str, Any]],
        partition: list[dict[str, Any]],
    ) -> EnvironmentSnapshot:
        flags: dict[str, dict[str, Any]] = {}
        segments: dict[str, dict[str, Any]] = {}
        sdk_keys: list[SdkKeyRecord] = []
        lists: dict[str, list_record.ListState] = {}
        for it in partition:
            sk = str(it["sk"])
            if sk.startswith(keys.FLAG_SK_PREFIX):
                name = sk[len(keys.FLAG_SK_PREFIX):]
                definition = definitions.get(name)
                if definition is None:
                    continue  # a configuration without definition is not a flag (yet)
                flags[name] = fields.merge_flag(_body(definition, f"flagdefs.{name}"),
                                                _body(it, f"flags.{name}"),
                                                int(it.get("version", 0)))
            elif sk.startswith(keys.SEGMENT_SK_PREFIX):
                name = sk[len(keys.SEGMENT_SK_PREFIX):]
                segments[name] = fields.segment_document(_body(it, f"segments.{name}"),
                                                         int(it.get("version", 0)))
            elif sk.startswith(keys.SDKKEY_SK_PREFIX):
                record = self._sdk_key(project, environment, it)
                if record is not None:
                    sdk_keys.append(record)
            elif sk.startswith(keys.LIST_SK_PREFIX):
                try:
                    lists[sk[len(keys.LIST_SK_PREFIX):]] = list_record.read_state(it)
                except ValueError as exc:
                    raise SnapshotError(str(exc)) from None
        return EnvironmentSnapshot(
            project=project,
            environment=environment,
            revision=int(env.get("revision", 0)),
            updated_at=str(env.get("updated_at", "")),
            audit_head=str(env.get("audit_head", "")),
            audit_seq=int(env.get("audit_seq", 0)),
            flags=flags,
            segments=segments,
            sdk_keys=tuple(sorted(sdk_keys, key=lambda r: r.key.key_id)),
            lists={k: v for k, v in lists.items() if k in segments},
        )

    def _sdk_key(
        self, project: str, environment: str, it: dict[str, Any]
    ) -> SdkKeyRecord | None:
        if sdk_key_record.is_revoked(it):
            return None  # revoked keys get no keyring: they cannot open new bundles
        try:
            stored = sdk_key_record.read_item(it)
            key = self._unwrap(project, environment, stored)
        except sdk_key_record.SdkKeyRecordError as exc:
            raise SnapshotError(str(exc)) from None
        return SdkKeyRecord(key=key, kind=stored.kind, tags=stored.tags,
                            prefixes=stored.prefixes)

    def _unwrap(
        self, project: str, environment: str, stored: sdk_key_record.StoredSdkKey
    ) -> SdkKey:
        cache_key = (stored.key_id, hashlib.sha256(stored.wrapped).hexdigest())
        cached = self._secrets.get(cache_key)
        if cached is not None:
            return cached
        key = sdk_key_record.unwrap_secret(self.kms, project, environment, stored)
        self._secrets.put(cache_key, key)
        return key
