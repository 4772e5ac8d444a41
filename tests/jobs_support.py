"""The daily and weekly jobs executed as their schedules run them, on a copy of the whole run
(`materialized_run`) with one new day of events in the landing folder; then `cible backfill`
over the days of the events later than the lookback.

A BI reader (tests/bi_support.py) queries the published copy while the daily job runs: the
same run proves the jobs (tests/orchestration/test_jobs.py) and the read path
(tests/cible/bi/test_read_path.py), and its dashboard is the one the browser opens
(tests/browser/test_dashboard.py). The session fixture `jobs` (tests/conftest.py) runs it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from bi_support import start_readers, stop_readers
from pipeline_support import SMALL_DATA_SCORING_CONFIG

from cible.cli import backfill_tags, late_event_days

NEW_EVENTS = 300
# Of which sent late: they happened this many days before the partition the daily job runs
# for, inside its lookback (CIBLE_EVENT_LOOKBACK_DAYS, default 3)...
LATE_EVENTS, LATE_BY_DAYS = 40, 2
# ... and later than it: only a backfill of their day processes them.
TOO_LATE_EVENTS, TOO_LATE_BY_DAYS = 7, 5


def query(warehouse, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).df()


def scalar(warehouse, sql: str):
    return query(warehouse, sql).iloc[0, 0]


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
    from dagster import DagsterInstance

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


def _metadata(result) -> dict:
    return {
        event.asset_key: event.materialization.metadata
        for event in result.get_asset_materialization_events()
    }


def run_jobs(materialized_run: dict, root: Path) -> dict:
    """The daily job (readers querying the published copy throughout), the weekly job, then the
    backfill, on copies of `materialized_run`'s warehouse and folders under `root`."""
    from cible.orchestration.partitions import event_partitions

    from cible.bi.publish import read_published_run

    warehouse = root / "warehouse" / "cible.duckdb"
    warehouse.parent.mkdir()
    shutil.copyfile(materialized_run["warehouse"], warehouse)
    for name in ("landing", "models", "exports", "published"):
        shutil.copytree(materialized_run[name], root / name)
    before = {
        "scoring_run": scalar(
            warehouse, "select max(scoring_run_id) from marts.fct_customer_scores"
        ),
        "segment_runs": scalar(warehouse, "select count(*) from ml.segment_runs"),
        "versions": scalar(warehouse, "select count(*) from ml.model_registry"),
        "raw_events": scalar(warehouse, "select count(*) from raw.events"),
        "exports": query(warehouse, "select * from marts.fct_audience_exports"),
    }
    # As the schedule runs it: the partition of the day before, whose events just arrived.
    day = event_partitions.get_last_partition_key()
    new_events = _new_day_of_events(root / "landing", day)
    # The first run's copy stays for the readers; its page goes, so that the one found after
    # is the daily job's.
    published = root / "published" / "cible_bi.duckdb"
    (root / "published" / "dashboard.html").unlink()
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
        # A BI tool connected to the copy the first run published, querying all along.
        before["published_run"] = read_published_run(published)
        stop = root / "reader.stop"
        readers = start_readers(published, stop)
        daily = _run("daily_refresh", day)
        read = stop_readers(readers, stop)
        after_daily = {
            "scoring_run": scalar(
                warehouse, "select max(scoring_run_id) from marts.fct_customer_scores"
            ),
            "versions": scalar(warehouse, "select count(*) from ml.model_registry"),
            "segment_run": query(
                warehouse, "select * from ml.segment_runs order by started_at desc limit 1"
            ).iloc[0],
            "members": query(warehouse, "select * from activation.audience_members"),
            "exports": query(warehouse, "select * from marts.fct_audience_exports"),
            "arrived": scalar(
                warehouse,
                "select count(*) from intermediate.int_events_attributed "
                "where event_id like 'e-daily-%'",
            ),
            "late_days": late_event_days(warehouse),
            "reconciliation": query(
                warehouse,
                "select * from quality.rpt_source_reconciliation where source_name = 'events'",
            ).iloc[0],
        }
        weekly = _run("weekly_recalibration")
        after_weekly = {
            "segment_run": query(
                warehouse, "select * from ml.segment_runs order by started_at desc limit 1"
            ).iloc[0],
            "versions": scalar(warehouse, "select count(*) from ml.model_registry"),
        }
        # `cible backfill`: the daily job over the days of the events later than the lookback.
        first, last, _ = after_daily["late_days"]
        backfill = _run("daily_refresh", tags=backfill_tags(first, last))
    return {
        "warehouse": warehouse,
        "root": root,
        "before": before,
        # The partition the daily job ran (the schedule's day when the fixture ran: a test
        # reading the clock again after midnight UTC would get the next one).
        "day": day,
        "new_events": new_events,
        "daily": daily,
        "daily_metadata": _metadata(daily[0]),
        "backfill_metadata": _metadata(backfill[0]),
        "readers": read,
        "published": published,
        "dashboard": root / "published" / "dashboard.html",
        "after_daily": after_daily,
        "after_weekly": after_weekly,
        "weekly": weekly,
        "backfill": backfill,
    }
