"""The Dagster code location: what it holds, and a snapshot of its asset graph."""

import json
import os
import subprocess
import sys
from pathlib import Path

from cible.orchestration.dbt import cible_dbt_project, dbt_assets_for
from cible.orchestration.definitions import build_definitions
from cible.orchestration.partitions import event_backfill_policy
from dagster import AssetKey, AssetsDefinition
from dagster_dbt import get_asset_key_for_model

SNAPSHOT = Path(__file__).with_name("asset_graph.snapshot.json")
UPDATE_ENV = "CIBLE_UPDATE_SNAPSHOTS"


def graph_snapshot(with_demo: bool = True) -> dict:
    """Asset keys with their group, upstream keys and checks: what a reviewer should see change."""
    graph = build_definitions(with_demo).resolve_asset_graph()
    checks: dict[str, list[str]] = {}
    for check_key in graph.asset_check_keys:
        checks.setdefault(check_key.asset_key.to_user_string(), []).append(check_key.name)
    return {
        node.key.to_user_string(): {
            "group": node.group_name,
            "upstream": sorted(parent.to_user_string() for parent in node.parent_keys),
            "checks": sorted(checks.get(node.key.to_user_string(), [])),
            "freshness": str(node.freshness_policy) if node.freshness_policy else None,
        }
        for node in sorted(graph.asset_nodes, key=lambda node: node.key.to_user_string())
    }


def key_of(model: str) -> str:
    """The asset key of a dbt model, from the manifest (never typed by hand)."""
    warehouse_models = dbt_assets_for(cible_dbt_project()).warehouse_models
    return get_asset_key_for_model([warehouse_models], model).to_user_string()


def test_asset_graph_matches_the_reviewed_snapshot():
    current = graph_snapshot()
    if os.environ.get(UPDATE_ENV) == "1":
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    assert current == expected, (
        f"The asset graph changed. If intended, run `{UPDATE_ENV}=1 pytest {__file__}` and "
        "commit the snapshot so reviewers see the change."
    )


def test_every_dbt_model_and_seed_is_an_asset_grouped_by_layer():
    snapshot = graph_snapshot()
    manifest = json.loads(
        (Path(__file__).resolve().parents[2] / "dbt_project/target/manifest.json").read_text()
    )
    models = {
        node["name"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] in {"model", "seed"}
        and node["config"]["materialized"] != "ephemeral"
    }
    assert len(models) > 40
    for name, node in models.items():
        assert key_of(name) in snapshot, name
        expected_group = "reference" if node["resource_type"] == "seed" else node["fqn"][1]
        assert snapshot[key_of(name)]["group"] == expected_group


def test_raw_tables_are_the_dbt_sources_so_lineage_is_one_graph():
    snapshot = graph_snapshot()
    staging = snapshot[key_of("stg_crm__customers")]
    # The raw table, and the erasure step that runs between the load and dbt.
    assert staging["upstream"] == ["privacy/privacy_store/erasures", "raw/crm/customers"]
    assert "raw/crm/customers" in snapshot["privacy/privacy_store/erasures"]["upstream"]
    assert snapshot["raw/crm/customers"]["upstream"] == ["demo_landing_files"]
    assert snapshot["raw/crm/customers"]["group"] == "ingestion"
    assert "raw/loader/load_rejects" in snapshot[key_of("stg_loader__load_rejects")]["upstream"]


def test_dbt_tests_are_asset_checks():
    snapshot = graph_snapshot()
    features_checks = snapshot[key_of("fct_customer_features")]["checks"]
    assert "unique_fct_customer_features_customer_id" in features_checks
    reconciliation_checks = snapshot[key_of("rpt_source_reconciliation")]["checks"]
    assert any("unaccounted_rows" in check for check in reconciliation_checks)
    assert sum(len(node["checks"]) for node in snapshot.values()) > 100


def test_own_data_mode_has_no_demo_generator():
    graph = build_definitions(with_demo=False).resolve_asset_graph()
    keys = set(graph.get_all_asset_keys())
    assert AssetKey("demo_landing_files") not in keys
    assert AssetKey(["raw", "crm", "customers"]) in keys
    assert graph.get(AssetKey(["raw", "crm", "customers"])).parent_keys == set()


def test_published_marts_have_a_freshness_policy():
    snapshot = graph_snapshot()
    for model in ("fct_customer_features", "dim_customers", "rpt_source_reconciliation"):
        assert "fail_window=SerializableTimeDelta(days=2" in (
            snapshot[key_of(model)]["freshness"] or ""
        ), model
    assert snapshot[key_of("stg_crm__customers")]["freshness"] is None


def test_every_asset_runs_a_range_of_event_partitions_in_one_run():
    # What `cible run`'s --partition-range requires of every asset; each one is given the
    # policy where it is defined.
    assets = [
        a for a in build_definitions(with_demo=True).assets if isinstance(a, AssetsDefinition)
    ]
    assert len(assets) > 5
    missing = [a.node_def.name for a in assets if a.backfill_policy != event_backfill_policy]
    assert not missing


def test_dbt_runs_the_dbt_of_this_environment():
    dbt = build_definitions(with_demo=False).resources["dbt"]
    assert dbt.dbt_executable == str(Path(sys.executable).parent / "dbt")


def test_importing_the_code_location_does_no_work(tmp_path):
    """No dbt parse, no manifest read, no PATH change on import, even under `dagster dev`."""
    script = (
        "import os, sys\n"
        "path = os.environ['PATH']\n"
        "import cible.orchestration.definitions\n"
        "from cible.orchestration.dbt import cible_dbt_project, dbt_assets_for\n"
        "assert os.environ['PATH'] == path, 'PATH changed'\n"
        "assert dbt_assets_for.cache_info().currsize == 0, 'dbt assets built'\n"
        "assert cible_dbt_project.cache_info().currsize == 0, 'dbt project read'\n"
    )
    # `dagster dev` marks its processes; under it a stale manifest is parsed again, but only
    # when the definitions are built. A PATH without this environment's scripts is what
    # `.venv/bin/dagster dev` runs with.
    env = dict(os.environ, DAGSTER_IS_DEV_CLI="1", PATH="/usr/bin:/bin")
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
