variable "name_prefix" {
  description = "Prefix of every resource name (<prefix>-main, <prefix>-bundles, ...). Null uses default_name_prefix from resources.json."
  type        = string
  default     = null
  validation {
    condition     = var.name_prefix == null || can(regex("^[a-z][a-z0-9-]{1,30}$", var.name_prefix))
    error_message = "name_prefix: 2-31 characters, lowercase letters, digits and '-', starting with a letter (it becomes part of an S3 bucket name)."
  }
}

variable "aws_region" {
  description = "Region of the table, bucket, keys, API and Lambdas."
  type        = string
  default     = "eu-west-1"
}

variable "readers" {
  description = <<-EOT
    Principals that may decrypt bundles with KMS (server SDKs using their IAM role rather
    than an SDK key), per Vexil project and environment. The bundle key's policy lets each
    one Decrypt only branch keys whose context names that project and one of those
    environments (aws-crypto-ec:vexil:project / :environment), and the key store's
    resource policy lets it read only those environments' branch-key items.
  EOT
  type = map(object({
    project        = string
    environments   = list(string)
    principal_arns = list(string)
  }))
  default = {}
}

variable "branch_key_rotator_arns" {
  description = "Principals that may rotate branch keys (`vexil keys rotate`): new versions only, never unwrap. Empty: nobody (add one when you need to rotate)."
  type        = list(string)
  default     = []
}

variable "signing_key_generations" {
  description = "Generations of the pointer-signing KMS key that exist. Readers should trust the public key of every one (output pointer_signing_public_keys_pem); add one to rotate (docs/operations.md)."
  type        = set(string)
  default     = ["1"]
  validation {
    condition     = length(var.signing_key_generations) >= 1 && alltrue([for g in var.signing_key_generations : can(regex("^[a-z0-9-]{1,16}$", g))])
    error_message = "signing_key_generations: at least one generation name of 1-16 lowercase letters, digits or '-'."
  }
}

variable "active_signing_key_generation" {
  description = "The generation the publisher signs with (VEXIL_SIGNING_KEY_ID); one of signing_key_generations."
  type        = string
  default     = "1"
}

variable "signing_public_key_reader_arns" {
  description = "Principals besides the key administrators that may read (never use) the pointer-signing public keys, e.g. a CI role that distributes them to readers."
  type        = list(string)
  default     = []
}

variable "key_admin_arns" {
  description = "Principals that administer (never use) the KMS keys. Empty: the account root, so IAM policies decide."
  type        = list(string)
  default     = []
}

variable "cdn_domain_name" {
  description = "Optional custom domain for the bundle CDN (e.g. flags.example.com). Empty: the cloudfront.net name."
  type        = string
  default     = ""
}

variable "cdn_certificate_arn" {
  description = "ACM certificate in us-east-1 covering cdn_domain_name (required when cdn_domain_name is set)."
  type        = string
  default     = ""
  validation {
    condition     = var.cdn_certificate_arn == "" || can(regex("^arn:aws[a-z-]*:acm:us-east-1:", var.cdn_certificate_arn))
    error_message = "cdn_certificate_arn: CloudFront needs an ACM certificate from us-east-1."
  }
}

variable "route53_zone_id" {
  description = "Optional Route 53 hosted zone in which to create the alias record for cdn_domain_name."
  type        = string
  default     = ""
}

variable "cdn_price_class" {
  description = "CloudFront price class."
  type        = string
  default     = "PriceClass_100"
}

variable "pointer_max_ttl_seconds" {
  description = "Upper bound on how long CloudFront keeps a current.json pointer (the publisher sends max-age=5 and also invalidates)."
  type        = number
  default     = 60
}

variable "bundles_kept_per_scope" {
  description = "Newest bundles of each scope the publisher keeps untagged (VEXIL_KEEP_BUNDLES); older ones are tagged vexil-superseded=true and expire by the lifecycle rule."
  type        = number
  default     = 10
  validation {
    condition     = var.bundles_kept_per_scope >= 2
    error_message = "bundles_kept_per_scope: keep at least the live bundle and the one before it (readers still downloading it)."
  }
}

