# Optional: a custom domain for the control-plane API, and mutual TLS on it.
#
#   api_domain_name + api_certificate_arn       -> https://<api_domain_name>/v1/... (regional
#                                                  custom domain, TLS 1.2, Route 53 alias)
#   + api_mtls_truststore_file                  -> clients must also present a certificate
#                                                  issued by a CA in that PEM bundle; the
#                                                  default execute-api endpoint is disabled
#                                                  so the certificate cannot be bypassed
#
# Off by default (all empty): the API is reached at the stage's execute-api URL with
# bearer tokens only. mTLS is an extra factor in front of the tokens, never instead of
# them: the authorizer and RBAC run exactly as without it. API Gateway supports mutual TLS
# only on REGIONAL custom domains, with the truststore in S3 (docs/deploy.md, "Mutual TLS").
# The variables live here, beside the only resources that read them, so this option stays
# one file.

variable "api_domain_name" {
  description = "Optional custom domain for the control-plane API (e.g. flags-api.example.com). Empty: the execute-api URL."
  type        = string
  default     = ""
}

variable "api_certificate_arn" {
  description = "ACM certificate IN aws_region (a regional custom domain, unlike the CDN's us-east-1 one) covering api_domain_name."
  type        = string
  default     = ""
  validation {
    condition     = var.api_certificate_arn == "" || can(regex("^arn:aws[a-z-]*:acm:", var.api_certificate_arn))
    error_message = "api_certificate_arn: an ACM certificate ARN (arn:aws:acm:<aws_region>:...)."
  }
}

variable "api_route53_zone_id" {
  description = "Optional Route 53 hosted zone in which to create the alias record for api_domain_name."
  type        = string
  default     = ""
}

variable "api_mtls_truststore_file" {
  description = "Optional PEM file (path relative to infra/) of the CA certificates whose client certificates the API accepts. Set: mutual TLS on api_domain_name, execute-api endpoint disabled."
  type        = string
  default     = ""
}

locals {
  api_custom_domain = var.api_domain_name != ""
  api_mtls          = var.api_mtls_truststore_file != ""
  # The default endpoint would let a caller skip the client certificate: off with mTLS.
  api_disable_default_endpoint = local.api_mtls
  api_truststore_bucket_name   = "${local.name_prefix}-api-truststore"
  api_truststore_key           = "truststore.pem"
}

# The truststore: API Gateway reads it from S3 when the domain is created or updated (with
# the deploying principal's permissions), pinned to the object version Terraform uploaded,
# so replacing the file and re-applying rolls the new CA set out explicitly.
resource "aws_s3_bucket" "api_truststore" {
  count  = local.api_mtls ? 1 : 0
  bucket = local.api_truststore_bucket_name
  #checkov:skip=CKV_AWS_145:holds only public CA certificates; SSE-S3 keeps API Gateway's truststore read free of a KMS grant
  #checkov:skip=CKV_AWS_144:the truststore is re-uploaded from the operator's PEM file by terraform apply; a replica adds nothing
  #checkov:skip=CKV2_AWS_62:nothing consumes truststore-bucket events
  #checkov:skip=CKV2_AWS_61:one small object whose versions are the CA-set history; nothing to expire

  lifecycle {
    precondition {
      condition     = local.api_custom_domain
      error_message = "api_mtls_truststore_file needs api_domain_name and api_certificate_arn: API Gateway offers mutual TLS only on a custom domain."
    }
  }
}

resource "aws_s3_bucket_ownership_controls" "api_truststore" {
  count  = local.api_mtls ? 1 : 0
  bucket = aws_s3_bucket.api_truststore[0].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "api_truststore" {
  count                   = local.api_mtls ? 1 : 0
  bucket                  = aws_s3_bucket.api_truststore[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "api_truststore" {
  count  = local.api_mtls ? 1 : 0
  bucket = aws_s3_bucket.api_truststore[0].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "api_truststore" {
  count  = local.api_mtls ? 1 : 0
  bucket = aws_s3_bucket.api_truststore[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_logging" "api_truststore" {
  count         = local.api_mtls ? 1 : 0
  bucket        = aws_s3_bucket.api_truststore[0].id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3/${local.api_truststore_bucket_name}/"
}

data "aws_iam_policy_document" "api_truststore" {
  count = local.api_mtls ? 1 : 0
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.api_truststore[0].arn,
      "${aws_s3_bucket.api_truststore[0].arn}/*",
    ]
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

resource "aws_s3_bucket_policy" "api_truststore" {
  count      = local.api_mtls ? 1 : 0
  bucket     = aws_s3_bucket.api_truststore[0].id
  policy     = data.aws_iam_policy_document.api_truststore[0].json
  depends_on = [aws_s3_bucket_public_access_block.api_truststore]
}

resource "aws_s3_object" "api_truststore" {
  count        = local.api_mtls ? 1 : 0
  bucket       = aws_s3_bucket.api_truststore[0].id
  key          = local.api_truststore_key
  source       = "${path.module}/${var.api_mtls_truststore_file}"
  source_hash  = filemd5("${path.module}/${var.api_mtls_truststore_file}")
  content_type = "application/x-pem-file"
  depends_on   = [aws_s3_bucket_versioning.api_truststore]
}

resource "aws_api_gateway_domain_name" "api" {
  count                    = local.api_custom_domain ? 1 : 0
  domain_name              = var.api_domain_name
  regional_certificate_arn = var.api_certificate_arn
  security_policy          = "TLS_1_2"

  endpoint_configuration {
    types = ["REGIONAL"]
  }

  dynamic "mutual_tls_authentication" {
    for_each = local.api_mtls ? [1] : []
    content {
      truststore_uri     = "s3://${aws_s3_bucket.api_truststore[0].bucket}/${local.api_truststore_key}"
      truststore_version = aws_s3_object.api_truststore[0].version_id
    }
  }

  lifecycle {
    precondition {
      condition     = var.api_certificate_arn != ""
      error_message = "api_certificate_arn is required when api_domain_name is set."
    }
  }
}

# The whole stage at the domain's root: https://<api_domain_name>/v1/...
resource "aws_api_gateway_base_path_mapping" "api" {
  count       = local.api_custom_domain ? 1 : 0
  api_id      = module.control_plane.rest_api_id
  stage_name  = aws_api_gateway_stage.api.stage_name
  domain_name = aws_api_gateway_domain_name.api[0].domain_name
}

resource "aws_route53_record" "api" {
  count   = local.api_custom_domain && var.api_route53_zone_id != "" ? 1 : 0
  zone_id = var.api_route53_zone_id
  name    = var.api_domain_name
  type    = "A"
  alias {
    name                   = aws_api_gateway_domain_name.api[0].regional_domain_name
    zone_id                = aws_api_gateway_domain_name.api[0].regional_zone_id
    evaluate_target_health = false
  }
}

output "api_domain_regional_name" {
  description = "Target for a CNAME/alias of api_domain_name when Route 53 is not managed here (empty without a custom domain)."
  value       = local.api_custom_domain ? aws_api_gateway_domain_name.api[0].regional_domain_name : ""
}

output "api_mtls_enabled" {
  description = "Whether the API requires a client certificate (and the execute-api endpoint is disabled)."
  value       = local.api_mtls
}
