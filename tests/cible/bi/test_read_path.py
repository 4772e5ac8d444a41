"""A BI tool reading the published copy while a run happens: never blocked, never torn.

The reader is its own process connecting as Apache Superset does (SQLAlchemy + duckdb-engine,
read-only); the run is a real second daily run through Dagster (tests/bi_support.py).
"""

import pytest
import sqlalchemy as sa
from cible.orchestration.bi import DASHBOARD_KEY, PUBLISHED_KEY

pytestmark = pytest.mark.timeout(600)


def test_the_run_succeeds_and_its_publish_step_is_a_quick_copy(republished_run):
    assert republished_run["result"].success
    published = republished_run["metadata"][PUBLISHED_KEY]
    # The publish step itself: a copy of the marts, well under a second on 1,500 customers.
    # The whole run's time is not asserted: it passed a 90 s bound in CI and took 108 s on a
    # machine shared with a benchmark (2026-12-06); a test is no benchmark.
    assert published["seconds"].value < 5


def test_a_reader_querying_throughout_never_errors_and_sees_the_new_run(republished_run):
    reader, held = republished_run["readers"]["fresh"], republished_run["readers"]["held"]
    assert "failed" not in reader, reader
    assert reader["errors"] == []
    assert reader["queries"] > 20
    old = republished_run["before"]["scoring_run_id"]
    new = republished_run["metadata"][PUBLISHED_KEY]["scoring_run_id"].value
    assert new and new != old
    # It saw the previous run, then the new one, and nothing else (no half-swapped file).
    assert reader["seen"] == [old, new]
    # Each run's copy answered the same every time: the marts match their run.
    assert len(reader["answers"]) == 2, reader["answers"]
    # A connection held through the run keeps its run until it reconnects (docs/bi.md).
    assert held["errors"] == []
    assert held["queries"] > 20
    assert held["seen"] == [old]


def test_a_new_connection_sees_the_new_scoring_run(republished_run):
    engine = sa.create_engine(
        f"duckdb:///{republished_run['published']}",
        connect_args={"read_only": True},
        poolclass=sa.pool.NullPool,
    )
    with engine.connect() as con:
        run_id = con.execute(sa.text("select scoring_run_id from _published_run")).scalar_one()
        scored = con.execute(
            sa.text("select count(*) from marts.fct_customer_scores where scoring_run_id = :run"),
            {"run": run_id},
        ).scalar_one()
    assert run_id == republished_run["metadata"][PUBLISHED_KEY]["scoring_run_id"].value
    assert scored > 0


def test_the_dashboard_is_written_after_the_publish(republished_run):
    assert republished_run["dashboard"].is_file()
    # The first run exported its audiences, whose uplift window has no data yet (the demo's
    # data ends at the export): every section but the uplift has its chart.
    assert republished_run["metadata"][DASHBOARD_KEY]["charts"].value == 8