variable "pointer_max_age_minutes" {
  description = "Minutes a signed pointer stays valid (expires_at); readers with signing keys refuse an older one as stale_pointer (docs/security.md, Freshness)."
  type        = number
  default     = 60
  validation {
    condition     = var.pointer_max_age_minutes >= 10 && var.pointer_max_age_minutes <= 1440
    error_message = "pointer_max_age_minutes: between 10 minutes and one day."
  }
}

variable "heartbeat_interval_minutes" {
  description = "Minutes between heartbeats (EventBridge schedule -> publisher) that re-sign pointers; at most half of pointer_max_age_minutes."
  type        = number
  default     = 15
  validation {
    condition     = var.heartbeat_interval_minutes >= 2 && var.heartbeat_interval_minutes == floor(var.heartbeat_interval_minutes)
    error_message = "heartbeat_interval_minutes: a whole number of minutes, at least 2."
  }
}

variable "superseded_bundle_expiration_days" {
  description = "Days after which a bundle object tagged vexil-superseded=true expires (see docs/deploy.md, lifecycle)."
  type        = number
  default     = 30
}

variable "anchor_retention_mode" {
  description = "S3 Object Lock mode of audit anchors: COMPLIANCE (nobody can shorten or lift it) or GOVERNANCE (principals with s3:BypassGovernanceRetention can)."
  type        = string
  default     = "COMPLIANCE"
  validation {
    condition     = contains(["COMPLIANCE", "GOVERNANCE"], var.anchor_retention_mode)
    error_message = "anchor_retention_mode: COMPLIANCE or GOVERNANCE."
  }
}

variable "anchor_retention_days" {
  description = "Days each audit anchor is locked (and then kept one more day). Rewrites are detectable as long as an anchor after the rewritten record is still kept."
  type        = number
  default     = 400
  validation {
    condition     = var.anchor_retention_days >= 1
    error_message = "anchor_retention_days: at least 1."
  }
}

variable "api_throttle_rate_limit" {
  description = "API Gateway steady-state requests per second (stage-wide)."
  type        = number
  default     = 50
}

variable "api_throttle_burst_limit" {
  description = "API Gateway burst capacity (stage-wide)."
  type        = number
  default     = 100
}

variable "waf_api_rate_limit" {
  description = "Requests per client IP per 5 minutes before WAF blocks it at the API."
  type        = number
  default     = 1000
}

variable "waf_insights_rate_limit" {
  description = "Evaluation summaries per client IP per 5 minutes before WAF blocks them (an address may be a NAT for a whole fleet: 25,000 = 5,000 readers at the default 60 s)."
  type        = number
  default     = 25000
}

variable "waf_cdn_rate_limit" {
  description = "Requests per client IP per 5 minutes before WAF blocks it at CloudFront (readers poll the pointer)."
  type        = number
  default     = 20000
}

variable "lambda_reserved_concurrency" {
  description = "Reserved concurrent executions per function (caps cost and blast radius)."
  type        = number
  default     = 20
}

variable "log_retention_days" {
  description = "Retention of Lambda, API access and WAF logs."
  type        = number
  default     = 365
}

variable "stream_batch_size" {
  description = "Stream records per publisher invocation."
  type        = number
  default     = 100
}

variable "stream_maximum_retry_attempts" {
  description = "Retries of a failing stream batch (after bisection) before it goes to the dead-letter queue."
  type        = number
  default     = 5
}

variable "stream_maximum_record_age_seconds" {
  description = "Records older than this are sent to the dead-letter queue instead of retried."
  type        = number
  default     = 3600
}

variable "alarm_emails" {
  description = "E-mail addresses subscribed to the alarm topic (each must confirm)."
  type        = list(string)
  default     = []
}

variable "iterator_age_alarm_ms" {
  description = "Alarm when the publisher's stream iterator age exceeds this (ms)."
  type        = number
  default     = 60000
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}

variable "console_api_origin" {
  description = "The API's origin as the web console calls it (https://api.example.com, a custom domain mapped to the api stage); empty: the execute-api URL, and the console's CSP allows this region's execute-api hosts"
  type        = string
  default     = ""
}

variable "commit_to_live_alarm_ms" {
  description = "Alarm when p95 of commit → live pointer latency (CommitToLiveMs) exceeds this (ms) for 3 minutes."
  type        = number
  default     = 30000
}

variable "denied_requests_alarm_threshold" {
  description = "Alarm when more than this many API requests are denied (403) in 5 minutes."
  type        = number
  default     = 50
}
