"""Units of request parsing (limit, cursor, version, depth) and of the denied log."""

from __future__ import annotations

import logging

import orjson
import pytest
from chalicelib.denied import LOG_EVERY, LOG_FIRST, DeniedLog
from chalicelib.errors import BadRequest
from chalicelib.rbac import Principal
from chalicelib.requests import (
    DEFAULT_LIMIT,
    MAX_BODY_DEPTH,
    encode_cursor,
    key_param,
    page_params,
    parse_body,
    version_param,
)


def _field(exc: pytest.ExceptionInfo[BadRequest]) -> list[str]:
    return [d["path"] for d in exc.value.body()["error"]["details"]]


@pytest.mark.parametrize("limit", ["²", "٣", "５", "1²", "", " 5", "5 ", "+5", "-1", "0", "201",
                                   "9" * 5000, "1e2", "0x10"])
def test_bad_limit_names_limit(limit: str) -> None:
    with pytest.raises(BadRequest) as exc:
        page_params({"limit": limit})
    assert _field(exc) == ["limit"]


def test_good_limit_and_cursor_round_trip() -> None:
    assert page_params(None) == (DEFAULT_LIMIT, None)
    assert page_params({"limit": "7"}) == (7, None)
    cursor = encode_cursor("F#shop#é")
    assert cursor is not None
    assert page_params({"limit": "200", "cursor": cursor}) == (200, "F#shop#é")


@pytest.mark.parametrize("cursor", ["é", "YzE6²", "a\n", "x" * 3000, "bm90LWEtY3Vyc29y", "YzE6",
                                    "YzE=", "a+b/"])
def test_bad_cursor_names_cursor(cursor: str) -> None:
    with pytest.raises(BadRequest) as exc:
        page_params({"cursor": cursor})
    assert _field(exc) == ["cursor"]


@pytest.mark.parametrize("version", ["²", "0", "-1", "1.0", "9" * 5000, ""])
def test_bad_version_names_it(version: str) -> None:
    with pytest.raises(BadRequest) as exc:
        version_param("version", version)
    assert _field(exc) == ["version"]
    assert version_param("version", "12") == 12


@pytest.mark.parametrize("key", ["x\n", "X", ""])
def test_key_param_uses_the_engine_rule(key: str) -> None:
    with pytest.raises(BadRequest) as exc:
        key_param("project", key)
    assert _field(exc) == ["project"]
    assert key_param("project", "shop") == "shop"


def test_body_depth_limit_names_the_deepest_field() -> None:
    value: object = 1
    for _ in range(MAX_BODY_DEPTH + 1):
        value = [value]
    raw = orjson.dumps({"key": "shop", "name": value})
    with pytest.raises(BadRequest) as exc:
        parse_body(raw, "application/json", "ProjectCreate")
    [path] = _field(exc)
    assert path.startswith("name[0][0]")
    # One level less is not refused for depth (the schema then speaks about the type).
    shallow: object = 1
    for _ in range(MAX_BODY_DEPTH - 1):
        shallow = [shallow]
    with pytest.raises(BadRequest) as exc:
        parse_body(orjson.dumps({"key": "shop", "name": shallow}), "application/json",
                   "ProjectCreate")
    assert "deeper" not in str(exc.value.body())


class _Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def test_denied_log_is_bounded_rate_counted_and_logs_no_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = _Clock()
    log = DeniedLog(capacity=50, window_seconds=60, now=clock)
    mallory = Principal("tok-m", "mallory", "editor", ("other",), ("*",))
    with caplog.at_level(logging.WARNING, logger="chalicelib.denied"):
        counts = [log.record(mallory, "denied:putFlag", "/v1/projects/{project}/flags/{flag}",
                             "shop", "production") for _ in range(2 * LOG_EVERY)]
    assert counts == list(range(1, 2 * LOG_EVERY + 1))
    assert log.count("tok-m") == 2 * LOG_EVERY
    assert len(log.recent()) == 50  # bounded
    lines = [orjson.loads(r.getMessage()) for r in caplog.records]
    assert [e["count_in_window"] for e in lines] == [*range(1, LOG_FIRST + 1), LOG_EVERY,
                                                      2 * LOG_EVERY]
    assert {e["token_id"] for e in lines} == {"tok-m"}
    clock.t += 60  # a new window starts counting again
    assert log.record(mallory, "denied:putFlag", "/x") == 1
    # Counters are bounded too: many callers push the oldest out.
    for i in range(200):
        log.record(Principal(f"tok-{i}", "n", "viewer", (), ()), "a", "/r")
    assert log.count("tok-m") == 0
    assert log.count("tok-199") == 1
