"""The capacity model's arithmetic, checked by hand-computed numbers."""

from __future__ import annotations

import pytest

from loadtests import capacity


def test_sdk_polling_is_instances_over_interval() -> None:
    grid = capacity.instance_grid(instances=(10, 1_000), intervals=(5.0, 30.0))
    assert {(g["instances"], g["poll_interval_s"]): g["requests_per_s"] for g in grid} == {
        (10, 5.0): 2.0, (10, 30.0): 0.33, (1_000, 5.0): 200.0, (1_000, 30.0): 33.33}


def test_sdk_requests_and_cost_for_the_default_workload() -> None:
    w = capacity.Workload(changes_per_day=0)
    result = capacity.model(w)
    # 50 instances / 30 s = 1.667 req/s; a month of that is 4.32 M requests at $1 per million.
    assert result.sdk_requests_per_s == pytest.approx(1.67)
    assert result.monthly_cost["cdn_requests_sdk"] == pytest.approx(4.32)
    # 4.32 M 304s of 400 bytes = 1.61 GiB at $0.085.
    assert result.sdk_egress_gb_month == pytest.approx(1.61, abs=0.01)
    assert result.monthly_cost["changes_dynamodb"] == 0


def test_ofrep_load_follows_active_users() -> None:
    w = capacity.Workload(users=1_000_000, daily_active_share=0.3, sessions_per_active_user=3,
                          bulk_evals_per_session=2)
    result = capacity.model(w)
    # 1.8 M requests a day = 20.8 req/s on average, 62.5 in the peak hour.
    assert result.ofrep_requests_per_s == pytest.approx(20.8)
    assert result.ofrep_peak_requests_per_s == pytest.approx(62.5)
    # 54 M requests a month: $54 CloudFront, $54 HTTP API, $10.80 Lambda requests plus
    # 54 M x 2 ms x 0.5 GB = 54,000 GB-s of duration.
    assert result.monthly_cost["cdn_requests_ofrep"] == pytest.approx(54.0)
    assert result.monthly_cost["http_api_ofrep"] == pytest.approx(54.0)
    assert result.monthly_cost["lambda_ofrep"] == pytest.approx(
        54 * 0.20 + 54e6 * 0.002 * 0.5 * 0.0000166667, abs=0.01)


def test_per_change_counts_one_transaction_one_publish_two_scopes() -> None:
    change = capacity.per_change(capacity.Workload(flags=1_000, flag_item_bytes=1_000,
                                                   app_instances=50, bundle_bytes=250_000))
    assert change["dynamodb_wru"] == 8  # 4 items x 1 KB x 2 (transactional)
    assert change["s3_puts"] == 4
    assert change["kms_requests"] == 1  # at most one branch-key unwrap, not one per scope
    many = capacity.per_change(capacity.Workload(flags=1_000, flag_item_bytes=1_000,
                                                 app_instances=50, bundle_bytes=250_000,
                                                 scopes=12))
    assert many["kms_requests"] == 1
    # One pointer signature per publish, however many scopes it writes.
    assert change["kms_sign_requests"] == many["kms_sign_requests"] == 1
    assert change["cdn_requests"] == 100
    assert change["cdn_egress_bytes"] == 50 * (250_000 + 320)
    # 2,000 items of 1,000 bytes read consistently: 1,953 KB / 4 KB + 3 small reads.
    assert change["dynamodb_rru"] == pytest.approx(491.3, abs=0.1)


def test_ten_million_costs_more_than_one_million_and_totals_add_up() -> None:
    s = capacity.scenarios()
    one, ten = s["1M users"], s["10M users"]
    assert ten.total_monthly_cost > one.total_monthly_cost > 0
    assert one.total_monthly_cost == pytest.approx(sum(one.monthly_cost.values()), abs=0.01)
    assert one.to_json()["total_monthly_cost"] == one.total_monthly_cost


def test_insights_cost_is_senders_times_flags_over_the_flush_interval() -> None:
    w = capacity.Workload(app_instances=50)
    minute = capacity.insights_monthly(w, flush_interval_s=60, edge_containers=20,
                                       flags_per_summary=100)
    # 70 senders x 43,200 summaries a month; 101 WRU each at $0.625 per million.
    assert minute["summaries_per_month"] == 3_024_000
    assert minute["dynamodb_writes"] == pytest.approx(3_024_000 * 101 / 1e6 * 0.625, abs=0.01)
    assert minute["api_gateway"] == pytest.approx(3.024 * 3.5, abs=0.01)
    five = capacity.insights_monthly(w, flush_interval_s=300, edge_containers=20,
                                     flags_per_summary=100)
    assert five["dynamodb_writes"] == pytest.approx(minute["dynamodb_writes"] / 5, abs=0.01)
