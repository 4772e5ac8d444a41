"""An orders-only dataset (customers and orders, the two required sources) runs the whole
Dagster graph with the default settings: segments, rule segments and lifetime value publish,
and the target the data cannot train (campaign response, without campaigns) is skipped with
its reason instead of stopping the scoring step (issue #16, point 8)."""

import duckdb
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
    warehouse = root / "warehouse" / "cible.duckdb"
    warehouse.parent.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CIBLE_LANDING_DIR", str(landing))
        patch.setenv("CIBLE_MODELS_DIR", str(root / "models"))
        patch.setenv("CIBLE_PUBLISHED_DIR", str(root / "published"))
        patch.setenv("CIBLE_SCORING_CONFIG", str(SMALL_DATA_SCORING_CONFIG))
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
    return result, checks, warehouse


def test_the_whole_graph_runs_on_customers_and_orders_alone(orders_only_run):
    result, checks, warehouse = orders_only_run
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
    failed_hard = [c.check_name for c in checks if not c.passed and c.severity.value == "ERROR"]
    assert failed_hard == []
