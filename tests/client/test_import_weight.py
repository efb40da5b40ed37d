"""What a reader process loads: never the ESDK, the MPL, boto3/botocore, asyncio or urllib3.

A fresh interpreter imports ``edge_reader.client`` and ``edge_reader.openfeature``, then
loads a real bundle (ESDK-encrypted by the publisher path, KMS + SDK key; its pointer signed
by the publisher's KMS key) from the disk cache in offline mode and from a loopback CDN in
background mode, both verifying the publisher's signature, evaluates a flag, and reports
which modules it holds at each step.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from edge_reader.bundle import SdkKey
from edge_reader.client import DiskCache
from tests.client.bundles import BundleFactory, bool_flag, targeted_flag
from tests.client.cdn import LoopbackCdn

ROOT = Path(__file__).resolve().parents[2]
NEVER = (
    "aws_encryption_sdk",
    "aws_cryptographic_material_providers",
    "boto3",
    "botocore",
    "asyncio",
    "urllib3",
    "jsonschema",  # only a json flag with a schema needs it; these flags have none
)
# Loaded only by a reader that fetches: an offline reader never needs the HTTP stack.
NETWORK = ("http.client", "ssl")

_SCRIPT = r"""
import json, sys
WATCH = sys.argv[1].split(",")
def held():
    return sorted(m for m in WATCH if m in sys.modules)
out = {}
from edge_reader.client import FlagClient
import edge_reader.openfeature
out["imports"] = held()
project, env, key, cache_dir, pointer_url, publisher_key = sys.argv[2:8]
offline = FlagClient(project=project, environment=env, sdk_key=key, mode="offline",
                     cache_dir=cache_dir, signing_keys=publisher_key)
assert offline.wait_until_ready(30), offline.status()
out["offline_value"] = offline.get_boolean("on", {"targetingKey": "u"}, False)
out["offline"] = held()
online = FlagClient(project=project, environment=env, sdk_key=key, pointer_url=pointer_url,
                    signing_keys=publisher_key)
out["verifies"] = offline.verifies_publisher and online.verifies_publisher
assert online.wait_until_ready(30), online.status()
out["online_value"] = online.get_boolean("de", {"targetingKey": "u", "country": "DE"}, False)
out["online_revision"] = online.revision
online.close()
out["online"] = held()
print(json.dumps(out))
"""


def test_a_reader_never_loads_the_encryption_sdk_boto3_or_asyncio(
    signed_factory: BundleFactory, server_key: SdkKey, cdn: LoopbackCdn, tmp_path: Path,
    publisher_pem: str,
) -> None:
    factory = signed_factory
    flags = {"on": bool_flag(), "de": targeted_flag("DE")}
    cached = factory.build(1, flags)
    DiskCache(tmp_path, factory.project, factory.environment, "server").store(
        cached.pointer_bytes, cached.ciphertext
    )
    factory.publish(cdn, factory.build(2, flags))
    pointer_url = cdn.url(factory.pointer_path)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _SCRIPT,
            ",".join(NEVER + NETWORK),
            factory.project,
            factory.environment,
            server_key.text,
            str(tmp_path),
            pointer_url,
            publisher_pem,
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["offline_value"] is True
    assert out["online_value"] is True
    assert out["online_revision"] == 2
    assert out["verifies"] is True
    assert out["imports"] == []
    assert out["offline"] == []
    # Fetching loads the standard library's HTTP client, and still nothing heavy.
    assert out["online"] == sorted(NETWORK)
