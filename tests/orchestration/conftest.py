"""A whole-graph Dagster materialization, shared by the orchestration tests (it takes minutes)."""

import os

import pytest
from cible.orchestration.definitions import build_definitions
from cible.orchestration.partitions import every_event_partition
from dagster import DagsterInstance, materialize
from pipeline_support import SMALL_DATA_SCORING_CONFIG

CUSTOMERS = 1_500


@pytest.fixture(scope="session")
def materialized_run(tmp_path_factory):
    """Materialize every asset once (the demo generator included), in a temporary folder.

    The recovery test compares its interrupted run with this uninterrupted one.
    """
    root = tmp_path_factory.mktemp("dagster")
    paths = {
        "CIBLE_LANDING_DIR": root / "landing",
        "CIBLE_TRUTH_DIR": root / "truth",
        "CIBLE_WAREHOUSE": root / "warehouse" / "cible.duckdb",
        "CIBLE_MODELS_DIR": root / "models",
        "CIBLE_SCORING_CONFIG": SMALL_DATA_SCORING_CONFIG,
    }
    indirect_selection_before = os.environ.get("DBT_INDIRECT_SELECTION")
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
        "landing": paths["CIBLE_LANDING_DIR"],
        "customers": CUSTOMERS,
        "materialized": {event.asset_key for event in events},
        "indirect_selection": (indirect_selection_before, os.environ.get("DBT_INDIRECT_SELECTION")),
        "metadata": {event.asset_key: event.materialization.metadata for event in events},
        "checks": [
            event.event_specific_data
            for event in result.all_events
            if event.event_type_value == "ASSET_CHECK_EVALUATION"
        ],
    }
