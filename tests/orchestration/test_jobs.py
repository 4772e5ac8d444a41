"""The daily and weekly jobs executed end to end, as their schedules run them, on a copy of the
whole run (`materialized_run`) with one new day of events in the landing folder.

The daily job loads the new day, builds the warehouse for the latest event partition, applies
the published segmentation and scoring models (no refit, no training), exports the audiences
and publishes the BI copy; the weekly job refits the segmentation and retrains the scoring
models, then rebuilds and publishes everything downstream.
"""

import shutil

import duckdb
import pandas as pd
import pytest
from cible.orchestration.partitions import event_partitions
from dagster import DagsterInstance
from pipeline_support import SMALL_DATA_SCORING_CONFIG

from cible.cli import backfill_tags, late_event_days

pytestmark = pytest.mark.timeout(900)

NEW_EVENTS = 300
# Of which sent late: they happened this many days before the partition the daily job runs
# for, inside its lookback (CIBLE_EVENT_LOOKBACK_DAYS, default 3)...
LATE_EVENTS, LATE_BY_DAYS = 40, 2
# ... and later than it: only a backfill of their day processes them.
TOO_LATE_EVENTS, TOO_LATE_BY_DAYS = 7, 5


def _query(warehouse, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).df()


def _scalar(warehouse, sql: str):
    return _query(warehouse, sql).iloc[0, 0]


def _new_day_of_events(landing, day: str) -> pd.DataFrame:
    """A second events file: a sample of known events moved to `day` (the partition the daily
    job runs for), some of them to two days before (late), with new ids: what the site's
    export drops the next morning."""
    events = pd.read_parquet(landing / "events" / "part-00000.parquet")
    new = events.sample(NEW_EVENTS, random_state=3).reset_index(drop=True)
    next_day = pd.Timestamp(day, tz="UTC")
    offset = next_day - new["occurred_at"].dt.normalize()
    offset[:LATE_EVENTS] -= pd.Timedelta(days=LATE_BY_DAYS)
    offset[LATE_EVENTS : LATE_EVENTS + TOO_LATE_EVENTS] -= pd.Timedelta(days=TOO_LATE_BY_DAYS)
    new["occurred_at"] += offset
    new["received_at"] += offset
    new["event_id"] = [f"e-daily-{i:06d}" for i in range(NEW_EVENTS)]
    new.to_parquet(landing / "events" / "part-00001.parquet", index=False)
    return new


def _run(job_name: str, partition_key: str | None = None, tags: dict | None = None):
    from cible.orchestration.definitions import build_definitions

    definitions = build_definitions(with_demo=False)
    job = definitions.resolve_job_def(job_name)
    with DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            instance=instance, partition_key=partition_key, raise_on_error=False, tags=tags
        )
    materialized = {
        event.asset_key.to_user_string() for event in result.get_asset_materialization_events()
    }
    return result, materialized


@pytest.fixture(scope="module")
def jobs(materialized_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("jobs")
    warehouse = root / "warehouse" / "cible.duckdb"
    warehouse.parent.mkdir()
    shutil.copyfile(materialized_run["warehouse"], warehouse)
    for name in ("landing", "models", "exports"):
        shutil.copytree(materialized_run[name], root / name)
    before = {
        "scoring_run": _scalar(
            warehouse, "select max(scoring_run_id) from marts.fct_customer_scores"
        ),
        "segment_runs": _scalar(warehouse, "select count(*) from ml.segment_runs"),
        "versions": _scalar(warehouse, "select count(*) from ml.model_registry"),
        "raw_events": _scalar(warehouse, "select count(*) from raw.events"),
        "exports": _query(warehouse, "select * from marts.fct_audience_exports"),
    }
    # As the schedule runs it: the partition of the day before, whose events just arrived.
    day = event_partitions.get_last_partition_key()
    new_events = _new_day_of_events(root / "landing", day)
    environment = {
        "CIBLE_WAREHOUSE": warehouse,
        "CIBLE_LANDING_DIR": root / "landing",
        "CIBLE_MODELS_DIR": root / "models",
        "CIBLE_EXPORTS_DIR": root / "exports",
        "CIBLE_PUBLISHED_DIR": root / "published",
        "CIBLE_OPS_DIR": root / "ops",
        "CIBLE_SCORING_CONFIG": SMALL_DATA_SCORING_CONFIG,
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, str(value))
        patch.delenv("DBT_INDIRECT_SELECTION", raising=False)
        daily = _run("daily_refresh", day)
        after_daily = {
            "scoring_run": _scalar(
                warehouse, "select max(scoring_run_id) from marts.fct_customer_scores"
            ),
            "versions": _scalar(warehouse, "select count(*) from ml.model_registry"),
            "segment_run": _query(
                warehouse, "select * from ml.segment_runs order by started_at desc limit 1"
            ).iloc[0],
            "members": _query(warehouse, "select * from activation.audience_members"),
            "exports": _query(warehouse, "select * from marts.fct_audience_exports"),
            "arrived": _scalar(
                warehouse,
                "select count(*) from intermediate.int_events_attributed "
                "where event_id like 'e-daily-%'",
            ),
            "late_days": late_event_days(warehouse),
            "reconciliation": _query(
                warehouse,
                "select * from quality.rpt_source_reconciliation where source_name = 'events'",
            ).iloc[0],
        }
        weekly = _run("weekly_recalibration")
        after_weekly = {
            "segment_run": _query(
                warehouse, "select * from ml.segment_runs order by started_at desc limit 1"
            ).iloc[0],
            "versions": _scalar(warehouse, "select count(*) from ml.model_registry"),
        }
        # `cible backfill`: the daily job over the days of the events later than the lookback.
        first, last, _ = after_daily["late_days"]
        backfill = _run("daily_refresh", tags=backfill_tags(first, last))
    return {
        "warehouse": warehouse,
        "root": root,
        "before": before,
        "new_events": new_events,
        "daily": daily,
        "after_daily": after_daily,
        "after_weekly": after_weekly,
        "weekly": weekly,
        "backfill": backfill,
    }


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
    assert (
        _scalar(warehouse, "select count(*) from raw.events") >= before["raw_events"] + NEW_EVENTS
    )
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
    day = pd.Timestamp(event_partitions.get_last_partition_key()).date()
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
    latest = _query(warehouse, "select * from ml.segment_runs order by started_at desc limit 1")
    assert not latest.iloc[0]["is_refit"]
    assert (
        _scalar(warehouse, "select count(*) from ml.model_registry")
        == jobs["after_weekly"]["versions"]
    )
    assert late_event_days(warehouse) is None
    assert (
        _scalar(
            warehouse,
            "select count(*) from intermediate.int_events_attributed "
            "where event_id like 'e-daily-%'",
        )
        == NEW_EVENTS
    )
    after = _query(
        warehouse, "select * from quality.rpt_source_reconciliation where source_name = 'events'"
    ).iloc[0]
    assert after["rows_awaiting_backfill"] == 0
    assert after["unaccounted_rows"] == 0
    assert after["rows_clean"] + after["rows_quarantined_after_identity"] == (
        reconciliation["rows_clean"]
        + reconciliation["rows_quarantined_after_identity"]
        + TOO_LATE_EVENTS
    )
