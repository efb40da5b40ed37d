"""The edge's configuration file.

```json
{
  "cdn": "https://d111.cloudfront.net",        // CDN root serving bundles/...
  "s3_bucket": null,                           // or: read the bundle bucket directly (AWS)
  "ca_bundle": null,                           // PEM file of extra trusted CAs (local stack)
  "environments": [
    {"project": "shop", "environment": "production", "sdk_key": "vxl_cli_..."}
  ],
  "poll_interval": 30,                         // optional, seconds (server mode)
  "lambda_ttl": 15, "lambda_timeout": 1.0,     // optional, Lambda mode
  "cache_dir": null,                           // optional: last-known-good directory
  "cors_origins": ["*"],                       // optional: Access-Control-Allow-Origin
  "signing_keys": ["vexil-signing.pem"],       // recommended: the publisher's public key(s)
  "insights": true,                            // optional: evaluation summaries (default on)
  "insights_url": "https://api.example",       // optional: default $VEXIL_INSIGHTS_URL
  "insights_flush_interval": 60                // optional, seconds between summaries
}
```

``s3_bucket`` (instead of ``cdn``): read pointers and bundles from that bucket with S3
``GetObject`` (``_s3.S3Transport``) — the edge Lambda's mode, since it is itself an origin of
the distribution in front of the bucket. Everything else (ETags, signatures, last good) is
the CDN path's.

``signing_keys`` lists PEM texts or files (a relative path is relative to the config
file); every client then serves only pointers the publisher signed (see
``edge_reader.client._trust``). Absent: the edge does not verify the publisher and logs so.

Every ``sdk_key`` must be a client key (``vxl_cli_…``): it is the credential browsers and
mobile apps send (``Authorization: Bearer`` or ``X-API-Key``) AND the key that opens the
environment's ``client`` scope bundle, which only holds client-visible flags.

An environment may add ``"server_sdk_key": "vxl_srv_…"``: the edge then reads the *server*
bundle with it — the one that carries list segments (docs/flag-format.md, list segments) —
and still answers only client-visible flags, to callers presenting the client key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from edge_reader.bundle import SdkKey, parse_sdk_key
from edge_reader.bundle.signing import TrustedKey
from edge_reader.client._trust import load_signing_keys
from edge_reader.edge._s3 import bucket_url

# S3's bucket naming rules (lowercase, digits, dots, hyphens; 3-63 characters).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class ConfigError(ValueError):
    """The config file is unusable; the message names the field at fault."""


@dataclass(frozen=True, slots=True)
class EdgeEnvironment:
    """One environment served by the edge and the client key that selects it."""

    project: str
    environment: str
    sdk_key: SdkKey
    # Optional: a server key the edge reads the *server* bundle with, so list segments
    # (which client bundles never carry) are evaluated here; browsers still authenticate
    # with ``sdk_key`` and still get only client-visible flags.
    server_sdk_key: SdkKey | None = None


@dataclass(frozen=True, slots=True)
class EdgeConfig:
    """Parsed, validated edge configuration."""

    cdn: str
    ca_bundle: str | None
    environments: tuple[EdgeEnvironment, ...]
    poll_interval: float = 30.0
    lambda_ttl: float = 15.0
    lambda_timeout: float = 1.0
    cache_dir: str | None = None
    cors_origins: tuple[str, ...] = ("*",)
    signing_keys: tuple[TrustedKey, ...] = ()
    s3_bucket: str | None = None
    insights: bool = True
    insights_url: str | None = None
    insights_flush_interval: float = 60.0


def load_config(path: str | Path) -> EdgeConfig:
    """Read and validate a config file; raise ``ConfigError`` naming the problem."""
    try:
        raw = orjson.loads(Path(path).read_bytes())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    return parse_config(raw, base=Path(path).resolve().parent)


def parse_config(raw: Any, *, base: Path | None = None) -> EdgeConfig:
    """Validate a decoded config object; raise ``ConfigError`` naming the field.

    ``base``: the directory relative ``signing_keys`` paths are read from (default: cwd).
    """
    if not isinstance(raw, dict):
        raise ConfigError("config: expected a JSON object")
    s3_bucket = raw.get("s3_bucket")
    if s3_bucket is not None and not (isinstance(s3_bucket, str) and _BUCKET.match(s3_bucket)):
        raise ConfigError("s3_bucket: must be an S3 bucket name")
    cdn = raw.get("cdn", bucket_url(s3_bucket) if s3_bucket else None)
    if not isinstance(cdn, str) or not cdn.startswith(("http://", "https://")):
        raise ConfigError("cdn: required (unless s3_bucket is set), an http(s) URL of the CDN root")
    if s3_bucket and cdn != bucket_url(s3_bucket):
        raise ConfigError("cdn: give either cdn or s3_bucket, not both")
    ca_bundle = raw.get("ca_bundle")
    if ca_bundle is not None and not isinstance(ca_bundle, str):
        raise ConfigError("ca_bundle: must be a path or null")
    envs_raw = raw.get("environments")
    if not isinstance(envs_raw, list) or not envs_raw:
        raise ConfigError("environments: required, a non-empty list")
    envs: list[EdgeEnvironment] = []
    seen: set[str] = set()
    for i, item in enumerate(envs_raw):
        where = f"environments[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: expected an object")
        for name in ("project", "environment", "sdk_key"):
            if not isinstance(item.get(name), str) or not item[name]:
                raise ConfigError(f"{where}.{name}: required string")
        try:
            key = parse_sdk_key(item["sdk_key"])
        except ValueError as exc:
            raise ConfigError(f"{where}.sdk_key: {exc}") from None
        if key.kind != "cli":
            raise ConfigError(
                f"{where}.sdk_key: must be a client key (vxl_cli_…), not a server key"
            )
        if key.key_id in seen:
            raise ConfigError(f"{where}.sdk_key: key id {key.key_id} listed twice")
        seen.add(key.key_id)
        envs.append(EdgeEnvironment(item["project"], item["environment"], key,
                                    _server_key(item.get("server_sdk_key"), where)))
    numbers: dict[str, float] = {}
    for name in ("poll_interval", "lambda_ttl", "lambda_timeout", "insights_flush_interval"):
        if name in raw:
            value = raw[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(f"{name}: must be a positive number")
            numbers[name] = float(value)
    cache_dir = raw.get("cache_dir")
    if cache_dir is not None and not isinstance(cache_dir, str):
        raise ConfigError("cache_dir: must be a path or null")
    origins = raw.get("cors_origins", ["*"])
    if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
        raise ConfigError("cors_origins: must be a list of strings")
    insights, insights_url = _insights_options(raw)
    return EdgeConfig(
        cdn=cdn,
        ca_bundle=ca_bundle,
        environments=tuple(envs),
        cache_dir=cache_dir,
        cors_origins=tuple(origins),
        signing_keys=_signing_keys(raw.get("signing_keys"), base),
        s3_bucket=s3_bucket,
        insights=insights,
        insights_url=insights_url,
        **numbers,
    )


def _insights_options(raw: Mapping[str, Any]) -> tuple[bool, str | None]:
    """``insights`` (default true) and ``insights_url`` (default ``$VEXIL_INSIGHTS_URL``)."""
    enabled = raw.get("insights", True)
    if not isinstance(enabled, bool):
        raise ConfigError("insights: must be true or false")
    url = raw.get("insights_url")
    if url is not None and (not isinstance(url, str)
                            or not url.startswith(("http://", "https://"))):
        raise ConfigError("insights_url: must be an http(s) URL of the control plane API")
    return enabled, url


def _server_key(raw: Any, where: str) -> SdkKey | None:
    """An environment's optional ``server_sdk_key`` (a ``vxl_srv_`` key), or None."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ConfigError(f"{where}.server_sdk_key: must be a string")
    try:
        key = parse_sdk_key(raw)
    except ValueError as exc:
        raise ConfigError(f"{where}.server_sdk_key: {exc}") from None
    if key.kind != "srv":
        raise ConfigError(f"{where}.server_sdk_key: must be a server key (vxl_srv_…)")
    return key


def _signing_keys(raw: Any, base: Path | None) -> tuple[TrustedKey, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw or not all(isinstance(k, str) for k in raw):
        raise ConfigError("signing_keys: must be a non-empty list of PEM texts or file paths")
    sources = [
        k if "-----BEGIN" in k or base is None or Path(k).is_absolute() else str(base / k)
        for k in raw
    ]
    try:
        return load_signing_keys(sources)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
