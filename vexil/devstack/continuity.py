"""What ``vexil dev up`` does so a restarted stack carries on where the last one stopped.

The emulator restores its own state (:mod:`vexil.devstack.emulator_state`); two things live
outside it and must agree with it:

* the admin token's *text* (the table keeps only its hash): reused from ``kept.json`` when
  the restored API still accepts it, a new one bootstrapped otherwise;
* the stream worker's checkpoint: after a crash the restored state can be older than the
  checkpoint (the worker had published records written after the last save, which are now
  gone with the crash). Left alone, the worker would skip the *new* records that reuse those
  sequence numbers — lost publishes. :func:`align_checkpoint` moves it back to the restored
  stream's end: everything restored was published before, everything new will be.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import urllib3

from vexil.stream_worker import CHECKPOINT_FILE, Checkpoint


def token_is_live(api: str, token: str) -> bool:
    """True when the API at ``api`` accepts ``token`` (``GET /v1/tokens/self`` answers 200)."""
    pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2.0, read=10.0))
    try:
        resp = pool.request("GET", f"{api}/v1/tokens/self",
                            headers={"Authorization": f"Bearer {token}"})
    except urllib3.exceptions.HTTPError:
        return False
    finally:
        pool.clear()
    return resp.status == 200


def align_checkpoint(stream_dir: Path, census: dict[str, Any]) -> bool:
    """Move the stream worker's checkpoint back to the end of the restored stream when it
    points past it; return True when it was changed. ``census`` is the launcher's report."""
    path = stream_dir / CHECKPOINT_FILE
    if not path.exists():
        return False
    checkpoint = Checkpoint.load(path)
    changed = False
    for table in (census.get("tables") or {}).values():
        if table.get("stream_arn") != checkpoint.stream_arn:
            continue
        shard = str(table.get("shard_id"))
        done = checkpoint.shards.get(shard)
        last = int(table.get("stream_next", 0)) - 1
        if done is not None and int(done) > last:
            if last >= int(table.get("stream_start", 0)):
                checkpoint.shards[shard] = str(last)
            else:
                del checkpoint.shards[shard]  # nothing restored in the stream: start over
            changed = True
    if changed:
        checkpoint.save(path)
    return changed
