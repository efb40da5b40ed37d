"""Capacity and cost model: how Vexil's load scales past one machine, on paper.

Three independent flows, each a few multiplications (every input is an assumption the
reader can change; ``docs/performance.md`` prints them next to the results):

1. **Server SDK polling** — application instances × 1 / poll interval → CDN requests/s,
   nearly all ``304``; each published change costs every instance one pointer ``200`` and
   one bundle download (egress = instances × bundle size).
2. **Browsers and mobile apps (OFREP)** — daily active users × sessions × bulk evaluations
   per session → CDN requests and egress, HTTP API requests and edge-function invocations
   (a regional Lambda behind an API Gateway HTTP API, ``infra/edge.tf``).
3. **Changes** — each control-plane write is one DynamoDB transaction; the stream triggers
   one publisher invocation that reads a consistent snapshot and writes two scopes
   (bundle + pointer each) to S3. KMS is not called per bundle: data keys are wrapped under
   the environment's branch key, whose material a publisher container caches for 300 s, so
   a change costs at most one KMS ``Decrypt`` (none within 300 s of the previous one), plus
   exactly one asymmetric ``Sign`` for the pointers of all its scopes together.

Prices are AWS list prices for us-east-1 (US/Europe CloudFront edge) as published in 2025
(``PRICES_AS_OF``); free tiers are ignored, so the totals are upper bounds. They are
assumptions: check the current price pages before relying on them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SECONDS_PER_MONTH = 30 * 24 * 3600
PRICES_AS_OF = "2025 (us-east-1 / CloudFront US-EU, list prices, free tiers ignored)"


@dataclass(frozen=True)
class Prices:
    """USD list prices (assumed; see ``PRICES_AS_OF``)."""

    cloudfront_https_per_million: float = 1.00       # $0.0100 per 10,000 HTTPS requests
    cloudfront_egress_per_gb: float = 0.085          # first 10 TB/month, US/Europe
    lambda_per_million: float = 0.20
    lambda_gb_second: float = 0.0000166667           # x86
    api_gateway_rest_per_million: float = 3.50
    api_gateway_http_per_million: float = 1.00       # HTTP API, first 300 M/month
    dynamodb_write_per_million: float = 0.625        # on-demand WRU
    dynamodb_read_per_million: float = 0.125         # on-demand RRU
    s3_put_per_thousand: float = 0.005
    s3_get_per_thousand: float = 0.0004
    kms_per_10k_requests: float = 0.03
    kms_asymmetric_per_10k_requests: float = 0.15    # ECC Sign (all but RSA 2048)
    kms_key_month: float = 1.00


@dataclass(frozen=True)
class Workload:
    """What a deployment looks like (all assumptions; defaults sized for 1M users)."""

    users: int = 1_000_000
    daily_active_share: float = 0.3          # of users, per day
    sessions_per_active_user: float = 3.0    # app/browser sessions per day
    bulk_evals_per_session: float = 2.0      # start + one refresh (OFREP bulk, 304 or 200)
    app_instances: int = 50                  # server-SDK processes (containers, Lambdas)
    poll_interval_s: float = 30.0
    bundle_bytes: int = 250_000              # encrypted server bundle (≈1,000 flags)
    pointer_bytes: int = 320                 # pointer JSON body
    not_modified_bytes: int = 400            # a 304's headers
    bulk_response_bytes: int = 4_000         # OFREP bulk answer (≈50 client flags)
    changes_per_day: float = 50.0
    flags: int = 1_000
    flag_item_bytes: int = 1_000             # one flag config item in DynamoDB
    # The OFREP edge Lambda per bulk evaluation, billed in 1 ms steps: bench_edge measures
    # ~0.15 ms of handler time for a 50-flag answer; 2 ms leaves room for the runtime.
    edge_duration_ms: float = 2.0
    edge_memory_mb: int = 512                # infra/edge.tf edge_memory_mb default
    publisher_duration_s: float = 1.0        # per change, from the measured build+encrypt
    publisher_memory_mb: int = 1024
    scopes: int = 2                          # server + client bundles per change


@dataclass(frozen=True)
class Capacity:
    """Derived load and monthly cost (USD) for one workload."""

    workload: Workload
    sdk_requests_per_s: float
    sdk_egress_gb_month: float
    ofrep_requests_per_s: float
    ofrep_peak_requests_per_s: float
    ofrep_egress_gb_month: float
    per_change: dict[str, float]
    monthly_cost: dict[str, float] = field(default_factory=dict)

    @property
    def total_monthly_cost(self) -> float:
        """Sum of the cost lines."""
        return round(sum(self.monthly_cost.values()), 2)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping, total included."""
        return {**asdict(self), "total_monthly_cost": self.total_monthly_cost}


