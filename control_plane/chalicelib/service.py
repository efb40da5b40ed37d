"""Use cases of the control plane: projects, environments, SDK keys, flags, segments.

Handlers call these with a :class:`Call` (who, why) and validated bodies. Every write goes
through :func:`chalicelib.writes.commit` (entity + audit + revision in one transaction) and
every flag/segment write is compiled first by the readers' engine (:mod:`chalicelib.envdoc`).
A write to a protected environment is turned into a change request (HTTP 202) by
:mod:`chalicelib.approvals` unless it is the application of an approved one.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

import boto3
import orjson

from chalicelib import keys
from chalicelib.audit import Chain, Entry
from chalicelib.canonical import canonical, iso
from chalicelib.denied import DENIED
from chalicelib.envdoc import EnvState, Versioned, check, load_definitions, load_state, versioned
from chalicelib.errors import BadRequest, Conflict, Detail, NotFound, PreconditionFailed
from chalicelib.rbac import Perm, Principal
from chalicelib.repository import Item, Repository, Step, condition, delete, put, update
from chalicelib.requests import encode_cursor
from chalicelib.timing import instrument
from chalicelib.writes import commit
from edge_reader.engine import fields

MAX_ENVIRONMENTS = 24  # a definition write touches 4 items per environment; DynamoDB allows 100
# The stored parts of a flag and a segment are owned by the engine (edge_reader.engine.fields).
CONFIG_KEYS = fields.CONFIG_FIELDS
DEFINITION_KEYS = fields.DEFINITION_FIELDS
SEGMENT_KEYS = fields.SEGMENT_FIELDS
PROJECTS_GSI_PK = keys.PROJECTS_GSI_PK


@dataclass(frozen=True)
class Call:
    """Who is calling and why (the optional audit reason)."""

    principal: Principal
    reason: str | None = None


@dataclass
class Approved:
    """Present only when applying an approved change request: its id and the CR update step."""

    cr_id: str
    step: Step
    check_cr: Callable[[], None] = field(default=lambda: None)
    # The flag definition version a configuration change was reviewed with (None: any).
    definition_version: int | None = None


class NeedsApproval(Exception):
    """Raised by a write to a protected environment: the caller files a change request."""

    def __init__(self, project: str, environment: str, operation: dict[str, Any]) -> None:
        super().__init__(f"{project}/{environment} is protected")
        self.project = project
        self.environment = environment
        self.operation = operation


@functools.cache
def _kms_client(endpoint: str | None, region: str) -> Any:
    client = boto3.session.Session().client("kms", endpoint_url=endpoint, region_name=region)
    return instrument(client)


def kms_client() -> Any:
    """The process-wide KMS client (honours AWS_ENDPOINT_URL for moto)."""
    return _kms_client(
        os.environ.get("AWS_ENDPOINT_URL"),
        os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
    )


def pick(body: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The subset of ``body`` whose keys are in ``names`` (drops ``reason``, ``key``...)."""
    return {k: body[k] for k in names if k in body}


def default_config(definition: Mapping[str, Any]) -> dict[str, Any]:
    """Configuration a new flag gets in every environment: disabled, serving its off variation.

    The off variation is the variation whose value is ``false`` for boolean flags, else the
    first variation listed in the definition.
    """
    variations = dict(definition.get("variations") or {})
    off = next(iter(variations), None)
    if definition.get("kind") == "boolean":
        off = next((k for k, v in variations.items() if v is False), off)
    config: dict[str, Any] = {"enabled": False}
    if off is not None:
        config["off_variation"] = off
        config["default"] = {"variation": off}
    return config


