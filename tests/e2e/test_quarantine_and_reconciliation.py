"""Every defect the generator injected is found, with its reason, at the count it injected."""

from __future__ import annotations

import pytest
from pipeline_support import ROW_AND_FIELD_DEFECTS


@pytest.fixture(scope="module")
def found(demo_build):
    counts = demo_build.query(
        "select source_name, reason, sum(affected_rows) as n from quality.rpt_data_quality "
        "group by source_name, reason"
    )
    return {(row.source_name, row.reason): int(row.n) for row in counts.itertuples()}


@pytest.mark.parametrize(("found_key", "injected_key"), sorted(ROW_AND_FIELD_DEFECTS.items()))
def test_each_injected_defect_is_found_at_the_injected_count(
    demo_build, found, found_key, injected_key
):
    source, key = injected_key
    injected = demo_build.defects()[source][key]
    assert injected > 0, f"the generator injected no {key} in {source}: the test proves nothing"
    assert found.get(found_key, 0) == injected


def test_no_reason_appears_that_was_not_injected(demo_build, found):
    unexpected = {key: count for key, count in found.items() if key not in ROW_AND_FIELD_DEFECTS}
    assert unexpected == {}


def test_duplicates_removed_equal_re_sent_events_and_re_exported_records(demo_build):
    reconciliation = demo_build.query(
        "select source_name, duplicates_removed from quality.rpt_source_reconciliation"
    ).set_index("source_name")["duplicates_removed"]
    defects = demo_build.defects()
    assert reconciliation["events"] == defects["events"]["duplicate_event"] > 0
    assert reconciliation["customers"] == defects["customers"]["re_export"] > 0
    assert reconciliation.drop(["events", "customers"]).eq(0).all()


def test_store_amounts_sent_in_cents_are_converted(demo_build):
    converted = demo_build.query(
        "select count(*) as n, min(amount) as smallest from staging.stg_shop__orders "
        "where was_in_cents and is_valid"
    ).iloc[0]
    injected = demo_build.defects()["orders"]["amount_in_cents"]
    in_files = demo_build.query(
        "select count(*) as n from staging.stg_shop__orders where was_in_cents"
    ).iloc[0]["n"]
    assert in_files == injected
    # A luxury boutique basket is worth tens of euros at least, never a few cents.
    assert converted["n"] > 0 and converted["smallest"] >= 10


def test_missing_values_are_nulls_not_rejections(demo_build):
    defects = demo_build.defects()["customers"]
    raw_missing = demo_build.query(
        "select "
        "  count(*) filter (where nullif(trim(email), '') is null) as email, "
        "  count(*) filter (where nullif(trim(phone), '') is null) as phone, "
        "  count(*) filter (where nullif(trim(postcode), '') is null) as postcode "
        "from raw.customers"
    ).iloc[0]
    assert raw_missing["email"] >= defects["missing_email"] > 0
    assert raw_missing["phone"] >= defects["missing_phone"] > 0
    assert raw_missing["postcode"] >= defects["missing_postcode"] > 0
    rejected = demo_build.query(
        "select count(*) as n from staging.stg_crm__customers where not is_valid"
    ).iloc[0]["n"]
    assert rejected == 0


def test_reconciliation_is_exact_for_every_source(demo_build):
    reconciliation = demo_build.query("select * from quality.rpt_source_reconciliation")
    manifest_rows = demo_build.defects()["rows_written"]
    defects = demo_build.defects()
    assert len(reconciliation) == 9
    for row in reconciliation.itertuples():
        malformed = defects.get(row.source_name, {}).get("malformed_line", 0)
        assert row.unaccounted_rows == 0, row
        assert row.rows_in_raw == row.rows_loaded_reported == manifest_rows[row.source_name]
        assert row.rows_in_files == manifest_rows[row.source_name] + malformed
        assert (
            row.rows_clean
            + row.rows_rejected_at_load
            + row.rows_quarantined_at_staging
            + row.rows_quarantined_after_identity
            + row.duplicates_removed
            == row.rows_in_files
        )


def test_every_quarantined_row_keeps_its_file_line_and_payload(demo_build):
    rows = demo_build.query(
        "select stage, source_file, source_line, raw_payload from quality.fct_quarantined_rows"
    )
    assert len(rows) > 0
    assert rows["source_file"].notna().all()
    assert rows["source_line"].notna().all()
    assert rows["raw_payload"].notna().all()


def test_a_rejected_line_points_at_the_line_in_the_file(demo_build):
    reject = demo_build.query(
        "select source_file, source_line, raw_payload from quality.fct_quarantined_rows "
        "where stage = 'load' and source_name = 'orders' order by source_line limit 1"
    ).iloc[0]
    lines = (demo_build.landing / reject.source_file).read_text(encoding="utf-8").splitlines()
    assert lines[int(reject.source_line) - 1] == reject.raw_payload


def test_dbt_build_ran_every_test_and_unit_test(demo_build):
    assert "ERROR=0" in demo_build.dbt_output
    assert "WARN=0" in demo_build.dbt_output
    assert "unit_test" in demo_build.dbt_output
