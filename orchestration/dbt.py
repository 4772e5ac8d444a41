"""The dbt project as Dagster assets: every model and seed an asset, every dbt test a check.

Nothing happens on import: the assets are built from the manifest by cached factories
(`dbt_assets_for`, `published_ml_models`) when the definitions are, and the manifest is
written beforehand by `cible.dbt_cli.parse_project` (the CLI, `make dev`, the tests).
"""

import functools
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple

from cible.orchestration.executor import warehouse_executor
from cible.orchestration.partitions import (
    event_backfill_policy,
    event_partitions,
    event_window_environment,
)
from cible.orchestration.resources import WarehouseResource, default_resources
from cible.orchestration.warehouse_metadata import with_warehouse_figures
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    Definitions,
    FreshnessPolicy,
)
from dagster_dbt import (
    DagsterDbtTranslator,
    DbtCliInvocation,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from cible import settings
from cible.dbt_cli import (
    MODEL_ENV,
    PARTIAL_PARSE,
    manifest_is_current,
    parse_project,
    save_parse_state,
)


@functools.cache
def cible_dbt_project() -> DbtProject:
    """Cible's dbt project, its manifest where `cible.dbt_cli.parse_project` writes it."""
    return DbtProject(
        project_dir=settings.DBT_PROJECT_DIR,
        profiles_dir=settings.DBT_PROJECT_DIR,
        target_path=settings.dbt_target_dir(),
    )


def prepare_manifest(project: DbtProject) -> None:
    """Under `dagster dev`, parse the project again when the manifest is older than the code.

    So the graph matches the SQL being edited; elsewhere (CLI materializations, CI) the manifest
    is written beforehand. `dagster dev` passes its marker to every run and step process it
    starts, and each of them builds the definitions: parsing in each one cost ~8 s per step,
    hence the freshness test. The parse replaces the manifest atomically, so a process loading
    the code location meanwhile reads the old manifest or the new one.
    """
    if project.preparer.using_dagster_dev() and not manifest_is_current(
        project.project_dir, project.manifest_path
    ):
        parse_project(project.project_dir, project.manifest_path.parent)


# dagster-dbt reads dbt's indirect selection mode from this variable (see build_selected).
INDIRECT_SELECTION_ENV = "DBT_INDIRECT_SELECTION"
# dbt's `--write-json/--no-write-json` flag, as the environment sets it for one command.
WRITE_JSON_ENV = "DBT_WRITE_JSON"

# Models that read what Python steps write (segments, scores, audience exports) are built by
# their own dbt assets, downstream of those steps; the warehouse build leaves them out.
ML_PUBLISHED_TAGS = ("segmentation", "scoring", "activation")
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


# The erasure step's asset (orchestration/privacy.py), keyed as its dbt source.
ERASURE_KEY = AssetKey(["privacy", "privacy_store", "erasures"])
# The retention step's (orchestration/privacy.py): after every model of the warehouse build,
# before every step that profiles, scores, exports or publishes from it.
RETENTION_KEY = AssetKey(["privacy", "retention"])


def _reads_raw(manifest: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """The model reads a table of the raw schema (a dbt source the loader fills)."""
    sources = manifest.get("sources", {})
    return any(
        sources.get(parent, {}).get("schema") == settings.RAW_SCHEMA
        for parent in node.get("depends_on", {}).get("nodes", [])
    )


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
        if node.get("resource_type") != "model":
            return spec
        if _reads_raw(manifest, node):
            # Erasure and retention come between the load and anything built from it.
            spec = spec.merge_attributes(deps=[ERASURE_KEY])
        if node.get("language") == "python":
            # A dbt Python model applying the published models (models/intermediate/applied),
            # tagged like the source its Python step writes: it reads the published models and
            # that step's run (in SQL, as the tables may not exist yet), so it comes after the
            # step, not only after the features.
            applied = set(node.get("tags", [])) & set(ML_PUBLISHED_TAGS)
            spec = spec.merge_attributes(
                deps=[
                    self.get_asset_key(source)
                    for source in manifest.get("sources", {}).values()
                    if source["source_name"] in applied
                ]
            )
        if _layer(node) == "marts":
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


class DbtAssets(NamedTuple):
    """The warehouse's dbt assets (the ML marts aside: see `published_ml_models`)."""

    warehouse_models: AssetsDefinition
    event_models: AssetsDefinition


@functools.cache
def dbt_assets_for(project: DbtProject) -> DbtAssets:
    """The dbt models and seeds of the warehouse as assets, read from the project's manifest."""
    prepare_manifest(project)

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=translator,
        exclude=WAREHOUSE_EXCLUDE,
        backfill_policy=event_backfill_policy,
    )
    def warehouse_models(
        context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
    ):
        """Build the dbt models and seeds selected, running their tests as asset checks."""
        yield from build_selected(context, dbt, warehouse)

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=translator,
        select=f"tag:{EVENT_PARTITIONED_TAG}",
        partitions_def=event_partitions,
        backfill_policy=event_backfill_policy,
    )
    def event_models(
        context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
    ):
        """Process the web and campaign events of the days selected (one partition per day of
        occurrence), and again those of the lookback days before them, where late ones land;
        campaign events no run has processed join them, whatever their day."""
        window = context.partition_time_window
        start = window.start - timedelta(days=settings.event_lookback_days())
        yield from build_selected(
            context, dbt, warehouse, environment=event_window_environment(start, window.end)
        )

    return DbtAssets(warehouse_models, event_models)


