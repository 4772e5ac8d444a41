"""The `ml` tables are declared once, in the sources yml: the staging models dbt builds over
them have the declared columns, in order, with the declared types, whether the Python steps
have written the tables yet or not."""

from __future__ import annotations

import shutil

import duckdb
from pipeline_support import Build, dbt_command

from cible.contract import load_tables


def test_staging_casts_every_ml_table_as_declared_before_any_ml_run(demo_build: Build) -> None:
    tables = load_tables("ml")
    written = demo_build.query(
        "select count(*) as n from information_schema.tables where table_schema = 'ml'"
    )
    assert written["n"].iloc[0] == 0, "the build ran no ML step: every source is empty"
    for name, spec in tables.items():
        staged = demo_build.staged_columns(spec.source_name, name)
        assert staged == list(spec.data_types.items()), name
        rows = demo_build.query(f"select count(*) as n from staging.stg_{spec.source_name}__{name}")
        assert rows["n"].iloc[0] == 0, name


def test_a_column_declared_after_the_table_was_written_is_staged_null(
    demo_build: Build, tmp_path
) -> None:
    """A warehouse an earlier Cible wrote: `ml.segment_runs` without `input_fingerprint`
    (declared since). Its staging view still has every declared column, that one null, and
    keeps the rows."""
    spec = load_tables("ml")["segment_runs"]
    warehouse_path = tmp_path / "cible.duckdb"
    shutil.copyfile(demo_build.warehouse, warehouse_path)
    older = [column for column in spec.columns if column.name != "input_fingerprint"]
    with duckdb.connect(str(warehouse_path)) as con:
        con.execute("create schema ml")
        con.execute(
            f"create table {spec.relation} ("
            + ", ".join(f"{column.name} {column.data_type}" for column in older)
            + ")"
        )
        con.execute(f"insert into {spec.relation} (run_id, is_published) values ('r-older', true)")
    dbt_command(["run", "--select", "stg_segmentation__segment_runs"], warehouse_path)
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        staged = con.execute(
            "select run_id, input_fingerprint from staging.stg_segmentation__segment_runs"
        ).fetchall()
        columns = [
            row[0]
            for row in con.execute(
                "select column_name from information_schema.columns where table_schema = "
                "'staging' and table_name = 'stg_segmentation__segment_runs' "
                "order by ordinal_position"
            ).fetchall()
        ]
    assert staged == [("r-older", None)]
    assert columns == list(spec.column_names)
