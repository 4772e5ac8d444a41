"""Composition root of the Cible code location (`dagster dev` loads `defs`)."""

import os

from dagster import Definitions
from dagster_dbt import DbtCliResource

from orchestration.automation import (
    build_jobs,
    build_landing_files_sensor,
    build_schedules,
    run_failure_recorder,
)
from orchestration.dbt import dbt_project, event_models, warehouse_models
from orchestration.ingest import build_raw_tables, demo_landing_files

DEMO_ENV = "CIBLE_DEMO"


def demo_enabled() -> bool:
    """The demo generator is in the graph unless the user points Cible at their own data.

    On by default with the default landing folder, off once `CIBLE_LANDING_DIR` is set;
    `CIBLE_DEMO=1` or `0` decides explicitly.
    """
    explicit = os.environ.get(DEMO_ENV)
    if explicit is not None:
        return explicit.strip().lower() in {"1", "true", "yes"}
    return "CIBLE_LANDING_DIR" not in os.environ


def build_definitions(with_demo: bool) -> Definitions:
    """Every asset, check and job of Cible; the demo generator only `with_demo`."""
    raw_tables = build_raw_tables(with_demo)
    daily, weekly, load_and_build = build_jobs(raw_tables.keys)
    return Definitions(
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
    )


defs = build_definitions(demo_enabled())