class Service:
    """The control plane's use cases over one table (clock and KMS injectable for tests)."""

    def __init__(
        self,
        repo: Repository,
        *,
        now: Callable[[], float] = time.time,
        kms: Any | None = None,
        kms_key_id: str | None = None,
    ) -> None:
        self.repo = repo
        self.now = now
        self._kms = kms
        self._kms_key_id = kms_key_id

    # --- helpers -----------------------------------------------------------------------

    def _commit(self, call: Call, **kwargs: Any) -> list[str]:
        return commit(self.repo, actor=call.principal.actor, reason=call.reason, now=self.now,
                      **kwargs)

    def _require_item(self, pk: str, sk: str, what: str) -> Item:
        item = self.repo.get(pk, sk)
        if item is None:
            raise NotFound(f"{what} does not exist")
        return item

    def _stale(self, pk: str, sk: str, what: str) -> NoReturn:
        """Raise 404 or 412 for an entity whose conditional write failed."""
        item = self.repo.get(pk, sk)
        if item is None:
            raise NotFound(f"{what} does not exist")
        raise PreconditionFailed(int(item["version"]), f"{what} is at version {item['version']}")

    @staticmethod
    def _match(item: Item, if_match: int, what: str) -> None:
        if int(item["version"]) != if_match:
            version = int(item["version"])
            raise PreconditionFailed(version, f"{what} is at version {version}")

    def project_item(self, project: str) -> Item:
        """The project item or 404."""
        return self._require_item(
            keys.project_pk(project), keys.PROJECT_SK, f"project {project!r}"
        )

    def environment_item(self, project: str, environment: str) -> Item:
        """The environment item or 404."""
        return self._require_item(
            keys.project_pk(project), keys.environment_sk(environment),
            f"environment {environment!r} of project {project!r}",
        )

    def environments(self, project: str) -> list[Item]:
        """All environment items of a project (key order)."""
        items, _ = self.repo.query(keys.project_pk(project), keys.ENV_SK_PREFIX)
        return items

    def is_protected(self, project: str, environment: str) -> bool:
        """Whether writes to this environment need a change request."""
        item = self.repo.get(keys.project_pk(project), keys.environment_sk(environment))
        return bool(item and item.get("protected"))

    def record_denied(self, principal: Principal, project: str | None,
                      environment: str | None, action: str, resource: str) -> None:
        """Record a refusal: always in the bounded denied log; also as a ``denied`` record in
        a protected environment's chain when the caller's scope covers that environment.

        A caller with no scope there is an outsider: their refusals are noise they could
        generate at will, so they never reach the chain (nor cost a read to decide)."""
        DENIED.record(principal, action, resource, project, environment)
        if (project is None or environment is None or not principal.sees_project(project)
                or not principal.sees_environment(environment)
                or not self.is_protected(project, environment)):
            return
        # The denial itself stands even if recording fails (a vanished env, a lost race).
        with contextlib.suppress(NotFound, Conflict):
            self._commit(
                Call(principal),
                steps=[],
                entries=[Entry(Chain.for_environment(project, environment), action, resource,
                               outcome="denied")],
            )

    # --- projects ------------------------------------------------------------------------

    @staticmethod
    def project_view(item: Item) -> dict[str, Any]:
        """Public form of a project."""
        return {k: item.get(k) for k in ("project", "name", "version", "created_at", "updated_at")}

    def create_project(self, call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create a project (admin); audited in the global chain."""
        key = str(body["key"])
        at = iso(self.now())
        item = {
            "pk": keys.project_pk(key), "sk": keys.PROJECT_SK, "project": key,
            "name": body.get("name", key), "version": 1, "created_at": at, "updated_at": at,
            "gsi1pk": PROJECTS_GSI_PK, "gsi1sk": key,
        }
        view = self.project_view(item)

        def exists() -> NoReturn:
            raise Conflict(f"project {key!r} already exists")

        self._commit(call, steps=[put(item, "attribute_not_exists(pk)")],
                     entries=[Entry(Chain.global_chain(), "project.create", f"projects/{key}",
                                    None, view)],
                     on_conflict=exists)
        return view

    def list_projects(self, call: Call) -> list[dict[str, Any]]:
        """Projects visible to the caller."""
        items = self.repo.query_index(PROJECTS_GSI_PK)
        return [self.project_view(i) for i in sorted(items, key=lambda i: str(i["project"]))
                if call.principal.sees_project(str(i["project"]))]

    def get_project(self, project: str) -> dict[str, Any]:
        """One project."""
        return self.project_view(self.project_item(project))

    # --- environments --------------------------------------------------------------------

    @staticmethod
    def environment_view(item: Item) -> dict[str, Any]:
        """Public form of an environment (revision and audit head included)."""
        names = ("project", "environment", "name", "protected", "revision", "audit_seq",
                 "audit_head", "version", "created_at", "updated_at")
        return {k: item.get(k) for k in names}

    def create_environment(self, call: Call, project: str, body: Mapping[str, Any]
                           ) -> dict[str, Any]:
        """Create an environment (admin); existing flags get their default configuration
        unless the environment is protected (there they are absent until a change request)."""
        self.project_item(project)
        key = str(body["key"])
        if len(self.environments(project)) >= MAX_ENVIRONMENTS:
            raise Conflict(f"a project holds at most {MAX_ENVIRONMENTS} environments")
        at = iso(self.now())
        item = {
            "pk": keys.project_pk(project), "sk": keys.environment_sk(key), "project": project,
            "environment": key, "name": body.get("name", key),
            "protected": bool(body.get("protected", False)), "revision": 0, "audit_seq": 0,
            "audit_head": "", "version": 1, "created_at": at, "updated_at": at,
        }
        view = self.environment_view(item)

        def exists() -> NoReturn:
            raise Conflict(f"environment {key!r} already exists in project {project!r}")

        self._commit(call, steps=[put(item, "attribute_not_exists(pk)")],
                     entries=[Entry(Chain.global_chain(), "environment.create",
                                    f"projects/{project}/environments/{key}", None, view)],
                     on_conflict=exists)
        # Existing flags get a default configuration, in transactions of <= 40 flags, each
        # bumping the new environment's revision with its own audit record. A protected
        # environment gets none: a flag is present there only once an approved change
        # request configures it (docs/security.md, "Four-eyes").
        defs = [] if item["protected"] else sorted(load_definitions(self.repo, project).items())
        for start in range(0, len(defs), 40):
            chunk = defs[start:start + 40]
            steps: list[Step] = []
            for flag, definition in chunk:
                config = default_config(definition.body)
                steps += self._config_steps(project, key, flag, config, 1, at, call, "flag.create")
            self._commit(call, steps=steps, bump=[(project, key)],
                         entries=[Entry(Chain.for_environment(project, key), "flag.config.default",
                                        f"projects/{project}/environments/{key}/flags",
                                        None, [f for f, _ in chunk])])
        return self.environment_view(self.environment_item(project, key))

    def list_environments(self, project: str, principal: Principal) -> list[dict[str, Any]]:
        """Environments of a project visible to the caller."""
        self.project_item(project)
        return [self.environment_view(i) for i in self.environments(project)
                if principal.sees_environment(str(i["environment"]))]

    def get_environment(self, project: str, environment: str) -> dict[str, Any]:
        """One environment."""
        return self.environment_view(self.environment_item(project, environment))

    def patch_environment(self, call: Call, project: str, environment: str,
                          body: Mapping[str, Any], if_match: int,
                          approved: Approved | None = None) -> dict[str, Any]:
        """Rename or (un)protect; on a protected environment this needs an approval."""
        item = self.environment_item(project, environment)
        self._match(item, if_match, f"environment {environment!r}")
        changes = pick(body, ("name", "protected"))
        if item.get("protected") and approved is None:
            raise NeedsApproval(project, environment, {
                "type": "environment.patch", "body": changes, "base_version": if_match})
        before = self.environment_view(item)
        attrs = {**changes, "version": if_match + 1}
        try:
            self._commit(call, steps=[approved.step] if approved else [],
                         entries=[Entry(Chain.for_environment(project, environment),
                                        "environment.patch",
                                        f"projects/{project}/environments/{environment}",
                                        before, {**before, **attrs})],
                         env_sets={(project, environment): (attrs, if_match)},
                         on_conflict=approved.check_cr if approved else _raise_conflict)
        except Conflict:
            self._match(self.environment_item(project, environment), if_match,
                        f"environment {environment!r}")
            raise
        return self.get_environment(project, environment)

    # --- SDK keys ------------------------------------------------------------------------

    @staticmethod
    def sdk_key_view(item: Item) -> dict[str, Any]:
        """Public form of an SDK key record (never the secret)."""
        return {k: item.get(k) for k in ("key_id", "kind", "scope", "created_at", "revoked_at")}

    def create_sdk_key(self, call: Call, project: str, environment: str,
                       body: Mapping[str, Any]) -> dict[str, Any]:
        """Create an SDK key; its text is returned once, its secret stored KMS-wrapped."""
        self.environment_item(project, environment)
        scope_in = body.get("scope") or {}
        # Imported here: edge_reader.bundle loads the encryption SDK, which only this use
        # case needs — API cold starts stay light.
        from chalicelib import sdk_key_record  # noqa: PLC0415
        from edge_reader.bundle.sdk_key import generate_sdk_key, kind_of_name  # noqa: PLC0415

        sdk_key = generate_sdk_key(kind_of_name(str(body["kind"])))
        kms = self._kms or kms_client()
        key_id = self._kms_key_id or os.environ.get("VEXIL_KMS_KEY_ID")
        if not key_id:
            raise Conflict("VEXIL_KMS_KEY_ID is not configured")
        item = sdk_key_record.new_item(
            project=project, environment=environment, key=sdk_key, kms=kms, kms_key_id=key_id,
            created_at=iso(self.now()), tags=tuple(scope_in.get("tags", ())),
            prefixes=tuple(scope_in.get("prefixes", ())))
        view = self.sdk_key_view(item)
        self._commit(call, steps=[put(item, "attribute_not_exists(pk)")],
                     bump=[(project, environment)],
                     entries=[Entry(Chain.for_environment(project, environment), "sdk_key.create",
                                    f"projects/{project}/environments/{environment}/sdk-keys/"
                                    f"{sdk_key.key_id}", None, view)])
        return {**view, "key": sdk_key.text}

    def list_sdk_keys(self, project: str, environment: str) -> list[dict[str, Any]]:
        """SDK key records of an environment."""
        self.environment_item(project, environment)
        items, _ = self.repo.query(keys.env_pk(project, environment), keys.SDKKEY_SK_PREFIX)
        return [self.sdk_key_view(i) for i in items]

    def revoke_sdk_key(self, call: Call, project: str, environment: str, key_id: str
                       ) -> dict[str, Any]:
        """Revoke an SDK key (idempotent): the next bundle is not encrypted for it."""
        pk, sk = keys.env_pk(project, environment), keys.sdk_key_sk(key_id)
        item = self._require_item(pk, sk, f"SDK key {key_id!r}")
        before = self.sdk_key_view(item)
        if item.get("revoked_at"):
            return before
        at = iso(self.now())
        after = {**before, "revoked_at": at}
        self._commit(call, steps=[update(pk, sk, "SET revoked_at = :t, version = version + :one",
                                         "attribute_not_exists(revoked_at)", t=at, one=1)],
                     bump=[(project, environment)],
                     entries=[Entry(Chain.for_environment(project, environment), "sdk_key.revoke",
                                    f"projects/{project}/environments/{environment}/sdk-keys/"
                                    f"{key_id}", before, after)])
        return after

    # --- flags: definitions ----------------------------------------------------------------

    @staticmethod
    def definition_view(flag: str, d: Versioned) -> dict[str, Any]:
        """Public form of a flag definition."""
        return {"key": flag, **d.body, "version": d.version, "updated_at": d.updated_at}

    def _definition(self, project: str, flag: str) -> Versioned:
        item = self._require_item(keys.project_pk(project), keys.flag_definition_sk(flag),
                                  f"flag {flag!r} of project {project!r}")
        return versioned(item)

    def _config_steps(self, project: str, environment: str, flag: str, config: dict[str, Any],
                      version: int, at: str, call: Call, action: str) -> list[Step]:
        """Put configuration ``version`` (conditioned on version-1) and its history item."""
        pk, sk = keys.env_pk(project, environment), keys.flag_config_sk(flag)
        item = {"pk": pk, "sk": sk, "flag": flag, "body": canonical(config), "version": version,
                "updated_at": at}
        cond = ("attribute_not_exists(pk)" if version == 1 else "version = :v")
        values = {} if version == 1 else {"v": version - 1}
        hist = {"pk": keys.history_pk(project, environment, flag), "sk": keys.history_sk(version),
                "flag": flag, "version": version, "body": canonical(config), "action": action,
                "actor": call.principal.actor, "at": at}
        return [put(item, cond, **values), put(hist, "attribute_not_exists(pk)")]

    def _project_states(self, project: str, definitions: dict[str, Versioned]
                        ) -> list[tuple[Item, EnvState]]:
        return [(env, load_state(self.repo, project, str(env["environment"]), definitions))
                for env in self.environments(project)]

    @staticmethod
    def _guard_definition_write(project: str, configured: list[Item],
                                operation: dict[str, Any], approved: Approved | None) -> None:
        """A definition write needs a change request iff it changes a protected environment.

        A definition reaches an environment's bundle only where the flag is configured, so
        the protected environments it changes are those of ``configured`` (the environments
        holding a configuration of the flag).
        Called after the compile check, so a change request is only filed for a change that
        compiles. The request is filed in the first of them; its approver needs write on
        every environment (``approvals.operation_permission``).
        """
        touched = [str(env["environment"]) for env in configured if env.get("protected")]
        if touched and approved is None:
            raise NeedsApproval(project, touched[0], operation)

    def create_flag(self, call: Call, project: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create a definition and a disabled configuration in every unprotected environment.

        Protected environments get no configuration: the flag is absent from their bundles
        (readers get ``FLAG_NOT_FOUND``) until an approved change request configures it there
        (``PUT .../flags/<f>`` with ``If-Match: 0``). So creating a flag needs no approval and
        changes nothing a protected environment serves.
        """
        self.project_item(project)
        flag = str(body["key"])
        definition = pick(body, DEFINITION_KEYS)
        defs = load_definitions(self.repo, project)
        if flag in defs:
            raise Conflict(f"flag {flag!r} already exists")
        at = iso(self.now())
        defs[flag] = Versioned(definition, 1, at)
        config = default_config(definition)
        steps: list[Step] = [put({"pk": keys.project_pk(project),
                                  "sk": keys.flag_definition_sk(flag), "flag": flag,
                                  "body": canonical(definition),
                                  "tags": list(definition.get("tags", [])), "version": 1,
                                  "updated_at": at}, "attribute_not_exists(pk)")]
        entries: list[Entry] = []
        bump = []
        for env, state in self._project_states(project, defs):
            if env.get("protected"):
                continue
            e = str(env["environment"])
            state.configs[flag] = Versioned(config, 1)
            check(state, focus=f"flags.{flag}", clock=self.now, label_environment=True)
            steps += self._config_steps(project, e, flag, config, 1, at, call, "flag.create")
            bump.append((project, e))
            entries.append(Entry(Chain.for_environment(project, e), "flag.create",
                                 f"projects/{project}/flags/{flag}", None,
                                 {"definition": definition, "config": config}))
        if not entries:
            # No unprotected environment: the definition's own compile check, in an otherwise
            # empty document (named like a real environment: the document format checks it).
            alone = EnvState(project, "unconfigured", {flag: defs[flag]},
                             {flag: Versioned(config, 1)}, {})
            check(alone, focus=f"flags.{flag}", clock=self.now)

        def exists() -> NoReturn:
            raise Conflict(f"flag {flag!r} already exists")

        if entries:
            self._commit(call, steps=steps, entries=entries, bump=bump, on_conflict=exists)
        else:
            # No bundle changes (no environment, or only protected ones): audit globally.
            self._commit(call, steps=steps, on_conflict=exists,
                         entries=[Entry(Chain.global_chain(), "flag.create",
                                        f"projects/{project}/flags/{flag}", None, definition)])
        return self.definition_view(flag, defs[flag])

    def list_flags(self, project: str, query: Mapping[str, str], limit: int,
                   cursor: str | None) -> dict[str, Any]:
        """Definitions page (filters ``tag``, ``prefix``); ``next_cursor`` when more follow."""
        self.project_item(project)
        items, last = self._definition_page(project, query, limit, cursor)
        return {"items": [self.definition_view(str(i["flag"]), versioned(i)) for i in items],
                "next_cursor": encode_cursor(last)}

    def _definition_page(self, project: str, query: Mapping[str, str], limit: int,
                         cursor: str | None) -> tuple[list[Item], str | None]:
        prefix = keys.FLAGDEF_SK_PREFIX + query.get("prefix", "")
        tag = query.get("tag")
        out: list[Item] = []
        start = cursor
        while len(out) < limit:
            items, start = self.repo.query(keys.project_pk(project), prefix, limit=limit,
                                           start_sk=start)
            for item in items:
                if tag is None or tag in item.get("tags", []):
                    out.append(item)
                    if len(out) == limit:
                        more = item is not items[-1] or start is not None
                        return out, str(item["sk"]) if more else None
            if start is None:
                break
        return out, None

    def get_flag(self, project: str, flag: str) -> dict[str, Any]:
        """One flag definition."""
        return self.definition_view(flag, self._definition(project, flag))

    def put_flag_definition(self, call: Call, project: str, flag: str, body: Mapping[str, Any],
                            if_match: int, approved: Approved | None = None) -> dict[str, Any]:
        """Replace a definition; it must compile in every environment of the project."""
        current = self._definition(project, flag)
        self._match({"version": current.version}, if_match, f"flag {flag!r}")
        definition = pick(body, DEFINITION_KEYS)
        at = iso(self.now())
        defs = load_definitions(self.repo, project)
        defs[flag] = Versioned(definition, if_match + 1, at)
        # Only environments configuring the flag serve its definition (see create_flag).
        every = self._project_states(project, defs)
        states = [(env, state) for env, state in every if flag in state.configs]
        for _env, state in states:
            check(state, focus=f"flags.{flag}", clock=self.now, label_environment=True)
        self._guard_definition_write(project, [env for env, _ in states], {
            "type": "flag.definition.put", "flag": flag, "body": definition,
            "base_version": if_match}, approved)
        steps: list[Step] = [update(keys.project_pk(project), keys.flag_definition_sk(flag),
                                    "SET body = :b, tags = :tags, version = :nv, updated_at = :t",
                                    "version = :v", b=canonical(definition),
                                    tags=list(definition.get("tags", [])), nv=if_match + 1,
                                    t=at, v=if_match), *self._still_absent(project, flag, every)]
        if approved:
            steps.append(approved.step)
        entries, bump = [], []
        for env, _state in states:
            e = str(env["environment"])
            bump.append((project, e))
            entries.append(Entry(Chain.for_environment(project, e), "flag.definition.put",
                                 f"projects/{project}/flags/{flag}", current.body, definition))
        if not entries:
            entries.append(Entry(Chain.global_chain(), "flag.definition.put",
                                 f"projects/{project}/flags/{flag}", current.body, definition))
        self._commit(call, steps=steps, entries=entries, bump=bump,
                     on_conflict=lambda: self._conflict_def(project, flag, approved, if_match))
        return self.get_flag(project, flag)

    @staticmethod
    def _still_absent(project: str, flag: str, states: list[tuple[Item, EnvState]]
                      ) -> list[Step]:
        """Conditions that the flag is still unconfigured in the protected environments where
        it was when read: a configuration approved meanwhile makes a direct definition write
        fail instead of changing that environment unreviewed."""
        return [condition(keys.env_pk(project, str(env["environment"])),
                          keys.flag_config_sk(flag), "attribute_not_exists(pk)")
                for env, state in states if env.get("protected") and flag not in state.configs]

    def _conflict_def(self, project: str, flag: str, approved: Approved | None,
                      if_match: int) -> NoReturn:
        if approved:
            approved.check_cr()
        item = self.repo.get(keys.project_pk(project), keys.flag_definition_sk(flag))
        if item is not None and int(item["version"]) == if_match:
            raise Conflict(f"flag {flag!r} was configured in a protected environment meanwhile; "
                           "re-read and retry (the change now needs a change request)")
        self._stale(keys.project_pk(project), keys.flag_definition_sk(flag), f"flag {flag!r}")

    def delete_flag(self, call: Call, project: str, flag: str, if_match: int,
                    approved: Approved | None = None) -> dict[str, Any]:
        """Delete a definition and its configuration everywhere (history is kept)."""
        current = self._definition(project, flag)
        self._match({"version": current.version}, if_match, f"flag {flag!r}")
        defs = load_definitions(self.repo, project)
        del defs[flag]
        every = self._project_states(project, defs)
        states = [(env, state) for env, state in every if flag in state.configs]
        for _env, state in states:
            state.configs.pop(flag)
            check(state, focus=None, clock=self.now, label_environment=True)
        self._guard_definition_write(project, [env for env, _ in states], {
            "type": "flag.definition.delete", "flag": flag, "base_version": if_match}, approved)
        steps: list[Step] = [delete(keys.project_pk(project), keys.flag_definition_sk(flag),
                                    "version = :v", v=if_match),
                             *self._still_absent(project, flag, every)]
        if approved:
            steps.append(approved.step)
        entries, bump = [], []
        for env, _state in states:
            e = str(env["environment"])
            steps.append(delete(keys.env_pk(project, e), keys.flag_config_sk(flag)))
            bump.append((project, e))
            entries.append(Entry(Chain.for_environment(project, e), "flag.delete",
                                 f"projects/{project}/flags/{flag}", current.body, None))
        if not entries:
            entries.append(Entry(Chain.global_chain(), "flag.delete",
                                 f"projects/{project}/flags/{flag}", current.body, None))
        self._commit(call, steps=steps, entries=entries, bump=bump,
                     on_conflict=lambda: self._conflict_def(project, flag, approved, if_match))
        return {"key": flag, "deleted": True}

    # --- flags: per-environment configuration ------------------------------------------------

    def env_flag_view(self, project: str, environment: str, flag: str, definition: Versioned,
                      config: Versioned) -> dict[str, Any]:
        """Public form of a flag in an environment: its configuration and its definition."""
        return {"key": flag, "project": project, "environment": environment,
                "version": config.version, "updated_at": config.updated_at,
                "config": config.body,
                "definition": {**definition.body, "version": definition.version}}

    def _config(self, project: str, environment: str, flag: str) -> Versioned:
        item = self._require_item(keys.env_pk(project, environment), keys.flag_config_sk(flag),
                                  f"flag {flag!r} in environment {environment!r}")
        return versioned(item)

    def get_env_flag(self, project: str, environment: str, flag: str) -> dict[str, Any]:
        """One flag's configuration in an environment."""
        self.environment_item(project, environment)
        return self.env_flag_view(project, environment, flag, self._definition(project, flag),
                                  self._config(project, environment, flag))

    def list_env_flags(self, project: str, environment: str, query: Mapping[str, str],
                       limit: int, cursor: str | None) -> dict[str, Any]:
        """Page of flags with their configuration in an environment (filters tag, prefix)."""
        self.environment_item(project, environment)
        defs, last = self._definition_page(project, query, limit, cursor)
        wanted = [(keys.env_pk(project, environment), keys.flag_config_sk(str(d["flag"])))
                  for d in defs]
        configs = {str(i["flag"]): versioned(i) for i in self.repo.batch_get(wanted)}
        items = [self.env_flag_view(project, environment, str(d["flag"]), versioned(d),
                                    configs[str(d["flag"])])
                 for d in defs if str(d["flag"]) in configs]
        return {"items": items, "next_cursor": encode_cursor(last)}

    def put_env_flag(self, call: Call, project: str, environment: str, flag: str,
                     body: Mapping[str, Any], if_match: int, approved: Approved | None = None,
                     *, action: str = "flag.config.put",
                     operation: dict[str, Any] | None = None) -> dict[str, Any]:
        """Replace a flag's configuration in one environment (compiled strictly first).

        ``If-Match: 0`` configures a defined flag in an environment where it has no
        configuration yet (a protected environment: see :meth:`create_flag`). In a protected
        environment the change request's operation records the definition version it was
        reviewed with; applying it refuses (412) once the definition has moved.
        """
        env = self.environment_item(project, environment)
        # One consistent read of the environment's partition serves both the current
        # version check and the compile check.
        state = load_state(self.repo, project, environment)
        current = state.configs.get(flag)
        definition = state.definitions.get(flag)
        if definition is None or (current is None and if_match != 0):
            raise NotFound(f"flag {flag!r} in environment {environment!r} does not exist")
        self._match({"version": current.version if current else 0}, if_match,
                    f"flag {flag!r} in {environment!r}")
        if approved and approved.definition_version not in (None, definition.version):
            raise PreconditionFailed(definition.version,
                                     f"the definition of flag {flag!r} is at version "
                                     f"{definition.version}, not the reviewed "
                                     f"{approved.definition_version}")
        config = pick(body, CONFIG_KEYS)
        state.configs[flag] = Versioned(config, if_match + 1)
        check(state, focus=f"flags.{flag}", clock=self.now)
        if env.get("protected") and approved is None:
            raise NeedsApproval(project, environment, {**(operation or {
                "type": "flag.config.put", "flag": flag, "body": config,
                "base_version": if_match}), "definition_version": definition.version})
        at = iso(self.now())
        steps = self._config_steps(project, environment, flag, config, if_match + 1, at, call,
                                   action)
        if approved:
            steps.append(approved.step)
            if approved.definition_version is not None:
                # The definition may not move between this read and the commit either.
                steps.append(condition(keys.project_pk(project), keys.flag_definition_sk(flag),
                                       "version = :dv", dv=approved.definition_version))
        self._commit(
            call, steps=steps, bump=[(project, environment)],
            entries=[Entry(Chain.for_environment(project, environment), action,
                           f"projects/{project}/environments/{environment}/flags/{flag}",
                           current.body if current else None, config)],
            on_conflict=lambda: self._conflict_config(project, environment, flag, approved))
        # Built from what was just committed: no read-back.
        return self.env_flag_view(project, environment, flag, definition,
                                  Versioned(config, if_match + 1, at))

    def _conflict_config(self, project: str, environment: str, flag: str,
                         approved: Approved | None) -> NoReturn:
        if approved:
            approved.check_cr()
            definition = self._definition(project, flag)
            if approved.definition_version not in (None, definition.version):
                raise PreconditionFailed(definition.version,
                                         f"the definition of flag {flag!r} moved to version "
                                         f"{definition.version} since it was reviewed")
        self._stale(keys.env_pk(project, environment), keys.flag_config_sk(flag),
                    f"flag {flag!r} in {environment!r}")

    def history(self, project: str, environment: str, flag: str, limit: int,
                cursor: str | None) -> dict[str, Any]:
        """Versions of a flag's configuration in an environment, newest first."""
        self.environment_item(project, environment)
        items, last = self.repo.query(keys.history_pk(project, environment, flag),
                                      keys.HISTORY_SK_PREFIX, limit=limit, start_sk=cursor,
                                      forward=False)
        if not items and cursor is None:
            raise NotFound(f"flag {flag!r} has no history in {environment!r}")
        return {"items": [self.history_view(i) for i in items], "next_cursor": encode_cursor(last)}

    @staticmethod
    def history_view(item: Item) -> dict[str, Any]:
        """Public form of a history item."""
        return {"flag": item["flag"], "version": item["version"],
                "config": orjson.loads(item["body"]), "action": item.get("action"),
                "actor": item.get("actor"), "at": item.get("at")}

    def history_version(self, project: str, environment: str, flag: str, version: int
                        ) -> dict[str, Any]:
        """One version of a flag's configuration."""
        item = self._require_item(keys.history_pk(project, environment, flag),
                                  keys.history_sk(version),
                                  f"version {version} of flag {flag!r} in {environment!r}")
        return self.history_view(item)

    def restore(self, call: Call, project: str, environment: str, flag: str, version: int,
                if_match: int, approved: Approved | None = None) -> dict[str, Any]:
        """Write an old version's configuration as a new version (audited as a restore)."""
        old = self.history_version(project, environment, flag, version)
        return self.put_env_flag(
            call, project, environment, flag, old["config"], if_match, approved,
            action="flag.restore",
            operation={"type": "flag.restore", "flag": flag, "version": version,
                       "body": old["config"], "base_version": if_match})

    def promote(self, call: Call, project: str, flag: str, source: str, target: str,
                if_match: int, approved: Approved | None = None) -> dict[str, Any]:
        """Copy a flag's configuration from one environment to another (``If-Match``: target)."""
        if source == target:
            raise BadRequest("invalid promotion", [Detail("to", "must differ from 'from'")])
        self.environment_item(project, source)
        config = self._config(project, source, flag)
        # The operation carries the source's content and version: a change request approves
        # exactly this content, whatever happens to the source afterwards.
        return self.put_env_flag(
            call, project, target, flag, config.body, if_match, approved, action="flag.promote",
            operation={"type": "flag.promote", "flag": flag, "from": source,
                       "source_version": config.version, "body": config.body,
                       "base_version": if_match})

    # --- segments ---------------------------------------------------------------------------

    @staticmethod
    def segment_view(project: str, environment: str, segment: str, s: Versioned
                     ) -> dict[str, Any]:
        """Public form of a segment."""
        return {"key": segment, "project": project, "environment": environment, **s.body,
                "version": s.version, "updated_at": s.updated_at}

    def get_segment(self, project: str, environment: str, segment: str) -> dict[str, Any]:
        """One segment."""
        item = self._require_item(keys.env_pk(project, environment), keys.segment_sk(segment),
                                  f"segment {segment!r} in {environment!r}")
        return self.segment_view(project, environment, segment, versioned(item))

    def list_segments(self, project: str, environment: str, query: Mapping[str, str],
                      limit: int, cursor: str | None) -> dict[str, Any]:
        """Page of segments (filters ``tag``, ``prefix``)."""
        self.environment_item(project, environment)
        tag = query.get("tag")
        items, last = self.repo.query(keys.env_pk(project, environment),
                                      keys.SEGMENT_SK_PREFIX + query.get("prefix", ""),
                                      limit=limit, start_sk=cursor)
        out = []
        for i in items:
            s = versioned(i)
            if tag is None or tag in s.body.get("tags", []):
                out.append(self.segment_view(project, environment, str(i["segment"]), s))
        return {"items": out, "next_cursor": encode_cursor(last)}

    def write_segment(self, call: Call, project: str, environment: str, segment: str,
                      body: Mapping[str, Any] | None, if_match: int | None,
                      approved: Approved | None = None) -> dict[str, Any]:
        """Create (``if_match`` None), replace, or delete (``body`` None) a segment."""
        env = self.environment_item(project, environment)
        pk, sk = keys.env_pk(project, environment), keys.segment_sk(segment)
        item = self.repo.get(pk, sk)
        what = f"segment {segment!r} in {environment!r}"
        if if_match is None and item is not None:
            raise Conflict(f"{what} already exists")
        if if_match is not None:
            if item is None:
                raise NotFound(f"{what} does not exist")
            self._match(item, if_match, what)
        before = versioned(item).body if item else None
        content = pick(body, SEGMENT_KEYS) if body is not None else None
        state = load_state(self.repo, project, environment)
        version = (if_match or 0) + 1
        if content is None:
            state.segments.pop(segment, None)
        else:
            state.segments[segment] = Versioned(content, version)
        check(state, focus=None if content is None else f"segments.{segment}", clock=self.now)
        if env.get("protected") and approved is None:
            if content is None:
                op: dict[str, Any] = {"type": "segment.delete", "segment": segment,
                                      "base_version": if_match}
            elif if_match is None:
                op = {"type": "segment.create", "segment": segment, "body": content}
            else:
                op = {"type": "segment.put", "segment": segment, "body": content,
                      "base_version": if_match}
            raise NeedsApproval(project, environment, op)
        at = iso(self.now())
        if content is None:
            step = delete(pk, sk, "version = :v", v=if_match)
            action = "segment.delete"
        else:
            new = {"pk": pk, "sk": sk, "segment": segment, "body": canonical(content),
                   "version": version, "updated_at": at}
            step = (put(new, "attribute_not_exists(pk)") if if_match is None
                    else put(new, "version = :v", v=if_match))
            action = "segment.create" if if_match is None else "segment.put"
        steps = [step, *([approved.step] if approved else [])]

        def conflict() -> NoReturn:
            if approved:
                approved.check_cr()
            if if_match is None:
                raise Conflict(f"{what} already exists")
            self._stale(pk, sk, what)

        self._commit(call, steps=steps, bump=[(project, environment)], on_conflict=conflict,
                     entries=[Entry(Chain.for_environment(project, environment), action,
                                    f"projects/{project}/environments/{environment}/segments/"
                                    f"{segment}", before, content)])
        if content is None:
            return {"key": segment, "deleted": True}
        return self.get_segment(project, environment, segment)


def _raise_conflict() -> NoReturn:
    raise Conflict("the resource changed concurrently; re-read and retry")


def authorize_write(principal: Principal, project: str, environment: str | None) -> None:
    """Editors write in scope; project-level writes need every environment in scope."""
    principal.require(Perm.WRITE, project, environment, all_environments=environment is None)
