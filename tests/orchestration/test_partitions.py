"""Daily event partitions: the window a partition gives dbt, a real backfill over a range, events
waiting for one, and the events' freshness on event time; the as-of date dbt reads."""

import shutil
from datetime import date, datetime

import duckdb
import pytest
from cible.orchestration.dbt import cible_dbt_project, dbt_assets_for, dbt_build_args
from cible.orchestration.definitions import build_definitions
from cible.orchestration.ingest import event_time_freshness, freshness_description, raw_table_keys
from cible.orchestration.partitions import (
    event_partitions,
    event_window_environment,
    event_window_vars,
)
from cible.orchestration.resources import WarehouseResource, dbt_resource
from dagster import DagsterInstance, materialize
from pipeline_support import dbt_command

from cible.cli import event_partition_range, late_event_days, main

# The daily runs leave the unit tests to `dbt build` and `make test` (fixed inputs).
UNIT_TESTS_LEFT_OUT = ["build", "--exclude-resource-type", "unit_test"]


def test_a_partition_window_becomes_dbt_vars():
    variables = event_window_vars(datetime(2026, 10, 30), datetime(2026, 11, 2))
    assert variables == {
        "event_window_start": "2026-10-30 00:00:00",
        "event_window_end": "2026-11-02 00:00:00",
    }
    assert dbt_build_args(variables) == [
        *UNIT_TESTS_LEFT_OUT,
        "--vars",
        '{"event_window_end": "2026-11-02 00:00:00", "event_window_start": "2026-10-30 00:00:00"}',
    ]
    assert dbt_build_args() == UNIT_TESTS_LEFT_OUT
    # What Dagster's daily step hands its dbt process: the same window, in its environment.
    assert event_window_environment(datetime(2026, 10, 30), datetime(2026, 11, 2)) == {
        "CIBLE_EVENT_WINDOW_START": "2026-10-30 00:00:00",
        "CIBLE_EVENT_WINDOW_END": "2026-11-02 00:00:00",
    }
    with pytest.raises(ValueError, match="empty event window"):
        event_window_vars(datetime(2026, 11, 2), datetime(2026, 11, 2))


def test_the_first_window_takes_every_older_event_and_the_latest_every_newer_one(monkeypatch):
    # With a history older than the first partition (a user's two years of events), nothing
    # is left out: the first partition's window is open at the start.
    monkeypatch.setenv("CIBLE_EVENT_PARTITIONS_START", "2025-10-01")
    today = datetime(2026, 12, 5, 6, 0)
    first = event_window_vars(datetime(2025, 10, 1), datetime(2025, 10, 2), today)
    assert first["event_window_start"] == "1900-01-01 00:00:00"
    assert first["event_window_end"] == "2025-10-02 00:00:00"
    # Yesterday's partition, run this morning: today's events so far come with it.
    latest = event_window_vars(datetime(2026, 12, 4), datetime(2026, 12, 5), today)
    assert latest == {
        "event_window_start": "2026-12-04 00:00:00",
        "event_window_end": "9999-01-01 00:00:00",
    }
    # Every partition at once is no window: the event models rebuild their tables whole.
    assert event_window_vars(datetime(2025, 10, 1), datetime(2026, 12, 5), today) == {}
    assert event_window_environment(datetime(2025, 10, 1), datetime(2026, 12, 5), today) == {}


def test_an_as_of_date_is_checked_before_any_dbt_build(monkeypatch):
    # The date itself reaches dbt in the environment (dbt_project/macros/as_of.sql).
    monkeypatch.setenv("CIBLE_AS_OF", "2026-06-30")
    assert dbt_build_args() == UNIT_TESTS_LEFT_OUT
    monkeypatch.setenv("CIBLE_AS_OF", "30/06/2026")
    with pytest.raises(ValueError, match=r"CIBLE_AS_OF \(cible run --as-of\) must be a day"):
        dbt_build_args()


