"""JSON Schemas of every request body — used both to validate and to write the OpenAPI doc.

These check the envelope (field names, types, sizes). The flag/segment content itself
(rules, clauses, operators, rollouts) is validated by the flag engine's strict compiler, the
one readers use, so the two cannot disagree.
"""

from __future__ import annotations

from typing import Any

from edge_reader.engine import fields
from edge_reader.engine.keys import KEY_JSON_PATTERN

KEY_PATTERN = KEY_JSON_PATTERN  # the engine's key rule, in the JSON Schema dialect

Schema = dict[str, Any]

KEY: Schema = {"type": "string", "pattern": KEY_PATTERN}
SCOPE_NAME: Schema = {"type": "string", "anyOf": [{"pattern": KEY_PATTERN}, {"const": "*"}]}
REASON: Schema = {"type": "string", "maxLength": 1000}
TEXT: Schema = {"type": "string", "maxLength": 1000}
STRINGS: Schema = {"type": "array", "items": {"type": "string", "maxLength": 256}, "maxItems": 1000}
VERSION: Schema = {"type": "integer", "minimum": 1}


def obj(properties: dict[str, Schema], required: tuple[str, ...] = (), **extra: Any) -> Schema:
    """An object schema that rejects unknown fields."""
    schema: Schema = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        **extra,
    }
    if required:
        schema["required"] = list(required)
    return schema


def per_field(names: tuple[str, ...], schemas: dict[str, Schema]) -> dict[str, Schema]:
    """``schemas`` in the order of ``names``; raise ValueError unless both name the same fields.

    The field names belong to ``edge_reader.engine.fields``; this module only adds a schema
    to each, so a field added there and not here (or the reverse) stops the API loading.
    """
    if set(names) != set(schemas):
        raise ValueError(
            "request schemas out of step with edge_reader.engine.fields: "
            f"{sorted(set(names) ^ set(schemas))}"
        )
    return {name: schemas[name] for name in names}


DEFINITION_FIELDS: dict[str, Schema] = per_field(fields.DEFINITION_FIELDS, {
    "kind": {"type": "string", "enum": ["boolean", "string", "number", "json"]},
    "variations": {"type": "object", "minProperties": 1, "maxProperties": 100},
    "schema": {"type": "object"},
    "description": TEXT,
    "tags": {**STRINGS, "uniqueItems": True},
    "client_visible": {"type": "boolean"},
    "deprecated": {"type": "boolean"},
    # The engine's flag.schema.json allows string, number and boolean values (OpenFeature
    # flag metadata); only strings get a length cap.
    "metadata": {
        "type": "object",
        "additionalProperties": {
            "oneOf": [
                {"type": "string", "maxLength": 1000},
                {"type": "number"},
                {"type": "boolean"},
            ]
        },
    },
})

CONFIG_FIELDS: dict[str, Schema] = per_field(fields.CONFIG_FIELDS, {
    "enabled": {"type": "boolean"},
    "off_variation": {"type": "string"},
    "prerequisites": {"type": "array", "items": {"type": "object"}},
    "targets": {"type": "array", "items": {"type": "object"}},
    "rules": {"type": "array", "items": {"type": "object"}},
    "default": {"type": "object"},
})

SEGMENT_FIELDS: dict[str, Schema] = per_field(fields.SEGMENT_FIELDS, {
    "context_kind": {"type": "string"},
    "included": STRINGS,
    "excluded": STRINGS,
    "rules": {"type": "array", "items": {"type": "object"}},
    "description": TEXT,
    "tags": {**STRINGS, "uniqueItems": True},
    "type": {"type": "string", "enum": ["rules", "list"]},
})

