"""Composition root of the Cible code location (`dagster dev` loads `defs`)."""

import os

from cible.orchestration.automation import (
    build_jobs,
    build_landing_files_sensor,
    build_schedules,
    run_failure_recorder,
)
from cible.orchestration.dbt import dbt_project, event_models, warehouse_models
from cible.orchestration.ingest import build_raw_tables, demo_landing_files
from cible.orchestration.live import build_live_definitions
from cible.orchestration.partitions import event_backfill_policy
from cible.orchestration.scoring import build_scoring_definitions
from cible.orchestration.segmentation import build_segmentation_definitions
from dagster import AssetSelection, Definitions, multi_or_in_process_executor
from dagster_dbt import DbtCliResource

DEMO_ENV = "CIBLE_DEMO"
# The segmentation step the weekly run refits.
RECLUSTER_OP = "customer_segments"


def demo_enabled() -> bool:
    """The demo generator is in the graph unless the user points Cible at their own data.

    On by default with the default landing folder, off once `CIBLE_LANDING_DIR` is set;
    `CIBLE_DEMO=1` or `0` decides explicitly.
    """
    explicit = os.environ.get(DEMO_ENV)
    if explicit is not None:
        return explicit.strip().lower() in {"1", "true", "yes"}
    return "CIBLE_LANDING_DIR" not in os.environ


def _single_run_backfills(definitions: Definitions) -> Definitions:
    """Every asset runs a range of event partitions in one run (what the CLI requires)."""
    assets = [
        asset.with_attributes(backfill_policy=event_backfill_policy)
        if getattr(asset, "backfill_policy", event_backfill_policy) is None
        else asset
        for asset in definitions.assets or []
    ]
    return Definitions(
        assets=assets,
        asset_checks=definitions.asset_checks,
        jobs=definitions.jobs,
        resources=definitions.resources,
    )


def _one_step_at_a_time(config: dict) -> dict:
    """Multiprocess runs execute one step at a time unless `max_concurrent` says otherwise,
    in processes forked from a server that has loaded the code location once.

    DuckDB admits one writing process per file, and nearly every step writes the warehouse (dbt
    builds, the loader, segmentation, scoring): two steps of a run in parallel (the training
    features' dbt build beside the segmentation, say) would fail on the file lock. Steps keep
    their own processes, so a crashed step does not take the run down; `forkserver` spares
    each of them importing Dagster, dbt and scikit-learn again (`spawn` took 12 to 15 s between
    two steps on 2 busy cores). `start_method` in the run config overrides it.
    """
    if "multiprocess" not in config:
        return config
    multiprocess = dict(config["multiprocess"] or {})
    multiprocess["max_concurrent"] = multiprocess.get("max_concurrent") or 1
    multiprocess.setdefault("start_method", {"forkserver": {}})
    return {"multiprocess": multiprocess}


warehouse_executor = multi_or_in_process_executor.configured(
    _one_step_at_a_time,
    name="warehouse_executor",
    config_schema=multi_or_in_process_executor.config_schema,
)


def build_definitions(with_demo: bool) -> Definitions:
    """Every asset, check and job of Cible; the demo generator only `with_demo`."""
    raw_tables = build_raw_tables(with_demo)
    segmentation = build_segmentation_definitions()
    segments_step = next(a for a in segmentation.assets if a.node_def.name == RECLUSTER_OP)
    daily, weekly, load_and_build = build_jobs(
        raw_tables.keys,
        recluster=AssetSelection.assets(segments_step),
        recluster_config={"ops": {RECLUSTER_OP: {"config": {"refit": True}}}},
    )
    warehouse = Definitions(
        assets=[
            *([demo_landing_files] if with_demo else []),
            raw_tables,
            warehouse_models,
            event_models,
        ],
        jobs=[daily, weekly, load_and_build],
        schedules=build_schedules(daily, weekly),
        sensors=[
            build_landing_files_sensor(load_and_build, next(iter(raw_tables.keys))),
            run_failure_recorder,
        ],
        resources={"dbt": DbtCliResource(project_dir=dbt_project)},
        executor=warehouse_executor,
    )
    machine_learning = _single_run_backfills(
        Definitions.merge(segmentation, build_scoring_definitions(), build_live_definitions())
    )
    return Definitions.merge(warehouse, machine_learning)


defs = build_definitions(demo_enabled())
