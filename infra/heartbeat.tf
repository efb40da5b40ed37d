# The publisher's heartbeat: an EventBridge schedule invoking the publisher Lambda with
# {"source": "vexil.heartbeat"}. Each run re-signs pointers well before their expires_at
# (so readers with signing keys never see a live pointer expire) and repairs any pointer
# that storage lost (deleted or overwritten). See docs/security.md, "Freshness".

resource "aws_cloudwatch_event_rule" "heartbeat" {
  name                = "${local.name_prefix}-heartbeat"
  description         = "Vexil publisher heartbeat: re-sign pointers before they expire"
  schedule_expression = "rate(${var.heartbeat_interval_minutes} minutes)"
  tags                = local.tags

  lifecycle {
    precondition {
      # Readers must ride out a late or failed heartbeat: a pointer is renewed at most 1.5
      # intervals after signing, so the max age needs at least two intervals.
      condition     = var.pointer_max_age_minutes >= 2 * var.heartbeat_interval_minutes
      error_message = "pointer_max_age_minutes must be at least twice heartbeat_interval_minutes."
    }
  }
}

resource "aws_cloudwatch_event_target" "heartbeat" {
  rule  = aws_cloudwatch_event_rule.heartbeat.name
  arn   = module.control_plane.function_arns["publisher"]
  input = jsonencode({ source = "vexil.heartbeat" })

  retry_policy {
    maximum_retry_attempts       = 2
    maximum_event_age_in_seconds = 300
  }
}

resource "aws_lambda_permission" "heartbeat" {
  statement_id  = "AllowHeartbeatSchedule"
  action        = "lambda:InvokeFunction"
  function_name = module.control_plane.function_names["publisher"]
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.heartbeat.arn
}
