"""An environment's current state read through the API, and the writes ``apply`` makes.

This module is the only place in the CLI that knows the control plane's routes and
response shapes for flags, segments, projects and environments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from edge_reader.engine.fields import CONFIG_FIELDS, DEFINITION_FIELDS, merge_flag, split_flag
from vexil.api import ApiClient, Response, path, version_etag
from vexil.errors import ApiError
from vexil.flagsfile import FlagsFile, normalize_flag, normalize_segment

# Change requests that may still be applied (see the control plane's approvals module).
OPEN_CHANGE_REQUEST = frozenset({"pending", "approved"})
PAGE = 200  # the API's largest page: a 10,000-flag plan reads in 100 calls, not 400


@dataclass
class RemoteFlag:
    """A flag's definition and its configuration in one environment, with versions."""

    key: str
    definition: dict[str, Any]
    definition_version: int
    configuration: dict[str, Any]
    configuration_version: int


@dataclass
class RemoteSegment:
    """A segment of one environment, with its version."""

    key: str
    body: dict[str, Any]
    version: int


class PendingRequest(NamedTuple):
    """An open change request: its id, the operation it proposes, and the environment it
    was filed in (a definition change is filed in the project's first protected
    environment, whichever environment the file is for)."""

    id: str
    operation: dict[str, Any]
    environment: str


@dataclass
class RemoteState:
    """What the API holds for one project environment."""

    project: str
    environment: str
    project_exists: bool = True
    environment_exists: bool = True
    protected: bool = False
    flags: dict[str, RemoteFlag] = field(default_factory=dict)
    segments: dict[str, RemoteSegment] = field(default_factory=dict)
    # Open change requests that concern this environment (see _open_change_requests).
    pending: list[PendingRequest] = field(default_factory=list)

    def to_flags_file(self) -> FlagsFile:
        """The state as a flags file (what ``vexil export`` writes)."""
        flags = {
            k: normalize_flag(merge_flag(f.definition, f.configuration))
            for k, f in self.flags.items()
        }
        segments = {k: s.body for k, s in self.segments.items()}
        return FlagsFile(self.project, self.environment, flags, segments)


def project_path(project: str) -> str:
    """``/v1/projects/<p>``."""
    return path("v1", "projects", project)


def env_path(project: str, environment: str) -> str:
    """``/v1/projects/<p>/environments/<e>``."""
    return path("v1", "projects", project, "environments", environment)


def _version(item: Mapping[str, Any], etag: str | None = None) -> int:
    raw = item.get("version")
    if raw is None and etag:
        raw = etag.strip('W/"')
    try:
        return int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0


def _unwrap(body: Any, *names: str) -> dict[str, Any]:
    """Responses may wrap the entity (``{"flag": {...}}``); return the entity itself."""
    if isinstance(body, dict):
        for name in names:
            inner = body.get(name)
            if isinstance(inner, dict):
                return inner
        return body
    return {}


def _definition(item: Mapping[str, Any]) -> dict[str, Any]:
    src = _unwrap(item, "definition")
    flag = normalize_flag({k: v for k, v in src.items() if k in DEFINITION_FIELDS})
    flag.pop("enabled", None)
    return flag


def _configuration(item: Mapping[str, Any]) -> dict[str, Any]:
    src = _unwrap(item, "configuration", "config")
    return split_flag(normalize_flag({k: v for k, v in src.items() if k in CONFIG_FIELDS}))[1]


def _config_version(item: Mapping[str, Any]) -> int:
    inner = item.get("configuration") or item.get("config")
    if isinstance(inner, dict) and "version" in inner:
        return _version(inner)
    return _version(item)


def _exists(api: ApiClient, url_path: str) -> tuple[bool, Any]:
    try:
        return True, api.get(url_path).body
    except ApiError as exc:
        if exc.status == 404:
            return False, None
        raise


