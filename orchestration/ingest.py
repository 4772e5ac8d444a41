"""Ingestion assets: the demo-data generator and the loader that fills the raw schema."""

import os
from collections.abc import Iterator

from cible.orchestration.dbt import dbt_assets_for, finish_command, run_dbt
from cible.orchestration.partitions import event_backfill_policy
from cible.orchestration.resources import WarehouseResource
from dagster import (
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    Config,
    Definitions,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
    multi_asset,
)
from dagster_dbt import DbtCliResource, DbtProject, get_asset_keys_by_output_name_for_source

from cible import contract as source_contract
from cible import loader, settings

LOADER_SOURCE = "loader"
# The source whose freshness is measured on event time (its `loaded_at_query`).
EVENTS_LANDING = "events"
EVENT_TIME_FRESHNESS = "events_fresh_on_event_time"


class DemoDataConfig(Config):
    """How much demo data to generate (`CIBLE_DEMO_CUSTOMERS` sets the default size)."""

    customers: int = int(os.environ.get("CIBLE_DEMO_CUSTOMERS", "20000"))
    seed: int = 42
    events_per_customer: float = 20.0
    # A built-in profile (`maison`, the default; `contrast`) or a YAML file (cible/demo/README.md).
    profile: str = "maison"


@asset(group_name="ingestion", backfill_policy=event_backfill_policy)
def demo_landing_files(config: DemoDataConfig) -> MaterializeResult:
    """Demo files of a French luxury house in the landing folder (refuses a user's own folder)."""
    from cible.activation import identifiers
    from cible.demo import generate
    from cible.privacy.fingerprints import write_demo_key

    # The demo holds erasure requests: it needs the suppression list's key. A user's own data
    # never gets one made up (docs/privacy.md); the demo's is a random file under the home.
    demo_key = write_demo_key()
    # Its ad audience hashes e-mails with the activation key (docs/activation.md): same rule.
    identifiers.write_demo_key()
    manifest = generate(
        landing_dir=settings.landing_dir(),
        truth_dir=settings.truth_dir(),
        n_customers=config.customers,
        seed=config.seed,
        events_per_customer=config.events_per_customer,
        profile=config.profile,
    )
    rows = {name: source["rows"] for name, source in manifest["sources"].items()}
    return MaterializeResult(
        metadata={
            "landing_dir": MetadataValue.path(str(settings.landing_dir())),
            "truth_dir": MetadataValue.path(str(settings.truth_dir())),
            "seed": config.seed,
            "profile": manifest["profile"]["name"],
            "rows": MetadataValue.json(rows),
            "defects_injected": MetadataValue.json(manifest["defects"]),
            "privacy_key": "created for the demo" if demo_key else "configured",
        }
    )


def raw_table_keys(project: DbtProject) -> dict[str, AssetKey]:
    """The asset key of each raw table by landing name, as dbt's sources name them."""
    warehouse_models = dbt_assets_for(project).warehouse_models

    def by_table(source_name: str) -> dict[str, AssetKey]:
        keys = get_asset_keys_by_output_name_for_source([warehouse_models], source_name)
        return {key.path[-1]: key for key in keys.values()}

    keys = {
        landing: by_table(spec.source_name)[spec.table_name]
        for landing, spec in source_contract.load_contract().items()
    }
    for table, key in by_table(LOADER_SOURCE).items():
        keys[f"{LOADER_SOURCE}.{table}"] = key
    return keys


class LoadConfig(Config):
    """Which sources to reload (all by default), by landing name."""

    sources: list[str] | None = None


def build_raw_tables(project: DbtProject, with_demo: bool) -> AssetsDefinition:
    """The loader as a multi-asset producing every raw table, after the demo when it is on."""
    keys = raw_table_keys(project)
    deps = [demo_landing_files] if with_demo else []

    @multi_asset(
        name="raw_tables",
        specs=[
            AssetSpec(key, group_name="ingestion", deps=deps, skippable=True)
            for key in keys.values()
        ],
        can_subset=True,
        backfill_policy=event_backfill_policy,
    )
    def raw_tables(
        context: AssetExecutionContext, config: LoadConfig, warehouse: WarehouseResource
    ) -> Iterator[MaterializeResult]:
        """Load the landing files into the raw schema; bad lines go to quarantine, never lost."""
        # The demo rewrites its landing files at the size asked for: a smaller demo after a
        # larger one is no failed export, so the shrink guard does not apply to it.
        report = loader.load_landing(
            warehouse=warehouse.ensure_folder(),
            sources=config.sources,
            accept_shrink=True if with_demo else None,
        )
        context.log.info(report.summary())
        reloaded = {source.name: source for source in report.sources}
        for landing, key in keys.items():
            if key not in context.selected_asset_keys:
                continue
            source = reloaded.get(landing)
            if source is None and not landing.startswith(f"{LOADER_SOURCE}."):
                continue
            metadata = (
                {}
                if source is None
                else {
                    "found": source.found,
                    "files": len(source.files),
                    "rows_loaded": source.rows_loaded,
                    "rows_rejected": source.rows_rejected,
                    "reconciled": source.reconciled,
                    "warnings": MetadataValue.text("\n".join(source.warnings) or "none"),
                }
            )
            yield MaterializeResult(asset_key=key, metadata=metadata)

    return raw_tables


