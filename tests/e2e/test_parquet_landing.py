"""Typed Parquet landing files give the same warehouse as text exports of the same data.

The generator writes the same rows as CSV, JSON lines and Parquet (``mixed``, the demo) or as
typed Parquet only (``parquet``, the format at scale). Parquet columns keep their types in the
raw schema and staging reads them without parsing; this proves the two readings agree, row
for row and reason for reason. Only the malformed lines of the text formats differ.
"""

from __future__ import annotations

import pandas as pd
import pytest
from pipeline_support import SMALL_CUSTOMERS, SMALL_SEED, generate_and_build

pytestmark = pytest.mark.e2e

QUARANTINE_BY_REASON = """
    select source_name, stage, issue_level, reason, coalesce(field_name, '') as field_name,
        count(*) as n
    from quality.fct_quarantined_rows
    group by source_name, stage, issue_level, reason, coalesce(field_name, '')
    order by source_name, stage, issue_level, reason, field_name
"""


@pytest.fixture(scope="module")
def parquet_build(tmp_path_factory):
    return generate_and_build(
        tmp_path_factory.mktemp("parquet"),
        customers=SMALL_CUSTOMERS,
        seed=SMALL_SEED,
        file_format="parquet",
    )


def test_typed_parquet_columns_land_typed(demo_build, parquet_build):
    typed_columns = """
        select table_name, column_name from information_schema.columns
        where table_schema = 'raw' and data_type <> 'VARCHAR'
            and not starts_with(column_name, '_') and not starts_with(table_name, '_')
        order by table_name, column_name
    """
    landed = parquet_build.query(typed_columns)
    assert {"occurred_at", "received_at", "duration_ms"} <= set(
        landed.loc[landed["table_name"] == "events", "column_name"]
    )
    assert {"ordered_at", "amount"} <= set(
        landed.loc[landed["table_name"] == "orders", "column_name"]
    )
    assert {"birth_date", "created_at", "household_size"} <= set(
        landed.loc[landed["table_name"] == "customers", "column_name"]
    )
    # The demo's CSV and JSON lines land as text; only its Parquet parts are typed.
    assert set(demo_build.query(typed_columns)["table_name"]) == {"events", "order_lines"}


def test_features_equal_those_built_from_text_exports(demo_build, parquet_build):
    from_text = demo_build.query("select * from marts.fct_customer_features order by customer_id")
    from_parquet = parquet_build.query(
        "select * from marts.fct_customer_features order by customer_id"
    )
    assert len(from_text) == SMALL_CUSTOMERS
    pd.testing.assert_frame_equal(from_parquet, from_text, check_exact=False, rtol=1e-9)


def test_quarantine_equals_that_of_text_exports_but_for_malformed_lines(demo_build, parquet_build):
    from_text = demo_build.query(QUARANTINE_BY_REASON)
    from_parquet = parquet_build.query(QUARANTINE_BY_REASON)
    load_stage = from_text["stage"] == "load"
    assert set(from_text.loc[load_stage, "reason"]) == {"malformed_line", "malformed_json"}
    assert (from_parquet["stage"] != "load").all()
    pd.testing.assert_frame_equal(
        from_parquet.reset_index(drop=True), from_text[~load_stage].reset_index(drop=True)
    )


def test_every_parquet_row_is_accounted_for(parquet_build):
    reconciliation = parquet_build.query(
        "select source_name, rows_in_files, unaccounted_rows from quality.rpt_source_reconciliation"
    )
    rows_written = parquet_build.defects()["rows_written"]
    assert (reconciliation["unaccounted_rows"] == 0).all()
    in_files = zip(reconciliation["source_name"], reconciliation["rows_in_files"], strict=True)
    assert dict(in_files) == rows_written
