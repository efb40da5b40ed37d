# DynamoDB stream -> publisher Lambda. Declared here, not by Chalice: Chalice's
# on_dynamodb_record cannot enable ReportBatchItemFailures, bisection, bounded retries or
# an on-failure destination. The publisher reports failed records by sequence number
# (partial batch response), so one poisoned environment does not block the shard.

resource "aws_sqs_queue" "dead_letter" {
  name                      = "${local.name_prefix}-dead-letter"
  message_retention_seconds = 1209600 # 14 days, SQS's maximum: time to investigate
  kms_master_key_id         = aws_kms_key.storage.arn
  kms_data_key_reuse_period_seconds = 3600
}

data "aws_iam_policy_document" "dead_letter" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage"]
    resources = [aws_sqs_queue.dead_letter.arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "dead_letter" {
  queue_url = aws_sqs_queue.dead_letter.id
  policy    = data.aws_iam_policy_document.dead_letter.json
}

resource "aws_lambda_event_source_mapping" "publisher_stream" {
  event_source_arn  = aws_dynamodb_table.main.stream_arn
  function_name     = module.control_plane.function_arns["publisher"]
  # Start from the oldest retained record: a mapping created after the first writes
  # (or re-created) must not skip them. Publishing is idempotent, so replays are safe.
  starting_position = "TRIM_HORIZON"
  batch_size        = var.stream_batch_size
  maximum_batching_window_in_seconds = 1
  parallelization_factor             = 1

  function_response_types        = ["ReportBatchItemFailures"]
  bisect_batch_on_function_error = true
  maximum_retry_attempts         = var.stream_maximum_retry_attempts
  maximum_record_age_in_seconds  = var.stream_maximum_record_age_seconds

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.dead_letter.arn
    }
  }

  # Only environment items (sk ENV#...) change what a bundle holds: every bundle-changing
  # transaction bumps the environment's revision (docs/architecture.md). Filtering here
  # saves an invocation per audit/history/flag record.
  filter_criteria {
    filter {
      pattern = jsonencode({ dynamodb = { Keys = { sk = { S = [{ prefix = "ENV#" }] } } } })
    }
  }
}
