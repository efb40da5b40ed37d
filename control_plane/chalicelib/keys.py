"""DynamoDB single-table key builders: the only place key strings are spelled.

The layout is documented in ``docs/data-model.md``; every module that reads or writes
the table builds its keys here so the control plane and the publisher cannot drift.
"""

from __future__ import annotations

ENV_SK_PREFIX = "ENV#"
FLAGDEF_SK_PREFIX = "FLAGDEF#"
FLAG_SK_PREFIX = "FLAG#"
SEGMENT_SK_PREFIX = "SEG#"
SDKKEY_SK_PREFIX = "SDKKEY#"
CHANGE_REQUEST_SK_PREFIX = "CR#"


def project_pk(project: str) -> str:
    """Partition of a project: its own item, its environments and flag definitions."""
    return f"P#{project}"


PROJECT_SK = "PROJECT"
# gsi1 partition listing every project item (gsi1sk = project key).
PROJECTS_GSI_PK = "PROJECTS"


def environment_sk(environment: str) -> str:
    """Sort key of an environment item inside its project partition."""
    return f"{ENV_SK_PREFIX}{environment}"


def flag_definition_sk(flag: str) -> str:
    """Sort key of a flag definition (shared by every environment of the project)."""
    return f"{FLAGDEF_SK_PREFIX}{flag}"


def env_pk(project: str, environment: str) -> str:
    """Partition holding one environment's flag configurations, segments, SDK keys and CRs."""
    return f"E#{project}#{environment}"


def flag_config_sk(flag: str) -> str:
    """Sort key of a flag's configuration in an environment partition."""
    return f"{FLAG_SK_PREFIX}{flag}"


def segment_sk(segment: str) -> str:
    """Sort key of a segment in an environment partition."""
    return f"{SEGMENT_SK_PREFIX}{segment}"


def sdk_key_sk(key_id: str) -> str:
    """Sort key of an SDK key record in an environment partition."""
    return f"{SDKKEY_SK_PREFIX}{key_id}"


def change_request_sk(change_request_id: str) -> str:
    """Sort key of a change request in an environment partition."""
    return f"{CHANGE_REQUEST_SK_PREFIX}{change_request_id}"


def history_pk(project: str, environment: str, flag: str) -> str:
    """Partition of one flag's configuration history in one environment."""
    return f"H#{project}#{environment}#{flag}"


def history_sk(version: int) -> str:
    """Sort key of one version in a history partition (zero-padded so it sorts)."""
    return f"V#{version:012d}"


def audit_pk(project: str, environment: str) -> str:
    """Partition of one environment's hash-chained audit log."""
    return f"A#{project}#{environment}"


def audit_sk(sequence: int) -> str:
    """Sort key of one audit record (zero-padded sequence number)."""
    return f"R#{sequence:012d}"


def token_pk(secret_sha256_hex: str) -> str:
    """Partition of an API token, addressed by the SHA-256 of its secret."""
    return f"T#{secret_sha256_hex}"


TOKEN_SK = "TOKEN"  # noqa: S105 - a sort key, not a secret


def parse_environment_key(pk: str, sk: str) -> tuple[str, str] | None:
    """Return (project, environment) when (pk, sk) is an environment item, else None."""
    if not (pk.startswith("P#") and sk.startswith(ENV_SK_PREFIX)):
        return None
    return pk[2:], sk[len(ENV_SK_PREFIX):]


# --- additions by the control plane (audit global chain, token index) -------------------

GLOBAL_CHAIN = "_global"
"""Chain name of the global audit log (a name no project can take: keys start [a-z0-9])."""

GLOBAL_AUDIT_HEAD_PK = "AUDIT#_global"
GLOBAL_AUDIT_HEAD_SK = "HEAD"
TOKENS_GSI_PK = "TOKENS"
HISTORY_SK_PREFIX = "V#"
AUDIT_SK_PREFIX = "R#"


def global_audit_pk() -> str:
    """Partition of the global audit chain (projects, environments, tokens)."""
    return f"A#{GLOBAL_CHAIN}"


# --- changesets (chalicelib/changesets.py; docs/data-model.md) ---------------------------

CHANGESET_HEAD_SK = "HEAD"
CHANGESET_LOCK_ATTR = "cs_lock"
"""Environment-item attribute: the changeset lock token (the publisher never publishes while
it is present; every other writer refuses or recovers)."""
CHANGESET_SEQ_ATTR = "cs_seq"
"""Environment-item attribute moved by every changeset lock and rollback (snapshot compares it)."""
CHANGESET_JOURNAL_SK_PREFIX = "B#"
CHANGESET_MANIFEST_SK_PREFIX = "M#"


