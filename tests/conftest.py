"""Shared fixtures: small generated demo data, loaded and built with the real dbt project."""

from __future__ import annotations

import os

import pytest
from jobs_support import run_jobs
from pipeline_support import SMALL_DATA_SCORING_CONFIG, Build, generate_and_build

from cible.dbt_cli import parse_project

# Session fixtures that take minutes to build: with pytest-xdist, their tests share a worker.
SHARED_FIXTURES = ("materialized_run", "demo_build")
# Groups (see below) that take minutes each, longest first: scheduled before the rest.
SLOWEST_GROUPS = (
    "materialized_run",
    "tests/browser/test_dagster_ui.py",
    "live_published",
)


def pytest_configure(config):
    """Write the dbt manifest before collection: the Dagster definitions read it on import.

    Under pytest-xdist the controller writes it once, before the workers start.
    """
    # The suppression list's HMAC key, as a user sets it (docs/privacy.md); the test of a missing
    # key removes it.
    os.environ.setdefault("CIBLE_PRIVACY_KEY", "cible-tests-privacy-key-0123456789")
    # The key of hashed identifiers shared with ad platforms (docs/activation.md).
    os.environ.setdefault("CIBLE_ACTIVATION_KEY", "cible-tests-activation-key-0123456789")
    if not hasattr(config, "workerinput"):
        parse_project()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Schedule by file for pytest-xdist (`--dist loadgroup`), so module fixtures are built
    once; the files using a shared session fixture go to one worker together."""
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        shared = [name for name in SHARED_FIXTURES if name in item.fixturenames]
        group = shared[0] if shared else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))

    # The longest groups first: started last, the Dagster UI test ran alone for its last four
    # minutes while the other worker idled (19.3 min in all, 2026-12-05). xdist keeps this
    # order only with `--no-loadscope-reorder` (pyproject.toml): by default it queues the groups
    # with the most tests first, whatever the order here. Measured on one machine (2026-12-06):
    # `make test` 1,572 s in this order, 1,736 s in xdist's (the UI test last).
    def rank(item) -> int:
        group = item.get_closest_marker("xdist_group").args[0]
        return next(
            (i for i, slow in enumerate(SLOWEST_GROUPS) if group == slow), len(SLOWEST_GROUPS)
        )

    items.sort(key=rank)


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory) -> Build:
    """The demo on 3,000 customers, every source present, built once for the session (dbt's
    unit tests included)."""
    return generate_and_build(tmp_path_factory.mktemp("demo"), unit_tests=True)


CUSTOMERS = 1_500
# What the dbt steps must hand to their dbt process only, never leave in this one.
DBT_PROCESS_ENV = ("CIBLE_WAREHOUSE", "DBT_INDIRECT_SELECTION", "DBT_WRITE_JSON")


@pytest.fixture(scope="session")
def materialized_run(tmp_path_factory):
    """Materialize every asset once (the demo generator included), in a temporary folder.

    The warehouse is the resource's: `CIBLE_WAREHOUSE` names another file, which no step may
    touch. The recovery test compares its interrupted run with this uninterrupted one.
    """
    from cible.orchestration.definitions import build_definitions
    from cible.orchestration.partitions import every_event_partition
    from cible.orchestration.resources import WarehouseResource
    from dagster import DagsterInstance, materialize

    root = tmp_path_factory.mktemp("dagster")
    warehouse = root / "warehouse" / "cible.duckdb"
    decoy = root / "decoy" / "cible.duckdb"
    paths = {
        "CIBLE_LANDING_DIR": root / "landing",
        "CIBLE_TRUTH_DIR": root / "truth",
        "CIBLE_WAREHOUSE": decoy,
        "CIBLE_MODELS_DIR": root / "models",
        "CIBLE_SCORING_CONFIG": SMALL_DATA_SCORING_CONFIG,
        "CIBLE_PUBLISHED_DIR": root / "published",
        "CIBLE_EXPORTS_DIR": root / "exports",
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
        "models": paths["CIBLE_MODELS_DIR"],
        "published": paths["CIBLE_PUBLISHED_DIR"],
        "exports": paths["CIBLE_EXPORTS_DIR"],
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


@pytest.fixture(scope="session")
def jobs(materialized_run, tmp_path_factory):
    """The daily job (a BI reader querying the published copy throughout), the weekly job and a
    backfill, run on a copy of `materialized_run` (tests/jobs_support.py)."""
    return run_jobs(materialized_run, tmp_path_factory.mktemp("jobs"))