def _compiled(warehouse, relative: str) -> str:
    compiled = warehouse.parent / "dbt_target" / "compiled" / "cible" / "models"
    return (compiled / relative).read_text()


def test_dbt_reads_the_as_of_date_and_the_event_window_from_vars_or_environment(tmp_path):
    """`CIBLE_AS_OF` and the window Dagster's steps set reach the SQL; a var wins over the
    environment; a wrong value stops dbt with a sentence, and each value change is seen (dbt
    re-parses the models reading them, from the state the previous command left)."""
    warehouse = tmp_path / "compile.duckdb"
    window_model = "intermediate/int_events_deduplicated.sql"
    as_of_model = "intermediate/as_of/int_feature_window.sql"
    select = ["--select", "int_feature_window", "int_events_deduplicated"]

    def compiled(env: dict[str, str], *args: str) -> tuple[str, str]:
        dbt_command(["compile", *select, *args], warehouse, extra_env=env)
        return _compiled(warehouse, as_of_model), _compiled(warehouse, window_model)

    empty = {"CIBLE_AS_OF": "", "CIBLE_EVENT_WINDOW_START": "", "CIBLE_EVENT_WINDOW_END": ""}
    as_of, events = compiled(empty)
    assert "as_of_at" in as_of and "2026-06-30" not in as_of
    assert "1 = 1" in events
    window = {
        "CIBLE_AS_OF": "2026-06-30",
        "CIBLE_EVENT_WINDOW_START": "2026-06-01 00:00:00",
        "CIBLE_EVENT_WINDOW_END": "2026-06-02 00:00:00",
    }
    as_of, events = compiled(window)
    assert "'2026-06-30'" in as_of
    assert "'2026-06-01 00:00:00'" in events and "'2026-06-02 00:00:00'" in events
    as_of, events = compiled({**window, "CIBLE_AS_OF": "2026-07-31"})
    assert "'2026-07-31'" in as_of and "'2026-06-30'" not in as_of
    as_of, events = compiled(window, "--vars", '{"as_of_date": "2026-01-15"}')
    assert "'2026-01-15'" in as_of and "'2026-06-30'" not in as_of
    # Back to no window: every event again.
    as_of, events = compiled(empty)
    assert "1 = 1" in events and "2026-06-01" not in events

    wrong_day = {**empty, "CIBLE_AS_OF": "30/06/2026"}
    wrong = dbt_command(["compile", *select], warehouse, extra_env=wrong_day, check=False)
    assert wrong.returncode != 0
    assert "must be a day as YYYY-MM-DD, not '30/06/2026'" in wrong.stdout
    half = dbt_command(
        ["compile", *select],
        warehouse,
        extra_env={**empty, "CIBLE_EVENT_WINDOW_START": "2026-06-01 00:00:00"},
        check=False,
    )
    assert half.returncode != 0
    assert "An event window needs both ends" in half.stdout


def test_the_command_line_runs_every_event_partition_dagster_defines():
    # `cible run` computes the range without importing the orchestration layer.
    first, last = event_partition_range().split("...")
    assert first == event_partitions.get_first_partition_key()
    assert last == event_partitions.get_last_partition_key()
    assert event_partition_range(date(2026, 11, 3)).endswith("...2026-11-02")


