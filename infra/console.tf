# The web console (docs/console.md): static files from console/ in the bundle bucket under
# console/, served by the same CloudFront distribution under /console/ with a strict
# Content-Security-Policy, talking to the API with the user's token. The API answers CORS
# for this one origin only (VEXIL_CONSOLE_ORIGIN; its OPTIONS methods and gateway responses).

locals {
  console_dir    = "${path.module}/../console"
  console_origin = "https://${local.use_custom_domain ? var.cdn_domain_name : aws_cloudfront_distribution.bundles.domain_name}"
  api_origin     = "https://${module.control_plane.rest_api_id}.execute-api.${local.region}.amazonaws.com"
  # The CSP cannot name the API's generated host: the distribution (which carries the CSP)
  # is created before the API (whose Lambdas purge it). Set console_api_origin (the API's
  # custom domain) for an exact connect-src; otherwise it is this region's execute-api.
  csp_api_origin = var.console_api_origin != "" ? var.console_api_origin : "https://*.execute-api.${local.region}.amazonaws.com"
  console_types = {
    html = "text/html; charset=utf-8", js = "text/javascript; charset=utf-8",
    css = "text/css; charset=utf-8", json = "application/json", svg = "image/svg+xml",
    png = "image/png", md = "text/markdown; charset=utf-8",
  }
  # Must equal vexil/devstack/consoleserve.content_security_policy (a test compares them).
  console_csp = join("; ", [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self' ${local.csp_api_origin}",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ])
}

resource "aws_s3_object" "console" {
  for_each     = fileset(local.console_dir, "**/*.{html,js,css}")
  bucket       = aws_s3_bucket.bundles.id
  key          = "console/${each.value}"
  source       = "${local.console_dir}/${each.value}"
  source_hash  = filemd5("${local.console_dir}/${each.value}")
  content_type = lookup(local.console_types, reverse(split(".", each.value))[0], "application/octet-stream")
}

# Where the console finds the API (console/js/api.js loadConfig).
resource "aws_s3_object" "console_config" {
  bucket       = aws_s3_bucket.bundles.id
  key          = "console/config.json"
  content      = jsonencode({ api = var.console_api_origin != "" ? var.console_api_origin : "${local.api_origin}/${aws_api_gateway_stage.api.stage_name}" })
  content_type = "application/json"
}

resource "aws_cloudfront_response_headers_policy" "console" {
  name    = "${local.name_prefix}-console-headers"
  comment = "The web console: strict CSP (no inline script, XHR to the API only)"
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
    content_security_policy {
      content_security_policy = local.console_csp
      override                = true
    }
  }
}

resource "aws_cloudfront_cache_policy" "console" {
  name        = "${local.name_prefix}-console"
  comment     = "console files: short TTL so a deploy shows within a minute"
  min_ttl     = 0
  default_ttl = 60
  max_ttl     = 300
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

# The authorizer's 401/403 and API Gateway's own errors are answered by the gateway, not
# the app: without these headers a browser reports a network error instead of the 401.
resource "aws_api_gateway_gateway_response" "console_cors" {
  for_each      = toset(["DEFAULT_4XX", "DEFAULT_5XX"])
  rest_api_id   = module.control_plane.rest_api_id
  response_type = each.value
  response_parameters = {
    "gatewayresponse.header.Access-Control-Allow-Origin" = "'${local.console_origin}'"
    "gatewayresponse.header.Vary"                        = "'Origin'"
  }
}