# List segments' member batches (usecases/lists.py): the ids are checked there (count,
# duplicates, both added and removed) so the 400 can say how many and which.
BATCH_ID: Schema = {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"}
MEMBER_IDS: Schema = {"type": "array", "maxItems": 10_000, "items": {"type": "string"}}

FLAG_CONFIG: Schema = obj(CONFIG_FIELDS, ("enabled",))
SEGMENT_BODY: Schema = obj(SEGMENT_FIELDS)
FLAG_DEFINITION: Schema = obj(DEFINITION_FIELDS, ("kind", "variations"))

# One attribute's distribution in a generated impact sample (docs/console.md).
IMPACT_DISTRIBUTION: Schema = {"oneOf": [
    obj({"value": {}}, ("value",)),
    obj({"values": {"type": "array", "minItems": 1, "maxItems": 1000},
         "weights": {"type": "array", "items": {"type": "number", "minimum": 0},
                     "maxItems": 1000}}, ("values",)),
    obj({"min": {"type": "integer"}, "max": {"type": "integer"}}, ("min", "max")),
]}

REQUESTS: dict[str, Schema] = {
    "ProjectCreate": obj({"key": KEY, "name": TEXT, "reason": REASON}, ("key",)),
    "EnvironmentCreate": obj(
        {"key": KEY, "name": TEXT, "protected": {"type": "boolean"}, "reason": REASON}, ("key",)
    ),
    "EnvironmentPatch": obj(
        {"name": TEXT, "protected": {"type": "boolean"}, "reason": REASON}, minProperties=1
    ),
    "SdkKeyCreate": obj(
        {
            "kind": {"type": "string", "enum": ["server", "client"]},
            "scope": obj({"tags": STRINGS, "prefixes": STRINGS}),
            "reason": REASON,
        },
        ("kind",),
    ),
    "FlagCreate": obj(
        {"key": KEY, **DEFINITION_FIELDS, "reason": REASON}, ("key", "kind", "variations")
    ),
    "FlagDefinitionPut": obj({**DEFINITION_FIELDS, "reason": REASON}, ("kind", "variations")),
    "FlagConfigPut": obj({**CONFIG_FIELDS, "reason": REASON}, ("enabled",)),
    "FlagRestore": obj({"version": VERSION, "reason": REASON}, ("version",)),
    "FlagPromote": obj({"from": KEY, "to": KEY, "reason": REASON}, ("from", "to")),
    "SegmentCreate": obj({"key": KEY, **SEGMENT_FIELDS, "reason": REASON}, ("key",)),
    "SegmentPut": obj({**SEGMENT_FIELDS, "reason": REASON}),
    "TokenCreate": obj(
        {
            "name": {"type": "string", "minLength": 1, "maxLength": 128},
            "role": {"type": "string", "enum": ["admin", "editor", "viewer", "auditor"]},
            "projects": {"type": "array", "items": SCOPE_NAME, "maxItems": 100},
            "environments": {"type": "array", "items": SCOPE_NAME, "maxItems": 100},
            "ttl_days": {"type": "integer", "minimum": 1, "maximum": 3650},
            "reason": REASON,
        },
        ("name", "role"),
    ),
    "AuditVerify": obj({"project": KEY, "environment": KEY}),
    # Dry-run impact (chalicelib/usecases/impact.py): counts bounded there (413), shapes here.
    "ImpactRequest": obj(
        {
            "flag": KEY,
            "config": FLAG_CONFIG,
            "sample": {"oneOf": [
                obj({"contexts": {"type": "array", "items": {"type": "object"}}},
                    ("contexts",)),
                obj({"generate": {"type": "integer", "minimum": 1},
                     "seed": {"type": "integer"},
                     "key_prefix": {"type": "string", "maxLength": 64},
                     "kind": {"type": "string", "maxLength": 64},
                     "attributes": {"type": "object", "maxProperties": 50,
                                    "additionalProperties": IMPACT_DISTRIBUTION}},
                    ("generate",)),
            ]},
            "max_changed": {"type": "integer", "minimum": 0, "maximum": 1000},
        },
        ("flag", "config", "sample"),
    ),
    "Reason": obj({"reason": REASON}),
    "SegmentImport": obj({"format": {"type": "string", "enum": ["csv", "ndjson"]},
                          "mode": {"type": "string", "enum": ["add", "replace"]},
                          "reason": REASON}),
    "SegmentMembers": obj({"batch_id": BATCH_ID, "add": MEMBER_IDS, "remove": MEMBER_IDS,
                           "reason": REASON}, ("batch_id",)),
}

# A change request's operation: what will be applied, exactly. ``base_version`` is the
# version the target had when the change was proposed; apply fails (412) if it moved
# (0 for a flag's configuration: not configured yet in that environment). A proposer may
# omit the content fields of a restore or promotion (``body``, ``source_version``) and the
# reviewed ``definition_version``: the control plane fills them in when it files the request,
# from what it reads at that moment, and the change hash covers them.
CONFIG_BASE_VERSION: Schema = {"type": "integer", "minimum": 0}
OPERATIONS: dict[str, Schema] = {
    "flag.config.put": obj(
        {"type": {"const": "flag.config.put"}, "flag": KEY, "body": FLAG_CONFIG,
         "base_version": CONFIG_BASE_VERSION, "definition_version": VERSION},
        ("type", "flag", "body", "base_version"),
    ),
    "flag.restore": obj(
        {"type": {"const": "flag.restore"}, "flag": KEY, "version": VERSION,
         "body": FLAG_CONFIG, "base_version": VERSION, "definition_version": VERSION},
        ("type", "flag", "version", "base_version"),
    ),
    "flag.promote": obj(
        {"type": {"const": "flag.promote"}, "flag": KEY, "from": KEY,
         "source_version": VERSION, "body": FLAG_CONFIG, "base_version": CONFIG_BASE_VERSION,
         "definition_version": VERSION},
        ("type", "flag", "from", "base_version"),
    ),
    "flag.definition.put": obj(
        {"type": {"const": "flag.definition.put"}, "flag": KEY, "body": FLAG_DEFINITION,
         "base_version": VERSION},
        ("type", "flag", "body", "base_version"),
    ),
    "flag.definition.delete": obj(
        {"type": {"const": "flag.definition.delete"}, "flag": KEY, "base_version": VERSION},
        ("type", "flag", "base_version"),
    ),
    "segment.create": obj(
        {"type": {"const": "segment.create"}, "segment": KEY, "body": SEGMENT_BODY},
        ("type", "segment", "body"),
    ),
    "segment.put": obj(
        {"type": {"const": "segment.put"}, "segment": KEY, "body": SEGMENT_BODY,
         "base_version": VERSION},
        ("type", "segment", "body", "base_version"),
    ),
    "segment.delete": obj(
        {"type": {"const": "segment.delete"}, "segment": KEY, "base_version": VERSION},
        ("type", "segment", "base_version"),
    ),
    "segment.members": obj(
        {"type": {"const": "segment.members"}, "segment": KEY, "batch_id": BATCH_ID,
         "add": MEMBER_IDS, "remove": MEMBER_IDS},
        ("type", "segment", "batch_id", "add", "remove"),
    ),
    "segment.import": obj(
        {"type": {"const": "segment.import"}, "segment": KEY,
         "import_id": {"type": "string", "pattern": "^imp-[0-9]+-[0-9a-f]{12}$"},
         "format": {"type": "string", "enum": ["csv", "ndjson"]},
         "mode": {"type": "string", "enum": ["add", "replace"]},
         "etag": {"type": "string", "maxLength": 128},
         "size": {"type": "integer", "minimum": 0},
         "object_version": {"type": "string", "maxLength": 1024}},
        ("type", "segment", "import_id", "format", "mode", "etag", "size", "object_version"),
    ),
    "environment.patch": obj(
        {"type": {"const": "environment.patch"},
         "body": obj({"name": TEXT, "protected": {"type": "boolean"}}, minProperties=1),
         "base_version": VERSION},
        ("type", "body", "base_version"),
    ),
}

OPERATION: Schema = {
    "type": "object",
    "required": ["type"],
    "properties": {"type": {"type": "string", "enum": sorted(OPERATIONS)}},
}

# A changeset: many changes to one environment, applied atomically
# (chalicelib/usecases/changesets.py). ``base_version`` 0 = must not exist yet; a delete needs
# the current version. ``body`` is the content of a put (absent for a delete) and is checked
# against the same schema as the single-item routes.
# The envelope of each item is checked by the request schema; each ``body`` by the schema of
# its kind (``CHANGE_BODIES``, the single-item routes' schemas), one item at a time: one
# schema with a conditional per kind costs ~1 ms an item in jsonschema, three times as much.
MAX_CHANGES = 25_000
CHANGE_BODIES: dict[str, str] = {
    "definition": "ChangeDefinitionBody", "config": "ChangeConfigBody",
    "segment": "ChangeSegmentBody"}
REQUESTS["ChangeDefinitionBody"] = FLAG_DEFINITION
REQUESTS["ChangeConfigBody"] = FLAG_CONFIG
REQUESTS["ChangeSegmentBody"] = SEGMENT_BODY
CHANGE: Schema = obj(
    {"kind": {"type": "string", "enum": sorted(CHANGE_BODIES)}, "key": KEY,
     "action": {"type": "string", "enum": ["put", "delete"]},
     "base_version": {"type": "integer", "minimum": 0},
     "body": {"type": "object", "description": "put only: a Change<Kind>Body"}},
    ("kind", "key", "action", "base_version"),
)
CHANGES: Schema = {"type": "array", "minItems": 1, "maxItems": MAX_CHANGES, "items": CHANGE}
REQUESTS["Changeset"] = obj({"changes": CHANGES, "reason": REASON}, ("changes",))
OPERATIONS["changeset"] = obj(
    {"type": {"const": "changeset"}, "environment": KEY, "changes": CHANGES},
    ("type", "environment", "changes"))
OPERATION["properties"]["type"]["enum"] = sorted(OPERATIONS)

REQUESTS["ChangeRequestCreate"] = obj({"operation": OPERATION, "reason": REASON}, ("operation",))
REQUESTS["ChangeRequestEdit"] = obj({"operation": OPERATION, "reason": REASON}, ("operation",))

# Release strategies and guarded rollouts (chalicelib/usecases/strategies.py, rollouts.py).
# Which fields a kind needs, and whether they make a plan, is checked by the use case (400
# naming the field); here the types and ranges.
PERCENT: Schema = {"type": "number", "exclusiveMinimum": 0, "maximum": 100, "multipleOf": 0.001}
BAKE: Schema = {"type": "integer", "minimum": 1, "maximum": 30 * 86400}
STRATEGY_FIELDS: dict[str, Schema] = {
    "kind": {"type": "string", "enum": ["linear", "exponential", "custom"]},
    "step_percent": PERCENT,
    "start_percent": PERCENT,
    "factor": {"type": "number", "exclusiveMinimum": 1, "maximum": 100},
    "percents": {"type": "array", "items": PERCENT, "minItems": 1, "maxItems": 100},
    "bake_seconds": BAKE,
    "final_bake_seconds": {**BAKE, "minimum": 0},
    "description": TEXT,
}
REQUESTS["StrategyCreate"] = obj({"key": KEY, **STRATEGY_FIELDS, "reason": REASON},
                                 ("key", "kind", "bake_seconds"))
# A guard: a CloudWatch alarm's name or ARN (read in the controller's account and region).
GUARD: Schema = {"type": "string", "minLength": 1, "maxLength": 255,
                 "pattern": "^(arn:aws[a-z-]*:cloudwatch:[a-z0-9-]+:[0-9]{12}:alarm:)?"
                            "[^\\u0000-\\u001f]+$"}
ROLLOUT_START: dict[str, Schema] = {
    "target": {"type": "string", "minLength": 1, "maxLength": 256},
    "guards": {"type": "array", "items": GUARD, "minItems": 1, "maxItems": 10,
               "uniqueItems": True},
    "context_kind": {"type": "string", "maxLength": 256},
    "bucket_by": {"type": "string", "maxLength": 1024},
}
REQUESTS["RolloutStart"] = obj({**ROLLOUT_START, "strategy": KEY, "reason": REASON},
                               ("target", "strategy", "guards"))
REQUESTS["RolloutAbort"] = obj({"rollback": {"type": "boolean"}, "reason": REASON})
OPERATIONS["rollout.start"] = obj(
    {"type": {"const": "rollout.start"}, "flag": KEY, "base_version": VERSION,
     "definition_version": VERSION,
     "body": obj({**ROLLOUT_START,
                  "strategy": obj({"key": KEY, **STRATEGY_FIELDS}, ("kind", "bake_seconds"))},
                 ("target", "strategy", "guards"))},
    ("type", "flag", "body", "base_version"))
OPERATIONS["rollout.complete"] = obj(
    {"type": {"const": "rollout.complete"}, "flag": KEY,
     "started_at": {"type": "string", "maxLength": 64}},
    ("type", "flag", "started_at"))
OPERATION["properties"]["type"]["enum"] = sorted(OPERATIONS)

# --- evaluation insights and code references (docs/insights.md) ---------------------------
VARIANT_NAME: Schema = {"type": "string", "minLength": 1, "maxLength": 256}
REQUESTS["EvaluationSummary"] = obj({
    "format": {"const": 1},
    "sdk": obj({"name": {"type": "string", "maxLength": 64},
                "version": {"type": "string", "maxLength": 64}}),
    "project": KEY, "environment": KEY,
    "window": obj({"start": {"type": "integer", "minimum": 0},
                   "end": {"type": "integer", "minimum": 0}}, ("start", "end")),
    "dropped": {"type": "integer", "minimum": 0, "maximum": 2**53},
    "counters": {"type": "array", "maxItems": 5000, "items": obj({
        "flag": KEY,
        "variant": {"anyOf": [VARIANT_NAME, {"type": "null"}]},
        "reason": {"type": "string", "maxLength": 32},
        "count": {"type": "integer", "minimum": 1, "maximum": 2**53},
    }, ("flag", "variant", "reason", "count"))},
}, ("format", "project", "environment", "counters"))
CODE_REF: Schema = obj({"path": {"type": "string", "minLength": 1, "maxLength": 1024},
                        "line": {"type": "integer", "minimum": 1, "maximum": 100_000_000}},
                       ("path", "line"))
REQUESTS["CodeReferencesPut"] = obj({
    "revision": {"type": "string", "maxLength": 128},
    "branch": {"type": "string", "maxLength": 256},
    "flags": {"type": "object", "maxProperties": 10000,
              "propertyNames": {"pattern": KEY_PATTERN},
              "additionalProperties": {"type": "array", "items": CODE_REF, "maxItems": 100}},
}, ("flags",))
