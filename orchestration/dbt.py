"""The dbt project as Dagster assets: every model and seed an asset, every dbt test a check."""

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from cible.orchestration.partitions import (
    event_backfill_policy,
    event_partitions,
    event_window_vars,
)
from cible.orchestration.warehouse_metadata import with_warehouse_figures
from dagster import AssetExecutionContext, AssetKey, AssetSpec, FreshnessPolicy
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from cible import settings

# dagster-dbt runs the `dbt` found on PATH (dagster-dbt 0.29 gives `prepare_if_dev` no way to
# name another one); `.venv/bin/dagster dev` does not put `.venv/bin` on PATH. Put this
# environment's scripts first so the dbt installed beside Dagster is the one used (2026-11).
_SCRIPTS = os.path.dirname(sys.executable)
if _SCRIPTS not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _SCRIPTS + os.pathsep + os.environ.get("PATH", "")

dbt_project = DbtProject(
    project_dir=settings.DBT_PROJECT_DIR,
    profiles_dir=settings.DBT_PROJECT_DIR,
    target_path=settings.dbt_target_dir(),
)

# Where dbt reads the files it parses, and the defaults of `dbt_project.yml`'s path settings.
_PARSED_PATHS = {
    "model-paths": ["models"],
    "macro-paths": ["macros"],
    "test-paths": ["tests"],
    "analysis-paths": ["analyses"],
    "seed-paths": ["seeds"],
    "snapshot-paths": ["snapshots"],
}


def manifest_is_current(project: DbtProject) -> bool:
    """The manifest exists and is newer than every file dbt parses to write it."""
    if not project.manifest_path.exists():
        return False
    written = project.manifest_path.stat().st_mtime
    config_file = project.project_dir / "dbt_project.yml"
    config = yaml.safe_load(config_file.read_text()) or {}
    folders = [
        project.project_dir / folder
        for key, default in _PARSED_PATHS.items()
        for folder in config.get(key, default)
    ]
    files = [config_file, project.project_dir / "profiles.yml"]
    files += [path for folder in folders if folder.is_dir() for path in folder.rglob("*")]
    return all(path.stat().st_mtime <= written for path in files if path.is_file())


# dbt's parse state: what lets the next `dbt parse` read only the files that changed.
PARTIAL_PARSE = "partial_parse.msgpack"
# dagster-dbt reads dbt's indirect selection mode from this variable (see build_selected).
INDIRECT_SELECTION_ENV = "DBT_INDIRECT_SELECTION"


def parse_manifest(project: DbtProject) -> None:
    """`dbt parse` into a scratch folder, then move its artifacts into the target, manifest last.

    dagster-dbt's own preparation parses in place: a process loading the code location while
    another one parses could read half a manifest. A rename is atomic, so readers see the old
    manifest or the new one. Two processes parsing at once each write their own scratch folder.
    """
    target = project.project_dir / project.target_path
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target, prefix=".parse-") as scratch_dir:
        scratch = Path(scratch_dir)
        # Start from the last parse state so dbt parses only what changed.
        if (target / PARTIAL_PARSE).exists():
            shutil.copy2(target / PARTIAL_PARSE, scratch / PARTIAL_PARSE)
        DbtCliResource(project_dir=project).cli(["parse", "--quiet"], target_path=scratch).wait()
        if not (scratch / "manifest.json").exists():
            raise RuntimeError(f"dbt parse wrote no manifest in {scratch}")
        for artifact in sorted(scratch.iterdir(), key=lambda path: path.name == "manifest.json"):
            if artifact.is_file():
                os.replace(artifact, target / artifact.name)


# Under `dagster dev`, parse the project when the manifest is older than the code, so the
# graph matches the SQL being edited; elsewhere (CLI materializations, CI) the manifest is built
# beforehand by `dbt parse`. `dagster dev` passes its marker to every run and step process it
# starts, and each of them imports this module: parsing in each one cost ~8 s per step.
if dbt_project.preparer.using_dagster_dev() and not manifest_is_current(dbt_project):
    parse_manifest(dbt_project)

# Models that read what Python steps write (segments, scores) are built by their own dbt
# assets, downstream of those steps; the warehouse build leaves them out.
ML_PUBLISHED_TAGS = ("segmentation", "scoring")
# Event models processed one day (partition) at a time.
EVENT_PARTITIONED_TAG = "event_partitions"
WAREHOUSE_EXCLUDE = " ".join(f"tag:{tag}" for tag in (*ML_PUBLISHED_TAGS, EVENT_PARTITIONED_TAG))


# Published marts (what BI tools and campaigns read) are refreshed every day: a warning after
# a missed morning, a failure after two.
MARTS_FRESHNESS = FreshnessPolicy.time_window(
    fail_window=timedelta(hours=48), warn_window=timedelta(hours=26)
)


def _layer(dbt_resource_props: Mapping[str, Any]) -> str:
    """`staging`, `intermediate` or `marts` for models: the first folder under `models/`."""
    fqn = dbt_resource_props.get("fqn", [])
    return fqn[1] if len(fqn) > 2 else "warehouse"


