"""Scoring as Dagster assets: training snapshots, model training with a gate check per
target, customer scoring behind blocking drift checks, online updates, and the dbt score marts.

The logic is in `ml/scoring`; this module only wires it. Asset keys of the tables dbt reads
back come from the manifest (the `scoring` source), as do those of the dbt models the steps
read. Training and scoring are separate assets so that a daily job can score and a weekly
one retrain. Each target publishes on its own: a target whose new version fails its gates
keeps its previous promoted version (or is not scored), and the others are scored.
"""

import pandas as pd
from cible.orchestration.dbt import (
    RETENTION_KEY,
    dbt_assets_for,
    finish_command,
    published_ml_models,
    run_dbt,
)
from cible.orchestration.partitions import event_backfill_policy
from cible.orchestration.resources import WarehouseResource
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    Config,
    Definitions,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    multi_asset,
)
from dagster_dbt import (
    DbtCliResource,
    DbtProject,
    get_asset_key_for_model,
    get_asset_keys_by_output_name_for_source,
)
from pydantic import Field

from cible import settings
from cible.dbt_cli import snapshot_command

SOURCE_NAME = "scoring"
TRAINING_TABLES = (
    "model_registry",
    "model_metrics",
    "model_curves",
    "feature_importances",
    "training_skips",
    "model_leaderboard",
)
SCORING_TABLES = ("customer_scores", "customer_lifetime_values", "feature_drift")
# Training runs weekly, scoring daily: the automation's jobs select assets by this tag.
WEEKLY = {"cible/cadence": "weekly"}
DRIFT_CHECKS = {
    "feature": ("feature_drift_within_thresholds", "PSI of every model feature against training."),
    "score": ("score_drift_within_thresholds", "PSI of every score against training."),
}


class ScoringRunConfig(Config):
    """Run knobs of the scoring steps."""

    config_path: str | None = Field(
        default=None,
        description="Scoring YAML to use instead of CIBLE_SCORING_CONFIG "
        "(default config/scoring.yml).",
    )


def build_snapshot(dbt: DbtCliResource, warehouse: WarehouseResource, variables: dict) -> None:
    """`dbt run` of a training snapshot (`cible.dbt_cli.snapshot_command`)."""
    args, environment = snapshot_command(variables)
    finish_command(run_dbt(dbt, warehouse, args, environment=environment).wait())


def _config(config: ScoringRunConfig):
    from cible.ml.scoring.config import load_scoring_config

    return load_scoring_config(config.config_path or settings.scoring_config_path())


def _gate_check_name(target: str) -> str:
    return f"{target}_passes_gates"


def _leaderboard_metadata(outcomes) -> dict:
    """Each classifier version's leaderboard of model families, as a table per target."""
    tables = []
    for outcome in outcomes:
        board = outcome.details.get("leaderboard")
        if board is None or board.empty:
            continue
        shown = board.drop(columns=["params", "cv_metric"]).round(4)
        tables.append(
            f"### {outcome.target} ({outcome.version.model_version}, CV metric "
            f"{board['cv_metric'].iloc[0]})\n\n{shown.to_markdown(index=False)}"
        )
    return {"leaderboards": MetadataValue.md("\n\n".join(tables))} if tables else {}


def _round(values: dict) -> dict:
    return {key: round(float(value), 4) for key, value in values.items()}


def score_models(project: DbtProject) -> AssetsDefinition:
    """The dbt score marts, built from what the scoring steps write."""
    return published_ml_models(project, SOURCE_NAME, "score_models")


