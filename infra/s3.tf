# The bundle bucket: private, versioned, SSE-KMS, readable only by the CloudFront
# distribution (Origin Access Control) and written only by the publisher role.
#
# Lifecycle ("keep the last N"): the publisher writes every bundle under a NEW immutable
# key (<revision>-<sha256>.bundle) and overwrites only the small current.json pointer.
# Versioning history therefore exists only for pointers (the last N noncurrent pointer
# versions are kept, N = keep_noncurrent_bundles in resources.json). Bundle objects are
# never noncurrent while they live, and their age says nothing about whether a pointer still
# names them (an environment untouched for a year is still served by a year-old bundle), so
# age alone must not expire them. After each publish the publisher tags every bundle of the
# scope beyond the newest bundles_kept_per_scope (and every bundle of a scope that no longer
# exists) vexil-superseded=true (control_plane/chalicelib/publish/retention.py); it never
# tags one a pointer names. Tagged bundles expire superseded_bundle_expiration_days after
# they were written (S3 counts from creation, so an old bundle goes at the next lifecycle
# run), and their noncurrent version a day later.

resource "aws_s3_bucket" "bundles" {
  bucket = local.bucket_name
  #checkov:skip=CKV_AWS_144:bundles are rebuilt from DynamoDB (PITR) by the publisher; a cross-region replica would duplicate derived data
  #checkov:skip=CKV2_AWS_62:nothing consumes bucket events; the DynamoDB stream drives publishing

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_ownership_controls" "bundles" {
  bucket = aws_s3_bucket.bundles.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "bundles" {
  bucket                  = aws_s3_bucket.bundles.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "bundles" {
  bucket = aws_s3_bucket.bundles.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "bundles" {
  bucket = aws_s3_bucket.bundles.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.storage.arn
    }
    # One data key per bucket instead of one KMS call per object read through CloudFront.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "bundles" {
  bucket     = aws_s3_bucket.bundles.id
  depends_on = [aws_s3_bucket_versioning.bundles]

  rule {
    id     = "keep-last-pointer-versions"
    status = "Enabled"
    filter {
      prefix = local.bundle_prefix
    }
    noncurrent_version_expiration {
      newer_noncurrent_versions = local.keep_noncurrent_versions
      noncurrent_days           = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  # A list-import upload holds raw member ids; the importer deletes it once processed, this
  # deletes the ones nobody processed (never started, refused, change request rejected).
  rule {
    id     = "expire-abandoned-imports"
    status = "Enabled"
    filter {
      prefix = "imports/"
    }
    expiration {
      days = 7
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  rule {
    id     = "expire-superseded-bundles"
    status = "Enabled"
    filter {
      and {
        prefix = local.bundle_prefix
        tags = {
          "vexil-superseded" = "true"
        }
      }
    }
    expiration {
      days = var.superseded_bundle_expiration_days
    }
    # Versioning turns the expiry into a delete marker; the bytes go a day later (the
    # pointer rule's newer_noncurrent_versions would otherwise keep them for good).
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
  }

  rule {
    id     = "clean-delete-markers"
    status = "Enabled"
    filter {}
    expiration {
      expired_object_delete_marker = true
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_bucket_logging" "bundles" {
  bucket        = aws_s3_bucket.bundles.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3/${local.bucket_name}/"
}

data "aws_iam_policy_document" "bundles_bucket" {
  # Reads come only from this distribution, through Origin Access Control.
  statement {
    sid       = "CloudFrontReadsBundles"
    actions   = ["s3:GetObject"]
    # console/*: the web console's static files (infra/console.tf).
    resources = ["${aws_s3_bucket.bundles.arn}/${local.bundle_prefix}*", "${aws_s3_bucket.bundles.arn}/console/*"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.bundles.arn]
    }
  }

  # F4: the bucket is versioned, and S3 hands out version ids (x-amz-version-id). The
  # distribution forwards no query string, and on top of that its identity may never read
  # an old version: a ?versionId=<older> pointer cannot be served or cached.
  statement {
    sid       = "CloudFrontNeverReadsOldVersions"
    effect    = "Deny"
    actions   = ["s3:GetObjectVersion"]
    resources = ["${aws_s3_bucket.bundles.arn}/*"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.bundles.arn, "${aws_s3_bucket.bundles.arn}/*"]
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

resource "aws_s3_bucket_policy" "bundles" {
  bucket     = aws_s3_bucket.bundles.id
  policy     = data.aws_iam_policy_document.bundles_bucket.json
  depends_on = [aws_s3_bucket_public_access_block.bundles]
}

# ------------------------------------------------------------------------ access logs

# Receives S3 server access logs (authorised by the bucket policy below) and CloudFront
# standard logs. S3 log delivery cannot write to SSE-KMS buckets, hence SSE-S3 here.
# CloudFront standard logging adds its own ACL grant (awslogsdelivery) to this bucket when
# the distribution is created, which needs ACLs enabled: BucketOwnerPreferred, and no
# aws_s3_bucket_acl resource here, because Terraform would strip that grant on each apply.
resource "aws_s3_bucket" "logs" {
  bucket = local.log_bucket_name
  #checkov:skip=CKV_AWS_145:S3 server access log delivery only supports SSE-S3 on the target bucket
  #checkov:skip=CKV_AWS_18:this is the access-log bucket; logging it into itself would loop
  #checkov:skip=CKV_AWS_144:access logs are kept for audit in-region; replication doubles cost for no recovery need
  #checkov:skip=CKV2_AWS_62:nothing consumes log-bucket events
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  #checkov:skip=CKV2_AWS_65:CloudFront standard logging writes through the log-delivery ACL; ACLs stay disabled on the bundle bucket
  bucket = aws_s3_bucket.logs.id
  rule {
    object_ownership = "BucketOwnerPreferred"
  }
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket     = aws_s3_bucket.logs.id
  depends_on = [aws_s3_bucket_versioning.logs]
  rule {
    id     = "expire-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.log_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "logs_bucket" {
  statement {
    sid       = "S3ServerAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/s3/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.bundles.arn, aws_s3_bucket.anchors.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.logs.arn, "${aws_s3_bucket.logs.arn}/*"]
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

resource "aws_s3_bucket_policy" "logs" {
  bucket     = aws_s3_bucket.logs.id
  policy     = data.aws_iam_policy_document.logs_bucket.json
  depends_on = [aws_s3_bucket_public_access_block.logs]
}
