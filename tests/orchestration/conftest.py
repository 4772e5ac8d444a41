"""A whole-graph Dagster materialization, shared by the orchestration tests (it takes minutes)."""

import os

import pytest
from cible.orchestration.definitions import build_definitions
from cible.orchestration.partitions import every_event_partition
from cible.orchestration.resources import WarehouseResource
from dagster import DagsterInstance, materialize
from pipeline_support import SMALL_DATA_SCORING_CONFIG

CUSTOMERS = 1_500
# What the dbt steps must hand to their dbt process only, never leave in this one.
DBT_PROCESS_ENV = ("CIBLE_WAREHOUSE", "DBT_INDIRECT_SELECTION")


@pytest.fixture(scope="session")
def materialized_run(tmp_path_factory):
    """Materialize every asset once (the demo generator included), in a temporary folder.

    The warehouse is the resource's: `CIBLE_WAREHOUSE` names another file, which no step may
    touch. The recovery test compares its interrupted run with this uninterrupted one.
    """
    root = tmp_path_factory.mktemp("dagster")
    warehouse = root / "warehouse" / "cible.duckdb"
    decoy = root / "decoy" / "cible.duckdb"
    paths = {
        "CIBLE_LANDING_DIR": root / "landing",
        "CIBLE_TRUTH_DIR": root / "truth",
        "CIBLE_WAREHOUSE": decoy,
        "CIBLE_MODELS_DIR": root / "models",
        "CIBLE_SCORING_CONFIG": SMALL_DATA_SCORING_CONFIG,
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, path in paths.items():
            patch.setenv(name, str(path))
        patch.delenv("DBT_INDIRECT_SELECTION", raising=False)
        environment_before = {name: os.environ.get(name) for name in DBT_PROCESS_ENV}
        definitions = build_definitions(with_demo=True)
        graph = definitions.resolve_asset_graph()
        with DagsterInstance.ephemeral() as instance:
            result = materialize(
                list(definitions.assets),
                resources={
                    **definitions.resources,
                    "warehouse": WarehouseResource(path=str(warehouse)),
                },
                run_config={"ops": {"demo_landing_files": {"config": {"customers": CUSTOMERS}}}},
                instance=instance,
                tags=every_event_partition(),
            )
        environment_after = {name: os.environ.get(name) for name in DBT_PROCESS_ENV}
    events = result.get_asset_materialization_events()
    return {
        "result": result,
        "graph": graph,
        "warehouse": warehouse,
        "decoy": decoy,
        "landing": paths["CIBLE_LANDING_DIR"],
        "customers": CUSTOMERS,
        "materialized": {event.asset_key for event in events},
        "environment": (environment_before, environment_after),
        "metadata": {event.asset_key: event.materialization.metadata for event in events},
        "checks": [
            event.event_specific_data
            for event in result.all_events
            if event.event_type_value == "ASSET_CHECK_EVALUATION"
        ],
    }