@functools.cache
def published_ml_models(project: DbtProject, tag: str, name: str) -> AssetsDefinition:
    """The dbt models that read what a Python step wrote (`tag:<tag>`: the segment or score
    marts), as one multi-asset downstream of that step. Their tests that also read warehouse
    models run with them."""
    prepare_manifest(project)

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=translator,
        select=f"tag:{tag}",
        name=name,
        backfill_policy=event_backfill_policy,
    )
    def _models(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
        # This run's Python step has just applied (or refitted) the models: the dbt Python
        # model that applies them in a plain `dbt build` records that run instead.
        yield from build_selected(
            context,
            dbt,
            warehouse,
            tests_reaching_upstream=True,
            environment={settings.DBT_APPLIES_MODELS_ENV: "0"},
        )

    return _models


def dbt_build_args(variables: Mapping[str, str] | None = None) -> list[str]:
    """The `dbt build` arguments of a Dagster step.

    The run's as-of date (`cible run --as-of`, `CIBLE_AS_OF`) reaches dbt in its environment
    (dbt_project/macros/as_of.sql), checked here first: as a var, each new date made dbt parse
    the whole project again.

    Unit tests are left to `dbt build` and `dbt test` (development, CI, `make test`), as dbt
    advises: their inputs are fixed rows, so a daily run learns nothing from them, and they
    cost about 8 s of every run (16 tests, each a few queries).
    """
    args = ["build", "--exclude-resource-type", "unit_test"]
    settings.as_of_date()
    if variables:
        args += ["--vars", json.dumps(dict(variables), sort_keys=True)]
    return args


def build_selected(
    context: AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    variables: Mapping[str, str] | None = None,
    tests_reaching_upstream: bool = False,
    environment: Mapping[str, str] | None = None,
):
    """`dbt build` of the models a Dagster selection holds, against the warehouse.

    Args:
        tests_reaching_upstream: also run the tests of these models that read models built by
            earlier steps (dbt's `eager` indirect selection), as the marts of the ML steps need:
            `fct_customer_scores.customer_id` is checked against `dim_customers`, which no
            scoring step builds. Otherwise `buildable`: Dagster splits the warehouse
            multi-asset into several steps around the event partitions and the ML steps, and a
            test runs in the step where its last parent is built (dbt's default `eager` would
            run a test of dim_customers in the seeds step, before dim_customers exists).
    """
    warehouse.ensure_folder()
    invocation = run_dbt(
        dbt,
        warehouse,
        dbt_build_args(variables),
        context=context,
        indirect_selection="eager" if tests_reaching_upstream else "buildable",
        environment=environment,
    )
    yield from with_warehouse_figures(invocation.stream(), invocation.manifest, warehouse.file)
    finish_command(invocation)


def run_dbt(
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    args: list[str],
    context: AssetExecutionContext | None = None,
    indirect_selection: str | None = None,
    raise_on_error: bool = True,
    environment: Mapping[str, str] | None = None,
    json_artifacts: bool = False,
) -> DbtCliInvocation:
    """Start a dbt command against `warehouse` (dagster-dbt's `cli`; wait or stream it, then
    hand it to `remember_parse`).

    Its target folder starts with the parse state of the last command of the same warehouse
    and vars (`_parse_state`), if there is one.

    Args:
        indirect_selection: dbt's indirect selection mode (`DBT_INDIRECT_SELECTION`), which
            dagster-dbt reads when it builds the command.
        environment: more environment variables for the dbt process.
        json_artifacts: let dbt write its JSON artifacts (manifest.json, run_results.json,
            sources.json) into the command's folder. Dagster learns each node's result from
            dbt's structured log, so only a command whose artifact is read asks for them:
            writing the manifest twice cost 1 to 1.5 s of the 5.5 to 7 s of CPU a one-model
            `dbt build` takes here (2026-12-06).
    """
    variables = {**warehouse.dbt_env(), **(environment or {})}
    if indirect_selection:
        variables[INDIRECT_SELECTION_ENV] = indirect_selection
    if not json_artifacts:
        variables[WRITE_JSON_ENV] = "false"
    shared = _shared_target(dbt)
    step = context.op_execution_context.op.name if context is not None else "dbt"
    target_path = shared / f"{step}-{uuid.uuid4().hex[:12]}"
    state = _parse_state(shared, warehouse, args, environment)
    # A new day's window or as-of date: the state of the same vars without them, from which
    # dbt re-parses only the models reading them.
    nearest = _parse_state(shared, warehouse, args, environment, model_env=False)
    start_from = next((path for path in (state, nearest) if path.exists()), None)
    if start_from is not None:
        target_path.mkdir(parents=True)
        # dagster-dbt copies the project's shared state only into a folder without one.
        shutil.copyfile(start_from, target_path / PARTIAL_PARSE)
    # Where its own state goes: its key, the nearest one (the latest state of these vars,
    # whatever the date or window), and the project's own if it had neither vars nor those.
    destinations = list(dict.fromkeys([state, nearest]))
    if "--vars" not in args and state == nearest:
        destinations.append(shared / PARTIAL_PARSE)
    _parse_states[target_path] = destinations
    with _set_while_starting(variables):
        return dbt.cli(
            args, context=context, raise_on_error=raise_on_error, target_path=target_path
        )


# Where the parse state of each started command goes, by its target folder (`run_dbt`).
_parse_states: dict[Path, list[Path]] = {}
# Parse states kept (about 2 MB each), the newest: a few warehouses and vars at a time.
PARSE_STATES_KEPT = 16
# The settings of the dbt profile (profiles.yml) besides the warehouse path.
PROFILE_ENV = ("CIBLE_DBT_TARGET", "CIBLE_DBT_THREADS", "CIBLE_DUCKDB_MEMORY_LIMIT")


def _shared_target(dbt: DbtCliResource) -> Path:
    return Path(dbt.project_dir) / (os.environ.get("DBT_TARGET_PATH") or settings.dbt_target_dir())


def _parse_state(
    shared: Path,
    warehouse: WarehouseResource,
    args: list[str],
    environment: Mapping | None,
    model_env: bool = True,
) -> Path:
    """Where the parse state of a dbt command on this warehouse with these vars is kept.

    dbt parses the whole project again (6 to 8 s here) unless the state it is given was
    written with the same profile (the warehouse path is part of it) and the same `--vars`;
    a run's steps alternate between vars and runs on other warehouses share the project's
    folder, so one shared state was valid for about a third of the commands of the test suite
    (26 of 69). The values of `MODEL_ENV` are part of the key too (`model_env`): a run's steps
    alternate between an event window or a snapshot's as-of date and none, and each change
    re-parsed a few models (1 to 4 s a step). dbt checks every state it is given: a state kept
    under the wrong key costs a parse, never a wrong result.
    """
    vars_given = args[args.index("--vars") + 1] if "--vars" in args else ""
    given = dict(environment or {})
    # What the dbt process will read: the command's own values, else this process's.
    seen = {name: given.get(name, os.environ.get(name)) for name in MODEL_ENV}
    key = json.dumps(
        [
            str(Path(warehouse.file).resolve()),
            vars_given,
            {name: os.environ.get(name) for name in PROFILE_ENV},
            {name: value for name, value in given.items() if name not in MODEL_ENV},
            {name: value for name, value in seen.items() if value and model_env},
        ],
        sort_keys=True,
    )
    return shared / "parse_states" / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.msgpack"


def remember_parse(invocation: DbtCliInvocation) -> DbtCliInvocation:
    """Keep the parse state of a finished command for the next one of its warehouse and vars;
    without vars, also as the project's own state (`target/partial_parse.msgpack`), which
    dagster-dbt gives a command with no state of its own and `parse_project` starts from."""
    destinations = _parse_states.pop(Path(invocation.target_path), [])
    parsed = Path(invocation.target_path) / PARTIAL_PARSE
    if not destinations or not parsed.exists():
        return invocation
    _keep_parse_state(parsed, destinations)
    return invocation


def finish_command(invocation: DbtCliInvocation) -> None:
    """After a command that ran to its end (its artifacts read): keep its parse state
    (`remember_parse`), then remove its target folder (compiled SQL, the parse state, any
    artifact: about 6 MB).

    Every command gets a folder of its own, so a daily run left about ten and a year of them
    4,000 (1.6 GB found after two days of tests, 2026-12-06). A command that failed keeps its
    folder, for its compiled SQL; the oldest are removed beyond `FAILED_COMMANDS_KEPT`. Read
    the artifacts you need (`invocation.get_artifact`) before calling this.
    """
    remember_parse(invocation)
    shutil.rmtree(invocation.target_path, ignore_errors=True)
    _prune_failed_commands(Path(invocation.target_path).parent)


# Target folders of failed commands kept for their compiled SQL, the newest.
FAILED_COMMANDS_KEPT = 20
# The name `run_dbt` gives a command's folder: the step's name and 12 hexadecimal digits.
_COMMAND_FOLDER = re.compile(r"^[A-Za-z0-9_]+-[0-9a-f]{12}$")


def _prune_failed_commands(shared: Path) -> None:
    folders = [
        path for path in shared.glob("*-*") if path.is_dir() and _COMMAND_FOLDER.match(path.name)
    ]
    for old in sorted(folders, key=_modified, reverse=True)[FAILED_COMMANDS_KEPT:]:
        shutil.rmtree(old, ignore_errors=True)


def _keep_parse_state(parsed: Path, destinations: list[Path]) -> None:
    for destination in destinations:
        save_parse_state(parsed, destination)
    kept = sorted(destinations[0].parent.glob("*.msgpack"), key=_modified, reverse=True)
    for old in kept[PARSE_STATES_KEPT:]:
        old.unlink(missing_ok=True)


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


@contextmanager
def _set_while_starting(variables: Mapping[str, str]) -> Iterator[None]:
    """These environment variables while dagster-dbt starts a dbt process, then as they were.

    dagster-dbt 0.29 gives the dbt process a copy of this process's environment and takes no
    other (2026-12); it starts the process inside `cli()`. Putting the values back at once
    keeps them from the later steps of an in-process run (`cible run`, the tests), where a
    leftover `DBT_INDIRECT_SELECTION` once made a test outside the run's selection run. Steps
    of a run never run dbt from two threads of one process.
    """
    previous = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def build_warehouse_definitions(project: DbtProject) -> Definitions:
    """The warehouse's dbt assets, with the resources and the executor every step runs with."""
    assets = dbt_assets_for(project)
    return Definitions(
        assets=[assets.warehouse_models, assets.event_models],
        resources=default_resources(project),
        executor=warehouse_executor,
    )
