"""Guards: the CloudWatch alarms a guarded rollout watches, read by name or ARN.

The one reader of alarm states, shared by the rollout controller (every tick) and the API
(checking that a rollout's guards exist when it starts).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

OK, ALARM, MISSING, UNREADABLE = "OK", "ALARM", "MISSING", "UNREADABLE"


class Alarms(Protocol):
    """Reads guard states: ``{guard: "OK" | "ALARM" | "INSUFFICIENT_DATA" | "MISSING"}``;
    raises on any failure to read (the controller then freezes)."""

    def states(self, guards: Sequence[str]) -> dict[str, str]:
        """The state of every guard named (missing alarms as ``MISSING``)."""
        ...


def alarm_name(guard: str) -> str:
    """An alarm's name from its name or ARN (``arn:aws:cloudwatch:<r>:<acct>:alarm:<name>``)."""
    prefix, sep, name = guard.partition(":alarm:")
    return name if sep and prefix.startswith("arn:") else guard


class CloudWatchAlarms:
    """:class:`Alarms` over CloudWatch ``DescribeAlarms`` (metric and composite alarms)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def states(self, guards: Sequence[str]) -> dict[str, str]:
        """One ``DescribeAlarms`` per 100 guards."""
        names = sorted({alarm_name(g) for g in guards})
        found: dict[str, tuple[str, str]] = {}
        for i in range(0, len(names), 100):
            resp = self.client.describe_alarms(
                AlarmNames=names[i:i + 100], AlarmTypes=["MetricAlarm", "CompositeAlarm"])
            for alarm in [*resp.get("MetricAlarms", []), *resp.get("CompositeAlarms", [])]:
                found[str(alarm["AlarmName"])] = (str(alarm["StateValue"]),
                                                  str(alarm.get("AlarmArn", "")))
        return {g: _state(g, found.get(alarm_name(g))) for g in guards}


def _state(guard: str, found: tuple[str, str] | None) -> str:
    """A guard's state; an ARN guard is only the alarm with that very ARN. DescribeAlarms
    reads this account and region by name, so the same-named alarm of another account or
    region must not stand in for the one the operator named (it would guard nothing)."""
    if found is None:
        return MISSING
    state, arn = found
    if alarm_name(guard) != guard and arn and arn != guard:
        return MISSING
    return state
