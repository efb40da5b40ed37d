"""Branch keys: one AWS KMS Hierarchical-keyring branch key per (project, environment).

The hierarchical keyring wraps each message's data key with a *branch key* kept, wrapped by
the bundle KMS key, in a DynamoDB key store table. KMS is called only when the keyring's
cache holds no material for a branch key (once per ``ttl_seconds`` per process), so KMS
calls no longer grow with the publish rate the way one ``GenerateDataKey`` per message did.

Layout (fixed; readers and the KMS key policy rely on it):

* branch key id ``vexil/<project>/<environment>`` (:func:`branch_key_id`); project and
  environment names cannot contain ``/``, so the id is unambiguous;
* branch key encryption context ``{vexil:project, vexil:environment}``
  (:func:`branch_key_context`). The key store binds it into every KMS call on the branch
  key as ``aws-crypto-ec:vexil:project`` / ``aws-crypto-ec:vexil:environment``, which is
  what a key policy conditions on to let a reader unwrap only its own environments;
* logical key store name :data:`LOGICAL_KEY_STORE_NAME`, bound into every branch key: it
  must never change, whatever the physical table is called (a restored copy included).

The table (partition key ``branch-key-id``, sort key ``type``, both S) is the MPL key store's
own schema; :class:`BranchKeyStore` never creates it (Terraform and the local stack do).

Imports the MPL; only the publisher and KMS readers load this module.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_cryptographic_material_providers.keystore import KeyStore
from aws_cryptographic_material_providers.keystore.config import KeyStoreConfig
from aws_cryptographic_material_providers.keystore.models import (
    CreateKeyInput,
    KMSConfigurationKmsKeyArn,
    VersionKeyInput,
)
from aws_cryptographic_material_providers.mpl.models import (
    CacheTypeDefault,
    CreateAwsKmsHierarchicalKeyringInput,
    DefaultCache,
    GetBranchKeyIdInput,
    GetBranchKeyIdOutput,
)
from aws_cryptographic_material_providers.mpl.references import IBranchKeyIdSupplier

from edge_reader.bundle._mpl import mpl
from edge_reader.bundle.errors import EnvelopeError
from edge_reader.bundle.pointer import _check_name

LOGICAL_KEY_STORE_NAME = "vexil-branch-keys"
BRANCH_KEY_ID_PREFIX = "vexil/"
# How long one process reuses branch-key material before re-reading it from the key store
# (one DynamoDB GetItem + one KMS Decrypt). Also bounds how long a process keeps encrypting
# under the previous version after a rotation.
DEFAULT_TTL_SECONDS = 300
# Branch keys (environments) whose material one keyring caches at once.
DEFAULT_CACHE_ENTRIES = 1000
# How the key store prefixes a branch key's custom encryption context in KMS calls.
KEY_STORE_CONTEXT_PREFIX = "aws-crypto-ec:"
# The key store's own item layout (MPL): sort key values of the active and version items.
KEY_STORE_HASH_KEY = "branch-key-id"
KEY_STORE_RANGE_KEY = "type"
_ACTIVE_TYPE = "branch:ACTIVE"
_VERSION_PREFIX = "branch:version:"


# Creating a branch key: attempts before giving up, and the first pause between them (s).
_ENSURE_ATTEMPTS = 4
_ENSURE_BACKOFF = 0.05

def branch_key_id(project: str, environment: str) -> str:
    """The branch key id of one environment: ``vexil/<project>/<environment>``."""
    _check_name("project", project)
    _check_name("environment", environment)
    return f"{BRANCH_KEY_ID_PREFIX}{project}/{environment}"


def resolve_key_arn(kms_client: Any, key_id: str) -> str:
    """The ARN of ``key_id`` (ARN, key id or alias; one DescribeKey unless already an ARN):
    the key store binds branch keys to the key's ARN."""
    if key_id.startswith("arn:") and ":key/" in key_id:
        return key_id
    return str(kms_client.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"])


def branch_key_context(project: str, environment: str) -> dict[str, str]:
    """The custom encryption context bound to an environment's branch key."""
    return {"vexil:project": project, "vexil:environment": environment}


class EnvironmentBranchKeys(IBranchKeyIdSupplier):  # type: ignore[misc]
    """Maps a bundle's encryption context to its environment's branch key id.

    One hierarchical keyring (and one cache) then serves every environment. On decrypt the
    keyring only tries the data key wrapped under *this* id, so a message whose context
    names environment B never opens under environment A's branch key.
    """

    def get_branch_key_id(self, param: GetBranchKeyIdInput) -> GetBranchKeyIdOutput:
        """The id for the message's ``vexil:project``/``vexil:environment`` (else raise)."""
        context: Mapping[str, str] = param.encryption_context
        try:
            project, environment = context["vexil:project"], context["vexil:environment"]
        except KeyError:
            raise EnvelopeError("context: vexil:project and vexil:environment required") from None
        return GetBranchKeyIdOutput(branch_key_id=branch_key_id(project, environment))


@dataclass(frozen=True, slots=True)
class BranchKeyStatus:
    """What the key store holds for one environment's branch key."""

    branch_key_id: str
    active_version: str
    active_since: str
    versions: int


class BranchKeyStore:
    """The key store of one deployment: a DynamoDB table plus the bundle KMS key (ARN).

    Build one per process and share it. ``ensure`` creates an environment's branch key on
    first use (safe against racing creators); ``rotate`` makes a new active version.
    """

    def __init__(
        self,
        *,
        table: str,
        kms_key_arn: str,
        dynamodb_client: Any,
        kms_client: Any,
        logical_name: str = LOGICAL_KEY_STORE_NAME,
    ) -> None:
        if not table:
            raise EnvelopeError("key_store_table: required for the hierarchical keyring")
        if not kms_key_arn.startswith("arn:") or ":key/" not in kms_key_arn:
            raise EnvelopeError(f"kms_key_id: must be a KMS key ARN, got {kms_key_arn!r}")
        self.table = table
        self.kms_key_arn = kms_key_arn
        self.dynamodb = dynamodb_client
        self.kms = kms_client
        self.key_store = KeyStore(
            KeyStoreConfig(
                ddb_client=dynamodb_client,
                ddb_table_name=table,
                logical_key_store_name=logical_name,
                kms_client=kms_client,
                kms_configuration=KMSConfigurationKmsKeyArn(kms_key_arn),
            )
        )
        self._present: set[str] = set()
        self._lock = threading.Lock()

    def _active_item(self, branch_id: str) -> dict[str, Any] | None:
        resp = self.dynamodb.get_item(
            TableName=self.table,
            Key={KEY_STORE_HASH_KEY: {"S": branch_id}, KEY_STORE_RANGE_KEY: {"S": _ACTIVE_TYPE}},
            ConsistentRead=True,
            ProjectionExpression="#v, #t",
            ExpressionAttributeNames={"#v": "version", "#t": "create-time"},
        )
        item: dict[str, Any] | None = resp.get("Item")
        return item

    def exists(self, project: str, environment: str) -> bool:
        """True when the environment's branch key has an active version (consistent read)."""
        return self._active_item(branch_key_id(project, environment)) is not None

    def ensure(self, project: str, environment: str) -> bool:
        """Make sure the environment's branch key exists; True when this call created it.

        Remembered per process, so a warm container pays nothing. When two processes race,
        the key store's conditional write lets one win; the other sees the key exists and
        uses it. Any other failure raises (and nothing is remembered).
        """
        branch_id = branch_key_id(project, environment)
        with self._lock:
            if branch_id in self._present:
                return False
        created = False
        for attempt in range(_ENSURE_ATTEMPTS):
            if self._active_item(branch_id) is not None:
                break
            try:
                self.key_store.create_key(
                    CreateKeyInput(
                        branch_key_identifier=branch_id,
                        encryption_context=branch_key_context(project, environment),
                    )
                )
                created = True
                break
            except Exception:
                # A lost creation race is fine: the winner's key is used. But the loser may
                # look before the winner's transaction is visible, and two concurrent
                # transactions can both be cancelled (DynamoDB's TransactionConflict), so look
                # again after a short, growing pause before giving up.
                if attempt == _ENSURE_ATTEMPTS - 1:
                    if self._active_item(branch_id) is None:
                        raise
                    break
                time.sleep(_ENSURE_BACKOFF * 2**attempt * (1 + random.random()))  # noqa: S311
        with self._lock:
            self._present.add(branch_id)
        return created

    def rotate(self, project: str, environment: str) -> BranchKeyStatus:
        """Make a new active version of the environment's branch key; return the new state.

        Messages wrapped under earlier versions still open (those versions stay in the key
        store, DECRYPT_ONLY). Raises when the branch key does not exist.
        """
        branch_id = branch_key_id(project, environment)
        if self._active_item(branch_id) is None:
            raise EnvelopeError(f"{branch_id}: no such branch key (nothing published yet)")
        self.key_store.version_key(VersionKeyInput(branch_key_identifier=branch_id))
        status = self.status(project, environment)
        if status is None:  # versions are never deleted: only a wiped table gets here
            raise EnvelopeError(f"{branch_id}: vanished while rotating")
        return status

    def status(self, project: str, environment: str) -> BranchKeyStatus | None:
        """The environment's branch key: active version, since when, how many versions."""
        branch_id = branch_key_id(project, environment)
        item = self._active_item(branch_id)
        if item is None:
            return None
        versions = 0
        pages = self.dynamodb.get_paginator("query").paginate(
            TableName=self.table,
            ConsistentRead=True,
            KeyConditionExpression="#h = :h AND begins_with(#r, :v)",
            ExpressionAttributeNames={"#h": KEY_STORE_HASH_KEY, "#r": KEY_STORE_RANGE_KEY},
            ExpressionAttributeValues={":h": {"S": branch_id}, ":v": {"S": _VERSION_PREFIX}},
            Select="COUNT",
        )
        for page in pages:
            versions += int(page["Count"])
        return BranchKeyStatus(
            branch_key_id=branch_id,
            active_version=str(item["version"]["S"]).removeprefix(_VERSION_PREFIX),
            active_since=str(item["create-time"]["S"]),
            versions=versions,
        )


def hierarchical_keyring(
    store: BranchKeyStore,
    *,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    cache_entries: int = DEFAULT_CACHE_ENTRIES,
) -> Any:
    """A hierarchical keyring over ``store`` serving every environment (one cache).

    Branch-key material is reused for ``ttl_seconds``: within that time no KMS or DynamoDB
    call is made for an environment already seen.
    """
    if ttl_seconds < 1:
        raise EnvelopeError(f"ttl_seconds: must be at least 1, got {ttl_seconds!r}")
    return mpl().create_aws_kms_hierarchical_keyring(
        CreateAwsKmsHierarchicalKeyringInput(
            key_store=store.key_store,
            branch_key_id_supplier=EnvironmentBranchKeys(),
            ttl_seconds=int(ttl_seconds),
            cache=CacheTypeDefault(DefaultCache(entry_capacity=cache_entries)),
        )
    )
