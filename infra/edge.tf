# The OFREP edge: the OpenFeature Remote Evaluation Protocol for browsers and mobile apps,
# a Lambda behind the same CloudFront distribution as the bundles, under /ofrep/*
# (edge_reader/edge; docs/deploy.md "The OFREP edge").
#
#   browser ─POST /ofrep/v1/evaluate/flags─▶ CloudFront (WAF: per-IP rate rule for /ofrep/,
#       no caching, x-vexil-origin-verify header added) ─▶ HTTP API (stage throttling)
#       ─▶ Lambda handler
#       └─ evaluates from the compiled snapshot it keeps warm across invocations; refreshes
#          it (conditional S3 GetObject of the client-scope pointer, ETag) at most every
#          edge_refresh_seconds, with a hard budget, and keeps the last good one on any fault.
#
# Off until var.edge_environments names at least one environment: client SDK keys are made
# through the API after the first deploy (`vexil sdk-keys create ... --kind client`).
#
# Why the function reads the bucket and not the CDN: it sits behind that distribution, so
# the distribution's address cannot be in its configuration (function → distribution →
# HTTP API → function is a cycle). For the same reason it has a KMS key of its own: the
# storage key's policy names the distribution.

variable "edge_environments" {
  description = "Environments the OFREP edge serves, each with the client SDK key (vxl_cli_...) browsers send for it. Empty: no edge."
  type = list(object({
    project     = string
    environment = string
    sdk_key     = string
  }))
  default   = []
  sensitive = true
  validation {
    condition     = alltrue([for e in var.edge_environments : can(regex("^vxl_cli_", e.sdk_key))])
    error_message = "edge_environments[*].sdk_key must be client keys (vxl_cli_...)."
  }
}

variable "edge_origin_secret" {
  description = "Shared secret CloudFront sends to the edge's HTTP API (x-vexil-origin-verify) so callers cannot bypass the distribution's WAF; 32+ characters, e.g. `openssl rand -hex 32`. Required with edge_environments."
  type        = string
  default     = ""
  sensitive   = true
}

variable "edge_cors_origins" {
  description = "Origins allowed to call the OFREP edge from a browser (Access-Control-Allow-Origin); [\"*\"] allows any."
  type        = list(string)
  default     = ["*"]
}

variable "edge_refresh_seconds" {
  description = "Oldest a warm edge container's flags may be before an invocation refreshes them (a conditional GET of the pointer)."
  type        = number
  default     = 15
}

variable "edge_memory_mb" {
  description = "Memory (and so CPU) of the edge function. 512 MB keeps cold starts (decrypt + compile) short."
  type        = number
  default     = 512
}

variable "edge_reserved_concurrency" {
  description = "Concurrent executions reserved for (and capping) the edge function; beyond it requests are throttled (alarmed)."
  type        = number
  default     = 100
}

variable "edge_throttle_rate_limit" {
  description = "Steady requests per second the edge's HTTP API stage admits (all callers together)."
  type        = number
  default     = 1000
}

variable "edge_throttle_burst_limit" {
  description = "Burst the edge's HTTP API stage admits above edge_throttle_rate_limit."
  type        = number
  default     = 2000
}

variable "waf_edge_rate_limit" {
  description = "Requests per 5 minutes one IP may send to /ofrep/* before the CDN WAF blocks it (within waf_cdn_rate_limit)."
  type        = number
  default     = 3000
}

variable "edge_p99_alarm_ms" {
  description = "Alarm when the edge function's p99 duration stays above this (ms) for 3 minutes."
  type        = number
  default     = 250
}

locals {
  edge_enabled = length(var.edge_environments) > 0
  edge_name    = "${local.name_prefix}-ofrep-edge"
  edge_zip     = "${path.module}/edge/edge.zip"
  # The header CloudFront adds and lambda_handler.ORIGIN_HEADER checks.
  edge_origin_header = "x-vexil-origin-verify"
  # Pointers and bundles of the client scope only (edge_reader/bundle/pointer.py layout).
  edge_readable_objects = "${aws_s3_bucket.bundles.arn}/${local.bundle_prefix}*/scopes/client/*"
  # AWS-managed CloudFront policies: no caching; every viewer header but Host (a function
  # URL answers only to its own host name).
  cf_caching_disabled_policy_id             = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
  cf_all_viewer_except_host_header_policy_id = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
}

# ------------------------------------------------------------------------------- key

