# The control plane: the Chalice app, packaged by `python -m infra.package` into
# chalice_app/ (generated, git-ignored), plus what Chalice does not declare: the API
# stage with throttling, access logs and tracing, and its WAF association.

module "control_plane" {
  source = "./chalice_app"

  name_prefix                = local.name_prefix
  table_name                 = aws_dynamodb_table.main.name
  key_store_table_name       = aws_dynamodb_table.key_store.name
  bundles_kept_per_scope     = var.bundles_kept_per_scope
  pointer_max_age_seconds    = var.pointer_max_age_minutes * 60
  heartbeat_interval_seconds = var.heartbeat_interval_minutes * 60
  list_grace_seconds         = var.list_grace_minutes * 60 # importer.tf
  bucket_name                = aws_s3_bucket.bundles.bucket
  anchor_bucket_name         = aws_s3_bucket.anchors.bucket
  anchor_trusted_keys_pem    = local.signing_public_keys_pem
  cloudfront_distribution_id = aws_cloudfront_distribution.bundles.id
  console_origin             = local.console_origin
  metrics_namespace          = local.metrics_namespace
  dead_letter_queue_arn      = aws_sqs_queue.dead_letter.arn
  reserved_concurrency       = var.lambda_reserved_concurrency
  log_retention_days         = var.log_retention_days
  tags                       = local.tags

  # Placeholders of control_plane/.chalice/policy-*.json.
  table_arn           = aws_dynamodb_table.main.arn
  stream_arn          = aws_dynamodb_table.main.stream_arn
  key_store_table_arn = aws_dynamodb_table.key_store.arn
  bucket_arn          = aws_s3_bucket.bundles.arn
  anchor_bucket_arn   = aws_s3_bucket.anchors.arn
  bundle_key_arn      = aws_kms_key.bundle.arn
  table_key_arn       = aws_kms_key.table.arn
  storage_key_arn     = aws_kms_key.storage.arn
  distribution_arn    = aws_cloudfront_distribution.bundles.arn
  signing_key_arn     = local.signing_key_arn
  rollout_topic_arn   = aws_sns_topic.rollouts.arn # rollouts.tf
  guard_alarms_arn    = local.guard_alarms_arn

  # With mutual TLS on the custom domain (api_domain.tf) the execute-api URL is switched off.
  disable_execute_api_endpoint = local.api_disable_default_endpoint
}

resource "aws_cloudwatch_log_group" "api_access" {
  name              = "/aws/apigateway/${local.name_prefix}-api"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.storage.arn
}

resource "aws_api_gateway_stage" "api" {
  #checkov:skip=CKV_AWS_120:responses are per-principal (RBAC) and must never be served from a shared cache
  #checkov:skip=CKV2_AWS_77:the Log4j rules (AWSManagedRulesKnownBadInputsRuleSet) are attached; this check also demands AWSManagedRulesAnonymousIpList, whose HostingProviderIPList would block server SDKs and CI running in clouds
  #checkov:skip=CKV2_AWS_51:mutual TLS is an option on the custom domain (api_domain.tf, api_mtls_truststore_file) since it needs the operator's client PKI; callers always present bearer API tokens checked by the authorizer
  rest_api_id          = module.control_plane.rest_api_id
  deployment_id        = module.control_plane.deployment_id
  stage_name           = "api"
  xray_tracing_enabled = true

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    format = jsonencode({
      requestId      = "$context.requestId"
      ip             = "$context.identity.sourceIp"
      requestTime    = "$context.requestTime"
      httpMethod     = "$context.httpMethod"
      resourcePath   = "$context.resourcePath"
      status         = "$context.status"
      responseLength = "$context.responseLength"
      latency        = "$context.responseLatency"
      principal      = "$context.authorizer.principalId"
      wafStatus      = "$context.wafResponseCode"
      # With mutual TLS on the custom domain (api_domain.tf): which certificate called.
      clientCert = "$context.identity.clientCert.subjectDN"
    })
  }

  depends_on = [aws_api_gateway_account.this]
}

resource "aws_api_gateway_method_settings" "all" {
  #checkov:skip=CKV_AWS_225:responses are per-principal (RBAC) and must never be served from a shared cache
  rest_api_id = module.control_plane.rest_api_id
  stage_name  = aws_api_gateway_stage.api.stage_name
  method_path = "*/*"

  settings {
    throttling_rate_limit  = var.api_throttle_rate_limit
    throttling_burst_limit = var.api_throttle_burst_limit
    metrics_enabled        = true
    logging_level          = "ERROR"
    data_trace_enabled     = false # request bodies may hold flag configs and tokens
    caching_enabled        = false
  }
}

resource "aws_wafv2_web_acl_association" "api" {
  resource_arn = aws_api_gateway_stage.api.arn
  web_acl_arn  = aws_wafv2_web_acl.api.arn
}

# API Gateway writes access and execution logs with one account-wide role.
data "aws_iam_policy_document" "apigw_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["apigateway.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "apigw_logs" {
  name               = "${local.name_prefix}-apigw-logs"
  assume_role_policy = data.aws_iam_policy_document.apigw_assume.json
}

resource "aws_iam_role_policy_attachment" "apigw_logs" {
  role       = aws_iam_role.apigw_logs.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
}

resource "aws_api_gateway_account" "this" {
  cloudwatch_role_arn = aws_iam_role.apigw_logs.arn
  depends_on          = [aws_iam_role_policy_attachment.apigw_logs]
}
