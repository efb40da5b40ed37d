# The single table (docs/data-model.md): keys, GSI and stream come from resources.json,
# the same definition vexil/resources.py creates locally.

resource "aws_dynamodb_table" "main" {
  name         = local.table_name
  billing_mode = local.shared.table.billing_mode
  hash_key     = local.shared.table.hash_key
  range_key    = local.shared.table.range_key

  dynamic "attribute" {
    for_each = local.shared.table.attributes
    content {
      name = attribute.key
      type = attribute.value
    }
  }

  dynamic "global_secondary_index" {
    for_each = local.shared.table.global_secondary_indexes
    content {
      name            = global_secondary_index.value.name
      hash_key        = global_secondary_index.value.hash_key
      range_key       = global_secondary_index.value.range_key
      projection_type = global_secondary_index.value.projection
    }
  }

  # The publisher Lambda is fed by this stream (stream.tf).
  stream_enabled   = true
  stream_view_type = local.shared.table.stream_view_type

  point_in_time_recovery {
    enabled = true
  }

  # Evaluation-insights counters expire by themselves (docs/insights.md); only those items
  # carry this attribute (chalicelib/keys.py INSIGHTS_TTL_ATTRIBUTE).
  ttl {
    attribute_name = "insights_ttl"
    enabled        = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.table.arn
  }

  deletion_protection_enabled = true

  lifecycle {
    prevent_destroy = true
  }
}

# The branch-key store of the AWS KMS Hierarchical keyring (edge_reader/bundle/hierarchy.py):
# one branch key per project/environment, each version wrapped by the bundle KMS key. Keys
# are the MPL key store's own schema (resources.json, key_store); no stream, nothing reacts
# to it. Losing it makes every published bundle unreadable by KMS readers and stops
# publishing, hence PITR, deletion protection and prevent_destroy, like the main table.
resource "aws_dynamodb_table" "key_store" {
  name         = local.key_store_table_name
  billing_mode = local.shared.key_store.billing_mode
  hash_key     = local.shared.key_store.hash_key
  range_key    = local.shared.key_store.range_key

  dynamic "attribute" {
    for_each = local.shared.key_store.attributes
    content {
      name = attribute.key
      type = attribute.value
    }
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.table.arn
  }

  deletion_protection_enabled = true

  lifecycle {
    prevent_destroy = true
  }
}

# KMS readers (var.readers) read only the branch-key items of their own environments:
# dynamodb:LeadingKeys is the partition key, "vexil/<project>/<environment>".
data "aws_iam_policy_document" "key_store_readers" {
  dynamic "statement" {
    for_each = var.readers
    content {
      sid       = "Reader${replace(title(replace(statement.key, "/[^A-Za-z0-9]+/", " ")), " ", "")}"
      actions   = ["dynamodb:GetItem"]
      resources = [aws_dynamodb_table.key_store.arn]
      principals {
        type        = "AWS"
        identifiers = statement.value.principal_arns
      }
      condition {
        test     = "ForAllValues:StringEquals"
        variable = "dynamodb:LeadingKeys"
        values   = [for e in statement.value.environments : "vexil/${statement.value.project}/${e}"]
      }
    }
  }
}

resource "aws_dynamodb_resource_policy" "key_store" {
  count        = length(var.readers) > 0 ? 1 : 0
  resource_arn = aws_dynamodb_table.key_store.arn
  policy       = data.aws_iam_policy_document.key_store_readers.json
}
