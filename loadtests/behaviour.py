"""What the simulated clients do, free of Locust (importing locust monkey-patches the
standard library with gevent, so the test suite checks this logic without it).

* :class:`PollState` — one server-SDK instance's pointer/bundle bookkeeping (locust_cdn);
* :func:`random_context`, :func:`check_single`, :func:`check_bulk` — OFREP sessions
  (locust_ofrep);
* :func:`token_request`, :func:`edited_config` — the control-plane mix (locust_api).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from edge_reader.engine.fields import split_flag

COUNTRIES = ("DE", "FR", "NL", "US", "GB", "ES", "IT", "PL", "SE", "JP", "BR", "IN")
PLATFORMS = ("web", "ios", "android")
PLANS = ("free", "free", "free", "pro", "team")
POPULATION = 1_000_000


@dataclass
class PollState:
    """What one SDK instance remembers between polls: the pointer ETag and bundle key."""

    etag: str | None = None
    bundle_key: str | None = None
    bundle_size: int | None = None
    revision: int = -1

    def on_pointer(self, status: int, etag: str | None, body: bytes) -> str | None:
        """Digest a pointer response; return the bundle object key to fetch, if any.

        Raises ``ValueError`` for a response an SDK would refuse (wrong status, unreadable
        pointer, older revision), so the caller can count it as a failure.
        """
        if status == 304:
            if self.etag is None:
                raise ValueError("304 without a previous ETag")
            return None
        if status != 200:
            raise ValueError(f"pointer answered {status}")
        try:
            pointer = json.loads(body)
            key, revision = str(pointer["key"]), int(pointer["revision"])
            size = int(pointer["size"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"unreadable pointer: {exc}") from None
        if revision < self.revision:
            raise ValueError(f"pointer went backwards: {revision} < {self.revision}")
        self.etag = etag
        self.revision = revision
        if key == self.bundle_key:
            return None
        self.bundle_size = size
        return key

    def on_bundle(self, key: str, status: int, length: int) -> None:
        """Record a fetched bundle; ``ValueError`` if it is not the object the pointer named."""
        if status != 200:
            raise ValueError(f"bundle answered {status}")
        if length != self.bundle_size:
            raise ValueError(f"bundle is {length} bytes, pointer says {self.bundle_size}")
        self.bundle_key = key


def random_context(rng: random.Random) -> dict[str, Any]:
    """A realistic end-user evaluation context (OFREP request ``context``)."""
    platform = rng.choice(PLATFORMS)
    ctx: dict[str, Any] = {
        "targetingKey": f"user-{rng.randrange(POPULATION)}",
        "country": rng.choice(COUNTRIES),
        "platform": platform,
        "plan": rng.choice(PLANS),
    }
    if platform != "web":
        ctx["appVersion"] = f"{rng.randint(3, 5)}.{rng.randint(0, 12)}.{rng.randint(0, 9)}"
    return ctx


def check_single(key: str, status: int, body: bytes) -> None:
    """``ValueError`` unless ``body`` is OFREP's success shape for flag ``key``."""
    if status != 200:
        raise ValueError(f"single evaluation answered {status}: {body[:200]!r}")
    doc = json.loads(body)
    if doc.get("key") != key or "value" not in doc:
        raise ValueError(f"not an OFREP success for {key}: {body[:200]!r}")


def check_bulk(status: int, body: bytes, sent_etag: bool) -> None:
    """``ValueError`` unless this is a bulk success (or a 304 to a conditional request)."""
    if status == 304 and sent_etag:
        return
    if status != 200:
        raise ValueError(f"bulk evaluation answered {status}: {body[:200]!r}")
    doc = json.loads(body)
    if not isinstance(doc.get("flags"), list) or not doc["flags"]:
        raise ValueError(f"bulk response without flags: {body[:200]!r}")


def token_request(role: str, project: str) -> dict[str, Any]:
    """The ``POST /v1/tokens`` body for a load-test token of ``role`` on ``project``."""
    return {
        "name": f"loadtest-{role}", "role": role, "projects": [project],
        "environments": ["*"], "ttl_days": 1, "reason": "load test",
    }


def edited_config(config: dict[str, Any], variations: list[str], n: int) -> dict[str, Any]:
    """``config`` with its target list replaced by one loadtest user — a valid, visible edit."""
    variation = str(config.get("off_variation") or variations[0])
    _, body = split_flag(config)  # the configuration's own fields (drops version, ...)
    body["targets"] = [{"context_kind": "user", "values": [f"loadtest-{n}"],
                        "variation": variation}]
    body["reason"] = "load test edit"
    return body
