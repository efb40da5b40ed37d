# The control plane's own metrics (chalicelib/observability.py emits them as CloudWatch
# embedded metric format in its logs: no PutMetricData calls, no IAM for them), one
# dashboard, and alarms on what users would otherwise notice first.

locals {
  # One namespace per deployment, so two stacks in one account never mix their numbers.
  metrics_namespace = "Vexil/${local.name_prefix}"
  metric_names = {
    commit_to_live   = "CommitToLiveMs"
    publishes        = "Publishes"
    publish_failures = "PublishFailures"
    failures_stage   = "PublishFailuresByStage"
    cr_opened        = "ChangeRequestsOpened"
    cr_approved      = "ChangeRequestsApproved"
    cr_applied       = "ChangeRequestsApplied"
    denied           = "DeniedRequests"
    server_errors    = "ServerErrors"
    list_import_queue_age = "ListImportQueueAgeSeconds"
  }
  # The stages PublishFailuresByStage names (Publisher._fail in chalicelib/publish/publisher.py;
  # a test keeps the two lists equal).
  publish_stages = ["snapshot", "build", "sign", "compile", "encrypt", "lists", "s3-read-pointer", "s3-put-bundle", "s3-put-pointer"]
}

resource "aws_cloudwatch_dashboard" "control_plane" {
  dashboard_name = "${local.name_prefix}-control-plane"
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title  = "Commit → live pointer (ms)", region = var.aws_region, view = "timeSeries"
          period = 60
          metrics = [
            [local.metrics_namespace, local.metric_names.commit_to_live, { stat = "p50", label = "p50" }],
            [local.metrics_namespace, local.metric_names.commit_to_live, { stat = "p95", label = "p95" }],
            [local.metrics_namespace, local.metric_names.commit_to_live, { stat = "Maximum", label = "max" }],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title  = "Publishes and failures by stage", region = var.aws_region, view = "timeSeries"
          period = 60, stat = "Sum"
          metrics = concat(
            [[local.metrics_namespace, local.metric_names.publishes]],
            [for s in local.publish_stages : [local.metrics_namespace, local.metric_names.failures_stage, "Stage", s]],
          )
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title  = "Change requests", region = var.aws_region, view = "timeSeries"
          period = 300, stat = "Sum"
          metrics = [
            [local.metrics_namespace, local.metric_names.cr_opened],
            [local.metrics_namespace, local.metric_names.cr_approved],
            [local.metrics_namespace, local.metric_names.cr_applied],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title  = "Denied requests (403) and API 5xx", region = var.aws_region, view = "timeSeries"
          period = 300, stat = "Sum"
          metrics = [
            [local.metrics_namespace, local.metric_names.denied],
            [local.metrics_namespace, local.metric_names.server_errors],
          ]
        }
      },
      {
        type = "log", x = 0, y = 12, width = 24, height = 6
        properties = {
          title  = "Bundle size and flag count per environment (latest publishes)"
          region = var.aws_region
          query  = "SOURCE '/aws/lambda/${module.control_plane.function_names["publisher"]}' | filter ispresent(BundleBytes) | stats latest(BundleBytes) as bytes, latest(FlagCount) as flags by Project, Environment | sort bytes desc"
        }
      },
    ]
  })
}

# Any publish failure: readers keep the previous bundle, so changes are not going live.
resource "aws_cloudwatch_metric_alarm" "publish_failures" {
  alarm_name          = "${local.name_prefix}-publish-failures"
  alarm_description   = "A publish failed; the previous bundle stays live and changes are not reaching readers (the dashboard shows the stage)."
  namespace           = local.metrics_namespace
  metric_name         = local.metric_names.publish_failures
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# Changes take too long to go live (p95 over three minutes in a row).
resource "aws_cloudwatch_metric_alarm" "commit_to_live_p95" {
  alarm_name          = "${local.name_prefix}-commit-to-live-p95"
  alarm_description   = "p95 commit → live pointer latency is above ${var.commit_to_live_alarm_ms} ms: flag changes reach readers late."
  namespace           = local.metrics_namespace
  metric_name         = local.metric_names.commit_to_live
  extended_statistic  = "p95"
  period              = 60
  evaluation_periods  = 3
  threshold           = var.commit_to_live_alarm_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# A burst of 403s: a token probing what it may not do (each is also in the audit chain).
resource "aws_cloudwatch_metric_alarm" "denied_requests" {
  alarm_name          = "${local.name_prefix}-denied-requests"
  alarm_description   = "More than ${var.denied_requests_alarm_threshold} denied API requests in 5 minutes: someone is trying what their role forbids (see the audit log's denied records)."
  namespace           = local.metrics_namespace
  metric_name         = local.metric_names.denied
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.denied_requests_alarm_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