def build_event_time_freshness_check(
    project: DbtProject, with_demo: bool = False
) -> AssetChecksDefinition:
    """`dbt source freshness` of the events as a check of their raw table. Its own step (a dbt
    process, about 9 s): the daily job runs it, "Materialize all" in the UI too, and it can be
    executed alone from the asset's page."""
    events_key = raw_table_keys(project)[EVENTS_LANDING]

    @asset_check(
        asset=events_key,
        name=EVENT_TIME_FRESHNESS,
        description="`dbt source freshness` of the events on event time (their latest "
        "`occurred_at`): a tracker that stopped sending shows here, not in load times.",
    )
    def events_fresh_on_event_time(
        dbt: DbtCliResource, warehouse: WarehouseResource
    ) -> AssetCheckResult:
        return event_time_freshness(dbt, warehouse, events_key, demo=with_demo)

    return events_fresh_on_event_time


def freshness_description(
    status: str, latest: str | None, age_hours: float, message: str | None, demo: bool = False
) -> str:
    """The check's sentence. The demo's events end on a fixed day, so on the demo the check
    fails by design: said so, lest a newcomer's first run seem broken."""
    if not latest:
        return f"{status}: {message or 'no event in raw'}"
    described = f"{status}: latest event at {latest} ({age_hours:.0f} h before the check)"
    if demo and status != "pass":
        described += (
            "; expected on the demo (its data ends on a fixed day); on your own files it "
            "means events stopped arriving"
        )
    return described


def event_time_freshness(
    dbt: DbtCliResource, warehouse: WarehouseResource, events_key: AssetKey, demo: bool = False
) -> AssetCheckResult:
    """Run `dbt source freshness` on the events and report it as a check: passed when fresh,
    a warning or an error as dbt's `warn_after` / `error_after` say."""
    spec = source_contract.load_contract()[EVENTS_LANDING]
    if not _has_rows(warehouse, f"{settings.RAW_SCHEMA}.{spec.table_name}"):
        # Events are an optional source: without any, nothing can be stale.
        return AssetCheckResult(
            asset_key=events_key,
            check_name=EVENT_TIME_FRESHNESS,
            passed=True,
            description="no event loaded: nothing to measure",
            metadata={"status": "no events"},
        )
    invocation = run_dbt(
        dbt,
        warehouse,
        ["source", "freshness", "--select", f"source:{spec.source_name}.{spec.table_name}"],
        raise_on_error=False,
        json_artifacts=True,
    ).wait()
    outcome = invocation.get_artifact("sources.json")["results"]
    finish_command(invocation)
    status = outcome[0]["status"] if outcome else "runtime error"
    result = outcome[0] if outcome else {}
    latest = result.get("max_loaded_at")
    age_hours = (result.get("max_loaded_at_time_ago_in_s") or 0) / 3600
    return AssetCheckResult(
        asset_key=events_key,
        check_name=EVENT_TIME_FRESHNESS,
        passed=status == "pass",
        severity=AssetCheckSeverity.WARN if status == "warn" else AssetCheckSeverity.ERROR,
        description=freshness_description(
            status, latest, age_hours, result.get("message"), demo=demo
        ),
        metadata={"status": status, "latest_event_at": str(latest), "age_hours": age_hours},
    )


def build_ingestion_definitions(project: DbtProject, with_demo: bool | None = None) -> Definitions:
    """The loader, after the demo generator when the demo is on (`with_demo`, by default as
    `cible.settings.demo_enabled` says)."""
    if with_demo is None:
        with_demo = settings.demo_enabled()
    raw_tables = build_raw_tables(project, with_demo)
    return Definitions(
        assets=[*([demo_landing_files] if with_demo else []), raw_tables],
        asset_checks=[build_event_time_freshness_check(project, with_demo)],
    )


def _has_rows(warehouse: WarehouseResource, table: str) -> bool:
    from cible.warehouse import table_exists

    if not warehouse.file.exists():
        return False
    with warehouse.connect(read_only=True) as con:
        return table_exists(con, table) and bool(
            con.execute(f"select count(*) > 0 from {table}").fetchone()[0]
        )
