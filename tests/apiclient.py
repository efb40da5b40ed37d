"""JSON over real HTTP to a running control-plane API: the one request helper the
stack-level tests share (four-eyes, hardening, red team)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def request_json(url: str, method: str, body: Any = None, *, token: str | None = None,
                 if_match: int | None = None, timeout: float = 30) -> tuple[int, Any]:
    """One request (JSON body, optional bearer token and If-Match); (status, decoded JSON
    body or None). HTTP errors are answers, not exceptions."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if if_match is not None:
        req.add_header("If-Match", f'"{if_match}"')
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        raw = err.read()
        return err.code, json.loads(raw) if raw else None
