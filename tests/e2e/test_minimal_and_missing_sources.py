"""Only customers and orders are required: the rest may be absent; a required one may not."""

import json
import shutil
import subprocess
import sys

import pytest
from cible.ml.segmentation import store
from cible.ml.segmentation.runner import SegmentationError
from pipeline_support import dbt_command, generate_and_build

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


def test_without_a_consent_source_profiling_rests_on_legitimate_interest(
    minimal_build, tmp_path, monkeypatch
):
    """`consent_when_absent.profiling: auto`: no consent event at all, so every customer is
    profiled under legitimate interest and segmented; e-mail, SMS and ads stay denied."""
    state = minimal_build.query(
        "select purpose, rule_applied, legal_basis, is_allowed, count(*) as customers "
        "from marts.fct_customer_consents group by purpose, rule_applied, legal_basis, "
        "is_allowed order by purpose"
    )
    assert state.to_dict("records") == [
        {"purpose": p, "rule_applied": r, "legal_basis": b, "is_allowed": a, "customers": 800}
        for p, r, b, a in [
            ("ads", "absent_denied", "consent", False),
            ("email", "absent_denied", "consent", False),
            ("profiling", "absent_granted", "legitimate_interest", True),
            ("sms", "absent_denied", "consent", False),
        ]
    ]
    proof = minimal_build.query(
        "select distinct proof from marts.fct_customer_consents where purpose = 'profiling'"
    )["proof"]
    assert proof.tolist() == [
        "no consent event; consent_when_absent.profiling = auto and the data holds no "
        "consent event for this purpose"
    ]
    warehouse = tmp_path / "w" / "cible.duckdb"
    warehouse.parent.mkdir()
    shutil.copy(minimal_build.warehouse, warehouse)
    monkeypatch.setenv("CIBLE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("CIBLE_PUBLISHED_DIR", str(tmp_path / "published"))
    result = store.run_and_publish(warehouse_path=warehouse, refit=True)
    kinds = result.tables["segment_assignments"]["segment_id"]
    assert (kinds == "not_profiled").sum() == 0 and kinds.str.startswith("cluster_").sum() > 400

    # Opt-in without any consent collected: nobody may be profiled, and the run says why.
    denied = {"profiling": "denied", "email": "denied", "sms": "denied", "ads": "denied"}
    dbt_command(
        [
            "build",
            "--select",
            "int_customer_consents_as_of fct_customer_consents fct_customer_features",
            "--vars",
            json.dumps({"consent_when_absent": denied}),
        ],
        warehouse,
    )
    with pytest.raises(SegmentationError, match=r"not_profiled 800.*consent_when_absent"):
        store.run_and_publish(warehouse_path=warehouse, refit=True)
    wrong = dbt_command(
        ["build", "--select", "fct_customer_consents", "--vars", '{"consent_when_absent": {}}'],
        warehouse,
        check=False,
    )
    assert wrong.returncode != 0
    assert (
        "The dbt variable consent_when_absent (dbt_project.yml, or --vars) is invalid: "
        "profiling: must be one of denied, granted, auto, found None" in wrong.stdout
    )


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
