output "api_url" {
  description = "Base URL of the control-plane API (VEXIL_API for the CLI): the custom domain when api_domain_name is set."
  value       = local.api_custom_domain ? "https://${var.api_domain_name}" : aws_api_gateway_stage.api.invoke_url
}

output "cdn_url" {
  description = "Base URL readers fetch bundles from (bundles/<project>/<env>/current.json)."
  value       = local.use_custom_domain ? "https://${var.cdn_domain_name}" : "https://${aws_cloudfront_distribution.bundles.domain_name}"
}

output "table_name" {
  description = "VEXIL_TABLE."
  value       = aws_dynamodb_table.main.name
}

output "key_store_table_name" {
  description = "VEXIL_KEY_STORE_TABLE: the branch-key store (KMS readers need it too)."
  value       = aws_dynamodb_table.key_store.name
}

output "bucket_name" {
  description = "VEXIL_BUCKET."
  value       = aws_s3_bucket.bundles.bucket
}

output "bundle_key_arn" {
  description = "VEXIL_KMS_KEY_ID: the bundle envelope key."
  value       = aws_kms_key.bundle.arn
}

output "signing_key_arn" {
  description = "VEXIL_SIGNING_KEY_ID: the pointer-signing key the publisher uses (active generation)."
  value       = local.signing_key_arn
}

output "pointer_signing_public_key_pem" {
  description = "Public key (PEM) of the active pointer-signing key."
  value       = data.aws_kms_public_key.signing[var.active_signing_key_generation].public_key_pem
}

output "pointer_signing_public_keys_pem" {
  description = "Public keys (PEM, one block per generation) readers should trust: FlagClient(signing_keys=...), the edge's signing_keys, vexil eval --signing-key. Write it to a file and distribute it."
  value       = local.signing_public_keys_pem
}

output "cloudfront_distribution_id" {
  description = "VEXIL_CLOUDFRONT_DISTRIBUTION_ID."
  value       = aws_cloudfront_distribution.bundles.id
}

output "alarm_topic_arn" {
  description = "SNS topic receiving every alarm (the CDN alarm uses the -alarms-cdn topic in us-east-1)."
  value       = aws_sns_topic.alarms.arn
}

output "dead_letter_queue_url" {
  description = "Where failed stream batches land; see docs/deploy.md for replaying them."
  value       = aws_sqs_queue.dead_letter.id
}

output "console_url" {
  description = "The web console (static files under /console/ on the CDN)"
  value       = "${local.console_origin}/console/index.html"
}