def per_change(w: Workload) -> dict[str, float]:
    """DynamoDB, Lambda, S3 and KMS operations caused by one published change."""
    # Transaction: flag config + history + audit record + environment item, each ≤ 1 KB
    # (rounded up to whole KB); transactional writes cost 2 WRU per KB.
    kb = max(1, -(-w.flag_item_bytes // 1024))
    wru = 2 * 4 * kb
    # Publisher snapshot: env item twice (consistent, 1 RRU each) + a consistent query of
    # every flag config and definition (1 RRU per 4 KB) + SDK keys (1 RRU).
    snapshot_kb = 2 * w.flags * w.flag_item_bytes / 1024
    rru = 2 + max(1.0, snapshot_kb / 4) + 1
    return {
        "dynamodb_wru": float(wru),
        "dynamodb_rru": round(rru, 1),
        "api_requests": 1.0,
        "control_plane_invocations": 2.0,     # authorizer + handler
        "publisher_invocations": 1.0,
        "publisher_gb_seconds": w.publisher_duration_s * w.publisher_memory_mb / 1024,
        "s3_puts": 2.0 * w.scopes,            # bundle + pointer per scope
        # Upper bound, whatever the scope count: one branch-key Decrypt when the container's
        # 300 s cache has expired (hierarchical keyring); 0 for a change soon after another.
        "kms_requests": 1.0,
        # The pointer signature: one Sign for every scope of the publish, always.
        "kms_sign_requests": 1.0,
        # Every SDK instance refetches pointer + bundle once per change.
        "cdn_requests": 2.0 * w.app_instances,
        "cdn_egress_bytes": float(w.app_instances * (w.bundle_bytes + w.pointer_bytes)),
    }


def model(w: Workload, p: Prices | None = None) -> Capacity:
    """Requests/s, egress and monthly cost for ``w`` at prices ``p``."""
    p = p or Prices()
    gb = 1024**3
    sdk_rps = w.app_instances / w.poll_interval_s
    change = per_change(w)
    changes_month = w.changes_per_day * 30
    sdk_egress = (sdk_rps * SECONDS_PER_MONTH * w.not_modified_bytes
                  + changes_month * change["cdn_egress_bytes"]) / gb
    ofrep_per_day = w.users * w.daily_active_share * w.sessions_per_active_user \
        * w.bulk_evals_per_session
    ofrep_rps = ofrep_per_day / 86_400
    ofrep_month = ofrep_per_day * 30
    ofrep_egress = ofrep_month * w.bulk_response_bytes / gb
    sdk_requests_month = sdk_rps * SECONDS_PER_MONTH + changes_month * change["cdn_requests"]
    edge_gb_s = ofrep_month * (w.edge_duration_ms / 1000) * (w.edge_memory_mb / 1024)
    cost = {
        "cdn_requests_sdk": sdk_requests_month / 1e6 * p.cloudfront_https_per_million,
        "cdn_egress_sdk": sdk_egress * p.cloudfront_egress_per_gb,
        "cdn_requests_ofrep": ofrep_month / 1e6 * p.cloudfront_https_per_million,
        "cdn_egress_ofrep": ofrep_egress * p.cloudfront_egress_per_gb,
        "http_api_ofrep": ofrep_month / 1e6 * p.api_gateway_http_per_million,
        "lambda_ofrep": ofrep_month / 1e6 * p.lambda_per_million + edge_gb_s * p.lambda_gb_second,
        # Origin fetches: CloudFront revalidates the pointer at most once per TTL per edge
        # location; ~1 GET per 5 s per scope from ~20 busy edge locations is an upper bound.
        "s3_origin_gets": 20 * w.scopes * (SECONDS_PER_MONTH / 5) / 1000 * p.s3_get_per_thousand,
        "changes_dynamodb": changes_month * (change["dynamodb_wru"] / 1e6
                                             * p.dynamodb_write_per_million
                                             + change["dynamodb_rru"] / 1e6
                                             * p.dynamodb_read_per_million),
        "changes_lambda_api": changes_month * (
            change["api_requests"] / 1e6 * p.api_gateway_rest_per_million
            + (change["control_plane_invocations"] + change["publisher_invocations"])
            / 1e6 * p.lambda_per_million
            + change["publisher_gb_seconds"] * p.lambda_gb_second),
        "changes_s3_kms": changes_month * (change["s3_puts"] / 1000 * p.s3_put_per_thousand
                                           + change["kms_requests"] / 1e4
                                           * p.kms_per_10k_requests
                                           + change["kms_sign_requests"] / 1e4
                                           * p.kms_asymmetric_per_10k_requests),
        "kms_key": p.kms_key_month,
        "kms_signing_key": p.kms_key_month,
        "kms_edge_key": p.kms_key_month,  # the edge function's environment and logs
    }
    return Capacity(
        workload=w,
        sdk_requests_per_s=round(sdk_rps, 2),
        sdk_egress_gb_month=round(sdk_egress, 2),
        ofrep_requests_per_s=round(ofrep_rps, 1),
        # Daily traffic is not flat: assume the busiest hour carries 3× the mean rate.
        ofrep_peak_requests_per_s=round(ofrep_rps * 3, 1),
        ofrep_egress_gb_month=round(ofrep_egress, 2),
        per_change=change,
        monthly_cost={k: round(v, 2) for k, v in cost.items()},
    )


def scenarios() -> dict[str, Capacity]:
    """The two sizes the performance report prints: 1M and 10M users."""
    one = Workload()
    ten = Workload(users=10_000_000, app_instances=500, changes_per_day=100.0)
    return {"1M users": model(one), "10M users": model(ten)}


def instance_grid(
    instances: tuple[int, ...] = (10, 100, 1_000, 10_000),
    intervals: tuple[float, ...] = (5.0, 30.0, 60.0),
) -> list[dict[str, float]]:
    """CDN requests/s for application instances × poll interval (the SDK's only load)."""
    return [{"instances": n, "poll_interval_s": i, "requests_per_s": round(n / i, 2)}
            for n in instances for i in intervals]


def insights_monthly(w: Workload, p: Prices | None = None, *, flush_interval_s: float = 60.0,
                     flags_per_summary: int = 100, edge_containers: int = 20,
                     ingest_ms: float = 30.0, ingest_memory_mb: int = 512,
                     retention_days: int = 90, environments: int = 2) -> dict[str, float]:
    """Monthly cost (USD) of evaluation insights (docs/insights.md): every server-SDK
    instance and warm edge container sends one summary per ``flush_interval_s`` through
    API Gateway (REST) to the API Lambda, which makes one UpdateItem (≤ 1 KB: 1 WRU) per
    flag evaluated in the window plus one for the environment's day summary. Storage: one
    ≈300-byte item per (environment, flag, day), kept ``retention_days`` (TTL)."""
    p = p or Prices()
    senders = w.app_instances + edge_containers
    summaries = senders * SECONDS_PER_MONTH / flush_interval_s
    wru = summaries * (flags_per_summary + 1)
    gb_stored = environments * flags_per_summary * retention_days * 300 / 1024**3
    cost = {
        "summaries_per_month": summaries,
        "api_gateway": summaries / 1e6 * p.api_gateway_rest_per_million,
        "lambda": summaries / 1e6 * p.lambda_per_million
        + summaries * ingest_ms / 1000 * ingest_memory_mb / 1024 * p.lambda_gb_second,
        "dynamodb_writes": wru / 1e6 * p.dynamodb_write_per_million,
        "dynamodb_storage": gb_stored * 0.25,  # USD per GB-month, standard table class
    }
    cost["total"] = sum(v for k, v in cost.items() if k != "summaries_per_month")
    return {k: round(v, 2) for k, v in cost.items()}

# --- list segments (issue 18) ------------------------------------------------------------

LIST_SHARDS = 256
LIST_BYTES_PER_MEMBER = 8  # the 64-bit keyed hash, in the shards and in reader memory
LIST_SHARD_OVERHEAD = 12 + 16 + 12  # nonce + GCM tag + magic line, per shard object


@dataclass(frozen=True)
class ListWorkload:
    """One list segment and who reads it (assumptions; defaults: a million members)."""

    members: int = 1_000_000
    readers: int = 100               # server SDK instances (and edges) holding the list
    full_changes_per_month: int = 30  # imports or large deltas (every shard rewritten)
    small_deltas_per_month: int = 3_000  # batches of ~10 ids (≈10 shards each)
    versions_kept: int = 30          # old shard sets left in S3 (no expiry yet)


def touched_shards(ids: int, shards: int = LIST_SHARDS) -> float:
    """Expected shards a delta of ``ids`` random members touches: s·(1 − (1 − 1/s)^k)."""
    return shards * (1 - (1 - 1 / shards) ** ids)


def list_costs(w: ListWorkload | None = None, p: Prices | None = None) -> dict[str, float]:
    """Monthly USD of one list segment, and the per-change volumes behind them."""
    w = w or ListWorkload()
    p = p or Prices()
    size = w.members * LIST_BYTES_PER_MEMBER + LIST_SHARDS * LIST_SHARD_OVERHEAD
    small = touched_shards(10)
    shard_bytes = size / LIST_SHARDS
    gets = w.readers * (w.full_changes_per_month * (LIST_SHARDS + 1)
                        + w.small_deltas_per_month * (small + 1))
    egress = w.readers * (w.full_changes_per_month * size
                          + w.small_deltas_per_month * small * shard_bytes)
    puts = w.full_changes_per_month * (LIST_SHARDS + 1) + w.small_deltas_per_month * (small + 1)
    batch_wru = w.members / 10_000 * (10_000 * LIST_BYTES_PER_MEMBER / 1024) * 2
    return {
        "list_bytes": size,
        "shards_touched_by_10_ids": round(small, 1),
        "shards_touched_by_1000_ids": round(touched_shards(1000), 1),
        "reader_memory_mb": round(size / (1 << 20), 1),
        "cdn_requests_usd": round(gets / 1e6 * p.cloudfront_https_per_million, 2),
        "cdn_egress_usd": round(egress / 1e9 * p.cloudfront_egress_per_gb, 2),
        "s3_puts_usd": round(puts / 1e3 * p.s3_put_per_thousand, 2),
        "s3_storage_usd": round(size * w.versions_kept / 1e9 * 0.023, 3),
        "dynamodb_import_usd": round(batch_wru / 1e6 * p.dynamodb_write_per_million, 3),
        "dynamodb_storage_usd": round(size / 1e9 * 0.25, 4),
    }
