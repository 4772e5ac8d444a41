"""A real Dagster materialization of the whole graph: generator, loader, dbt build and checks."""

import duckdb
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from orchestration.definitions import build_definitions
from orchestration.partitions import event_partitions

CUSTOMERS = 1_500


def every_event_partition() -> dict[str, str]:
    """Run tags selecting every daily event partition in one run, as "Materialize all" does."""
    return {
        "dagster/asset_partition_range_start": event_partitions.get_first_partition_key(),
        "dagster/asset_partition_range_end": event_partitions.get_last_partition_key(),
    }


@pytest.fixture
def project_paths(tmp_path, monkeypatch):
    paths = {
        "CIBLE_LANDING_DIR": tmp_path / "landing",
        "CIBLE_TRUTH_DIR": tmp_path / "truth",
        "CIBLE_WAREHOUSE": tmp_path / "warehouse" / "cible.duckdb",
    }
    for name, path in paths.items():
        monkeypatch.setenv(name, str(path))
    return paths


def test_materialize_all_runs_every_asset_and_check(project_paths):
    definitions = build_definitions(with_demo=True)
    graph = definitions.resolve_asset_graph()
    assets = list(definitions.assets)
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            assets,
            resources=definitions.resources,
            run_config={"ops": {"demo_landing_files": {"config": {"customers": CUSTOMERS}}}},
            instance=instance,
            tags=every_event_partition(),
        )
        assert result.success
        materialized = {event.asset_key for event in result.get_asset_materialization_events()}
        assert materialized == set(graph.get_all_asset_keys())
        evaluations = [
            event.event_specific_data
            for event in result.all_events
            if event.event_type_value == "ASSET_CHECK_EVALUATION"
        ]
        assert len(evaluations) == len(graph.asset_check_keys)
        assert all(evaluation.passed for evaluation in evaluations)

        loader_metadata = next(
            event.materialization.metadata
            for event in result.get_asset_materialization_events()
            if event.asset_key == AssetKey(["raw", "crm", "customers"])
        )
        assert loader_metadata["rows_loaded"].value > CUSTOMERS
        assert loader_metadata["rows_rejected"].value > 0

    with duckdb.connect(str(project_paths["CIBLE_WAREHOUSE"]), read_only=True) as con:
        customers = con.execute("select count(*) from marts.fct_customer_features").fetchall()[0][0]
    assert customers == CUSTOMERS
