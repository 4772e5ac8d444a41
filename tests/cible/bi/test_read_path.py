"""A BI tool reading the published copy while a run happens: never blocked, never torn.

The reader is its own process connecting as Apache Superset does (SQLAlchemy + duckdb-engine,
read-only; tests/bi_support.py); the run is the daily job, through Dagster, on a copy of the
whole run (the session fixture `jobs`, tests/jobs_support.py).
"""

import pytest
import sqlalchemy as sa
from cible.orchestration.bi import DASHBOARD_KEY, PUBLISHED_KEY
from cible.orchestration.dbt import RETENTION_KEY
from dagster import AssetKey

# The erasure step's first table, which carries the step's figures.
ERASURES_KEY = AssetKey(["privacy", "privacy_store", "erasures"])

# The first test asking for `jobs` sets it up (the whole run, then the jobs: up to 15 min on 2
# busy cores), within its own timeout.
pytestmark = pytest.mark.timeout(1800)


def test_the_run_succeeds_and_its_publish_step_is_a_quick_copy(jobs):
    assert jobs["daily"][0].success
    published = jobs["daily_metadata"][PUBLISHED_KEY]
    # The publish step itself: a copy of the marts, well under a second on 1,500 customers.
    # The whole run's time is not asserted: it passed a 90 s bound in CI and took 108 s on a
    # machine shared with a benchmark (2026-12-06); a test is no benchmark.
    assert published["seconds"].value < 5


def test_a_reader_querying_throughout_never_errors_and_sees_the_new_run(jobs):
    reader, held = jobs["readers"]["fresh"], jobs["readers"]["held"]
    assert "failed" not in reader, reader
    assert reader["errors"] == []
    assert reader["queries"] > 20
    old = jobs["before"]["published_run"]["scoring_run_id"]
    new = jobs["daily_metadata"][PUBLISHED_KEY]["scoring_run_id"].value
    assert new and new != old
    # It saw the previous run, then the new one, and nothing else (no half-swapped file).
    assert reader["seen"] == [old, new]
    # Every answer held one run's rows only. The new run's copy answered the same every time;
    # the previous run's may only lose rows, and no more than the persons the job's erasure
    # and retention steps erased: they purge them from the published copy in place, before
    # any publish (docs/privacy.md).
    assert all(rows == of_run for _, rows, of_run in reader["answers"]), reader["answers"]
    assert [rows for run, rows, _ in reader["answers"] if run == new] == [
        reader["answers"][-1][1]
    ], reader["answers"]
    previous = [rows for run, rows, _ in reader["answers"] if run == old]
    erased = jobs["daily_metadata"][ERASURES_KEY]
    retained = jobs["daily_metadata"][RETENTION_KEY]
    now_erased = erased["requests_applied"].value + retained["retention_applied"].value
    assert previous == sorted(previous, reverse=True), reader["answers"]
    assert previous[0] - previous[-1] <= now_erased, (reader["answers"], now_erased)
    # A connection held through the run keeps its run until it reconnects (docs/bi.md).
    assert held["errors"] == []
    assert held["queries"] > 20
    assert held["seen"] == [old]


def test_a_new_connection_sees_the_new_scoring_run(jobs):
    engine = sa.create_engine(
        f"duckdb:///{jobs['published']}",
        connect_args={"read_only": True},
        poolclass=sa.pool.NullPool,
    )
    with engine.connect() as con:
        run_id = con.execute(sa.text("select scoring_run_id from _published_run")).scalar_one()
        scored = con.execute(
            sa.text("select count(*) from marts.fct_customer_scores where scoring_run_id = :run"),
            {"run": run_id},
        ).scalar_one()
    # The weekly job, then the backfill, published after the daily job: the backfill's run.
    assert run_id == jobs["backfill_metadata"][PUBLISHED_KEY]["scoring_run_id"].value
    assert run_id != jobs["daily_metadata"][PUBLISHED_KEY]["scoring_run_id"].value
    assert scored > 0


def test_the_dashboard_is_written_after_the_publish(jobs):
    # The copy's first page was removed before the daily job: this one is the jobs'.
    assert jobs["dashboard"].is_file()
    # The first run exported its audiences, whose uplift window has no data yet (the demo's
    # data ends at the export): every section but the uplift has its chart.
    assert jobs["daily_metadata"][DASHBOARD_KEY]["charts"].value == 8