data "aws_iam_policy_document" "edge_key" {
  count = local.edge_enabled ? 1 : 0
  #checkov:skip=CKV_AWS_111:a key policy's "*" resource means this key only; every statement names its principal and conditions
  #checkov:skip=CKV_AWS_356:a key policy's "*" resource means this key only (KMS key policies cannot name other resources)
  statement {
    sid       = "KeyAdministration"
    actions   = local.kms_admin_actions
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = local.key_admins
    }
  }

  # Lambda encrypts the function's environment (client SDK keys, the origin secret) with
  # it on behalf of the deployer and decrypts it for the function's role.
  statement {
    sid       = "UseThroughLambda"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [local.root_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["lambda.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid = "CloudWatchLogsEncryptsTheLogGroup"
    actions = [
      "kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo",
      "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey",
    ]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values = [for g in ["/aws/lambda/", "/aws/apigateway/"] :
      "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${g}${local.edge_name}"]
    }
  }
}

resource "aws_kms_key" "edge" {
  count                   = local.edge_enabled ? 1 : 0
  description             = "Vexil ${local.name_prefix}: OFREP edge function environment and logs"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.edge_key[0].json
}

# ------------------------------------------------------------------------------ role

data "aws_iam_policy_document" "edge_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "edge" {
  count              = local.edge_enabled ? 1 : 0
  name               = local.edge_name
  assume_role_policy = data.aws_iam_policy_document.edge_assume.json
}

# Least privilege: read client-scope pointers and bundles (nothing of the server scope,
# nothing else in the bucket), decrypt them at rest through S3, write its own logs and traces.
data "aws_iam_policy_document" "edge_runtime" {
  count = local.edge_enabled ? 1 : 0
  statement {
    sid       = "ReadClientScopeBundles"
    actions   = ["s3:GetObject"]
    resources = [local.edge_readable_objects]
  }
  statement {
    sid       = "BucketEncryptionThroughS3"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.storage.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }
  statement {
    sid       = "OwnEnvironment"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.edge[0].arn]
  }
  statement {
    sid       = "OwnLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.edge[0].arn}:*"]
  }
  statement {
    # X-Ray has no resource-level permissions.
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "edge" {
  count  = local.edge_enabled ? 1 : 0
  name   = "runtime"
  role   = aws_iam_role.edge[0].id
  policy = data.aws_iam_policy_document.edge_runtime[0].json
}

# -------------------------------------------------------------------------- function

resource "aws_cloudwatch_log_group" "edge" {
  count             = local.edge_enabled ? 1 : 0
  name              = "/aws/lambda/${local.edge_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.edge[0].arn
}

resource "aws_lambda_function" "edge" {
  #checkov:skip=CKV_AWS_116:invoked only synchronously (HTTP API behind CloudFront): a dead-letter queue only ever receives asynchronous events
  #checkov:skip=CKV_AWS_117:no VPC resources to reach; S3 is read over TLS with IAM, and a VPC would add NAT or endpoint cost and cold-start time
  #checkov:skip=CKV_AWS_272:code signing needs an AWS Signer profile and a signed S3 artefact; the zip is built by infra/package.py from reviewed source
  count                          = local.edge_enabled ? 1 : 0
  function_name                  = local.edge_name
  description                    = "Vexil OFREP edge (OpenFeature Remote Evaluation Protocol)"
  role                           = aws_iam_role.edge[0].arn
  filename                       = local.edge_zip
  source_code_hash               = filebase64sha256(local.edge_zip)
  handler                        = "edge_reader.edge.lambda_handler.handler"
  runtime                        = "python3.11"
  architectures                  = ["x86_64"]
  memory_size                    = var.edge_memory_mb
  timeout                        = 5
  reserved_concurrent_executions = var.edge_reserved_concurrency
  kms_key_arn                    = aws_kms_key.edge[0].arn

  environment {
    variables = {
      VEXIL_EDGE_CONFIG_JSON = jsonencode({
        s3_bucket      = aws_s3_bucket.bundles.bucket
        environments   = var.edge_environments
        cors_origins   = var.edge_cors_origins
        signing_keys   = [for g in sort(tolist(var.signing_key_generations)) : data.aws_kms_public_key.signing[g].public_key_pem]
        lambda_ttl     = var.edge_refresh_seconds
        lambda_timeout = 1.0
      })
      VEXIL_EDGE_ORIGIN_SECRET = var.edge_origin_secret
    }
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.edge[0].name
  }

  lifecycle {
    precondition {
      condition     = length(var.edge_origin_secret) >= 32
      error_message = "edge_origin_secret (32+ characters) is required when edge_environments is set."
    }
  }
}

# An HTTP API in front of the function (payload 2.0): its stage throttles (a second
# traffic-layer limit behind the WAF's per-IP rule), and invoking through it needs only the
# classic API Gateway permission on every provider version in versions.tf's range (a
# public function URL now also needs lambda:InvokeFunction, which providers before 6.2x
# cannot scope to the URL).
resource "aws_apigatewayv2_api" "edge" {
  count         = local.edge_enabled ? 1 : 0
  name          = local.edge_name
  protocol_type = "HTTP"
  description   = "Vexil OFREP edge (origin of the CloudFront distribution, /ofrep/*)"
}

resource "aws_apigatewayv2_integration" "edge" {
  count                  = local.edge_enabled ? 1 : 0
  api_id                 = aws_apigatewayv2_api.edge[0].id
  integration_type       = "AWS_PROXY"
  integration_uri        = aws_lambda_function.edge[0].invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = 6000
}

resource "aws_apigatewayv2_route" "edge" {
  #checkov:skip=CKV_AWS_309:browsers authenticate with a client SDK key the function checks (401/403, JSON); API Gateway authorizers would add a Lambda per request
  count     = local.edge_enabled ? 1 : 0
  api_id    = aws_apigatewayv2_api.edge[0].id
  route_key = "$default"
  target    = "integrations/${aws_apigatewayv2_integration.edge[0].id}"
}

resource "aws_cloudwatch_log_group" "edge_access" {
  count             = local.edge_enabled ? 1 : 0
  name              = "/aws/apigateway/${local.edge_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.edge[0].arn
}

resource "aws_apigatewayv2_stage" "edge" {
  count       = local.edge_enabled ? 1 : 0
  api_id      = aws_apigatewayv2_api.edge[0].id
  name        = "$default"
  auto_deploy = true
  default_route_settings {
    throttling_rate_limit  = var.edge_throttle_rate_limit
    throttling_burst_limit = var.edge_throttle_burst_limit
  }
  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.edge_access[0].arn
    # No headers: Authorization carries the client SDK key.
    format = jsonencode({
      requestId = "$context.requestId", ip = "$context.identity.sourceIp",
      method = "$context.httpMethod", path = "$context.path", status = "$context.status",
      latencyMs = "$context.integrationLatency", error = "$context.integrationErrorMessage"
    })
  }
}