def changeset_pk(project: str, changeset_id: str) -> str:
    """Partition of one changeset: its journal head, before-image chunks and manifest."""
    return f"CS#{project}#{changeset_id}"


def changeset_journal_sk(chunk: int) -> str:
    """Sort key of the before-images of one written chunk (zero-padded so it sorts)."""
    return f"{CHANGESET_JOURNAL_SK_PREFIX}{chunk:06d}"


def changeset_manifest_sk(part: int) -> str:
    """Sort key of one part of a changeset's manifest (every change with its hash)."""
    return f"{CHANGESET_MANIFEST_SK_PREFIX}{part:06d}"


# --- release strategies and guarded rollouts (usecases/strategies.py, usecases/rollouts.py) --

STRATEGY_SK_PREFIX = "STRATEGY#"
ROLLOUT_SK_PREFIX = "ROLLOUT#"
ROLLOUTS_GSI_PK = "ROLLOUTS"
"""gsi1 partition of the rollouts the controller must visit (running, or a notification still
owed); a rollout leaves it (``gsi1pk`` removed) once nothing is left to do."""


def strategy_sk(strategy: str) -> str:
    """Sort key of a release strategy inside its project partition."""
    return f"{STRATEGY_SK_PREFIX}{strategy}"


def rollout_sk(flag: str) -> str:
    """Sort key of a flag's guarded rollout in an environment partition (beside the flag)."""
    return f"{ROLLOUT_SK_PREFIX}{flag}"


def rollout_gsi_sk(project: str, environment: str, flag: str) -> str:
    """gsi1 sort key of an active rollout (``#`` never occurs in keys)."""
    return f"{project}#{environment}#{flag}"

# --- evaluation insights and code references (docs/insights.md) ---------------------------
# Their own partitions: no sort key starts with ENV#, so the publisher's stream filter never
# delivers them, and nothing about them touches an environment's revision.
INSIGHTS_DAY_SK_PREFIX = "D#"
INSIGHTS_SUMMARY_SK_PREFIX = "S#"
CODE_REFS_SK_PREFIX = "R#"
INSIGHTS_TTL_ATTRIBUTE = "insights_ttl"  # the table's TTL attribute (infra/dynamodb.tf)


def insights_pk(project: str, environment: str) -> str:
    """Partition of one environment's evaluation counters (one item per flag and UTC day)."""
    return f"INS#{project}#{environment}"


def insights_day_sk(day: str, flag: str) -> str:
    """Sort key of a flag's counters on a UTC day (``YYYY-MM-DD``): days sort, then flags."""
    return f"{INSIGHTS_DAY_SK_PREFIX}{day}#{flag}"


def insights_summary_sk(day: str) -> str:
    """Sort key of an environment's per-day ingest summary (SDKs seen, dropped counters)."""
    return f"{INSIGHTS_SUMMARY_SK_PREFIX}{day}"


def code_refs_pk(project: str) -> str:
    """Partition of a project's code references (one item per repository)."""
    return f"REFS#{project}"


def code_refs_sk(repository: str) -> str:
    """Sort key of one repository's latest code-reference scan."""
    return f"{CODE_REFS_SK_PREFIX}{repository}"

# List segments (docs/data-model.md, "List segments"): the list's state beside its segment
# (read by the publisher's snapshot with the rest of the partition), and its member batches
# in a partition of their own per list incarnation (a re-created segment gets a new list id,
# so batches of a deleted list can never reach it).
LIST_SK_PREFIX = "LIST#"
LIST_BATCH_SK_PREFIX = "B#"
LIST_BATCH_ID_SK_PREFIX = "I#"
LIST_IMPORT_SK_PREFIX = "IMPORT#"


def list_sk(segment: str) -> str:
    """Sort key of a list segment's state (list id, sequence, wrapped secret)."""
    return f"{LIST_SK_PREFIX}{segment}"


def list_batches_pk(project: str, environment: str, list_id: str) -> str:
    """Partition of one list's member batches, idempotency records and imports."""
    return f"L#{project}#{environment}#{list_id}"


def list_batch_sk(seq: int) -> str:
    """Sort key of the list's ``seq``-th member batch (applied in this order)."""
    return f"{LIST_BATCH_SK_PREFIX}{seq:012d}"


def list_batch_id_sk(batch_id: str) -> str:
    """Sort key of the record that makes a batch id idempotent."""
    return f"{LIST_BATCH_ID_SK_PREFIX}{batch_id}"


def list_imports_pk(project: str, environment: str, segment: str) -> str:
    """Partition of one list segment's bulk imports (status records)."""
    return f"LI#{project}#{environment}#{segment}"


def list_import_sk(import_id: str) -> str:
    """Sort key of one bulk import's status record."""
    return f"{LIST_IMPORT_SK_PREFIX}{import_id}"
