"""Segmentation as Dagster assets: the Python step that writes the `ml` tables, its blocking
quality gates, and the dbt segment marts built from those tables.

The logic is in `ml/segmentation`; this module only wires it: asset keys come from the dbt
manifest (the `segmentation` source and `fct_customer_features`), never typed by hand.
"""

import base64
import math

from cible.orchestration.dbt import RETENTION_KEY, dbt_assets_for, published_ml_models
from cible.orchestration.partitions import event_backfill_policy
from cible.orchestration.resources import WarehouseResource
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    AssetSpec,
    Config,
    Definitions,
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

from cible import settings

SOURCE_NAME = "segmentation"
# The step that segments customers; the weekly run forces it to refit (`RECLUSTER_RUN_CONFIG`).
SEGMENTS_STEP = "customer_segments"
FEATURES_MODEL = "fct_customer_features"
# The table whose materialization carries the figures, the plot and the gates.
MAIN_TABLE = "segment_assignments"
GATE_CHECKS = {
    "silhouette": (
        "silhouette_above_floor",
        "The silhouette of the clustered customers reaches `quality.silhouette_floor`.",
    ),
    "segment_size": (
        "no_segment_below_minimum_size",
        "Every clustering segment holds at least the minimum size of `quality`.",
    ),
    "stability": (
        "stability_above_floor",
        "Bootstrap (and temporal) stability reach their floors of `quality`.",
    ),
}


class SegmentationRunConfig(Config):
    """Run knobs of the segmentation step."""

    refit: bool | None = Field(
        default=None,
        description="true fits a new model, false applies the published one as it is, "
        "null refits when the model is older than `model.refit_after_days` or its settings "
        "changed.",
    )
    config_path: str | None = Field(
        default=None,
        description="Segmentation YAML to use instead of CIBLE_SEGMENTATION_CONFIG (default "
        "config/segmentation.yml).",
    )


# Run config of a job that must fit a new segmentation model (the weekly recalibration).
RECLUSTER_RUN_CONFIG = {"ops": {SEGMENTS_STEP: {"config": {"refit": True}}}}


def segment_models(project: DbtProject) -> AssetsDefinition:
    """The dbt segment marts, built from what the segmentation step writes."""
    return published_ml_models(project, SOURCE_NAME, "segment_models")


def segment_table_keys(project: DbtProject) -> dict[str, AssetKey]:
    """The `ml` tables the segmentation step writes, keyed as the dbt `segmentation` source."""
    keys = get_asset_keys_by_output_name_for_source([segment_models(project)], SOURCE_NAME)
    return {key.path[-1]: key for key in keys.values()}


def recluster_selection(project: DbtProject) -> AssetSelection:
    """The segmentation step, which the weekly run refits (the daily run applies the published
    model, and refits only a model past its age)."""
    return AssetSelection.assets(*segment_table_keys(project).values())


def _number(value) -> float | int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), 4) if isinstance(value, float) else int(value)


def _figures(result) -> dict:
    """The headline figures of a run for the UI (NaN left out)."""
    quality = result.tables["segment_quality"].iloc[0]
    runs = result.tables["segment_runs"].iloc[0]
    figures = {
        "run_id": result.run_id,
        "algorithm": runs["algorithm"],
        "k": int(runs["n_clusters"]),
        "refit": bool(runs["is_refit"]),
        "published": bool(runs["is_published"]),
        "model_version": runs["model_version"],
    }
    if result.summary.get("replaced_run_id"):
        # The latest run had the same data, settings and decision: this one replaced it.
        figures["replaced_run_id"] = result.summary["replaced_run_id"]
    for column in (
        "silhouette",
        "davies_bouldin",
        "calinski_harabasz",
        "bootstrap_ari_mean",
        "temporal_ari",
        "temporal_keep_share",
        "smallest_segment_customers",
        "min_segment_size",
        "noise_share",
    ):
        value = _number(quality[column])
        if value is not None:
            figures[column] = value
    return figures


def _plot_markdown(result) -> str:
    from cible.ml.segmentation.plots import segmentation_png

    assignments = result.tables["segment_assignments"]
    clustered = assignments[assignments["segment_kind"] != "excluded"]
    png = segmentation_png(
        clustered["segment_id"].value_counts(),
        result.projection,
        title=f"{result.summary['algorithm']}, k = {result.summary['k']}",
    )
    encoded = base64.b64encode(png).decode("ascii")
    return f"![segments](data:image/png;base64,{encoded})"


def build_segmentation_definitions(project: DbtProject) -> Definitions:
    """The segmentation step, its blocking gates and the segment marts, ready to merge."""
    table_keys = segment_table_keys(project)
    features_key = get_asset_key_for_model(
        [dbt_assets_for(project).warehouse_models], FEATURES_MODEL
    )
    main_key = table_keys[MAIN_TABLE]

    @multi_asset(
        name=SEGMENTS_STEP,
        specs=[
            AssetSpec(
                key,
                # After retention: nobody past it is ever segmented.
                deps=[features_key, RETENTION_KEY],
                group_name="ml",
                description=f"`ml.{table}`, written by the segmentation step.",
                kinds={"python", "scikit-learn", "duckdb"},
            )
            for table, key in sorted(table_keys.items())
        ],
        check_specs=[
            AssetCheckSpec(name, asset=main_key, description=description, blocking=True)
            for name, description in GATE_CHECKS.values()
        ],
        backfill_policy=event_backfill_policy,
    )
    def customer_segments(
        context: AssetExecutionContext, config: SegmentationRunConfig, warehouse: WarehouseResource
    ):
        """Segment every customer and publish the run to the `ml` schema if its gates pass."""
        from cible.ml.segmentation.store import run_and_publish
        from cible.orchestration.feature_vocabulary import feature_vocabulary

        from cible.privacy.consent import consent_summary, describe

        # Loud about the consent rule applied, above all when no event decided (docs/privacy.md).
        with warehouse.connect(read_only=True) as con:
            consent = describe(consent_summary(con))
        (context.log.warning if "legitimate interest" in consent else context.log.info)(consent)
        result = run_and_publish(
            config_path=config.config_path or settings.segmentation_config_path(),
            refit=config.refit,
            warehouse_path=warehouse.file,
            vocabulary=feature_vocabulary(project),
        )
        figures = {**_figures(result), "profiling_consent": consent}
        context.log.info(f"Segmentation run {result.run_id}: {figures}")
        sizes = result.summary["sizes"]
        for table, key in sorted(table_keys.items()):
            metadata = {**figures, "rows": len(result.tables[table])}
            if key == main_key:
                metadata.update(
                    {
                        "segment_sizes": MetadataValue.json(
                            {str(k): int(v) for k, v in sizes.items()}
                        ),
                        "gates": MetadataValue.md(
                            "\n".join(
                                f"- {'✅' if gate.passed else '❌'} {gate.message}"
                                for gate in result.gates
                            )
                        ),
                        "segments_plot": MetadataValue.md(_plot_markdown(result)),
                    }
                )
            yield MaterializeResult(asset_key=key, metadata=metadata)
        for gate in result.gates:
            name, _ = GATE_CHECKS[gate.name]
            yield AssetCheckResult(
                asset_key=main_key,
                check_name=name,
                passed=gate.passed,
                severity=AssetCheckSeverity.ERROR,
                description=gate.message,
                metadata={
                    "value": _number(gate.value),
                    "floor": _number(gate.floor),
                    "run_id": result.run_id,
                },
            )

    return Definitions(assets=[customer_segments, segment_models(project)])
