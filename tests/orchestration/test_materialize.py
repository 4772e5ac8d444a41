"""A real Dagster materialization of the whole graph: generator, loader, dbt build and checks."""

import duckdb
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from orchestration.definitions import build_definitions
from orchestration.partitions import every_event_partition

CUSTOMERS = 1_500


@pytest.fixture(scope="module")
def materialized_run(tmp_path_factory):
    """Materialize every asset once, in a temporary project folder."""
    root = tmp_path_factory.mktemp("dagster")
    paths = {
        "CIBLE_LANDING_DIR": root / "landing",
        "CIBLE_TRUTH_DIR": root / "truth",
        "CIBLE_WAREHOUSE": root / "warehouse" / "cible.duckdb",
        "CIBLE_MODELS_DIR": root / "models",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, path in paths.items():
            patch.setenv(name, str(path))
        definitions = build_definitions(with_demo=True)
        graph = definitions.resolve_asset_graph()
        with DagsterInstance.ephemeral() as instance:
            result = materialize(
                list(definitions.assets),
                resources=definitions.resources,
                run_config={"ops": {"demo_landing_files": {"config": {"customers": CUSTOMERS}}}},
                instance=instance,
                tags=every_event_partition(),
            )
    events = result.get_asset_materialization_events()
    return {
        "result": result,
        "graph": graph,
        "warehouse": paths["CIBLE_WAREHOUSE"],
        "materialized": {event.asset_key for event in events},
        "metadata": {event.asset_key: event.materialization.metadata for event in events},
        "checks": [
            event.event_specific_data
            for event in result.all_events
            if event.event_type_value == "ASSET_CHECK_EVALUATION"
        ],
    }


def test_materialize_all_runs_every_asset_and_check(materialized_run):
    graph = materialized_run["graph"]
    assert materialized_run["result"].success
    assert materialized_run["materialized"] == set(graph.get_all_asset_keys())
    checks = materialized_run["checks"]
    assert len(checks) == len(graph.asset_check_keys)
    assert all(check.passed for check in checks)
    loader_metadata = materialized_run["metadata"][AssetKey(["raw", "crm", "customers"])]
    assert loader_metadata["rows_loaded"].value > CUSTOMERS
    assert loader_metadata["rows_rejected"].value > 0
    with duckdb.connect(str(materialized_run["warehouse"]), read_only=True) as con:
        customers = con.execute("select count(*) from marts.fct_customer_features").fetchall()[0][0]
    assert customers == CUSTOMERS


def test_dbt_materializations_carry_warehouse_figures(materialized_run):
    metadata = materialized_run["metadata"]
    features = metadata[AssetKey(["marts", "fct_customer_features"])]
    assert features["dagster/row_count"].value == CUSTOMERS
    assert "prospect" in features["lifecycle_stages"].value
    quarantine = metadata[AssetKey(["quality", "fct_quarantined_rows"])]
    assert "malformed_line" in quarantine["quarantine_by_reason"].value
    assert quarantine["dagster/row_count"].value > 0
    reconciliation = metadata[AssetKey(["quality", "rpt_source_reconciliation"])]
    assert "| events |" in reconciliation["reconciliation"].value
