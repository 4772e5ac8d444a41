"""The live path's online store as a Dagster asset: rebuilt from the published marts after
each batch run (cible/live/bootstrap.py). Opt-in: without `CIBLE_REDIS_URL` there is no
online store to rebuild, and the asset says so instead of failing the run."""

import os

from cible.orchestration.dbt import RETENTION_KEY, dbt_assets_for
from cible.orchestration.partitions import event_backfill_policy
from cible.orchestration.scoring import score_models
from cible.orchestration.segmentation import segment_models
from dagster import AssetExecutionContext, Definitions, MaterializeResult, MetadataValue, asset
from dagster_dbt import DbtProject, get_asset_key_for_model

from cible import settings


def build_live_definitions(project: DbtProject) -> Definitions:
    """The online store asset, ready to merge."""
    warehouse_models = dbt_assets_for(project).warehouse_models

    @asset(
        group_name="live",
        deps=[
            get_asset_key_for_model([warehouse_models], "fct_customer_features"),
            get_asset_key_for_model([warehouse_models], "fct_web_sessions"),
            get_asset_key_for_model([segment_models(project)], "fct_segment_memberships"),
            get_asset_key_for_model([score_models(project)], "fct_customer_scores"),
            RETENTION_KEY,
        ],
        kinds={"python", "redis"},
        # A full run materializes a partition range; an unpartitioned asset joins it once.
        backfill_policy=event_backfill_policy,
    )
    def live_online_store(context: AssetExecutionContext) -> MaterializeResult:
        """The live path's online store (Redis), rebuilt from the published marts without a gap."""
        if not os.environ.get(settings.REDIS_URL_ENV):
            context.log.info(f"{settings.REDIS_URL_ENV} is not set: no online store to rebuild")
            return MaterializeResult(metadata={"skipped": f"{settings.REDIS_URL_ENV} not set"})
        from cible.live.bootstrap import bootstrap
        from cible.live.config import load_live_config
        from cible.live.store import Store

        config = load_live_config()
        report = bootstrap(Store.connect(settings.redis_url(), config), config)
        return MaterializeResult(
            metadata={
                "generation": report.generation,
                "customers": report.customers,
                "replayed_events": report.replayed_events,
                "seconds": MetadataValue.float(round(report.seconds, 2)),
            }
        )

    return Definitions(assets=[live_online_store])
