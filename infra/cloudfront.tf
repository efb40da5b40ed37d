# The CDN in front of the bundle bucket. Two cache behaviours:
#   bundles/*/current.json (and scoped pointers): tiny, mutable; cached for the origin's
#     Cache-Control (the publisher sends max-age=5) within [0, pointer_max_ttl_seconds];
#     the publisher also invalidates it after each publish.
#   *.bundle: immutable (content-addressed key); cached for a year.
# CloudFront answers If-None-Match with 304 from the cached ETag, so polling readers cost
# no origin request and no body.

resource "aws_cloudfront_origin_access_control" "bundles" {
  name                              = "${local.name_prefix}-bundles"
  description                       = "Vexil bundle bucket (signed requests, no public access)"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

resource "aws_cloudfront_cache_policy" "pointer" {
  name        = "${local.name_prefix}-pointer"
  comment     = "current.json pointers: honour origin Cache-Control, short ceiling"
  min_ttl     = 0
  default_ttl = 5
  max_ttl     = var.pointer_max_ttl_seconds
  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_gzip   = true
    enable_accept_encoding_brotli = true
    cookies_config {
      cookie_behavior = "none"
    }
    headers_config {
      header_behavior = "none"
    }
    query_strings_config {
      query_string_behavior = "none"
    }
  }
}

resource "aws_cloudfront_cache_policy" "bundle" {
  name        = "${local.name_prefix}-bundle"
  comment     = "immutable content-addressed bundles"
  min_ttl     = 86400
  default_ttl = 31536000
  max_ttl     = 31536000
  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_gzip   = true
    enable_accept_encoding_brotli = true
    cookies_config {
      cookie_behavior = "none"
    }
    headers_config {
      header_behavior = "none"
    }
    query_strings_config {
      query_string_behavior = "none"
    }
  }
}

resource "aws_cloudfront_response_headers_policy" "security" {
  name    = "${local.name_prefix}-security-headers"
  comment = "Security headers on every bundle and pointer response"
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
    xss_protection {
      protection = true
      mode_block = true
      override   = true
    }
    content_security_policy {
      content_security_policy = "default-src 'none'; frame-ancestors 'none'"
      override                = true
    }
  }
  # Browser SDKs fetch client-scope bundles cross-origin.
  cors_config {
    access_control_allow_credentials = false
    access_control_allow_headers {
      items = ["If-None-Match"]
    }
    access_control_allow_methods {
      items = ["GET", "HEAD"]
    }
    access_control_allow_origins {
      items = ["*"]
    }
    access_control_expose_headers {
      items = ["ETag"]
    }
    access_control_max_age_sec = 600
    origin_override            = true
  }
}