resource "aws_lambda_permission" "edge_api" {
  count         = local.edge_enabled ? 1 : 0
  statement_id  = "AllowEdgeHttpApi"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.edge[0].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.edge[0].execution_arn}/*/*"
}

# ------------------------------------------------------------------------- CloudFront

# The bundles' response-headers policy answers CORS itself (any origin, GET only); the edge
# answers CORS from edge_cors_origins, so its behaviour gets security headers only.
resource "aws_cloudfront_response_headers_policy" "edge" {
  name    = "${local.name_prefix}-ofrep-security-headers"
  comment = "Security headers on OFREP edge responses (CORS comes from the function)"
  security_headers_config {
    strict_transport_security {
      access_control_max_age_sec = 63072000
      include_subdomains         = true
      preload                    = true
      override                   = true
    }
    content_type_options {
      override = true
    }
    frame_options {
      frame_option = "DENY"
      override     = true
    }
    referrer_policy {
      referrer_policy = "no-referrer"
      override        = true
    }
    content_security_policy {
      content_security_policy = "default-src 'none'; frame-ancestors 'none'"
      override                = true
    }
  }
}

# ---------------------------------------------------------------------------- alarms

resource "aws_cloudwatch_metric_alarm" "edge_errors" {
  count               = local.edge_enabled ? 1 : 0
  alarm_name          = "${local.edge_name}-errors"
  alarm_description   = "The OFREP edge function failed invocations (browsers get 5xx from CloudFront)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.edge[0].function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "edge_p99_duration" {
  count               = local.edge_enabled ? 1 : 0
  alarm_name          = "${local.edge_name}-p99-duration"
  alarm_description   = "The OFREP edge's p99 duration is high (cold starts, or slow bundle refreshes from S3)."
  namespace           = "AWS/Lambda"
  metric_name         = "Duration"
  dimensions          = { FunctionName = aws_lambda_function.edge[0].function_name }
  extended_statistic  = "p99"
  period              = 60
  evaluation_periods  = 3
  threshold           = var.edge_p99_alarm_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "edge_throttles" {
  count               = local.edge_enabled ? 1 : 0
  alarm_name          = "${local.edge_name}-throttles"
  alarm_description   = "The OFREP edge hit edge_reserved_concurrency; browsers get 5xx until it drains."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = aws_lambda_function.edge[0].function_name }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# --------------------------------------------------------------------------- outputs

output "ofrep_url" {
  description = "Base URL OpenFeature OFREP providers are given (they append /ofrep/v1/...); empty without edge_environments."
  value = local.edge_enabled ? (
    local.use_custom_domain ? "https://${var.cdn_domain_name}" : "https://${aws_cloudfront_distribution.bundles.domain_name}"
  ) : ""
}

output "edge_function_name" {
  description = "The OFREP edge Lambda (logs: /aws/lambda/<name>); empty without edge_environments."
  value       = local.edge_enabled ? aws_lambda_function.edge[0].function_name : ""
}
