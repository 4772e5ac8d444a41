"""An orders-only dataset (customers and orders, the two required sources) runs the whole
Dagster graph with the default settings: segments, rule segments and lifetime value publish,
and the target the data cannot train (campaign response, without campaigns) is skipped with
its reason instead of stopping the scoring step (issue #16, point 8). It runs as of a day
before the data's end, as `cible run --as-of` does, so that option is exercised end to end."""

from datetime import timedelta

import duckdb
import pandas as pd
import pytest
from cible.orchestration.definitions import build_definitions
from cible.orchestration.partitions import every_event_partition
from cible.orchestration.resources import WarehouseResource
from dagster import DagsterInstance, materialize
from pipeline_support import SMALL_DATA_SCORING_CONFIG

CUSTOMERS = 1_200


@pytest.fixture(scope="module")
def orders_only_run(tmp_path_factory):
    from cible.demo import generate

    root = tmp_path_factory.mktemp("orders_only")
    landing = root / "landing"
    generate(landing_dir=landing, truth_dir=root / "truth", n_customers=CUSTOMERS, seed=5)
    for entry in landing.iterdir():
        if entry.name.split(".")[0] not in {"customers", "orders", ""}:
            if entry.is_dir():
                for part in entry.iterdir():
                    part.unlink()
                entry.rmdir()
            else:
                entry.unlink()
    (landing / ".cible_demo").unlink(missing_ok=True)
    ordered_at = pd.to_datetime(
        pd.read_csv(landing / "orders.csv", usecols=["ordered_at"])["ordered_at"],
        utc=True,
        errors="coerce",
        format="mixed",
    )
    # Three weeks before the day after the last order (the generator's future-dated defects
    # aside): later orders exist but must not count.
    last = ordered_at[ordered_at <= pd.Timestamp.now(tz="UTC")].max()
    as_of = (last.date() + timedelta(days=1) - timedelta(weeks=3)).isoformat()
    warehouse = root / "warehouse" / "cible.duckdb"
    warehouse.parent.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CIBLE_LANDING_DIR", str(landing))
        patch.setenv("CIBLE_MODELS_DIR", str(root / "models"))
        patch.setenv("CIBLE_PUBLISHED_DIR", str(root / "published"))
        patch.setenv("CIBLE_SCORING_CONFIG", str(SMALL_DATA_SCORING_CONFIG))
        patch.setenv("CIBLE_AS_OF", as_of)
        definitions = build_definitions(with_demo=False)
        with DagsterInstance.ephemeral() as instance:
            result = materialize(
                list(definitions.assets),
                resources={
                    **definitions.resources,
                    "warehouse": WarehouseResource(path=str(warehouse)),
                },
                instance=instance,
                tags=every_event_partition(),
                raise_on_error=False,
            )
    checks = [
        event.event_specific_data
        for event in result.all_events
        if event.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    return result, checks, warehouse, as_of


def test_the_whole_graph_runs_on_customers_and_orders_alone(orders_only_run):
    result, checks, warehouse, _ = orders_only_run
    assert result.success
    with duckdb.connect(str(warehouse), read_only=True) as con:
        kinds = dict(
            con.execute(
                "select segment_kind, count(*) from marts.fct_segment_memberships "
                "where is_current_run group by 1"
            ).fetchall()
        )
        valued = con.execute(
            "select count(*) from marts.fct_customer_scores where lifetime_value_eur is not null"
        ).fetchall()[0][0]
        purchase = con.execute(
            "select count(*) from marts.fct_customer_scores where purchase_30d_score is not null"
        ).fetchall()[0][0]
    assert kinds.get("cluster", 0) > CUSTOMERS / 2 and kinds.get("rule", 0) > 0
    assert valued > CUSTOMERS / 2 and purchase > CUSTOMERS / 2
    skipped = [c for c in checks if c.check_name == "campaign_response_passes_gates"]
    assert [c.passed for c in skipped] == [False]
    assert skipped[0].severity.value == "WARN"
    assert "skipped" in skipped[0].description and "campaign" in skipped[0].description
    with duckdb.connect(str(warehouse), read_only=True) as con:
        performance = con.execute(
            "select target, status, gate_failures from marts.rpt_model_performance "
            "where status = 'skipped'"
        ).fetchall()
    # The skipped target has its row, with the reason, beside the trained versions.
    assert [(target, status) for target, status, _ in performance] == [
        ("campaign_response", "skipped")
    ]
    assert "campaign" in performance[0][2]
    failed_hard = [c.check_name for c in checks if not c.passed and c.severity.value == "ERROR"]
    assert failed_hard == []


def test_the_run_computes_features_and_scores_as_of_the_day_asked(orders_only_run):
    _, _, warehouse, as_of = orders_only_run
    with duckdb.connect(str(warehouse), read_only=True) as con:
        feature_days = con.execute(
            "select distinct cast(as_of_at as date) from marts.fct_customer_features"
        ).fetchall()
        score_days = con.execute(
            "select distinct cast(as_of_at as date) from marts.fct_customer_scores"
        ).fetchall()
        later_orders, counted = con.execute(
            f"""
            select
                (select count(*) from marts.fct_orders where ordered_at >= '{as_of}'),
                (select sum(orders_count) from marts.fct_customer_features)
            """
        ).fetchone()
        all_orders = con.execute("select count(*) from marts.fct_orders").fetchone()[0]
    assert [str(day) for (day,) in feature_days] == [as_of]
    assert [str(day) for (day,) in score_days] == [as_of]
    # The orders after the as-of day are in the warehouse but in no customer's features.
    assert later_orders > 0 and counted == all_orders - later_orders
