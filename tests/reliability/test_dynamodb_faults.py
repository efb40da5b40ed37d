"""DynamoDB faults under the API: conditional-check failures, throttling, transaction clashes.

Every case ends with nothing half-written: the flag, the environment revision and the audit
chain either all moved (exactly once) or none did.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.reliability.conftest import Plane
from tests.reliability.faults import Injector, json_error

OFF = {"enabled": False, "off_variation": "off", "default": {"variation": "off"}}
ON = {"enabled": True, "off_variation": "off", "default": {"variation": "on"}}


def _flag_path(p: str, flag: str = "checkout") -> str:
    return f"/v1/projects/{p}/environments/prod/flags/{flag}"


def _state(plane: Plane, p: str) -> tuple[int, int, int]:
    """(config version, environment revision, audit records) — what must move together."""
    cfg = plane.api.get(_flag_path(p)).json
    return int(cfg["version"]), int(plane.env_item(p)["revision"]), len(plane.audit(p))


def _faulty(plane_factory: Callable[..., Plane], operation: str, code: str = "x",
            status: int = 400) -> tuple[Plane, Injector]:
    holder: list[Injector] = []
    plane = plane_factory(lambda client: holder.append(
        Injector(client, operation, lambda: json_error(status, code))))
    return plane, holder[0]


def _setup(plane: Plane) -> str:
    p = plane.project()
    plane.flag(p)
    return p


def test_a_racer_between_read_and_commit_gets_412_and_wins_cleanly(
    plane_factory: Callable[..., Plane]
) -> None:
    """A real ConditionalCheckFailed: another writer commits between our read and our write."""
    other = plane_factory()
    plane, inject = _faulty(plane_factory, "TransactWriteItems")
    p = _setup(plane)
    before = _state(plane, p)

    def racer() -> None:
        assert other.api.put(_flag_path(p), ON, if_match=1).status_code == 200

    inject.arm(times=0, before=racer)
    r = plane.api.put(_flag_path(p), OFF, if_match=1)
    assert inject.seen >= 1  # (moto may report only one failed condition: a re-read retry)
    assert r.status_code == 412, r.json
    assert r.json["current_version"] == 2
    assert r.json["error"]["code"] == "precondition_failed"
    # exactly the racer's write happened: one version, one revision, one audit record
    assert _state(plane, p) == (2, before[1] + 1, before[2] + 1)
    assert plane.api.get(_flag_path(p)).json["config"]["enabled"] is True
    assert plane.api.post("/v1/audit/verify", {"project": p, "environment": "prod"}).json["ok"]


def test_a_clash_on_the_environment_head_is_retried_and_both_writes_land(
    plane_factory: Callable[..., Plane]
) -> None:
    """Another flag of the same environment commits in between: only the head condition
    fails, so the commit re-reads the head and retries; both writes land, chain intact."""
    other = plane_factory()
    plane, inject = _faulty(plane_factory, "TransactWriteItems")
    p = _setup(plane)
    plane.flag(p, {"key": "banner", "kind": "boolean", "variations": {"on": True, "off": False}})
    rev0, audit0 = int(plane.env_item(p)["revision"]), len(plane.audit(p))

    def racer() -> None:
        assert other.api.put(_flag_path(p, "banner"), ON, if_match=1).status_code == 200

    inject.arm(times=0, before=racer)
    r = plane.api.put(_flag_path(p), ON, if_match=1)
    assert r.status_code == 200, r.json
    assert inject.seen >= 2  # the first attempt was cancelled, a retry committed
    assert int(plane.env_item(p)["revision"]) == rev0 + 2
    actions = sorted((a["action"], a["resource"].rsplit("/", 1)[-1])
                     for a in plane.audit(p)[audit0:])
    assert actions == [("flag.config.put", "banner"), ("flag.config.put", "checkout")]
    verify = plane.api.post("/v1/audit/verify", {"project": p, "environment": "prod"}).json
    assert verify["ok"] is True, verify


def test_throttling_is_retried_and_applied_exactly_once(
    plane_factory: Callable[..., Plane]
) -> None:
    plane, inject = _faulty(plane_factory, "TransactWriteItems", "ThrottlingException")
    p = _setup(plane)
    version, revision, audit = _state(plane, p)
    inject.arm(times=2)
    r = plane.api.put(_flag_path(p), ON, if_match=version)
    assert r.status_code == 200, r.json
    assert inject.fired == 2
    assert _state(plane, p) == (version + 1, revision + 1, audit + 1)


def test_throttling_that_outlasts_the_retries_changes_nothing(
    plane_factory: Callable[..., Plane]
) -> None:
    plane, inject = _faulty(plane_factory, "TransactWriteItems",
                            "ProvisionedThroughputExceededException")
    p = _setup(plane)
    before = _state(plane, p)
    inject.arm(times=None)
    r = plane.api.put(_flag_path(p), ON, if_match=before[0])
    inject.disarm()
    assert r.status_code >= 500
    assert b"Traceback" not in r.body
    assert b"ProvisionedThroughput" not in r.body
    # the production retry policy (max_attempts=3 retries): 1 + 3 sends, then give up
    assert inject.fired == 4
    assert _state(plane, p) == before
    # the operator simply retries with the same If-Match once storage recovers
    r = plane.api.put(_flag_path(p), ON, if_match=before[0])
    assert r.status_code == 200, r.json
    assert _state(plane, p) == (before[0] + 1, before[1] + 1, before[2] + 1)


def test_a_read_fault_before_the_write_changes_nothing(
    plane_factory: Callable[..., Plane]
) -> None:
    plane, inject = _faulty(plane_factory, "Query", "InternalServerError", 500)
    p = _setup(plane)
    before = _state(plane, p)
    inject.arm(times=None)
    r = plane.api.put(_flag_path(p), ON, if_match=before[0])
    inject.disarm()
    assert r.status_code >= 500
    assert b"Traceback" not in r.body
    assert _state(plane, p) == before


def test_a_storage_outage_is_a_503_the_client_can_retry(
    plane_factory: Callable[..., Plane]
) -> None:
    plane, inject = _faulty(plane_factory, "TransactWriteItems", "ThrottlingException")
    p = _setup(plane)
    version = _state(plane, p)[0]
    inject.arm(times=None)
    r = plane.api.put(_flag_path(p), ON, if_match=version)
    inject.disarm()
    assert r.status_code == 503, r.body
    assert "Retry-After" in r.headers
    assert r.json["error"]["code"]
