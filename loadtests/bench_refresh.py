"""Refresh-cycle benchmark: what a poll costs the reader when nothing changed.

    python -m loadtests.bench_refresh [--json] [--quick]

The reader's promise is that a 304 costs no decrypt and no compile; pointer freshness adds
one comparison to it when the reader verifies the publisher (``signing_keys``). This
measures ``Refresher.refresh()`` with the network taken out (a fetcher that answers at
once), so the protocol's own cost is visible rather than the loopback's:

1. **304**: the CDN says the pointer is unchanged — without signing keys (no expiry check)
   and with them (the held pointer's ``expires_at`` compared with the clock);
2. **renewal**: a 200 with a re-signed pointer at the held revision (the heartbeat's
   work): decode, signature verification, expiry check, no bundle download.

Best of several rounds of N cycles, nanoseconds (or microseconds) per cycle.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, cast

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from edge_reader.bundle import Pointer, bundle_object_key, encode_pointer
from edge_reader.bundle.signing import key_fingerprint, load_trusted_key, sign_pointers
from edge_reader.client._fetcher import Fetched, Fetcher, NotModified
from edge_reader.client._refresh import Refresher
from edge_reader.client._store import Store
from edge_reader.client._verify import Identity, Keys, snapshot_from_document

_URL = "https://cdn.invalid/bundles/bench/prod/current.json"


class _Instant:
    """A fetcher answering every GET at once with a fixed result."""

    def __init__(self, result: NotModified | Fetched) -> None:
        self.result = result

    def get(self, url: str, etag: str | None = None, *, budget: float | None = None) -> Any:
        return self.result


def _signed_pointer(key: ec.EllipticCurvePrivateKey, expires_at: int) -> Pointer:
    sha = "ab" * 32
    pointer = Pointer(format=1, project="bench", environment="prod", scope="server",
                      revision=7, key=bundle_object_key("bench", "prod", "server", 7, sha),
                      sha256=sha, size=1, generated_at="2026-11-24T06:00:00.000Z",
                      expires_at=expires_at)
    (signed,) = sign_pointers(
        [pointer], key_fingerprint=key_fingerprint(key.public_key()),
        sign_digest=lambda digest: key.sign(digest, ec.ECDSA(hashes.SHA256())))
    return signed


def _refresher(keys: Keys, pointer: Pointer, fetcher: _Instant, flags: int) -> Refresher:
    doc = {"format": 1, "project": "bench", "environment": "prod", "revision": 7,
           "flags": {f"f{i}": {"kind": "boolean", "variations": {"on": True, "off": False},
                               "enabled": True, "off_variation": "off",
                               "default": {"variation": "on"}} for i in range(flags)},
           "segments": {}}
    store = Store()
    store.install(snapshot_from_document(doc, identity=Identity("bench", "prod"),
                                         source="cdn", pointer=pointer))
    refresher = Refresher(pointer_url=_URL, identity=Identity("bench", "prod"), keys=keys,
                          fetcher=cast(Fetcher, fetcher), store=store)
    refresher._etag = '"held"'  # as after the first download: polls are conditional
    return refresher


def _best(refresher: Refresher, expected: str, cycles: int, rounds: int) -> float:
    """Best per-cycle time in ns over ``rounds`` runs of ``cycles`` refreshes."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for _ in range(cycles):
            result = refresher.refresh()
        elapsed = time.perf_counter_ns() - start
        if result.outcome != expected:  # a wrong path would time the wrong thing
            raise RuntimeError(f"expected {expected}, got {result}")
        best = min(best, elapsed / cycles)
    return best


def run(quick: bool) -> dict[str, Any]:
    """Measure every case; return the results (times in ns per cycle)."""
    cycles, rounds = (2_000, 3) if quick else (50_000, 7)
    key = ec.generate_private_key(ec.SECP256R1())
    trusted = load_trusted_key(key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
    held = _signed_pointer(key, int(time.time()) + 3600)
    not_modified = _Instant(NotModified(_URL))
    results: dict[str, Any] = {"cycles": cycles, "rounds": rounds}
    results["not_modified_ns"] = {
        "without_signing_keys": _best(_refresher(Keys(), held, not_modified, 100),
                                      "unchanged", cycles, rounds),
        "with_signing_keys": _best(_refresher(Keys(signing_keys=(trusted,)), held,
                                              not_modified, 100), "unchanged", cycles, rounds),
    }
    renewed = _signed_pointer(key, int(time.time()) + 4000)
    renewal = _Instant(Fetched(_URL, encode_pointer(renewed), '"renewed"'))
    results["renewal_us"] = _best(
        _refresher(Keys(signing_keys=(trusted,)), held, renewal, 100), "unchanged",
        max(cycles // 20, 50), rounds) / 1000
    return results


def main(argv: list[str] | None = None) -> int:
    """Entry point: print a table, or one JSON document with ``--json``."""
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench_refresh")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--quick", action="store_true", help="smaller, shorter runs")
    args = parser.parse_args(argv)
    results = run(args.quick)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    nm = results["not_modified_ns"]
    print(f"304 cycle, no signing keys:   {nm['without_signing_keys']:8.0f} ns")
    print(f"304 cycle, with signing keys: {nm['with_signing_keys']:8.0f} ns")
    print(f"renewed pointer (200, same revision): {results['renewal_us']:8.1f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