def fetch_state(api: ApiClient, project: str, environment: str) -> RemoteState:
    """Read the project's flag definitions and the environment's configs and segments."""
    state = RemoteState(project, environment)
    state.project_exists, _ = _exists(api, project_path(project))
    if not state.project_exists:
        state.environment_exists = False
        return state
    state.environment_exists, env_body = _exists(api, env_path(project, environment))
    if isinstance(env_body, dict):
        state.protected = bool(_unwrap(env_body, "environment").get("protected", False))
    definitions = {
        str(item["key"]): item
        for item in api.paginate(project_path(project) + "/flags", limit=PAGE)
    }
    base = env_path(project, environment)
    # A new environment of an existing project: the shared definitions exist already (a
    # plan must update them, not create them); it configures nothing yet (version 0).
    configs = ({str(item["key"]): item for item in api.paginate(base + "/flags", limit=PAGE)}
               if state.environment_exists else {})
    for key, item in definitions.items():
        config = configs.get(key, {})
        state.flags[key] = RemoteFlag(
            key=key,
            definition=_definition(item),
            definition_version=_version(_unwrap(item, "definition")),
            configuration=_configuration(config),
            configuration_version=_config_version(config),
        )
    if not state.environment_exists:
        return state
    state.pending = _open_change_requests(api, project, environment)
    for item in api.paginate(base + "/segments", limit=PAGE):
        state.segments[str(item["key"])] = RemoteSegment(
            key=str(item["key"]),
            body=normalize_segment(_unwrap(item, "segment")),
            version=_version(_unwrap(item, "segment")),
        )
    return state


def _open_change_requests(
    api: ApiClient, project: str, environment: str
) -> list[PendingRequest]:
    """Open change requests that a plan for ``environment`` must not file again.

    All of this environment's (if protected), plus definition changes filed in any other
    protected environment: the control plane files a definition write in the project's
    first protected environment, whichever environment the file is for.
    """
    out: list[PendingRequest] = []
    envs = list(api.paginate(project_path(project) + "/environments"))
    for env in envs:
        if not env.get("protected"):
            continue
        name = str(env.get("environment") or env.get("key"))
        try:
            requests = list(api.paginate(env_path(project, name) + "/change-requests"))
        except ApiError as exc:
            # A token scoped to other environments cannot see these; the plan for its own
            # environment does not depend on them.
            if exc.status == 403 and name != environment:
                continue
            raise
        for cr in requests:
            op = cr.get("operation")
            if cr.get("status") not in OPEN_CHANGE_REQUEST or not isinstance(op, dict):
                continue
            target = str(op.get("environment", name)) if op.get("type") == "changeset" else name
            for single in _single_operations(op):
                if target == environment or str(single.get("type", "")).startswith(
                        ("flag.definition.", "flag.create")):
                    out.append(PendingRequest(str(cr.get("id")), single, name))
    return out


