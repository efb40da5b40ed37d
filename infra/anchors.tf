# The audit-anchor bucket: write-once copies of every audit chain's head, signed by the
# publisher (control_plane/chalicelib/anchors.py). S3 Object Lock in COMPLIANCE mode (by
# default) keeps every object version for anchor_retention_days: nobody — the publisher, an
# operator, the account root — can overwrite or delete an anchor before then, so a rewrite of
# a chain in DynamoDB (every hash recomputed) is still caught by `vexil audit verify`.
# The local stack keeps anchors in the bundle bucket under the same anchors/ prefix.

resource "aws_s3_bucket" "anchors" {
  bucket = local.anchor_bucket_name
  #checkov:skip=CKV_AWS_144:anchors are a few hundred bytes each and locked in place; a cross-region replica adds cost, not protection against the rewrite they detect
  #checkov:skip=CKV2_AWS_62:nothing consumes anchor events; verification lists the prefix
  # Object Lock can only be switched on when the bucket is created.
  object_lock_enabled = true

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_ownership_controls" "anchors" {
  bucket = aws_s3_bucket.anchors.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "anchors" {
  bucket                  = aws_s3_bucket.anchors.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "anchors" {
  bucket = aws_s3_bucket.anchors.id
  versioning_configuration {
    status = "Enabled"
  }
}

# Every object written is locked by default: the publisher sends no lock headers.
resource "aws_s3_bucket_object_lock_configuration" "anchors" {
  bucket     = aws_s3_bucket.anchors.id
  depends_on = [aws_s3_bucket_versioning.anchors]
  rule {
    default_retention {
      mode = var.anchor_retention_mode
      days = var.anchor_retention_days
    }
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "anchors" {
  bucket = aws_s3_bucket.anchors.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.storage.arn
    }
    bucket_key_enabled = true
  }
}

# Locked versions cannot expire early; once their retention is over they go a day later.
resource "aws_s3_bucket_lifecycle_configuration" "anchors" {
  bucket     = aws_s3_bucket.anchors.id
  depends_on = [aws_s3_bucket_versioning.anchors]
  rule {
    id     = "expire-after-retention"
    status = "Enabled"
    filter {
      prefix = local.anchor_prefix
    }
    expiration {
      days = var.anchor_retention_days + 1
    }
    noncurrent_version_expiration {
      noncurrent_days = var.anchor_retention_days + 1
    }
  }

  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_bucket_logging" "anchors" {
  bucket        = aws_s3_bucket.anchors.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3/${local.anchor_bucket_name}/"
}

data "aws_iam_policy_document" "anchors_bucket" {
  # Only the publisher writes anchors; IAM grants it, this makes it the only one who can.
  statement {
    sid       = "OnlyThePublisherWritesAnchors"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.anchors.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = [local.publisher_role_arn]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.anchors.arn, "${aws_s3_bucket.anchors.arn}/*"]
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

resource "aws_s3_bucket_policy" "anchors" {
  bucket     = aws_s3_bucket.anchors.id
  policy     = data.aws_iam_policy_document.anchors_bucket.json
  depends_on = [aws_s3_bucket_public_access_block.anchors]
}

# Anchoring never fails a publish; a failure is logged instead (chalicelib/publish/anchoring.py,
# FAILURE_MESSAGE). Counted here, alarmed when it keeps happening: chains stay unanchored.
resource "aws_cloudwatch_log_metric_filter" "anchor_failures" {
  name           = "${local.name_prefix}-audit-anchor-failures"
  log_group_name = "/aws/lambda/${module.control_plane.function_names["publisher"]}"
  pattern        = "{ $.message = \"audit anchor write failed\" }"
  metric_transformation {
    name          = "AuditAnchorFailures"
    namespace     = "Vexil/${local.name_prefix}"
    value         = "1"
    default_value = "0"
  }
}

resource "aws_cloudwatch_metric_alarm" "anchor_failures" {
  alarm_name          = "${local.name_prefix}-audit-anchor-failures"
  alarm_description   = "Audit anchors are not being written: chain rewrites since the last anchor would go unnoticed."
  namespace           = "Vexil/${local.name_prefix}"
  metric_name         = "AuditAnchorFailures"
  statistic           = "Sum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 3
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
