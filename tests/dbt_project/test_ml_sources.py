"""The `ml` tables are declared once, in the sources yml: the staging models dbt builds over
them have the declared columns, in order, with the declared types, whether the Python steps
have written the tables yet or not."""

from __future__ import annotations

from pipeline_support import Build

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