def _single_operations(op: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A filed operation as the one-item operations a plan compares with (a changeset
    request proposes each of its items)."""
    if op.get("type") != "changeset":
        return [dict(op)]
    out: list[dict[str, Any]] = []
    for item in op.get("changes") or []:
        kind, key, base = item.get("kind"), item.get("key"), item.get("base_version")
        body, deleting = item.get("body"), item.get("action") == "delete"
        if kind == "definition":
            out.append({"type": "flag.definition.delete", "flag": key, "base_version": base}
                       if deleting else {"type": "flag.create", "flag": key} if base == 0
                       else {"type": "flag.definition.put", "flag": key, "body": body,
                             "base_version": base})
        elif kind == "config" and not deleting:
            out.append({"type": "flag.config.put", "flag": key, "body": body,
                        "base_version": base})
        elif kind == "segment":
            out.append({"type": "segment.delete", "segment": key, "base_version": base}
                       if deleting else {"type": "segment.create", "segment": key, "body": body}
                       if base == 0 else {"type": "segment.put", "segment": key, "body": body,
                                          "base_version": base})
    return out


@dataclass
class WriteResult:
    """What one write did: applied now, or became a change request awaiting approval."""

    applied: bool
    change_request: str | None = None


def _result(resp: Response) -> WriteResult:
    if resp.status == 202:
        body = resp.body if isinstance(resp.body, dict) else {}
        cr = _unwrap(body, "change_request")
        return WriteResult(applied=False, change_request=str(cr.get("id", "?")))
    return WriteResult(applied=True)


class Writer:
    """The writes of ``apply``, each conditional on the version the plan read."""

    def __init__(self, api: ApiClient, project: str, environment: str, reason: str | None):
        self.api = api
        self.project = project
        self.environment = environment
        self.reason = reason

    def _send(
        self, method: str, url: str, body: Any = None, version: int | None = None
    ) -> WriteResult:
        if_match = version_etag(version) if version is not None else None
        return _result(
            self.api.request(method, url, body=body, if_match=if_match, reason=self.reason)
        )

    def create_project(self) -> WriteResult:
        """POST /v1/projects."""
        return self._send("POST", path("v1", "projects"), {"key": self.project})

    def create_environment(self) -> WriteResult:
        """POST /v1/projects/<p>/environments."""
        return self._send(
            "POST", project_path(self.project) + "/environments", {"key": self.environment}
        )

    def create_segment(self, key: str, body: Mapping[str, Any]) -> WriteResult:
        """POST .../segments."""
        url = env_path(self.project, self.environment) + "/segments"
        return self._send("POST", url, {"key": key, **body})

    def put_segment(self, key: str, body: Mapping[str, Any], version: int) -> WriteResult:
        """PUT .../segments/<s> with If-Match."""
        url = env_path(self.project, self.environment) + path("segments", key)
        return self._send("PUT", url, dict(body), version)

    def delete_segment(self, key: str, version: int) -> WriteResult:
        """DELETE .../segments/<s> with If-Match."""
        url = env_path(self.project, self.environment) + path("segments", key)
        return self._send("DELETE", url, None, version)

    def create_flag(self, key: str, definition: Mapping[str, Any]) -> WriteResult:
        """POST /v1/projects/<p>/flags (configurations start disabled in every env)."""
        return self._send(
            "POST", project_path(self.project) + "/flags", {"key": key, **definition}
        )

    def put_definition(self, key: str, body: Mapping[str, Any], version: int) -> WriteResult:
        """PUT /v1/projects/<p>/flags/<f> with If-Match."""
        return self._send("PUT", project_path(self.project) + path("flags", key), dict(body),
                          version)

    def delete_flag(self, key: str, version: int) -> WriteResult:
        """DELETE /v1/projects/<p>/flags/<f> with If-Match."""
        return self._send("DELETE", project_path(self.project) + path("flags", key), None,
                          version)

    def config_version(self, key: str) -> int:
        """The current version of a flag's configuration in this environment (0: none yet —
        a new flag is not configured in a protected environment until a change request is)."""
        url = env_path(self.project, self.environment) + path("flags", key)
        try:
            resp = self.api.get(url)
        except ApiError as exc:
            if exc.status == 404:
                return 0
            raise
        body = resp.body if isinstance(resp.body, dict) else {}
        return _config_version(body) or _version({}, resp.etag)

    def put_configuration(
        self, key: str, body: Mapping[str, Any], version: int
    ) -> WriteResult:
        """PUT .../environments/<e>/flags/<f> with If-Match (202 in a protected env)."""
        url = env_path(self.project, self.environment) + path("flags", key)
        return self._send("PUT", url, dict(body), version)


@dataclass
class ChangesetResult:
    """What one changeset did: live at ``revision``, or filed as ``change_request`` to be
    reviewed in ``environment`` (the target itself, or the protected environment a shared
    definition change reaches)."""

    applied: bool
    environment: str
    revision: int | None = None
    changeset: str | None = None
    change_request: str | None = None


def send_changeset(api: ApiClient, project: str, environment: str,
                   changes: list[dict[str, Any]], reason: str | None) -> ChangesetResult:
    """POST .../changesets: every change at once, applied as one revision or not at all."""
    body: dict[str, Any] = {"changes": changes}
    if reason:
        body["reason"] = reason
    resp = api.request("POST", env_path(project, environment) + "/changesets", body=body)
    out = resp.body if isinstance(resp.body, dict) else {}
    if resp.status == 202:
        cr = _unwrap(out, "change_request")
        return ChangesetResult(False, str(cr.get("environment", environment)),
                               change_request=str(cr.get("id", "?")))
    return ChangesetResult(True, environment, revision=int(out.get("revision", 0)),
                           changeset=str(out.get("changeset", "")))


# --- evaluation insights and code references (docs/insights.md) ---------------------------


def flag_keys(api: ApiClient, project: str) -> list[str]:
    """Every flag key of a project (all pages of ``GET /flags``)."""
    return [str(item["key"]) for item in api.paginate(project_path(project) + "/flags")]


def stale_flags(api: ApiClient, project: str, environment: str, days: int) -> dict[str, Any]:
    """The stale-flags view (``GET .../insights/stale?days=N``): ``items`` with ``reasons``."""
    body = api.get(env_path(project, environment) + f"/insights/stale?days={days}").body
    return dict(body or {})


def put_code_references(api: ApiClient, project: str, repository: str,
                        body: Mapping[str, Any]) -> dict[str, Any]:
    """Replace one repository's code references; the stored view comes back."""
    url = project_path(project) + path("code-references", repository)
    return dict(api.request("PUT", url, body=dict(body)).body or {})
