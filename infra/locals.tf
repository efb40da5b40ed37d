# Names come from infra/resources.json, the definition the local stack and the tests read
# too (vexil/resources.py), so a deployed stack and a local one agree on every name.
locals {
  shared      = jsondecode(file("${path.module}/resources.json"))
  name_prefix = coalesce(var.name_prefix, local.shared.default_name_prefix)

  table_name        = "${local.name_prefix}-${local.shared.table.suffix}"
  bucket_name       = "${local.name_prefix}-${local.shared.bucket.suffix}"
  log_bucket_name   = "${local.name_prefix}-${local.shared.bucket.suffix}-logs"
  # Audit anchors: a bucket of their own (Object Lock); locally the bundle bucket.
  anchor_bucket_name = "${local.name_prefix}-${local.shared.anchors.bucket_suffix}"
  anchor_prefix      = local.shared.anchors.prefix
  bundle_prefix     = local.shared.bucket.bundle_prefix
  bundle_key_alias  = "alias/${local.name_prefix}-${local.shared.kms.bundle_key_alias_suffix}"
  table_key_alias   = "alias/${local.name_prefix}-${local.shared.kms.table_key_alias_suffix}"
  storage_key_alias = "alias/${local.name_prefix}-storage"
  signing_key_alias = "alias/${local.name_prefix}-${local.shared.kms.signing_key_alias_suffix}"

  # The pointer-signing key: what edge_reader/bundle/signing.py (KEY_SPEC,
  # SIGNING_ALGORITHM) and chalicelib/publish/signing.py (MESSAGE_TYPE) use (a test
  # checks it). The publisher signs with the active generation (VEXIL_SIGNING_KEY_ID).
  pointer_signing_key_spec     = "ECC_NIST_P256"
  pointer_signing_algorithm    = "ECDSA_SHA_256"
  pointer_signing_message_type = "RAW"
  signing_key_arn              = aws_kms_key.signing[var.active_signing_key_generation].arn
  # Every generation's public key: what readers pin, and what audit anchors are checked with
  # (an anchor signed before a rotation still verifies).
  signing_public_keys_pem = join("", [for g in sort(tolist(var.signing_key_generations)) : data.aws_kms_public_key.signing[g].public_key_pem])

  keep_noncurrent_versions = local.shared.bucket.keep_noncurrent_bundles

  # The branch-key store. Its *logical* name is bound into every branch key (KMS sees it as
  # the "tablename" encryption context) and must equal edge_reader/bundle/hierarchy.py
  # LOGICAL_KEY_STORE_NAME (a test checks it); the physical table name may differ.
  key_store_table_name   = "${local.name_prefix}-${local.shared.key_store.suffix}"
  key_store_logical_name = "vexil-branch-keys"

  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = var.aws_region
  root_arn   = "arn:${local.partition}:iam::${local.account_id}:root"
  key_admins = length(var.key_admin_arns) > 0 ? var.key_admin_arns : [local.root_arn]

  use_custom_domain = var.cdn_domain_name != ""

  tags = merge({ "vexil:deployment" = local.name_prefix }, var.tags)
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
