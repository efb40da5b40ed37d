"""The list importer's Terraform and IAM (infra/importer.tf, policy-list-importer.json):
woken by queue inserts on the stream and every minute, least privilege, alarmed on errors
and on the queue's age (which also catches an importer that stopped running)."""

from __future__ import annotations

import json

import pytest

from tests.infra.infra_tf import INFRA, ROOT, Tf, first

POLICY = ROOT / "control_plane/.chalice/policy-list-importer.json"
FUNCTION = '${module.control_plane.function_arns["list_importer"]}'


@pytest.fixture(scope="module")
def tf() -> Tf:
    return Tf.load(INFRA)


def test_queue_inserts_on_the_stream_wake_the_importer(tf: Tf) -> None:
    from chalicelib.usecases.list_imports import QUEUE_PK

    esm = tf.resources[("aws_lambda_event_source_mapping", "list_importer_stream")]
    assert esm["function_name"] == FUNCTION
    assert esm["event_source_arn"] == "${aws_dynamodb_table.main.stream_arn}"
    pattern = first(first(esm["filter_criteria"])["filter"])["pattern"].replace('\\"', '"')
    assert f'S = ["{QUEUE_PK}"]' in pattern
    assert 'eventName = ["INSERT"]' in pattern
    on_failure = first(first(esm["destination_config"])["on_failure"])
    assert on_failure["destination_arn"] == "${aws_sqs_queue.dead_letter.arn}"


def test_a_schedule_drains_whatever_a_failed_run_left(tf: Tf) -> None:
    rule = tf.resources[("aws_cloudwatch_event_rule", "list_importer")]
    assert rule["schedule_expression"] == "rate(1 minute)"
    target = tf.resources[("aws_cloudwatch_event_target", "list_importer")]
    assert target["arn"] == FUNCTION
    permission = tf.resources[("aws_lambda_permission", "list_importer")]
    assert permission["principal"] == "events.amazonaws.com"
    assert permission["source_arn"] == "${aws_cloudwatch_event_rule.list_importer.arn}"


def test_the_function_outlives_a_million_line_import_and_the_lease_outlives_it() -> None:
    from chalicelib.list_importer import RESERVE_SECONDS
    from chalicelib.usecases.list_imports import LEASE_SECONDS

    config = json.loads((ROOT / "control_plane/.chalice/config.json").read_text())
    function = config["stages"]["dev"]["lambda_functions"]["list_importer"]
    assert function["iam_policy_file"] == POLICY.name
    # An import runs whole in one invocation: never started with less than RESERVE left,
    # and a claim is only taken over once the longest possible run is surely over.
    assert RESERVE_SECONDS < function["lambda_timeout"] < LEASE_SECONDS
    assert function["lambda_memory_size"] >= 1024


def test_alarms_on_errors_and_on_queue_age(tf: Tf) -> None:
    from chalicelib.observability import Metric

    age = tf.resources[("aws_cloudwatch_metric_alarm", "list_import_queue_age")]
    assert age["metric_name"] == "${local.metric_names.list_import_queue_age}"
    assert tf.locals["metric_names"]["list_import_queue_age"] \
        == Metric.LIST_IMPORT_QUEUE_AGE.value
    assert age["treat_missing_data"] == "breaching"  # the schedule emits every minute
    assert age["statistic"] == "Maximum"
    errors = tf.resources[("aws_cloudwatch_metric_alarm", "list_importer_errors")]
    assert errors["metric_name"] == "Errors"
    assert errors["dimensions"] == {
        "FunctionName": '${module.control_plane.function_names["list_importer"]}'}
    for alarm in (age, errors):
        assert alarm["alarm_actions"] == "${local.alarm_actions}"


def test_the_importer_role_is_least_privilege() -> None:
    policy = json.loads(POLICY.read_text())
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert "dynamodb:Scan" not in actions
    assert not {a for a in actions if a.startswith(("kms:Sign", "lambda:", "sns:"))}
    s3 = [s for s in policy["Statement"] if any(a.startswith("s3:") for a in s["Action"])]
    assert [s["Resource"] for s in s3] == ["${bucket_arn}/imports/*"]  # never bundles/
    assert "s3:PutObject" not in actions
    write = by_sid["WriteOnlyQueueImportsBatchesListStateAuditAndEnvironmentHead"]
    leading = write["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    assert sorted(leading) == ["A#*", "E#*", "IMPORTQ", "L#*", "LI#*", "P#*"]  # not T#, CS#
    secrets = by_sid["UseListSecrets"]
    assert secrets["Condition"] == {
        "StringEquals": {"kms:EncryptionContext:vexil:purpose": "list-secret"}}
    assert secrets["Resource"] == "${bundle_key_arn}"
    assert by_sid["QueueInsertsFromTheStream"]["Resource"] == "${stream_arn}"
