"""The route table: every route's path, method, permission, body schema and responses.

app.py registers exactly these routes; the OpenAPI document, docs/roles.md and the RBAC
test are all generated from this table, so a route cannot exist without a permission, a
schema and documentation.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.rbac import Perm

P = "/v1/projects/{project}"
E = P + "/environments/{env}"


@dataclass(frozen=True)
class RouteSpec:
    """One route."""

    path: str
    method: str
    perm: Perm
    operation_id: str
    summary: str
    request: str | None = None  # schema name in chalicelib.schemas.REQUESTS
    status: int = 200
    if_match: bool = False  # write that needs If-Match
    protected: bool = False  # may answer 202 with a change request
    all_environments: bool = False  # project-level write: editors need environments ["*"]
    query: tuple[str, ...] = ()
    tag: str = "flags"
    max_body: int | None = None  # bytes; None: the default (chalicelib.requests.MAX_BODY_BYTES)
    item_versions: bool = False  # base versions per item in the body (412 names every one)


ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec("/v1/health", "GET", Perm.PUBLIC, "health", "Liveness", tag="meta"),
    RouteSpec("/v1/openapi.json", "GET", Perm.PUBLIC, "openapi", "This OpenAPI document",
              tag="meta"),
    RouteSpec("/v1/projects", "POST", Perm.ADMIN, "createProject", "Create a project",
              "ProjectCreate", 201, tag="projects"),
    RouteSpec("/v1/projects", "GET", Perm.READ, "listProjects", "Projects in the token's scope",
              tag="projects"),
    RouteSpec(P, "GET", Perm.READ, "getProject", "One project", tag="projects"),
    RouteSpec(P + "/environments", "POST", Perm.ADMIN, "createEnvironment",
              "Create an environment (existing flags get their default configuration)",
              "EnvironmentCreate", 201, tag="environments"),
    RouteSpec(P + "/environments", "GET", Perm.READ, "listEnvironments", "Environments",
              tag="environments"),
    RouteSpec(E, "GET", Perm.READ, "getEnvironment", "One environment (revision, audit head)",
              tag="environments"),
    RouteSpec(E, "PATCH", Perm.ADMIN, "patchEnvironment", "Rename or (un)protect",
              "EnvironmentPatch", if_match=True, protected=True, tag="environments"),
    RouteSpec(E + "/sdk-keys", "POST", Perm.ADMIN, "createSdkKey",
              "Create an SDK key (its text is returned once)", "SdkKeyCreate", 201,
              tag="sdk-keys"),
    RouteSpec(E + "/sdk-keys", "GET", Perm.READ, "listSdkKeys", "SDK key records (no secrets)",
              tag="sdk-keys"),
    RouteSpec(E + "/sdk-keys/{key_id}", "DELETE", Perm.ADMIN, "revokeSdkKey",
              "Revoke an SDK key", "Reason", tag="sdk-keys"),
    RouteSpec(P + "/flags", "POST", Perm.WRITE, "createFlag",
              "Create a flag (definition + disabled configuration in every environment)",
              "FlagCreate", 201, all_environments=True),
    RouteSpec(P + "/flags", "GET", Perm.READ, "listFlags", "Flag definitions (paginated)",
              query=("cursor", "limit", "tag", "prefix")),
    RouteSpec(P + "/flags/{flag}", "GET", Perm.READ, "getFlag", "One flag definition"),
    RouteSpec(P + "/flags/{flag}", "PUT", Perm.WRITE, "putFlag",
              "Replace a flag definition (must compile in every environment)",
              "FlagDefinitionPut", if_match=True, protected=True, all_environments=True),
    RouteSpec(P + "/flags/{flag}", "DELETE", Perm.WRITE, "deleteFlag",
              "Delete a flag everywhere", "Reason", if_match=True, protected=True,
              all_environments=True),
    RouteSpec(P + "/flags/{flag}/promote", "POST", Perm.WRITE, "promoteFlag",
              "Copy a flag's configuration between environments (If-Match: target version)",
              "FlagPromote", if_match=True, protected=True),
    RouteSpec(E + "/flags", "GET", Perm.READ, "listEnvironmentFlags",
              "Flags with their configuration in an environment (paginated)",
              query=("cursor", "limit", "tag", "prefix")),
    RouteSpec(E + "/flags/{flag}", "GET", Perm.READ, "getEnvironmentFlag",
              "A flag's configuration in an environment"),
    RouteSpec(E + "/flags/{flag}", "PUT", Perm.WRITE, "putEnvironmentFlag",
              "Replace a flag's configuration in an environment", "FlagConfigPut",
              if_match=True, protected=True),
    RouteSpec(E + "/flags/{flag}/history", "GET", Perm.READ, "flagHistory",
              "Configuration versions, newest first", query=("cursor", "limit")),
    RouteSpec(E + "/flags/{flag}/history/{version}", "GET", Perm.READ, "flagHistoryVersion",
              "One configuration version"),
    RouteSpec(E + "/flags/{flag}/restore", "POST", Perm.WRITE, "restoreFlag",
              "Write an old version as a new one", "FlagRestore", if_match=True, protected=True),
    RouteSpec(E + "/segments", "POST", Perm.WRITE, "createSegment", "Create a segment",
              "SegmentCreate", 201, protected=True, tag="segments"),
    RouteSpec(E + "/segments", "GET", Perm.READ, "listSegments", "Segments (paginated)",
              query=("cursor", "limit", "tag", "prefix"), tag="segments"),
    RouteSpec(E + "/segments/{segment}", "GET", Perm.READ, "getSegment", "One segment",
              tag="segments"),
    RouteSpec(E + "/segments/{segment}", "PUT", Perm.WRITE, "putSegment", "Replace a segment",
              "SegmentPut", if_match=True, protected=True, tag="segments"),
    RouteSpec(E + "/segments/{segment}", "DELETE", Perm.WRITE, "deleteSegment",
              "Delete a segment", "Reason", if_match=True, protected=True, tag="segments"),
    RouteSpec(E + "/segments/{segment}/members", "POST", Perm.WRITE, "changeSegmentMembers",
              "Add/remove up to 10,000 members of a list segment (batch_id is an idempotency "
              "key: the same ids replay the first answer, other ids are 409)",
              "SegmentMembers", protected=True, tag="segments", max_body=4 * 1024 * 1024),
    RouteSpec(E + "/segments/{segment}/members", "GET", Perm.READ, "getSegmentMembers",
              "A list segment's size and sequence", tag="segments"),
    RouteSpec(E + "/segments/{segment}/imports", "POST", Perm.WRITE, "createSegmentImport",
              "Start a bulk import of a list segment's members: answers a presigned upload URL",
              "SegmentImport", 201, tag="segments"),
    RouteSpec(E + "/segments/{segment}/imports/{import_id}", "GET", Perm.READ,
              "getSegmentImport", "A bulk import's status, counts and errors", tag="segments"),
    RouteSpec(E + "/segments/{segment}/imports/{import_id}/start", "POST", Perm.WRITE,
              "startSegmentImport", "Queue an uploaded import for asynchronous processing",
              "Reason", 202, tag="segments"),
    RouteSpec(E + "/impact", "POST", Perm.READ, "computeImpact",
              "Dry run: variations served to a sample of contexts before and after a proposed "
              "flag configuration (nothing is written)", "ImpactRequest", tag="impact"),
    RouteSpec(E + "/changesets", "POST", Perm.WRITE, "applyChangeset",
              "Apply many changes at once: one revision, one publish, one audit record, "
              "all or nothing (a change request in a protected environment)", "Changeset",
              protected=True, tag="changesets", max_body=6 * 1024 * 1024, item_versions=True),
    RouteSpec(E + "/changesets/{changeset_id}", "GET", Perm.READ, "getChangeset",
              "An applied changeset's manifest: every change with its content hash",
              tag="changesets"),
    RouteSpec(E + "/change-requests", "POST", Perm.WRITE, "createChangeRequest",
              "Propose an operation on a protected environment", "ChangeRequestCreate", 201,
              tag="change-requests"),
    RouteSpec(E + "/change-requests", "GET", Perm.READ, "listChangeRequests",
              "Change requests", query=("cursor", "limit", "status"), tag="change-requests"),
    RouteSpec(E + "/change-requests/{cr_id}", "GET", Perm.READ, "getChangeRequest",
              "One change request", tag="change-requests"),
    RouteSpec(E + "/change-requests/{cr_id}", "PUT", Perm.WRITE, "editChangeRequest",
              "Replace the operation (voids approvals)", "ChangeRequestEdit", if_match=True,
              tag="change-requests"),
    RouteSpec(E + "/change-requests/{cr_id}/approve", "POST", Perm.WRITE, "approveChangeRequest",
              "Approve (not by the author)", "Reason", if_match=True, tag="change-requests"),
    RouteSpec(E + "/change-requests/{cr_id}/reject", "POST", Perm.WRITE, "rejectChangeRequest",
              "Reject", "Reason", if_match=True, tag="change-requests"),
    RouteSpec(E + "/change-requests/{cr_id}/apply", "POST", Perm.WRITE, "applyChangeRequest",
              "Apply an approved request", "Reason", if_match=True, tag="change-requests"),
    RouteSpec(P + "/strategies", "POST", Perm.WRITE, "createStrategy",
              "Create a release strategy (linear, exponential or custom steps, bake times)",
              "StrategyCreate", 201, tag="rollouts"),
    RouteSpec(P + "/strategies", "GET", Perm.READ, "listStrategies", "Release strategies",
              tag="rollouts"),
    RouteSpec(P + "/strategies/{strategy}", "GET", Perm.READ, "getStrategy",
              "One release strategy with its computed steps", tag="rollouts"),
    RouteSpec(P + "/strategies/{strategy}", "DELETE", Perm.WRITE, "deleteStrategy",
              "Delete a release strategy (running rollouts keep their copy)", "Reason",
              if_match=True, tag="rollouts"),
    RouteSpec(E + "/rollouts", "GET", Perm.READ, "listRollouts",
              "Every flag's latest guarded rollout in an environment", tag="rollouts"),
    RouteSpec(E + "/flags/{flag}/rollout", "POST", Perm.WRITE, "startRollout",
              "Start a guarded rollout (a change request in a protected environment)",
              "RolloutStart", 201, protected=True, tag="rollouts"),
    RouteSpec(E + "/flags/{flag}/rollout", "GET", Perm.READ, "getRollout",
              "A flag's guarded rollout: step, next step time, guard states, history",
              tag="rollouts"),
    RouteSpec(E + "/flags/{flag}/rollout/pause", "POST", Perm.WRITE, "pauseRollout",
              "Pause a running rollout (the current step keeps serving)", "Reason",
              if_match=True, tag="rollouts"),
    RouteSpec(E + "/flags/{flag}/rollout/resume", "POST", Perm.WRITE, "resumeRollout",
              "Resume a paused rollout under its plan", "Reason", if_match=True,
              tag="rollouts"),
    RouteSpec(E + "/flags/{flag}/rollout/complete", "POST", Perm.WRITE, "completeRollout",
              "Finish a rollout now: the target for everyone (a change request in a "
              "protected environment)", "Reason", if_match=True, protected=True,
              tag="rollouts"),
    RouteSpec(E + "/flags/{flag}/rollout/abort", "POST", Perm.WRITE, "abortRollout",
              "Stop a rollout; by default the flag serves its pre-rollout fallthrough again",
              "RolloutAbort", if_match=True, tag="rollouts"),
    RouteSpec("/v1/tokens", "POST", Perm.ADMIN, "createToken",
              "Create an API token (its text is returned once)", "TokenCreate", 201,
              tag="tokens"),
    RouteSpec("/v1/tokens", "GET", Perm.ADMIN, "listTokens", "Tokens (no secrets)", tag="tokens"),
    RouteSpec("/v1/tokens/self", "GET", Perm.SELF, "getTokenSelf", "The calling token",
              tag="tokens"),
    RouteSpec("/v1/tokens/{token_id}", "DELETE", Perm.ADMIN, "revokeToken", "Revoke a token",
              "Reason", tag="tokens"),
    RouteSpec("/v1/audit", "GET", Perm.AUDIT, "listAudit",
              "Audit records of a chain (environment, or global when no project is given)",
              query=("project", "environment", "cursor", "limit"), tag="audit"),
    RouteSpec("/v1/audit/verify", "POST", Perm.AUDIT, "verifyAudit",
              "Recompute a chain and report the first break", "AuditVerify", tag="audit"),
    RouteSpec("/v1/insights/evaluations", "POST", Perm.SDK_KEY, "ingestEvaluations",
              "A reader's evaluation summary (authenticated by the environment's SDK key)",
              "EvaluationSummary", tag="insights", max_body=1024 * 1024),
    RouteSpec(E + "/insights/stale", "GET", Perm.READ, "staleFlags",
              "Flags not evaluated, serving one variation, expired or unreferenced for N days",
              query=("days",), tag="insights"),
    RouteSpec(P + "/code-references", "GET", Perm.READ, "listCodeReferences",
              "Every repository's latest code references", tag="insights"),
    RouteSpec(P + "/code-references/{repository}", "PUT", Perm.WRITE, "putCodeReferences",
              "Replace a repository's code references (`vexil refs --upload`)",
              "CodeReferencesPut", tag="insights", max_body=350 * 1024),
)

BY_KEY: dict[tuple[str, str], RouteSpec] = {(r.path, r.method): r for r in ROUTES}