def test_a_backfill_over_a_date_range_rebuilds_exactly_those_days(demo_build, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(demo_build.warehouse, warehouse)
    per_day = (
        "select cast(occurred_at as date) as day, count(*) as events "
        "from intermediate.int_events_attributed group by 1 order by 1"
    )
    with duckdb.connect(str(warehouse)) as con:
        before = con.execute(per_day).fetchall()
        # Lose three days (the range to backfill) and corrupt a day outside it.
        con.execute(
            "delete from intermediate.int_events_attributed "
            "where occurred_at >= timestamp '2026-10-10' and occurred_at < timestamp '2026-10-13'"
        )
        con.execute(
            "delete from intermediate.int_events_attributed where event_id in ("
            "select event_id from intermediate.int_events_attributed "
            "where cast(occurred_at as date) = date '2026-10-20' limit 5)"
        )
        lost = before_total = sum(events for _, events in before)
        lost -= con.execute("select count(*) from intermediate.int_events_attributed").fetchone()[0]
    # In raw and never processed since: what `cible backfill` would process, counted exactly.
    assert late_event_days(warehouse) == (date(2026, 10, 10), date(2026, 10, 20), lost)
    assert 5 < lost < before_total
    definitions = build_definitions(with_demo=False)
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [dbt_assets_for(cible_dbt_project()).event_models],
            resources={
                **definitions.resources,
                "warehouse": WarehouseResource(path=str(warehouse)),
            },
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": "2026-10-10",
                "dagster/asset_partition_range_end": "2026-10-12",
            },
        )
    assert result.success
    partitions = {
        event.partition for event in result.get_asset_materialization_events() if event.partition
    }
    assert partitions == {"2026-10-10", "2026-10-11", "2026-10-12"}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        after = dict(con.execute(per_day).fetchall())
    expected = dict(before)
    assert all(expected[day] > 0 for day in expected if "2026-10-10" <= str(day) <= "2026-10-12")
    for day, events in expected.items():
        if str(day) == "2026-10-20":
            assert after[day] == events - 5, "a day outside the range is left as it was"
        else:
            assert after[day] == events, day
    assert late_event_days(warehouse) == (date(2026, 10, 20), date(2026, 10, 20), 5)


def test_the_backfill_command_takes_both_days_or_neither(tmp_path, monkeypatch, capsys):
    assert main(["backfill", "--from", "2026-10-10"]) == 2
    assert "give both --from and --to" in capsys.readouterr().err
    # Nothing built yet: nothing to backfill, and it says so.
    monkeypatch.setenv("CIBLE_WAREHOUSE", str(tmp_path / "none.duckdb"))
    assert late_event_days() is None


def test_events_whose_latest_is_weeks_old_are_stale_on_event_time(demo_build, tmp_path):
    # The demo's history ends on 2026-10-31; its defects include events dated in 2094, which a
    # freshness on max(occurred_at) would take for fresh data.
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(demo_build.warehouse, warehouse)
    project = cible_dbt_project()
    events_key = raw_table_keys(project)["events"]
    result = event_time_freshness(
        dbt_resource(project), WarehouseResource(path=str(warehouse)), events_key
    )
    assert not result.passed
    assert result.severity.value == "ERROR"
    assert result.metadata["status"].value == "error"
    assert result.metadata["latest_event_at"].value.startswith("2026-10-3")
    assert result.metadata["age_hours"].value > 4 * 24
    assert result.description.startswith("error: latest event at 2026-10-3")
    assert "demo" not in result.description, "the user's own files: no word of the demo"
    # No event at all (an optional source): nothing is stale.
    without_events = tmp_path / "without_events.duckdb"
    with duckdb.connect(str(without_events)) as con:
        con.execute("create schema raw")
        con.execute("create table raw.events (event_id varchar, occurred_at varchar)")
    empty = event_time_freshness(
        dbt_resource(project), WarehouseResource(path=str(without_events)), events_key
    )
    assert empty.passed and empty.metadata["status"].value == "no events"


def test_on_the_demo_a_stale_check_says_it_is_expected():
    # The demo's events end on a fixed day: its first run must not read as broken.
    stale = freshness_description("error", "2026-10-31T23:35:44+00:00", 863.2, None, demo=True)
    assert stale.startswith("error: latest event at 2026-10-31T23:35:44+00:00 (863 h before")
    assert "expected on the demo" in stale
    fresh = freshness_description("pass", "2026-12-06T08:00:00+00:00", 3.0, None, demo=True)
    assert fresh == "pass: latest event at 2026-12-06T08:00:00+00:00 (3 h before the check)"
    assert freshness_description("error", None, 0, "no rows", demo=True) == "error: no rows"
