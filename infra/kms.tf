# Three symmetric customer-managed keys, each with rotation, and the asymmetric signing
# key(s), each with a policy naming who may do what:
#   bundle  - wraps the per-environment branch keys of bundle envelopes (hierarchical
#             keyring) + wrapping of SDK-key secrets (VEXIL_KMS_KEY_ID)
#   table   - DynamoDB encryption at rest (main table, its stream, the branch-key store)
#   storage - everything else at rest: the bundle bucket (SSE-KMS), Lambda environment
#             variables, log groups, the dead-letter queue and the alarm topic
#   signing - ECC_NIST_P256 SIGN_VERIFY: the publisher's pointer signatures, which readers
#             verify with its public key (VEXIL_SIGNING_KEY_ID; one key per generation)
# Key policies grant data operations only to named principals or AWS services acting for
# this account; the administrators get management actions, never Encrypt/Decrypt/Sign.

locals {
  # Spelled out (no "kms:Create*"): CreateGrant would let an administrator hand itself
  # Decrypt without touching the policy.
  kms_admin_actions = [
    "kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias", "kms:DescribeKey",
    "kms:EnableKey", "kms:DisableKey", "kms:EnableKeyRotation", "kms:DisableKeyRotation",
    "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListAliases",
    "kms:ListGrants", "kms:ListKeyPolicies", "kms:ListResourceTags", "kms:RevokeGrant",
    "kms:UpdateKeyDescription", "kms:TagResource", "kms:UntagResource",
    "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand",
  ]
  publisher_role_arn     = module.control_plane.function_role_arns["publisher"]
  control_plane_role_arn = module.control_plane.function_role_arns["api_handler"]
  # Must equal control_plane/chalicelib/sdk_key_record.py SDK_KEY_PURPOSE (a test checks it).
  sdk_key_purpose   = "sdk-key"
  # Must equal control_plane/chalicelib/list_record.py LIST_SECRET_PURPOSE (a test checks it).
  list_secret_purpose = "list-secret"
  reader_principals = distinct(flatten([for r in values(var.readers) : r.principal_arns]))
}

# ----------------------------------------------------------------------------- bundle key

