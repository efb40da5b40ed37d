"""The rollout controller's Terraform and IAM (infra/rollouts.tf, policy-rollout-controller.json):
scheduled every minute, least privilege, and an alarm when it stops running."""

from __future__ import annotations

import json

import pytest

from tests.infra.infra_tf import INFRA, ROOT, Tf

POLICY = ROOT / "control_plane/.chalice/policy-rollout-controller.json"


@pytest.fixture(scope="module")
def tf() -> Tf:
    return Tf.load(INFRA)


def test_the_schedule_invokes_the_controller_every_minute(tf: Tf) -> None:
    rule = tf.resources[("aws_cloudwatch_event_rule", "rollout_controller")]
    assert rule["schedule_expression"] == "rate(1 minute)"
    target = tf.resources[("aws_cloudwatch_event_target", "rollout_controller")]
    assert target["arn"] == '${module.control_plane.function_arns["rollout_controller"]}'
    permission = tf.resources[("aws_lambda_permission", "rollout_controller")]
    assert permission["principal"] == "events.amazonaws.com"
    assert permission["source_arn"] == "${aws_cloudwatch_event_rule.rollout_controller.arn}"
    config = json.loads((ROOT / "control_plane/.chalice/config.json").read_text())
    function = config["stages"]["dev"]["lambda_functions"]["rollout_controller"]
    # One run ends before the next starts (overlaps are safe anyway: conditional writes).
    assert function["lambda_timeout"] < 60
    assert function["iam_policy_file"] == POLICY.name


def test_an_alarm_fires_when_the_controller_stops_running(tf: Tf) -> None:
    alarm = tf.resources[("aws_cloudwatch_metric_alarm", "rollout_controller_not_running")]
    assert alarm["metric_name"] == "Invocations"
    assert alarm["comparison_operator"] == "LessThanThreshold"
    assert alarm["threshold"] == 1
    assert alarm["treat_missing_data"] == "breaching"  # no data = not running
    assert alarm["evaluation_periods"] == "${var.rollout_controller_missed_minutes}"
    assert alarm["alarm_actions"] == "${local.alarm_actions}"


def test_the_controller_role_is_least_privilege() -> None:
    from infra.package import POLICY_PLACEHOLDERS

    policy = json.loads(POLICY.read_text())
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    # Never deletes, never scans, never touches S3, tokens or the publisher's keys.
    assert not {a for a in actions if a.startswith(("s3:", "kms:Sign", "lambda:"))}
    assert "dynamodb:DeleteItem" not in actions
    assert "dynamodb:Scan" not in actions
    write = by_sid["WriteOnlyRolloutStateFlagConfigHistoryAuditAndEnvironmentHead"]
    keys = write["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    # not T# (tokens) nor CS#; A#*#* are the environments' chains, never A#_global
    assert sorted(keys) == ["A#*#*", "E#*", "H#*", "P#*"]
    assert by_sid["ReadGuardAlarms"]["Action"] == ["cloudwatch:DescribeAlarms"]
    assert by_sid["ReadGuardAlarms"]["Resource"] == "${guard_alarms_arn}"
    assert by_sid["NotifyRollbacks"]["Resource"] == "${rollout_topic_arn}"
    for placeholder in ("guard_alarms_arn", "rollout_topic_arn"):
        assert placeholder in POLICY_PLACEHOLDERS


def test_the_module_binds_the_controller_placeholders(tf: Tf) -> None:
    module = tf.modules["control_plane"]
    assert module["rollout_topic_arn"] == "${aws_sns_topic.rollouts.arn}"
    assert module["guard_alarms_arn"] == "${local.guard_alarms_arn}"
    topic = tf.resources[("aws_sns_topic", "rollouts")]
    assert topic["kms_master_key_id"] == "${aws_kms_key.storage.arn}"
