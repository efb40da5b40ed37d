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

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.table.arn
  }

  deletion_protection_enabled = true

  lifecycle {
    prevent_destroy = true
  }
}