class CibleDbtTranslator(DagsterDbtTranslator):
    """Groups assets by warehouse layer; a dbt source is keyed by its schema (`raw`, `ml`)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return AssetKey(
                [
                    dbt_resource_props["schema"],
                    dbt_resource_props["source_name"],
                    dbt_resource_props["name"],
                ]
            )
        return super().get_asset_key(dbt_resource_props)

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest.get("nodes", {}).get(unique_id, {})
        if node.get("resource_type") == "model" and _layer(node) == "marts":
            return spec.replace_attributes(freshness_policy=MARTS_FRESHNESS)
        return spec

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        resource_type = dbt_resource_props["resource_type"]
        if resource_type == "seed":
            return "reference"
        if resource_type == "source":
            return "ingestion" if dbt_resource_props["schema"] == "raw" else None
        return _layer(dbt_resource_props)


translator = CibleDbtTranslator()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=translator,
    exclude=WAREHOUSE_EXCLUDE,
    backfill_policy=event_backfill_policy,
)
def warehouse_models(context: AssetExecutionContext, dbt: DbtCliResource):
    """Build the dbt models and seeds selected, running their tests as asset checks."""
    yield from build_selected(context, dbt)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=translator,
    select=f"tag:{EVENT_PARTITIONED_TAG}",
    partitions_def=event_partitions,
    backfill_policy=event_backfill_policy,
)
def event_models(context: AssetExecutionContext, dbt: DbtCliResource):
    """Process the events of the days selected (one partition per day of occurrence)."""
    window = context.partition_time_window
    yield from build_selected(context, dbt, event_window_vars(window.start, window.end))


def dbt_build_args(variables: Mapping[str, str] | None = None) -> list[str]:
    """The `dbt build` arguments of a Dagster step."""
    args = ["build"]
    if variables:
        args += ["--vars", json.dumps(dict(variables), sort_keys=True)]
    return args


def build_selected(
    context: AssetExecutionContext,
    dbt: DbtCliResource,
    variables: Mapping[str, str] | None = None,
    tests_reaching_upstream: bool = False,
):
    """`dbt build` of the models a Dagster selection holds, against Cible's warehouse.

    Args:
        tests_reaching_upstream: also run the tests of these models that read models built by
            earlier steps (dbt's `eager` indirect selection), as the marts of the ML steps need:
            `fct_customer_scores.customer_id` is checked against `dim_customers`, which no
            scoring step builds.
    """
    # dbt runs from its project folder: hand it the absolute warehouse path Cible resolved.
    os.environ[settings.WAREHOUSE_ENV] = str(settings.warehouse_path())
    settings.warehouse_path().parent.mkdir(parents=True, exist_ok=True)
    # Dagster splits the warehouse multi-asset into several steps around the event partitions
    # and the ML steps; there a test runs in the step where its last parent is built (dbt's
    # default `eager` would run a test of dim_customers in the seeds step, before dim_customers
    # exists). dagster-dbt reads this when it builds the command; it is put back afterwards,
    # or an in-process run (`cible run`, the tests) would hand it to every later dbt command.
    previous = os.environ.get(INDIRECT_SELECTION_ENV)
    os.environ[INDIRECT_SELECTION_ENV] = "eager" if tests_reaching_upstream else "buildable"
    try:
        invocation = dbt.cli(dbt_build_args(variables), context=context)
        yield from with_warehouse_figures(invocation.stream(), invocation.manifest)
    finally:
        if previous is None:
            os.environ.pop(INDIRECT_SELECTION_ENV, None)
        else:
            os.environ[INDIRECT_SELECTION_ENV] = previous
    if not variables:
        _share_partial_parse(invocation.target_path)


def published_ml_models(tag: str, name: str):
    """The dbt models that read what a Python step wrote (`tag:<tag>`: the segment or score
    marts), as one multi-asset downstream of that step. Their tests that also read warehouse
    models run with them."""

    @dbt_assets(
        manifest=dbt_project.manifest_path,
        project=dbt_project,
        dagster_dbt_translator=translator,
        select=f"tag:{tag}",
        name=name,
    )
    def _models(context: AssetExecutionContext, dbt: DbtCliResource):
        yield from build_selected(context, dbt, tests_reaching_upstream=True)

    return _models


def _share_partial_parse(invocation_target: Path) -> None:
    """Hand this invocation's parse state to the next ones.

    dagster-dbt gives each invocation its own target folder, seeded with the project's
    `target/partial_parse.msgpack`. A state written for another warehouse path or other vars
    makes dbt parse the whole project again (3 to 4 s per step here); copying back the state of
    a run against this warehouse, without vars, lets the next steps reuse it.
    """
    parsed = invocation_target / PARTIAL_PARSE
    if not parsed.exists():
        return
    shared = Path(dbt_project.project_dir) / (
        os.environ.get("DBT_TARGET_PATH") or settings.dbt_target_dir()
    )
    shared.mkdir(parents=True, exist_ok=True)
    staging = shared / f"{PARTIAL_PARSE}.{os.getpid()}.tmp"
    shutil.copyfile(parsed, staging)
    os.replace(staging, shared / PARTIAL_PARSE)
