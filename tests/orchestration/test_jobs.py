"""The daily and weekly jobs executed end to end, as their schedules run them, on a copy of the
whole run (`materialized_run`) with one new day of events in the landing folder (the session
fixture `jobs`, tests/jobs_support.py).

The daily job loads the new day, builds the warehouse for the latest event partition, applies
the published segmentation and scoring models (no refit, no training), exports the audiences
and publishes the BI copy; the weekly job refits the segmentation and retrains the scoring
models, then rebuilds and publishes everything downstream.
"""

import pandas as pd
import pytest
from jobs_support import NEW_EVENTS, TOO_LATE_BY_DAYS, TOO_LATE_EVENTS, query, scalar

from cible.cli import late_event_days

# The first test asking for `jobs` sets it up (the whole run, then the jobs: up to 15 min on 2
# busy cores), within its own timeout.
pytestmark = pytest.mark.timeout(1800)


def test_the_daily_job_loads_the_new_day_and_applies_the_published_models(jobs):
    result, materialized = jobs["daily"]
    assert result.success, [e.message for e in result.all_events if e.is_failure][:3]
    assert {
        "raw/web/events",
        "ml/segmentation/segment_assignments",
        "ml/scoring/customer_scores",
        "marts/fct_customer_scores",
        "activation/audiences/champions_email",
        "marts/fct_audience_exports",
        "bi/published_marts",
    } <= materialized
    assert "ml/scoring/model_registry" not in materialized, "training is the weekly job's"
    # Yesterday's events just arrived: fresh on event time (dbt source freshness).
    [freshness] = [
        check
        for check in result.get_asset_check_evaluations()
        if check.check_name == "events_fresh_on_event_time"
    ]
    assert freshness.passed, freshness.description
    assert freshness.metadata["age_hours"].value < 48
    warehouse, before, after = jobs["warehouse"], jobs["before"], jobs["after_daily"]
    assert scalar(warehouse, "select count(*) from raw.events") >= before["raw_events"] + NEW_EVENTS
    arrived = after["arrived"]
    # The late ones too: the run reprocesses the lookback days before its partition; not those
    # later than the lookback.
    assert arrived == NEW_EVENTS - TOO_LATE_EVENTS
    # Segments applied with the published model, scores from the published versions.
    assert not after["segment_run"]["is_refit"]
    assert after["scoring_run"] != before["scoring_run"]
    assert after["versions"] == before["versions"]


def test_the_daily_job_exports_again_with_stable_holdouts(jobs):
    from cible.activation.config import load_audiences_config

    before = jobs["before"]["exports"].groupby("audience").size()
    after = jobs["after_daily"]["exports"].groupby("audience").size()
    for audience in load_audiences_config().enabled():
        # A weekly audience exported by the first run less than a week ago is not due.
        due = audience.schedule == "daily"
        assert after[audience.name] == before[audience.name] + due, audience.name
    members = jobs["after_daily"]["members"]
    for audience, exports in members.groupby("audience"):
        ids = sorted(exports["export_id"].unique())
        if len(ids) < 2:
            continue
        arms = [exports[exports["export_id"] == i].set_index("customer_id")["arm"] for i in ids]
        stayed = arms[0].index.intersection(arms[1].index)
        assert (arms[0][stayed] == arms[1][stayed]).all(), audience


def test_the_weekly_job_refits_and_retrains_then_publishes(jobs):
    result, materialized = jobs["weekly"]
    assert result.success, [e.message for e in result.all_events if e.is_failure][:3]
    assert {
        "ml/scoring/model_registry",
        "ml/segmentation/segment_assignments",
        "marts/dim_segments",
        "marts/fct_customer_scores",
        "bi/published_marts",
    } <= materialized
    assert not any(key.startswith("raw/") for key in materialized)
    after = jobs["after_weekly"]
    assert after["segment_run"]["is_refit"]
    assert after["versions"] > jobs["after_daily"]["versions"]


def test_events_later_than_the_lookback_are_counted_then_backfilled(jobs):
    daily, _ = jobs["daily"]
    day = pd.Timestamp(jobs["day"]).date()
    too_late_day = day - pd.Timedelta(days=TOO_LATE_BY_DAYS)
    # Counted under their own reason, exactly; every row still accounted for.
    reconciliation = jobs["after_daily"]["reconciliation"]
    assert reconciliation["rows_awaiting_backfill"] == TOO_LATE_EVENTS
    assert reconciliation["rows_awaiting_next_run"] == 0
    assert reconciliation["unaccounted_rows"] == 0
    # The warning check names their count; the run still succeeded and published.
    [check] = [
        evaluation
        for evaluation in daily.get_asset_check_evaluations()
        if evaluation.check_name == "assert_no_events_later_than_lookback"
    ]
    assert not check.passed
    assert check.severity.value == "WARN"
    assert check.metadata["dagster_dbt/failed_row_count"].value == TOO_LATE_EVENTS
    assert jobs["after_daily"]["late_days"] == (too_late_day, too_late_day, TOO_LATE_EVENTS)

    backfill, materialized = jobs["backfill"]
    assert backfill.success, [e.message for e in backfill.all_events if e.is_failure][:3]
    assert "ml/scoring/model_registry" not in materialized, "a backfill applies, never trains"
    warehouse = jobs["warehouse"]
    latest = query(warehouse, "select * from ml.segment_runs order by started_at desc limit 1")
    assert not latest.iloc[0]["is_refit"]
    assert (
        scalar(warehouse, "select count(*) from ml.model_registry")
        == jobs["after_weekly"]["versions"]
    )
    assert late_event_days(warehouse) is None
    assert (
        scalar(
            warehouse,
            "select count(*) from intermediate.int_events_attributed "
            "where event_id like 'e-daily-%'",
        )
        == NEW_EVENTS
    )
    after = query(
        warehouse, "select * from quality.rpt_source_reconciliation where source_name = 'events'"
    ).iloc[0]
    assert after["rows_awaiting_backfill"] == 0
    assert after["unaccounted_rows"] == 0
    assert after["rows_clean"] + after["rows_quarantined_after_identity"] == (
        reconciliation["rows_clean"]
        + reconciliation["rows_quarantined_after_identity"]
        + TOO_LATE_EVENTS
    )