def build_scoring_definitions(project: DbtProject) -> Definitions:
    """Training, scoring, online updates, their gates and the score marts, ready to merge."""
    from cible.ml.scoring.config import load_scoring_config

    warehouse_models = dbt_assets_for(project).warehouse_models
    table_keys: dict[str, AssetKey] = {
        key.path[-1]: key
        for key in get_asset_keys_by_output_name_for_source(
            [score_models(project)], SOURCE_NAME
        ).values()
    }
    features_key = get_asset_key_for_model([warehouse_models], "fct_customer_features")
    orders_key = get_asset_key_for_model([warehouse_models], "fct_orders")
    campaigns_key = get_asset_key_for_model([warehouse_models], "fct_campaign_events")
    registry_key, scores_key = table_keys["model_registry"], table_keys["customer_scores"]
    declared_targets = list(load_scoring_config(settings.scoring_config_path()).targets)

    @asset(
        group_name="ml",
        # After retention (orchestration/privacy.py), as every step reading the features.
        deps=[features_key, orders_key, campaigns_key, RETENTION_KEY],
        kinds={"dbt", "duckdb"},
        tags=WEEKLY,
        backfill_policy=event_backfill_policy,
    )
    def training_features(
        context: AssetExecutionContext,
        config: ScoringRunConfig,
        dbt: DbtCliResource,
        warehouse: WarehouseResource,
    ) -> MaterializeResult:
        """Feature snapshots as of each training cutoff, built by dbt into their own schemas."""
        from cible.ml.scoring.labels import TrainingDataError
        from cible.ml.scoring.store import plan, snapshots

        try:
            plans = plan(_config(config), warehouse.file)
        except TrainingDataError as error:
            raise Failure(description=str(error)) from error
        for training_plan in plans:
            if training_plan.note:
                context.log.warning(f"{training_plan.target.name}: {training_plan.note}")
        built = {}
        for relation, variables in snapshots(plans).items():
            context.log.info(f"Building {relation} with vars {variables}")
            build_snapshot(dbt, warehouse, variables)
            built[relation] = variables["as_of_date"]
        return MaterializeResult(
            metadata={
                "snapshots": MetadataValue.json(built),
                "cutoffs": MetadataValue.json(
                    {plan.target.name: f"{plan.cutoff:%Y-%m-%d}" for plan in plans}
                ),
            }
        )

    @multi_asset(
        name="scoring_models",
        specs=[
            AssetSpec(
                table_keys[table],
                deps=[training_features, orders_key],
                group_name="ml",
                description=f"`ml.{table}`, written when models are trained.",
                kinds={"python", "scikit-learn", "duckdb"},
                tags=WEEKLY,
            )
            for table in TRAINING_TABLES
        ],
        check_specs=[
            # Not blocking: a rejected version is never promoted, so scoring goes on with each
            # target's promoted version, and one target's failure does not hold the others.
            AssetCheckSpec(
                _gate_check_name(target),
                asset=registry_key,
                blocking=False,
                description=f"The new {target} model passes its gates (else it is not "
                f"promoted: {target} keeps its previous version, or is not scored).",
            )
            for target in declared_targets
        ],
        backfill_policy=event_backfill_policy,
    )
    def scoring_models(
        context: AssetExecutionContext, config: ScoringRunConfig, warehouse: WarehouseResource
    ):
        """Train every target, register each version and promote those whose gates pass."""
        from cible.ml.scoring.labels import TrainingDataError
        from cible.ml.scoring.plots import markdown_image, performance_png
        from cible.ml.scoring.store import train_and_publish

        scoring_config = _config(config)
        try:
            outcomes = train_and_publish(scoring_config, settings.models_dir(), warehouse.file)
        except TrainingDataError as error:
            raise Failure(description=str(error)) from error
        by_target = {outcome.target: outcome for outcome in outcomes}
        summary, plots = {}, []
        for outcome in outcomes:
            summary[outcome.target] = {
                "version": outcome.version.model_version,
                "status": outcome.version.status,
                **{k: v for k, v in _round(outcome.metrics).items() if not k.startswith("param")},
            }
            context.log.info(f"{outcome.target}: {summary[outcome.target]}")
            if not outcome.curves.empty:
                png = performance_png(
                    outcome.curves,
                    f"{outcome.version.model_version} ({outcome.details['family']}), "
                    f"AUC {outcome.metrics['auc_roc']:.3f}",
                )
                plots.append(f"### {outcome.target}\n\n{markdown_image(png, outcome.target)}")
        for table in TRAINING_TABLES:
            metadata = (
                {
                    "versions": MetadataValue.json(summary),
                    "skipped": MetadataValue.json(getattr(outcomes, "skipped", {})),
                }
                if table == "model_registry"
                else {}
            )
            if table == "model_registry" and plots:
                metadata["roc_calibration_lift"] = MetadataValue.md("\n\n".join(plots))
            if table == "model_leaderboard":
                metadata = _leaderboard_metadata(outcomes)
            yield MaterializeResult(asset_key=table_keys[table], metadata=metadata)
        skipped = getattr(outcomes, "skipped", {})
        for target, reason in skipped.items():
            context.log.warning(f"{target}: skipped, the data cannot train it: {reason}")
        for target in declared_targets:
            outcome = by_target.get(target)
            if target in skipped:
                yield AssetCheckResult(
                    asset_key=registry_key,
                    check_name=_gate_check_name(target),
                    passed=False,
                    severity=AssetCheckSeverity.WARN,
                    description=f"skipped, the data cannot train it: {skipped[target]}",
                )
                continue
            if outcome is None:
                yield AssetCheckResult(
                    asset_key=registry_key,
                    check_name=_gate_check_name(target),
                    passed=True,
                    severity=AssetCheckSeverity.WARN,
                    description=f"{target} is not in {scoring_config.source}: not trained",
                )
                continue
            yield AssetCheckResult(
                asset_key=registry_key,
                check_name=_gate_check_name(target),
                passed=outcome.promoted,
                severity=AssetCheckSeverity.ERROR,
                description="; ".join(outcome.failures) or "every gate passed",
                metadata={
                    "model_version": outcome.version.model_version,
                    "status": outcome.version.status,
                    **_round(
                        {k: v for k, v in outcome.metrics.items() if not k.startswith("param")}
                    ),
                },
            )

    @multi_asset(
        name="customer_scores",
        specs=[
            AssetSpec(
                table_keys[table],
                deps=[registry_key, features_key, orders_key, RETENTION_KEY],
                group_name="ml",
                description=f"`ml.{table}`, appended by each scoring run.",
                kinds={"python", "scikit-learn", "duckdb"},
            )
            for table in SCORING_TABLES
        ],
        check_specs=[
            AssetCheckSpec(name, asset=scores_key, blocking=True, description=description)
            for name, description in DRIFT_CHECKS.values()
        ],
        backfill_policy=event_backfill_policy,
    )
    def customer_scores(
        context: AssetExecutionContext, config: ScoringRunConfig, warehouse: WarehouseResource
    ):
        """Score every customer with the promoted models and measure drift since training."""
        from cible.ml.scoring.store import score_and_publish

        scoring_config = _config(config)
        outcome = score_and_publish(scoring_config, settings.models_dir(), warehouse.file)
        context.log.info(
            f"Scoring run {outcome.scoring_run_id}: {outcome.customers} customers, "
            f"versions {outcome.versions}, skipped {outcome.skipped}"
            + (", NOT published: a drift blocks (see the checks)" if outcome.blocked else "")
            + (
                f"; it repeats run {outcome.replaced_run_id} (same data and versions), which "
                "it replaces"
                if outcome.replaced_run_id
                else ""
            )
        )
        drift = outcome.drift
        for table in SCORING_TABLES:
            metadata = {"scoring_run_id": outcome.scoring_run_id}
            if outcome.replaced_run_id:
                metadata["replaced_run_id"] = outcome.replaced_run_id
            if table == "customer_scores":
                metadata.update(
                    {
                        "published": not outcome.blocked,
                        "customers": outcome.customers,
                        "versions": MetadataValue.json(outcome.versions),
                        "skipped": MetadataValue.json(outcome.skipped),
                        "summary": MetadataValue.md(outcome.score_summary.to_markdown(index=False))
                        if not outcome.score_summary.empty
                        else "no score",
                    }
                )
            if table == "feature_drift" and not drift.empty:
                worst = drift.sort_values("psi", ascending=False).head(15)
                metadata["largest_psi"] = MetadataValue.md(worst.to_markdown(index=False))
            yield MaterializeResult(asset_key=table_keys[table], metadata=metadata)
        for kind, (name, _) in DRIFT_CHECKS.items():
            status = outcome.drift_status(kind)
            rows = drift[drift["kind"] == kind]
            yield AssetCheckResult(
                asset_key=scores_key,
                check_name=name,
                passed=status == "ok",
                severity=AssetCheckSeverity.ERROR if status == "block" else AssetCheckSeverity.WARN,
                description=_drift_description(status, rows, scoring_config.drift),
                metadata={
                    "warn": int((rows["status"] == "warn").sum()),
                    "block": int((rows["status"] == "block").sum()),
                    "max_psi": float(rows["psi"].max()) if not rows.empty else 0.0,
                },
            )

    @asset(
        group_name="ml",
        # After today's features: the daily job runs it without the training step.
        deps=[registry_key, training_features, features_key, RETENTION_KEY],
        kinds={"python"},
        backfill_policy=event_backfill_policy,
    )
    def online_models(
        context: AssetExecutionContext,
        config: ScoringRunConfig,
        dbt: DbtCliResource,
        warehouse: WarehouseResource,
    ) -> MaterializeResult:
        """Online models updated from the newest outcomes, published when they beat the current."""
        from cible.ml.scoring.labels import TrainingDataError
        from cible.ml.scoring.store import stale_online_snapshots, update_online_models

        scoring_config = _config(config)
        try:
            # Between weekly trainings the newest window moves on: its snapshot is rebuilt
            # here (the same dbt selector as training_features), the weekly one rebuilds it.
            stale = stale_online_snapshots(scoring_config, warehouse.file)
        except TrainingDataError as error:
            raise Failure(description=str(error)) from error
        for relation, variables in stale.items():
            context.log.info(f"Building {relation} with vars {variables}")
            build_snapshot(dbt, warehouse, variables)
        results = update_online_models(scoring_config, settings.models_dir(), warehouse.file)
        for message in results.get("message", pd.Series(dtype=str)):
            context.log.info(message)
        status = results.get("status", pd.Series(dtype=str))
        return MaterializeResult(
            metadata={
                "decisions": MetadataValue.json(
                    dict(zip(results["target"], results["message"], strict=True))
                    if not results.empty
                    else {}
                ),
                "updates": MetadataValue.md(results.to_markdown(index=False))
                if not results.empty
                else "no online target",
                "updated": int(status.isin(["updated", "published", "kept"]).sum()),
                "published": int((status == "published").sum()),
                "snapshots_built": MetadataValue.json(
                    {relation: v["as_of_date"] for relation, v in stale.items()}
                ),
            }
        )

    return Definitions(
        assets=[
            training_features,
            scoring_models,
            customer_scores,
            online_models,
            score_models(project),
        ]
    )


def _drift_description(status: str, rows: pd.DataFrame, drift) -> str:
    """The check's sentence: the largest PSI among the columns it flags (all of them when it
    passes), on which column, and why it does not block when it is past the blocking threshold
    (the column is not among `drift.blocking_features`). A column constant when the model
    learned is never flagged (`cible.ml.scoring.drift.drift_table`) and is not named."""
    thresholds = f"warn above {drift.psi_warn}, block above {drift.psi_block}"
    if rows.empty:
        return f"{status}: no column measured ({thresholds})"
    flagged = rows[rows["status"] != "ok"]
    named = flagged if not flagged.empty else rows
    worst = named.loc[named["psi"].idxmax()]
    why = (
        ", not a blocking column"
        if worst["psi"] > drift.psi_block and worst["status"] != "block"
        else ""
    )
    return f"{status}: largest PSI {worst['psi']:.3f} on {worst['name']}{why} ({thresholds})"
