# The list importer (docs/architecture.md, "List segments"): the control plane's
# `list_importer` Lambda drains the bulk-import queue of list segments. Two triggers:
# * the table's stream, filtered to the insertion of a queue item (pk IMPORTQ), so an
#   import starts seconds after `…/imports/<id>/start` or its change request's approval
#   (the publisher's mapping, infra/stream.tf, is the stream's only other reader);
# * a schedule every minute: the safety net for a failed or timed-out run (an import whose
#   importer died is reclaimed after its lease) and the heartbeat of the queue-age metric.
# The function reads and deletes only `imports/*` objects, writes only queue, import, batch,
# list-state, audit and environment-head items (policy-list-importer.json).

variable "list_import_max_wait_minutes" {
  description = "Alarm when a queued list import has waited this long (or the importer stopped running)."
  type        = number
  default     = 15
  validation {
    condition     = var.list_import_max_wait_minutes >= 2 && var.list_import_max_wait_minutes <= 120
    error_message = "list_import_max_wait_minutes: between 2 and 120."
  }
}

# Retention of list segments' shards (chalicelib/publish/list_retention.py): a manifest
# superseded less than this long ago keeps its shards, and no list object younger than this
# is tagged for expiry. Must exceed readers' poll interval plus their stale_after.
variable "list_grace_minutes" {
  description = "Minutes a superseded list-segment manifest keeps its shards (VEXIL_LIST_GRACE_SECONDS)."
  type        = number
  default     = 60
  validation {
    condition     = var.list_grace_minutes >= 10
    error_message = "list_grace_minutes: at least 10 (readers still loading the previous list need its shards)."
  }
}

resource "aws_lambda_event_source_mapping" "list_importer_stream" {
  event_source_arn  = aws_dynamodb_table.main.stream_arn
  function_name     = module.control_plane.function_arns["list_importer"]
  starting_position = "LATEST" # the schedule picks up anything queued before the mapping
  batch_size        = 10
  maximum_batching_window_in_seconds = 1
  parallelization_factor             = 1

  # The records are only a wake-up call: the function drains the queue and never fails
  # for an import (failures are recorded on the import). A few retries, then the DLQ; the
  # schedule retries the work anyway.
  bisect_batch_on_function_error = false
  maximum_retry_attempts         = 2
  maximum_record_age_in_seconds  = 3600

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.dead_letter.arn
    }
  }

  filter_criteria {
    filter {
      pattern = jsonencode({ eventName = ["INSERT"], dynamodb = { Keys = { pk = { S = ["IMPORTQ"] } } } })
    }
  }
}

resource "aws_cloudwatch_event_rule" "list_importer" {
  name                = "${local.name_prefix}-list-importer"
  description         = "Vexil list importer: drain queued list-segment imports (safety net)"
  schedule_expression = "rate(1 minute)"
  tags                = local.tags
}

resource "aws_cloudwatch_event_target" "list_importer" {
  rule  = aws_cloudwatch_event_rule.list_importer.name
  arn   = module.control_plane.function_arns["list_importer"]
  input = jsonencode({ source = "vexil.list-importer" })

  # A missed tick costs nothing: the next one comes within a minute.
  retry_policy {
    maximum_retry_attempts       = 0
    maximum_event_age_in_seconds = 60
  }
}

resource "aws_lambda_permission" "list_importer" {
  statement_id  = "AllowListImporterSchedule"
  action        = "lambda:InvokeFunction"
  function_name = module.control_plane.function_names["list_importer"]
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.list_importer.arn
}

# Imports wait too long. The schedule emits the metric every minute (0 with an empty
# queue), so missing data means the importer is not running: breaching too.
resource "aws_cloudwatch_metric_alarm" "list_import_queue_age" {
  alarm_name          = "${local.name_prefix}-list-import-queue-age"
  alarm_description   = "A list-segment import has waited over ${var.list_import_max_wait_minutes} minutes, or the importer has stopped running: uploads are not reaching readers."
  namespace           = local.metrics_namespace
  metric_name         = local.metric_names.list_import_queue_age
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  threshold           = var.list_import_max_wait_minutes * 60
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "list_importer_errors" {
  alarm_name          = "${local.name_prefix}-list-importer-errors"
  alarm_description   = "The list importer raised errors (storage or KMS unreachable, or a timeout): imports may be stuck until the next run reclaims them."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = module.control_plane.function_names["list_importer"] }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
