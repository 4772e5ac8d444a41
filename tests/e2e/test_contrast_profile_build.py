"""The pipeline on the second generator profile (``contrast``: other personas, about twice the
defects): every injected defect is found at its count and every row is accounted for, so the
quality layer holds on data it was not written against."""

from __future__ import annotations

import pytest
from pipeline_support import ROW_AND_FIELD_DEFECTS, Build, dbt_command

from cible.demo import generate
from cible.loader import load_landing

CUSTOMERS = 1_500


@pytest.fixture(scope="module")
def contrast_build(tmp_path_factory) -> Build:
    """Generated, loaded, and built up to the quality marts only (the ML marts and their
    tests run on the Maison in the other e2e tests: 17 s here instead of 25 s)."""
    root = tmp_path_factory.mktemp("contrast")
    landing, truth, warehouse = root / "landing", root / "truth", root / "warehouse.duckdb"
    generate(landing, truth, n_customers=CUSTOMERS, seed=7, profile="contrast")
    load_landing(landing_dir=landing, warehouse=warehouse)
    result = dbt_command(
        ["build", "--select", "+marts.quality", "--indirect-selection", "cautious"], warehouse
    )
    return Build(landing=landing, truth=truth, warehouse=warehouse, dbt_output=result.stdout)


def test_contrast_defects_are_all_found_and_every_row_reconciles(contrast_build):
    assert contrast_build.manifest()["profile"]["name"] == "contrast"
    assert "ERROR=0" in contrast_build.dbt_output and "WARN=0" in contrast_build.dbt_output
    counts = contrast_build.query(
        "select source_name, reason, sum(affected_rows) as n from quality.rpt_data_quality "
        "group by source_name, reason"
    )
    found = {(row.source_name, row.reason): int(row.n) for row in counts.itertuples()}
    defects = contrast_build.defects()
    injected = {
        found_key: defects[source][key]
        for found_key, (source, key) in ROW_AND_FIELD_DEFECTS.items()
        if defects[source][key] > 0
    }
    assert len(injected) == len(ROW_AND_FIELD_DEFECTS)
    assert found == injected
    reconciliation = contrast_build.query(
        "select * from quality.rpt_source_reconciliation"
    ).set_index("source_name")
    assert reconciliation["unaccounted_rows"].eq(0).all()
    assert (
        reconciliation.loc["events", "duplicates_removed"] == defects["events"]["duplicate_event"]
    )
    assert (
        reconciliation.loc["customers", "duplicates_removed"] == defects["customers"]["re_export"]
    )
