"""The function behind ``vexil eval``: evaluate one flag from a bundle URL or file.

``source`` may be:

* an ``http(s)://`` URL of a pointer (``.../current.json``): the pointer and its bundle are
  downloaded and verified exactly as ``FlagClient`` does (sha256, size, encryption context);
* a local pointer file (``current.json``) with its ``<revision>-<sha>.bundle`` beside it
  (a copy of the S3 layout);
* a FlagClient disk-cache file (``*.vexilcache``: pointer + encrypted bundle);
* a plaintext environment document (JSON) — no key needed.

Encrypted sources need ``sdk_key`` (or ``kms_key_id`` with ``key_store_table``).
``project``/``environment`` are checked when given, otherwise taken from the pointer.
With ``signing_keys`` (as for ``FlagClient``) the pointer of an encrypted source must be
signed by one of them, and a pointer fetched from a URL must not be past its
``expires_at`` (``stale_pointer``); local files are this machine's copies and are not held
to the expiry; a plaintext document is a local file and is not checked.

``evaluate_from_source`` never raises: a source that cannot be loaded gives a detail with
reason ERROR, error code PROVIDER_NOT_READY and a message saying why (the CLI prints it and
exits non-zero). ``load_source`` is the raising variant (``SourceError``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from edge_reader.bundle import CLIENT_SCOPE, SdkKey, parse_sdk_key
from edge_reader.client._cache import decode_cache_file
from edge_reader.client._client import not_ready_detail
from edge_reader.client._fetcher import Fetched, Fetcher, Timeouts
from edge_reader.client._refresh import bundle_url
from edge_reader.client._trust import SigningKeySource, load_signing_keys
from edge_reader.client._verify import (
    BundleRejected,
    Identity,
    Keys,
    Snapshot,
    check_fresh,
    parse_pointer,
    snapshot_from_document,
    verify_bundle,
)
from edge_reader.engine import EvaluationDetail


class SourceError(ValueError):
    """The source could not be read or verified; the message names the cause."""


def evaluate_from_source(
    source: str,
    flag: str,
    context: Mapping[str, Any] | str | None = None,
    sdk_key: str | SdkKey | None = None,
    *,
    default: Any = None,
    project: str | None = None,
    environment: str | None = None,
    scope: str | None = None,
    kms_client: Any = None,
    kms_key_id: str | None = None,
    key_store_table: str | None = None,
    dynamodb_client: Any = None,
    ca_bundle: str | None = None,
    timeout: float = 10.0,
    signing_keys: SigningKeySource | Iterable[SigningKeySource] | None = None,
) -> EvaluationDetail:
    """Evaluate ``flag`` for ``context`` (a mapping or JSON text) from ``source``.

    Returns the engine's detail; on a load failure, ``default`` with PROVIDER_NOT_READY and
    the reason. Never raises.
    """
    try:
        ctx = _parse_context(context)
        snap = load_source(
            source,
            sdk_key=sdk_key,
            project=project,
            environment=environment,
            scope=scope,
            kms_client=kms_client,
            kms_key_id=kms_key_id,
            key_store_table=key_store_table,
            dynamodb_client=dynamodb_client,
            ca_bundle=ca_bundle,
            timeout=timeout,
            signing_keys=signing_keys,
        )
    except SourceError as exc:
        return not_ready_detail(default, str(exc))
    return snap.env.evaluate(flag, ctx, default)


def load_source(
    source: str,
    *,
    sdk_key: str | SdkKey | None = None,
    project: str | None = None,
    environment: str | None = None,
    scope: str | None = None,
    kms_client: Any = None,
    kms_key_id: str | None = None,
    key_store_table: str | None = None,
    dynamodb_client: Any = None,
    ca_bundle: str | None = None,
    timeout: float = 10.0,
    signing_keys: SigningKeySource | Iterable[SigningKeySource] | None = None,
) -> Snapshot:
    """Load and verify ``source`` into a compiled snapshot; raise ``SourceError`` on failure."""
    try:
        key = parse_sdk_key(sdk_key) if isinstance(sdk_key, str) else sdk_key
        trusted = load_signing_keys(signing_keys)
    except ValueError as exc:
        raise SourceError(str(exc)) from None
    keys = Keys(sdk_key=key, kms_client=kms_client, kms_key_id=kms_key_id,
                key_store_table=key_store_table, dynamodb_client=dynamodb_client,
                signing_keys=trusted)
    if scope is None and key is not None and key.kind_name == CLIENT_SCOPE:
        scope = CLIENT_SCOPE  # a client key opens only that scope; otherwise the pointer says
    try:
        if source.startswith(("http://", "https://")):
            return _load_url(source, keys, project, environment, scope, ca_bundle, timeout)
        return _load_file(Path(source), keys, project, environment, scope)
    except BundleRejected as exc:
        raise SourceError(f"{source}: bundle rejected: {exc}") from None


def _load_url(
    url: str,
    keys: Keys,
    project: str | None,
    environment: str | None,
    scope: str | None,
    ca_bundle: str | None,
    timeout: float,
) -> Snapshot:
    fetcher = Fetcher(ca_bundle=ca_bundle, timeouts=Timeouts(connect=timeout, read=timeout))
    try:
        got = fetcher.get(url)
        if not isinstance(got, Fetched):
            raise SourceError(f"{url}: cannot fetch pointer: {_describe(got)}")
        identity = _identity_from_pointer(got.body, project, environment, scope)
        pointer = parse_pointer(got.body, identity, keys)
        check_fresh(pointer, keys, time.time())
        bundle = fetcher.get(bundle_url(url, pointer.key))
        if not isinstance(bundle, Fetched):
            raise SourceError(f"{url}: cannot fetch bundle: {_describe(bundle)}")
        _require_key(keys, url)
        return verify_bundle(
            got.body,
            bundle.body,
            identity=identity,
            keys=keys,
            source="cdn",
            clock=time.time,
            pointer=pointer,
        )
    finally:
        fetcher.close()


def _load_file(
    path: Path, keys: Keys, project: str | None, environment: str | None, scope: str | None
) -> Snapshot:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    cached = decode_cache_file(data)
    if cached is not None:
        identity = _identity_from_pointer(cached.pointer_bytes, project, environment, scope)
        _require_key(keys, str(path))
        return verify_bundle(
            cached.pointer_bytes,
            cached.ciphertext,
            identity=identity,
            keys=keys,
            source="file",
        )
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise SourceError(
            f"{path}: not a pointer, a cache file or a JSON environment document ({exc})"
        ) from None
    if isinstance(doc, dict) and "sha256" in doc and "key" in doc and "flags" not in doc:
        # A pointer file: its bundle sits beside it, as in the S3 layout.
        identity = _identity_from_pointer(data, project, environment, scope)
        bundle_path = path.parent / str(doc["key"]).rsplit("/", 1)[-1]
        try:
            ciphertext = bundle_path.read_bytes()
        except OSError as exc:
            raise SourceError(f"{bundle_path}: cannot read bundle: {exc.strerror or exc}") from None
        _require_key(keys, str(path))
        return verify_bundle(data, ciphertext, identity=identity, keys=keys, source="file")
    if not isinstance(doc, dict):
        raise SourceError(f"{path}: expected a JSON object")
    expected: Identity | None = None
    if project is not None and environment is not None:
        expected = Identity(project=project, environment=environment, scope=scope or "server")
    return snapshot_from_document(doc, identity=expected, source="file")


def _identity_from_pointer(
    pointer_bytes: bytes, project: str | None, environment: str | None, scope: str | None
) -> Identity:
    """The identity to verify against: what the caller said, else what the pointer says."""
    try:
        raw = orjson.loads(pointer_bytes)
    except orjson.JSONDecodeError as exc:
        raise SourceError(f"pointer is not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise SourceError("pointer: expected a JSON object")
    return Identity(
        project=project or str(raw.get("project", "")),
        environment=environment or str(raw.get("environment", "")),
        scope=scope or str(raw.get("scope", "server")),
    )


def _require_key(keys: Keys, where: str) -> None:
    if keys.sdk_key is None and not keys.kms_key_id:
        raise SourceError(f"{where}: the bundle is encrypted; give an SDK key (or a KMS key id)")
    if keys.sdk_key is None and not keys.key_store_table:
        raise SourceError(f"{where}: KMS access needs the key store table too")


def _parse_context(context: Mapping[str, Any] | str | None) -> Mapping[str, Any]:
    if context is None:
        return {}
    if isinstance(context, str):
        try:
            parsed = orjson.loads(context)
        except orjson.JSONDecodeError as exc:
            raise SourceError(f"context: not valid JSON ({exc})") from None
        if not isinstance(parsed, dict):
            raise SourceError("context: expected a JSON object")
        return parsed
    return context


def _describe(result: object) -> str:
    describe = getattr(result, "describe", None)
    if callable(describe):
        return str(describe())
    return type(result).__name__
