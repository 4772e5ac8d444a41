"""Only customers and orders are required: the rest may be absent; a required one may not."""

import subprocess
import sys

import pytest
from pipeline_support import generate_and_build

REQUIRED = {"customers", "orders"}


@pytest.fixture(scope="module")
def minimal_build(tmp_path_factory):
    return generate_and_build(
        tmp_path_factory.mktemp("minimal"), customers=800, keep_sources=REQUIRED
    )


def test_the_pipeline_runs_with_only_customers_and_orders(minimal_build):
    assert "ERROR=0" in minimal_build.dbt_output
    assert sorted(
        p.name for p in minimal_build.landing.iterdir() if not p.name.startswith(".")
    ) == [
        "customers.csv",
        "orders.csv",
    ]
    features = minimal_build.query("select * from marts.fct_customer_features")
    assert len(features) == 800
    assert (features["orders_count"] > 0).sum() > 500
    # Optional sources absent: empty inputs, zero counts and null rates, never an error.
    assert (features["sessions_long_window"] == 0).all()
    assert features["campaign_open_rate"].isna().all()
    assert features["interest_exclusivity"].isna().all()
    assert (~features["has_email_consent"]).all()


def test_absent_optional_sources_are_empty_tables_that_reconcile(minimal_build):
    reconciliation = minimal_build.query(
        "select * from quality.rpt_source_reconciliation"
    ).set_index("source_name")
    assert (reconciliation["unaccounted_rows"] == 0).all()
    assert reconciliation.loc["events", "rows_in_files"] == 0
    assert reconciliation.loc["order_lines", "rows_clean"] == 0
    assert reconciliation.loc["orders", "rows_clean"] > 0


def test_a_missing_required_source_stops_the_load_with_the_file_expected(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "customers.csv").write_text("customer_number,email\nC1,a@b.fr\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "cible", "load"],
        env={
            "CIBLE_LANDING_DIR": str(landing),
            "CIBLE_WAREHOUSE": str(tmp_path / "w.duckdb"),
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    message = result.stderr + result.stdout
    assert "orders" in message and str(landing / "orders") in message
