# The guarded-rollout controller (docs/rollouts.md): an EventBridge rule invokes the
# control plane's `rollout_controller` Lambda every minute; it reads the guard alarms
# (cloudwatch:DescribeAlarms), writes only rollout state, flag configurations, their history,
# audit records and environment heads (policy-rollout-controller.json), and notifies
# rollbacks on its own encrypted SNS topic. If it stops running, rollouts freeze at their
# current step (readers keep serving it) and the alarm below says so.

variable "rollout_guard_alarm_prefix" {
  description = "Name prefix of the CloudWatch alarms rollouts may use as guards (the controller may describe only these); empty: every alarm of the account and region."
  type        = string
  default     = ""
}

variable "rollout_controller_missed_minutes" {
  description = "Alarm when the rollout controller has not run for this many minutes (rollouts are frozen meanwhile)."
  type        = number
  default     = 5
  validation {
    condition     = var.rollout_controller_missed_minutes >= 2 && var.rollout_controller_missed_minutes <= 60
    error_message = "rollout_controller_missed_minutes: between 2 and 60."
  }
}

variable "rollout_notification_emails" {
  description = "Email addresses subscribed to rollout notices (rollbacks)."
  type        = list(string)
  default     = []
}

locals {
  guard_alarms_arn = "arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${var.rollout_guard_alarm_prefix}*"
}

resource "aws_sns_topic" "rollouts" {
  name              = "${local.name_prefix}-rollouts"
  kms_master_key_id = aws_kms_key.storage.arn
  tags              = local.tags
}

resource "aws_sns_topic_subscription" "rollout_email" {
  for_each  = toset(var.rollout_notification_emails)
  topic_arn = aws_sns_topic.rollouts.arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_cloudwatch_event_rule" "rollout_controller" {
  name                = "${local.name_prefix}-rollout-controller"
  description         = "Vexil rollout controller: advance or roll back guarded rollouts"
  schedule_expression = "rate(1 minute)"
  tags                = local.tags
}

resource "aws_cloudwatch_event_target" "rollout_controller" {
  rule  = aws_cloudwatch_event_rule.rollout_controller.name
  arn   = module.control_plane.function_arns["rollout_controller"]
  input = jsonencode({ source = "vexil.rollouts" })

  # A late tick is worth nothing: the next one comes within a minute.
  retry_policy {
    maximum_retry_attempts       = 0
    maximum_event_age_in_seconds = 60
  }
}

resource "aws_lambda_permission" "rollout_controller" {
  statement_id  = "AllowRolloutControllerSchedule"
  action        = "lambda:InvokeFunction"
  function_name = module.control_plane.function_names["rollout_controller"]
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.rollout_controller.arn
}

# No invocation for N minutes: the schedule or the function is broken and every running
# rollout is frozen (never advanced blindly). Missing data counts as breaching.
resource "aws_cloudwatch_metric_alarm" "rollout_controller_not_running" {
  alarm_name          = "${local.name_prefix}-rollout-controller-not-running"
  alarm_description   = "The rollout controller has not run for ${var.rollout_controller_missed_minutes} minutes: guarded rollouts are frozen at their current step."
  namespace           = "AWS/Lambda"
  metric_name         = "Invocations"
  dimensions          = { FunctionName = module.control_plane.function_names["rollout_controller"] }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = var.rollout_controller_missed_minutes
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "rollout_controller_errors" {
  alarm_name          = "${local.name_prefix}-rollout-controller-errors"
  alarm_description   = "The rollout controller raised errors (rollouts may be frozen)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = module.control_plane.function_names["rollout_controller"] }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
