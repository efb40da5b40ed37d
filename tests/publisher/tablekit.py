"""Builders that write table items exactly as docs/data-model.md lays them out.

Until (and independently of) the control plane's service layer, the publisher tests put
items directly with the key builders of ``chalicelib.keys``, bumping the environment
revision the way the control plane's transactions do.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

import boto3
import orjson
from chalicelib import keys, sdk_key_record
from chalicelib.repository import encode_item

from edge_reader.bundle import SdkKey

_counter = itertools.count(1)


def unique(prefix: str = "p") -> str:
    """A project name no other test uses (the moto server is shared by the session)."""
    return f"{prefix}{next(_counter)}-{uuid.uuid4().hex[:8]}"


def boolean_flag(**over: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(definition body, configuration body) of a simple boolean flag."""
    definition = {"kind": "boolean", "variations": {"on": True, "off": False},
                  "description": "", "tags": [], "client_visible": False,
                  "deprecated": False, "metadata": {}}
    config = {"enabled": True, "off_variation": "off", "prerequisites": [], "targets": [],
              "rules": [], "default": {"variation": "on"}}
    for k, v in over.items():
        (definition if k in definition or k == "schema" else config)[k] = v
    return definition, config


@dataclass
class TableKit:
    """Writes one project's items into the shared table."""

    table: str
    project: str = field(default_factory=unique)
    ddb: Any = field(default_factory=lambda: boto3.session.Session().client("dynamodb"))
    kms: Any = field(default_factory=lambda: boto3.session.Session().client("kms"))

    def _put(self, item: dict[str, Any]) -> None:
        self.ddb.put_item(TableName=self.table, Item=item)

    def register_project(self) -> None:
        """Put the project item, listed in the projects index as the API lists it."""
        self._put({"pk": {"S": keys.project_pk(self.project)}, "sk": {"S": keys.PROJECT_SK},
                   "project": {"S": self.project}, "gsi1pk": {"S": keys.PROJECTS_GSI_PK},
                   "gsi1sk": {"S": self.project}})

    def env(self, environment: str = "prod", *, revision: int = 1,
            updated_at: str = "2026-11-24T06:00:00.000Z", audit_head: str = "ab" * 32) -> None:
        """Put the environment item."""
        self._put({
            "pk": {"S": keys.project_pk(self.project)},
            "sk": {"S": keys.environment_sk(environment)},
            "project": {"S": self.project}, "environment": {"S": environment},
            "revision": {"N": str(revision)}, "audit_seq": {"N": str(revision)},
            "audit_head": {"S": audit_head}, "updated_at": {"S": updated_at},
            "version": {"N": "1"}, "protected": {"BOOL": False},
        })

    def bump(self, environment: str = "prod", *, to: int | None = None,
             updated_at: str | None = None) -> int:
        """Increase (or set) the environment revision like a control-plane transaction."""
        current = self.revision(environment)
        new = current + 1 if to is None else to
        self.env(environment, revision=new,
                 updated_at=updated_at or f"2026-11-24T06:{new // 60 % 60:02d}:{new % 60:02d}.000Z")
        return new

    def revision(self, environment: str = "prod") -> int:
        """The environment item's revision (consistent read)."""
        item = self.ddb.get_item(
            TableName=self.table, ConsistentRead=True,
            Key={"pk": {"S": keys.project_pk(self.project)},
                 "sk": {"S": keys.environment_sk(environment)}},
        )["Item"]
        return int(item["revision"]["N"])

    def flag(self, name: str, environment: str = "prod", *, version: int = 1,
             definition: dict[str, Any] | None = None, config: dict[str, Any] | None = None,
             **over: Any) -> None:
        """Put a flag definition and its configuration in ``environment``."""
        d, c = boolean_flag(**over)
        self._put({"pk": {"S": keys.project_pk(self.project)},
                   "sk": {"S": keys.flag_definition_sk(name)}, "flag": {"S": name},
                   "body": {"S": orjson.dumps(definition or d).decode()},
                   "version": {"N": "1"}})
        self._put({"pk": {"S": keys.env_pk(self.project, environment)},
                   "sk": {"S": keys.flag_config_sk(name)}, "flag": {"S": name},
                   "body": {"S": orjson.dumps(config or c).decode()},
                   "version": {"N": str(version)}})

    def segment(self, name: str, body: dict[str, Any], environment: str = "prod") -> None:
        """Put a segment."""
        self._put({"pk": {"S": keys.env_pk(self.project, environment)},
                   "sk": {"S": keys.segment_sk(name)}, "segment": {"S": name},
                   "body": {"S": orjson.dumps(body).decode()}, "version": {"N": "1"}})

    def raw_config(self, name: str, body: str, environment: str = "prod") -> None:
        """Overwrite a flag configuration body with arbitrary text (for failure tests)."""
        self._put({"pk": {"S": keys.env_pk(self.project, environment)},
                   "sk": {"S": keys.flag_config_sk(name)}, "flag": {"S": name},
                   "body": {"S": body}, "version": {"N": "9"}})

    def sdk_key(self, key: SdkKey, kms_key_id: str, environment: str = "prod", *,
                tags: tuple[str, ...] = (), prefixes: tuple[str, ...] = (),
                revoked_at: str | None = None) -> None:
        """Put an SDK-key record with its secret wrapped by KMS (the API's own builder)."""
        self._put(encode_item(sdk_key_record.new_item(
            project=self.project, environment=environment, key=key, kms=self.kms,
            kms_key_id=kms_key_id, created_at="1970-01-01T00:00:00.000Z", tags=tags,
            prefixes=prefixes, revoked_at=revoked_at)))