resource "aws_cloudfront_distribution" "bundles" {
  #checkov:skip=CKV_AWS_310:a second origin would serve the same single bucket; readers keep their last good bundle on any fetch failure (DESIGN principle 5)
  #checkov:skip=CKV2_AWS_47:the Log4j rules (AWSManagedRulesKnownBadInputsRuleSet) are attached; this check also demands AWSManagedRulesAnonymousIpList, whose HostingProviderIPList would block server SDKs and CI running in clouds
  #checkov:skip=CKV_AWS_305:only bundles/... keys are served; "/" has no object by design (S3 answers 403)
  #checkov:skip=CKV_AWS_374:feature flags are served worldwide; geo restriction is a policy choice left to the operator
  comment             = "Vexil ${local.name_prefix} bundles"
  enabled             = true
  is_ipv6_enabled     = true
  http_version        = "http2and3"
  price_class         = var.cdn_price_class
  aliases             = local.use_custom_domain ? [var.cdn_domain_name] : []
  web_acl_id          = aws_wafv2_web_acl.cdn.arn

  origin {
    origin_id                = "bundles"
    domain_name              = aws_s3_bucket.bundles.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.bundles.id
  }

  # The OFREP edge's HTTP API (infra/edge.tf), when the edge is on. The secret header lets
  # the function refuse callers that go around this distribution (and its WAF).
  dynamic "origin" {
    for_each = local.edge_enabled ? [1] : []
    content {
      origin_id   = "ofrep-edge"
      domain_name = trimprefix(aws_apigatewayv2_api.edge[0].api_endpoint, "https://")
      custom_origin_config {
        http_port              = 80
        https_port             = 443
        origin_protocol_policy = "https-only"
        origin_ssl_protocols   = ["TLSv1.2"]
      }
      custom_header {
        name  = local.edge_origin_header
        value = var.edge_origin_secret
      }
    }
  }

  # OFREP: POSTs with per-user contexts, never cached; every viewer header but Host reaches
  # the function (Authorization, Origin, If-None-Match for the bulk ETag).
  dynamic "ordered_cache_behavior" {
    for_each = local.edge_enabled ? [1] : []
    content {
      path_pattern               = "/ofrep/*"
      target_origin_id           = "ofrep-edge"
      viewer_protocol_policy     = "https-only"
      allowed_methods            = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]
      cached_methods             = ["GET", "HEAD"]
      compress                   = true
      cache_policy_id            = local.cf_caching_disabled_policy_id
      origin_request_policy_id   = local.cf_all_viewer_except_host_header_policy_id
      response_headers_policy_id = aws_cloudfront_response_headers_policy.edge.id
    }
  }

  # Anything not a pointer or a bundle: served with the short pointer policy (there is
  # nothing else in the bucket under bundles/; other paths are 403 from S3).
  default_cache_behavior {
    target_origin_id           = "bundles"
    viewer_protocol_policy     = "https-only"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = aws_cloudfront_cache_policy.pointer.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id
  }

  ordered_cache_behavior {
    path_pattern               = "${local.bundle_prefix}*current.json"
    target_origin_id           = "bundles"
    viewer_protocol_policy     = "https-only"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = aws_cloudfront_cache_policy.pointer.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id
  }

  ordered_cache_behavior {
    path_pattern               = "${local.bundle_prefix}*.bundle"
    target_origin_id           = "bundles"
    viewer_protocol_policy     = "https-only"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = aws_cloudfront_cache_policy.bundle.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id
  }

  # The web console's static files (infra/console.tf): its own CSP and a short TTL.
  ordered_cache_behavior {
    path_pattern               = "console/*"
    target_origin_id           = "bundles"
    viewer_protocol_policy     = "https-only"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = aws_cloudfront_cache_policy.console.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.console.id
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = local.use_custom_domain ? false : true
    acm_certificate_arn            = local.use_custom_domain ? var.cdn_certificate_arn : null
    ssl_support_method             = local.use_custom_domain ? "sni-only" : null
    minimum_protocol_version       = "TLSv1.2_2021"
  }

  logging_config {
    bucket          = aws_s3_bucket.logs.bucket_domain_name
    prefix          = "cloudfront/"
    include_cookies = false
  }

  lifecycle {
    precondition {
      condition     = !local.use_custom_domain || var.cdn_certificate_arn != ""
      error_message = "cdn_certificate_arn is required when cdn_domain_name is set."
    }
  }

  depends_on = [aws_s3_bucket_ownership_controls.logs]
}

resource "aws_route53_record" "cdn" {
  count   = local.use_custom_domain && var.route53_zone_id != "" ? 1 : 0
  zone_id = var.route53_zone_id
  name    = var.cdn_domain_name
  type    = "A"
  alias {
    name                   = aws_cloudfront_distribution.bundles.domain_name
    zone_id                = aws_cloudfront_distribution.bundles.hosted_zone_id
    evaluate_target_health = false
  }
}

resource "aws_route53_record" "cdn_ipv6" {
  count   = local.use_custom_domain && var.route53_zone_id != "" ? 1 : 0
  zone_id = var.route53_zone_id
  name    = var.cdn_domain_name
  type    = "AAAA"
  alias {
    name                   = aws_cloudfront_distribution.bundles.domain_name
    zone_id                = aws_cloudfront_distribution.bundles.hosted_zone_id
    evaluate_target_health = false
  }
}