data "aws_iam_policy_document" "bundle_key" {
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

  # Bundles are envelope-encrypted under per-environment branch keys (the AWS KMS
  # Hierarchical keyring, edge_reader/bundle/hierarchy.py); this key wraps only branch
  # keys, never a bundle's data key. The publisher creates branch keys on first publish
  # (GenerateDataKeyWithoutPlaintext + ReEncrypt) and unwraps their material (Decrypt),
  # once per keyring TTL. Every branch key's KMS encryption context names this key store
  # (tablename) and its environment (aws-crypto-ec:vexil:*).
  statement {
    sid = "PublisherUsesBranchKeys"
    actions = [
      "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo",
      "kms:Decrypt",
    ]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [local.publisher_role_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:tablename"
      values   = [local.key_store_logical_name]
    }
    condition {
      test     = "Null"
      variable = "kms:EncryptionContext:aws-crypto-ec:vexil:project"
      values   = ["false"]
    }
  }

  # Operators who rotate branch keys (`vexil keys rotate`): a new version needs
  # GenerateDataKeyWithoutPlaintext and ReEncrypt, never Decrypt, so a rotator cannot
  # unwrap branch-key material.
  dynamic "statement" {
    for_each = length(var.branch_key_rotator_arns) > 0 ? [1] : []
    content {
      sid = "OperatorsRotateBranchKeys"
      actions = [
        "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo",
      ]
      resources = ["*"]
      principals {
        type        = "AWS"
        identifiers = var.branch_key_rotator_arns
      }
      condition {
        test     = "StringEquals"
        variable = "kms:EncryptionContext:tablename"
        values   = [local.key_store_logical_name]
      }
    }
  }

  # The publisher unwraps SDK-key secrets to add one raw-AES keyring per key, and list
  # secrets to encrypt a list segment's shards (docs/architecture.md, "List segments").
  statement {
    sid       = "PublisherUnwrapsSdkKeys"
    actions   = ["kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [local.publisher_role_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:vexil:purpose"
      values   = [local.sdk_key_purpose, local.list_secret_purpose]
    }
  }

  # The control plane makes a list's secret and unwraps it to hash member batches.
  statement {
    sid       = "ControlPlaneUsesListSecrets"
    actions   = ["kms:Encrypt", "kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [local.control_plane_role_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:vexil:purpose"
      values   = [local.list_secret_purpose]
    }
  }

  # The control plane wraps a new SDK key's secret (it never needs to unwrap one).
  statement {
    sid       = "ControlPlaneWrapsSdkKeys"
    actions   = ["kms:Encrypt"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [local.control_plane_role_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:vexil:purpose"
      values   = [local.sdk_key_purpose]
    }
  }

  # Readers may only Decrypt, only branch keys of this key store (tablename), and only
  # those whose context names their project and one of their environments: KMS sees the
  # branch key's context (aws-crypto-ec:vexil:*), not the bundle's. A wrapped SDK-key secret
  # ({vexil:purpose, vexil:project, vexil:environment}) has no tablename: never matched.
  dynamic "statement" {
    for_each = var.readers
    content {
      sid       = "Reader${replace(title(replace(statement.key, "/[^A-Za-z0-9]+/", " ")), " ", "")}"
      actions   = ["kms:Decrypt"]
      resources = ["*"]
      principals {
        type        = "AWS"
        identifiers = statement.value.principal_arns
      }
      condition {
        test     = "StringEquals"
        variable = "kms:EncryptionContext:tablename"
        values   = [local.key_store_logical_name]
      }
      condition {
        test     = "StringEquals"
        variable = "kms:EncryptionContext:aws-crypto-ec:vexil:project"
        values   = [statement.value.project]
      }
      condition {
        test     = "StringEquals"
        variable = "kms:EncryptionContext:aws-crypto-ec:vexil:environment"
        values   = statement.value.environments
      }
    }
  }
}

resource "aws_kms_key" "bundle" {
  description             = "Vexil ${local.name_prefix}: bundle envelopes and SDK-key wrapping"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.bundle_key.json
}

resource "aws_kms_alias" "bundle" {
  name          = local.bundle_key_alias
  target_key_id = aws_kms_key.bundle.key_id
}

# ------------------------------------------------------------------------------ table key

data "aws_iam_policy_document" "table_key" {
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

  # DynamoDB uses the key for principals of this account that IAM lets use the table
  # (the pattern of AWS's DynamoDB key-policy example, with the actions spelled out).
  statement {
    sid = "UseThroughDynamoDB"
    actions = [
      "kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo",
      "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey",
      "kms:CreateGrant",
    ]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [local.root_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:CallerAccount"
      values   = [local.account_id]
    }
  }

  # KMS readers (var.readers) read their branch keys from the key store, which this key
  # encrypts at rest; DynamoDB uses it on their behalf (the table's resource policy then
  # limits them to their own environments' items).
  dynamic "statement" {
    for_each = length(local.reader_principals) > 0 ? [1] : []
    content {
      sid       = "ReadersReadKeyStoreThroughDynamoDB"
      actions   = ["kms:Decrypt", "kms:DescribeKey"]
      resources = ["*"]
      principals {
        type        = "AWS"
        identifiers = local.reader_principals
      }
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["dynamodb.${local.region}.amazonaws.com"]
      }
    }
  }

  statement {
    sid       = "DynamoDBDescribesKey"
    actions   = ["kms:DescribeKey"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["dynamodb.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "table" {
  description             = "Vexil ${local.name_prefix}: DynamoDB table encryption"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.table_key.json
}

resource "aws_kms_alias" "table" {
  name          = local.table_key_alias
  target_key_id = aws_kms_key.table.key_id
}

# ---------------------------------------------------------------------------- storage key

data "aws_iam_policy_document" "storage_key" {
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

  # Account principals (the deployer, the Lambda roles) through the services that encrypt
  # at rest with this key; IAM policies decide which principal.
  statement {
    sid = "UseThroughServices"
    actions = [
      "kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo",
      "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey",
      "kms:CreateGrant",
    ]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [local.root_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = [for s in ["s3", "lambda", "sqs", "sns"] : "${s}.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:CallerAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid = "CloudWatchLogsEncryptsLogGroups"
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
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
    }
  }

  # CloudFront (through Origin Access Control) reads SSE-KMS bundle objects, for this
  # distribution only.
  statement {
    sid       = "CloudFrontReadsBundles"
    actions   = ["kms:Decrypt"]
    resources = ["*"]
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

  # CloudWatch alarms publish to the encrypted SNS topic.
  statement {
    sid       = "CloudWatchPublishesAlarms"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_kms_key" "storage" {
  description             = "Vexil ${local.name_prefix}: bucket, Lambda environment, logs, queues"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.storage_key.json
}

resource "aws_kms_alias" "storage" {
  name          = local.storage_key_alias
  target_key_id = aws_kms_key.storage.key_id
}

# ---------------------------------------------------------------------------- signing key

# An SDK key opens bundles but also lets its holder make bundles other holders open: the
# ESDK signs each message with a key of its own. Readers therefore check a second
# signature, over the pointers (edge_reader/bundle/signing.py), made with this key, which
# only the publisher may use: one Sign per publish, ECDSA_SHA_256 over a 32-byte digest
# sent as a RAW message (control_plane/chalicelib/publish/signing.py).
data "aws_iam_policy_document" "signing_key" {
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

  statement {
    sid       = "PublisherSignsPointers"
    actions   = ["kms:Sign"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [local.publisher_role_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:SigningAlgorithm"
      values   = [local.pointer_signing_algorithm]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:MessageType"
      values   = [local.pointer_signing_message_type]
    }
  }

  # The publisher names the key it signs with by its public key's fingerprint.
  statement {
    sid       = "PublisherReadsPublicKey"
    actions   = ["kms:GetPublicKey"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [local.publisher_role_arn]
    }
  }

  # The API checks audit anchors (POST /v1/audit/verify) against the active key's public
  # half; reading it grants no signing.
  statement {
    sid       = "ControlPlaneReadsPublicKey"
    actions   = ["kms:GetPublicKey"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [local.control_plane_role_arn]
    }
  }

  # Operators (and Terraform itself, for the public key outputs) read the public half to
  # hand it to readers; reading it grants no signing.
  statement {
    sid       = "OperatorsReadPublicKey"
    actions   = ["kms:GetPublicKey", "kms:DescribeKey"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = distinct(concat(local.key_admins, var.signing_public_key_reader_arns))
    }
  }
}

# One key per generation: rotating means adding a generation, distributing both public keys
# to readers, switching active_signing_key_generation, then removing the old generation
# (docs/operations.md, rotating the pointer-signing key).
resource "aws_kms_key" "signing" {
  #checkov:skip=CKV_AWS_7:asymmetric (ECC_NIST_P256 SIGN_VERIFY) keys cannot rotate automatically in KMS; the key is rotated by adding a generation (docs/operations.md)
  for_each                 = var.signing_key_generations
  description              = "Vexil ${local.name_prefix}: pointer signatures (generation ${each.key})"
  key_usage                = "SIGN_VERIFY"
  customer_master_key_spec = local.pointer_signing_key_spec
  enable_key_rotation      = false
  deletion_window_in_days  = 30
  policy                   = data.aws_iam_policy_document.signing_key.json
}

resource "aws_kms_alias" "signing" {
  name          = local.signing_key_alias
  target_key_id = aws_kms_key.signing[var.active_signing_key_generation].key_id
  lifecycle {
    precondition {
      condition     = contains(var.signing_key_generations, var.active_signing_key_generation)
      error_message = "active_signing_key_generation must be one of signing_key_generations."
    }
  }
}

# The public halves, for the outputs readers are configured from.
data "aws_kms_public_key" "signing" {
  for_each = aws_kms_key.signing
  key_id   = each.value.arn
}
