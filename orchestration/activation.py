"""Activation: each audience of config/audiences.yml as an asset, exported after the segments,
scores and the erasure verification, then the dbt marts of what was sent and its uplift.

Thin wiring: the work is in `cible/activation/`. The export step exports every enabled audience
in one run (one asset per audience, plus the `activation` tables it appends to), and its checks
read back what it delivered: nobody without the purpose's consent or on the suppression list.
"""

from cible.orchestration.dbt import dbt_assets_for, published_ml_models
from cible.orchestration.partitions import event_backfill_policy
from cible.orchestration.privacy import VERIFICATIONS_KEY
from cible.orchestration.resources import WarehouseResource
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Config,
    Definitions,
    Failure,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)
from dagster_dbt import (
    DbtProject,
    get_asset_key_for_model,
    get_asset_keys_by_output_name_for_source,
)
from pydantic import Field

SOURCE_NAME = "activation"
GROUP = "activation"
EXPORT_STEP = "audience_exports"
# The marts an audience reads; the export runs once they and the erasure verification are done.
INPUT_MODELS = (
    "fct_segment_memberships",
    "fct_customer_scores",
    "fct_customer_features",
    "fct_customer_consents",
    "dim_customers",
)
CONSENT_CHECK = "exports_respect_consent_and_suppression"
DELIVERED_CHECK = "exports_delivered"


class ExportRunConfig(Config):
    """Run knobs of the export step."""

    force: bool = Field(
        default=False,
        description=(
            "Export weekly audiences even when their last export is recent, and deliver again "
            "an audience the destination already has for the same day with the same members."
        ),
    )


def activation_models(project: DbtProject):
    """The dbt marts built from what the export step writes."""
    return published_ml_models(project, SOURCE_NAME, "activation_models")


def audience_key(name: str) -> AssetKey:
    return AssetKey(["activation", "audiences", name])


def build_activation_definitions(project: DbtProject) -> Definitions:
    """The export step (one asset per audience) and the activation marts, ready to merge."""
    from cible.orchestration.scoring import score_models
    from cible.orchestration.segmentation import segment_models

    from cible.activation.config import audience_names

    keys = get_asset_keys_by_output_name_for_source([activation_models(project)], SOURCE_NAME)
    table_keys = {key.path[-1]: key for key in keys.values()}
    warehouse_models = dbt_assets_for(project).warehouse_models
    published = {
        key.path[-1]: key for key in [*segment_models(project).keys, *score_models(project).keys]
    }
    inputs = [
        published.get(model) or get_asset_key_for_model([warehouse_models], model)
        for model in INPUT_MODELS
    ]
    names = audience_names()
    audience_specs = [
        AssetSpec(
            audience_key(name),
            deps=[*inputs, VERIFICATIONS_KEY],
            group_name=GROUP,
            description=f"Audience `{name}` (config/audiences.yml): its export files or webhook.",
            kinds={"python", "csv", "parquet"},
        )
        for name in names
    ]
    table_specs = [
        AssetSpec(
            key,
            deps=[*inputs, VERIFICATIONS_KEY],
            group_name=GROUP,
            description=f"`activation.{table}`, appended by the audience export step.",
            kinds={"python", "duckdb"},
        )
        for table, key in sorted(table_keys.items())
    ]
    manifest_key = table_keys["audience_exports"]

    @multi_asset(
        name=EXPORT_STEP,
        specs=[*audience_specs, *table_specs],
        check_specs=[
            AssetCheckSpec(
                CONSENT_CHECK,
                asset=manifest_key,
                description="Read back from what was delivered: no customer without consent "
                "to the audience's purpose or on the suppression list.",
            ),
            AssetCheckSpec(
                DELIVERED_CHECK,
                asset=manifest_key,
                description="Every export reached its destination (no webhook batch left "
                "failed after its retries, no endpoint missing).",
            ),
        ],
        backfill_policy=event_backfill_policy,
    )
    def audience_exports(
        context: AssetExecutionContext, config: ExportRunConfig, warehouse: WarehouseResource
    ):
        """Export every enabled audience: consenting, not suppressed, minus the holdout."""
        from cible.activation.config import load_audiences_config
        from cible.activation.exports import ExportError, audit_delivered, export_audiences
        from cible.privacy.fingerprints import PrivacyKeyError
        from cible.yaml_config import ConfigError

        try:
            audiences = load_audiences_config()
            with warehouse.connect() as con:
                outcomes = export_audiences(con, audiences, force=config.force)
                violations = audit_delivered(con, outcomes)
        except (ConfigError, ExportError, PrivacyKeyError) as error:
            raise Failure(description=str(error), allow_retries=False) from None
        for outcome in outcomes:
            context.log.info(outcome.line())
        by_name = {outcome.audience: outcome for outcome in outcomes}
        for name in names:
            outcome = by_name.get(name)
            if outcome is None:
                yield MaterializeResult(asset_key=audience_key(name), metadata={"exported": False})
                continue
            metadata = {k: v for k, v in outcome.manifest.items() if isinstance(v, int | str)}
            if outcome.skipped:
                metadata = {"exported": False, "skipped": outcome.skipped}
            yield MaterializeResult(asset_key=audience_key(name), metadata=metadata)
        summary = "\n".join(f"- {outcome.line()}" for outcome in outcomes)
        for key in table_keys.values():
            metadata = {"summary": MetadataValue.md(summary)} if key == manifest_key else {}
            yield MaterializeResult(asset_key=key, metadata=metadata)
        yield AssetCheckResult(
            check_name=CONSENT_CHECK,
            asset_key=manifest_key,
            passed=not violations,
            severity=AssetCheckSeverity.ERROR,
            metadata={"violations": MetadataValue.json(violations)},
        )
        failed = [o.line() for o in outcomes if o.manifest.get("status") == "failed"]
        yield AssetCheckResult(
            check_name=DELIVERED_CHECK,
            asset_key=manifest_key,
            passed=not failed,
            severity=AssetCheckSeverity.ERROR,
            metadata={"failed": MetadataValue.json(failed)},
        )

    return Definitions(assets=[audience_exports, activation_models(project)])
