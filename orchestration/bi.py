"""BI: the published read-only copy of the marts, and the dashboard built from it.

`published_marts` runs once every mart tagged `meta: {published: true}` is built and the
erasure verification passed, so the copy BI tools read never holds a half-built run nor a
person erased in this run. `marketing_dashboard` is written from that copy. Thin wiring: the
work is in `cible/bi/`.
"""

from cible.orchestration.dbt import dbt_assets_for
from cible.orchestration.partitions import event_backfill_policy
from cible.orchestration.privacy import VERIFICATIONS_KEY
from cible.orchestration.resources import WarehouseResource
from dagster import (
    AssetExecutionContext,
    AssetKey,
    Definitions,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from dagster_dbt import DbtProject, get_asset_key_for_model

GROUP = "bi"
PUBLISHED_KEY = AssetKey(["bi", "published_marts"])
DASHBOARD_KEY = AssetKey(["bi", "marketing_dashboard"])


def build_bi_definitions(project: DbtProject) -> Definitions:
    """The publish step after the published marts and the erasure verification, then the
    dashboard."""
    from cible.bi.publish import load_manifest, published_models

    models = published_models(load_manifest(project.manifest_path))
    # The key of any model of the manifest (the segment and score marts' too).
    warehouse_models = dbt_assets_for(project).warehouse_models
    model_keys = [get_asset_key_for_model([warehouse_models], model.name) for model in models]

    @asset(
        key=PUBLISHED_KEY,
        deps=[*model_keys, VERIFICATIONS_KEY],
        group_name=GROUP,
        kinds={"python", "duckdb"},
        backfill_policy=event_backfill_policy,
    )
    def published_marts(
        context: AssetExecutionContext, warehouse: WarehouseResource
    ) -> MaterializeResult:
        """Copy the marts BI tools read into their own DuckDB file, swapped atomically."""
        from cible.bi.publish import PublishError, publish, published_path

        try:
            with warehouse.connect() as con:
                outcome = publish(con, models, published_path(), context.run.run_id)
        except PublishError as error:
            raise Failure(description=str(error), allow_retries=False) from None
        context.log.info(
            f"published {len(outcome.rows)} marts to {outcome.path} in {outcome.seconds:.2f} s"
        )
        return MaterializeResult(
            metadata={
                "path": MetadataValue.path(str(outcome.path)),
                "seconds": round(outcome.seconds, 3),
                "scoring_run_id": outcome.scoring_run_id or "",
                "segment_run_id": outcome.segment_run_id or "",
                "rows": MetadataValue.json(outcome.rows),
            }
        )

    @asset(
        key=DASHBOARD_KEY,
        deps=[published_marts],
        group_name=GROUP,
        kinds={"python", "html"},
        backfill_policy=event_backfill_policy,
    )
    def marketing_dashboard(context: AssetExecutionContext) -> MaterializeResult:
        """The marketer's dashboard: one self-contained HTML page built from the BI copy."""
        from cible.bi.dashboard import write_dashboard

        written = write_dashboard()
        context.log.info(f"dashboard written to {written.path} in {written.seconds:.2f} s")
        return MaterializeResult(
            metadata={
                "path": MetadataValue.path(str(written.path)),
                "charts": written.charts,
                "seconds": round(written.seconds, 3),
            }
        )

    return Definitions(assets=[published_marts, marketing_dashboard])
