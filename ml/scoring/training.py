"""Training, in memory: each target's plan, its training set, the fitted model, its gates and
the rows of the `ml` tables. It reads and writes nothing: :mod:`ml.scoring.store` does.

Each classification target is trained on a feature snapshot as of its cutoff T (a build of
the date-dependent dbt models into schemas of their own, named by the plan's prefix) with
labels from the window after T; lifetime value is fitted on the order history as of now minus
its holdout. Every version is registered with its metrics, then promoted or rejected by its
gates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from cible.ml.scoring.config import GateConfig, ScoringConfig, TargetConfig
from cible.ml.scoring.features import ModelFeatures, select_features
from cible.ml.scoring.labels import (
    TrainingDataError,
    build_labels,
    check_history,
    check_labels,
    scoring_population,
)
from cible.ml.scoring.lifetime_value import (
    DEFAULT_PURCHASE_MODEL,
    BetaGeoModel,
    LifetimeValueModel,
    purchase_days,
    transaction_summary,
)
from cible.ml.scoring.metrics import metric_rows
from cible.ml.scoring.models import (
    OnlineModel,
    TrainedClassifier,
    pipeline_steps,
    train_classifier,
)
from cible.ml.scoring.registry import ModelVersion, code_version, fingerprint
from sklearn.metrics import roc_auc_score


def snapshot_prefix(horizon_days: int, window_rule: str = "latest") -> str:
    """The dbt `schema_prefix` of a training snapshot: one per horizon for the latest windows
    (one cutoff each), one for every target labelled a year back (they share the cutoff)."""
    if window_rule == "same_season_last_year":
        return "training_last_year_"
    return f"training_{horizon_days}d_"


@dataclass(frozen=True)
class TrainingPlan:
    """When a target is trained: its cutoff and, for classifiers, the snapshot's prefix."""

    target: TargetConfig
    cutoff: pd.Timestamp
    schema_prefix: str | None  # None: no feature snapshot (lifetime value)
    # How the cutoff was chosen (`training.label_window`, or `latest` when the history was too
    # short for the same season last year), and why it fell back, if it did.
    window_rule: str = "latest"
    note: str | None = None

    def dbt_vars(self) -> dict[str, str]:
        """The dbt vars that build this plan's snapshot."""
        return {"as_of_date": f"{self.cutoff:%Y-%m-%d}", "schema_prefix": self.schema_prefix or ""}

    @property
    def label_window(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """[start, end) of the orders the labels read: from the start of churn's activity
        window before the cutoff to the end of the horizon after it."""
        target = self.target
        start = self.cutoff - pd.Timedelta(days=target.active_window_days)
        return start, self.cutoff + pd.Timedelta(days=target.horizon_days)


# Days of orders a lifetime-value fit needs before its holdout.
LIFETIME_VALUE_HISTORY_DAYS = 90


def plan_training(
    config: ScoringConfig, current_as_of: pd.Timestamp, first_order_at: pd.Timestamp | None
) -> list[TrainingPlan]:
    """The cutoff of every target, checked against the history before anything is built.

    Args:
        current_as_of: the as-of date of the current features (end of the known data).
        first_order_at: the earliest order (None: no order at all).

    Raises:
        TrainingDataError: listing every target whose horizon does not fit in the data.
    """
    plans, problems = [], []
    for target in config.targets.values():
        horizon = target.horizon_days if target.is_classifier else target.holdout_days
        probe = TargetConfig(name=target.name, kind=target.kind, horizon_days=horizon)
        # Lifetime value needs only some history before its holdout, not a feature window;
        # the message names the settings that apply to the target (#16: it named
        # training.min_history_days for lifetime value).
        if target.is_classifier:
            history, named = config.training.min_history_days, {}
        else:
            history = LIFETIME_VALUE_HISTORY_DAYS
            named = {
                "horizon_setting": f"targets.{target.name}.holdout_days",
                "history_setting": "the calibration period lifetime value needs, fixed",
            }
        # The configured label window, then the latest one when the data cannot give it.
        rules = [config.training.label_window, "latest"] if target.is_classifier else ["latest"]
        errors = []
        for rule in dict.fromkeys(rules):
            try:
                cutoff = check_history(
                    probe, current_as_of, first_order_at, history, label_window=rule, **named
                )
                break
            except TrainingDataError as error:
                errors.append(str(error))
        else:
            problems.append(errors[-1])
            continue
        note = f"{rules[0]} not possible, latest window used: {errors[0]}" if errors else None
        prefix = snapshot_prefix(target.horizon_days, rule) if target.is_classifier else None
        plans.append(
            TrainingPlan(
                target=target, cutoff=cutoff, schema_prefix=prefix, window_rule=rule, note=note
            )
        )
    if problems:
        raise TrainingDataError("\n".join(problems))
    return plans


def check_snapshot(plan: TrainingPlan, features: pd.DataFrame, rebuild: str) -> None:
    """Stop when a feature snapshot is not as of its plan's cutoff.

    Args:
        rebuild: how to rebuild it, for the message.
    """
    as_of_dates = set(pd.to_datetime(features["as_of_at"]).unique())
    if as_of_dates != {plan.cutoff}:
        found = ", ".join(f"{pd.Timestamp(d):%Y-%m-%d}" for d in sorted(as_of_dates)) or "no row"
        raise TrainingDataError(
            f"target {plan.target.name}: its training snapshot is as of {found}, not the "
            f"cutoff {plan.cutoff:%Y-%m-%d}; {rebuild}"
        )


@dataclass(frozen=True)
class TrainingSet:
    """A classifier's training data.

    Attributes:
        X, y: the labelled customers' features and labels, indexed by customer_id.
        features: the model inputs chosen from the snapshot.
        reference: the features of the population the target scores as of the cutoff (the
            drift baseline).
    """

    X: pd.DataFrame
    y: pd.Series
    features: ModelFeatures
    reference: pd.DataFrame


def training_set(
    plan: TrainingPlan,
    config: ScoringConfig,
    snapshot: pd.DataFrame,
    orders: pd.DataFrame,
    campaign_events: pd.DataFrame | None = None,
) -> TrainingSet:
    """Features as of the cutoff and labels from the window after it.

    Args:
        snapshot: the feature snapshot as of the cutoff, indexed by customer_id.
        orders: `customer_id`, `ordered_at` in the plan's `label_window`.
        campaign_events: `customer_id`, `event_type`, `occurred_at` of known customers in
            the window (campaign response targets).

    Raises:
        TrainingDataError: a configured feature is missing, or too few labels of a class.
    """
    target, cutoff = plan.target, plan.cutoff
    labels = build_labels(target, snapshot.index, cutoff, orders, campaign_events)
    check_labels(target, labels, config.training.min_positives, cutoff)
    features = select_features(
        snapshot.reset_index(), config.feature_include, config.feature_exclude
    )
    reference = snapshot.loc[scoring_population(target, snapshot), features.columns]
    return TrainingSet(snapshot.loc[labels.index, features.columns], labels, features, reference)


def gate_failures(
    values: dict[str, float], gates: GateConfig, target: TargetConfig | None = None
) -> list[str]:
    """Why a classifier may not be promoted (empty when every gate passes); a target's own
    floors, when set, replace the global ones."""
    min_auc = gates.min_auc if target is None or target.min_auc is None else target.min_auc
    max_error = (
        gates.max_calibration_error
        if target is None or target.max_calibration_error is None
        else target.max_calibration_error
    )
    failures = []
    if not values["auc_roc"] >= min_auc:
        failures.append(f"AUC {values['auc_roc']:.3f} below the floor {min_auc:.3f}")
    if not values["calibration_error"] <= max_error:
        failures.append(
            f"calibration error {values['calibration_error']:.3f} above the bound {max_error:.3f}"
        )
    return failures


@dataclass
class TrainedVersion:
    """A trained candidate before registration: what the registry stores and the rows of
    the `ml` tables (without their `model_version`, known once registered)."""

    target: TargetConfig
    model_family: str
    model: Any  # ClassifierModel or LifetimeValueModel
    metadata: dict
    metrics: dict[str, float]
    failures: list[str]
    evaluation: dict[str, pd.DataFrame] = field(default_factory=dict)
    online: OnlineModel | None = None
    rows: dict[str, pd.DataFrame] = field(default_factory=dict)
    details: dict = field(default_factory=dict)


@dataclass
class TrainingOutcome:
    """What training one target produced, for the orchestration layer to report."""

    target: str
    version: ModelVersion
    metrics: dict[str, float]
    failures: list[str]
    curves: pd.DataFrame = field(default_factory=pd.DataFrame)
    importances: pd.DataFrame = field(default_factory=pd.DataFrame)
    details: dict = field(default_factory=dict)

    @property
    def promoted(self) -> bool:
        return not self.failures


def train_classifier_target(
    plan: TrainingPlan, config: ScoringConfig, data: TrainingSet
) -> TrainedVersion:
    """Train, evaluate and gate one classification target (and its online model)."""
    target, X, y = plan.target, data.X, data.y
    trained = train_classifier(X, y, data.features, config, data.reference, target.families)
    model = trained.model

    online, online_metrics = None, {}
    if config.incremental.enabled and target.name in config.incremental.targets:
        test_ids = pd.Index(trained.test_predictions["customer_id"])
        # The customers the batch model learnt from (a sample when there are more than
        # training.max_training_rows): online updates later compare the two on the others.
        train_part = pd.Index(trained.out_of_fold_predictions["customer_id"])
        online = OnlineModel.fit(
            data.features,
            X.loc[train_part],
            y.loc[train_part],
            plan.cutoff,
            config.min_category_share,
            config.incremental.alpha,
            config.incremental.epochs,
        )
        online_metrics = {
            "online_auc_roc": float(roc_auc_score(y.loc[test_ids], online.score(X.loc[test_ids]))),
            "batch_auc_roc": trained.metrics["auc_roc"],
            "rows": float(len(test_ids)),
        }

    values = dict(trained.metrics)
    if online_metrics:
        values["online_auc_roc"] = online_metrics["online_auc_roc"]
    failures = gate_failures(trained.metrics, config.gates, target)
    metadata = {
        "target_kind": target.kind,
        "horizon_days": target.horizon_days,
        "training_cutoff_at": plan.cutoff,
        "label_window": [plan.cutoff, plan.cutoff + pd.Timedelta(days=target.horizon_days)],
        "label_window_rule": plan.window_rule,
        "label_window_note": plan.note,
        "schema_prefix": plan.schema_prefix,
        "model_family": model.family,
        "params": model.params,
        # The pipeline's steps around the model, as configured (training.imputation and
        # training.feature_selection); the fitted steps are in model.joblib.
        "pipeline_steps": pipeline_steps(config.training),
        "threshold": model.threshold,
        "features": model.features.to_dict(),
        "metrics": values,
        "cv_scores": trained.cv_scores,
        "leaderboard": trained.leaderboard.to_dict(orient="records"),
        "gate_failures": failures,
        "training_rows": trained.training_rows,
        "positive_labels": trained.positives,
        "training_data_fingerprint": fingerprint(X, y),
        "code_version": code_version(),
        "sklearn_version": sklearn.__version__,
        "seconds": trained.seconds,
    }
    return TrainedVersion(
        target=target,
        model_family=model.family,
        model=model,
        metadata=metadata,
        metrics=values,
        failures=failures,
        evaluation={
            "evaluation": trained.test_predictions,
            "out_of_fold": trained.out_of_fold_predictions,
            "curves": trained.curves,
            "importances": trained.importances,
        },
        online=online,
        rows=_classifier_rows(target.name, trained, online_metrics),
        details={
            "family": model.family,
            "params": model.params,
            "cv_scores": trained.cv_scores,
            "leaderboard": trained.leaderboard,
            "cutoff": plan.cutoff,
            "rows": trained.training_rows,
            "positives": trained.positives,
            "seconds": trained.seconds,
        },
    )


def _classifier_rows(
    target: str, trained: TrainedClassifier, online_metrics: dict[str, float]
) -> dict[str, pd.DataFrame]:
    """The version's rows of `model_metrics`, `model_curves`, `feature_importances` and
    `model_leaderboard`."""
    cv = {}
    for family, scores in trained.cv_scores.items():
        cv[f"{family}_mean"] = scores["mean"]
        cv[f"{family}_std"] = scores["std"]
    metrics = [metric_rows(target, "test", trained.metrics), metric_rows(target, "cv", cv)]
    if online_metrics:
        metrics.append(metric_rows(target, "online", online_metrics))
    return {
        "model_metrics": pd.concat(metrics, ignore_index=True),
        "model_curves": trained.curves.assign(target=target),
        "feature_importances": trained.importances.assign(target=target),
        "model_leaderboard": trained.leaderboard.assign(target=target),
    }


def train_lifetime_value(
    plan: TrainingPlan, config: ScoringConfig, orders: pd.DataFrame
) -> TrainedVersion:
    """Fit BG/NBD, MBG/NBD and Gamma-Gamma on the history before the holdout, validate on it:
    expected purchases come from the purchase model with the lower holdout error (BG/NBD on a
    tie), P(alive) from MBG/NBD (`lifetime_value` module's docstring).

    Args:
        orders: `customer_id`, `ordered_at`, `amount` before the end of the holdout.
    """
    target, cutoff = plan.target, plan.cutoff
    summary = transaction_summary(orders, cutoff)
    if (summary["frequency"] > 0).sum() < config.training.min_positives:
        raise TrainingDataError(
            f"target {target.name}: only {(summary['frequency'] > 0).sum()} customers with a "
            f"repeat purchase before {cutoff:%Y-%m-%d}; the Gamma-Gamma model needs at least "
            f"{config.training.min_positives} (training.min_positives)"
        )
    model = LifetimeValueModel(
        horizon_days=target.horizon_days,
        discount_rate_monthly=target.discount_rate_monthly,
        penalizer=target.penalizer,
    ).fit(summary)
    actual = purchase_days(orders, cutoff, summary.index)
    candidates = {
        name: holdout_figures(candidate, summary, actual, target.holdout_days)
        for name, candidate in model.candidates_.items()
    }
    errors = {name: figures["holdout_purchase_error"] for name, figures in candidates.items()}
    measured = {name: error for name, error in errors.items() if np.isfinite(error)}
    # Ties and unmeasurable errors keep the default (BG/NBD), listed first.
    model.use_for_purchases(min(measured, key=measured.get) if measured else DEFAULT_PURCHASE_MODEL)
    chosen = candidates[model.purchase_model]
    error = chosen["holdout_purchase_error"]
    values = {
        **{k: v for k, v in chosen.items() if k != "probability_alive_auc"},
        "probability_alive_auc": candidates[model.alive_model]["probability_alive_auc"],
        **{f"{name}_{k}": v for name, figures in candidates.items() for k, v in figures.items()},
        "customers": float(len(summary)),
        "repeat_customers": float((summary["frequency"] > 0).sum()),
        **{f"param_{k}": float(v) for k, v in model.params.items()},
    }
    failures = []
    if not error <= config.gates.max_ltv_purchase_error:
        failures.append(
            f"holdout purchase error {error:.1%} above the bound "
            f"{config.gates.max_ltv_purchase_error:.0%}"
        )
    metadata = {
        "target_kind": target.kind,
        "horizon_days": target.horizon_days,
        "training_cutoff_at": cutoff,
        "holdout_days": target.holdout_days,
        "model_family": model.family,
        "column_models": model.column_models,
        "params": model.params,
        "candidate_params": {name: m.params_ for name, m in model.candidates_.items()},
        "metrics": values,
        "gate_failures": failures,
        "training_rows": len(summary),
        "positive_labels": int((summary["frequency"] > 0).sum()),
        "training_data_fingerprint": fingerprint(summary.reset_index()),
        "code_version": code_version(),
    }
    return TrainedVersion(
        target=target,
        model_family=model.family,
        model=model,
        metadata=metadata,
        metrics=values,
        failures=failures,
        rows={"model_metrics": metric_rows(target.name, "holdout", values)},
        details={
            "cutoff": cutoff,
            "params": model.params,
            "column_models": model.column_models,
            "holdout_purchase_error": errors,
        },
    )


def holdout_figures(
    model: BetaGeoModel, summary: pd.DataFrame, actual: pd.Series, holdout_days: int
) -> dict[str, float]:
    """A purchase model's forecast of the holdout against what happened: the error of the
    total, per-customer MAE and correlation, and the AUC of its P(alive) as of the cutoff
    against "bought in the holdout" (NaN when everyone or no one bought)."""
    history = summary["frequency"], summary["recency"], summary["T"]
    predicted = model.expected_purchases(holdout_days, *history)
    bought = (actual > 0).to_numpy()
    alive_auc = (
        float(roc_auc_score(bought, model.probability_alive(*history)))
        if 0 < bought.sum() < len(bought)
        else float("nan")
    )
    return {
        "holdout_predicted_purchases": float(predicted.sum()),
        "holdout_actual_purchases": float(actual.sum()),
        "holdout_purchase_error": float(abs(predicted.sum() - actual.sum()) / max(actual.sum(), 1)),
        "holdout_purchase_mae": float(np.mean(np.abs(predicted - actual))),
        "holdout_purchase_correlation": float(np.corrcoef(predicted, actual)[0, 1]),
        "probability_alive_auc": alive_auc,
    }


def stop_worker_processes() -> None:
    """Stop joblib's worker processes, kept alive for reuse.

    Idle workers wait 300 s before they exit, and the process that trained cannot end before
    them: a Dagster step (one process per step) then held its run for five minutes.
    """
    from joblib.externals.loky import reusable_executor

    executor = reusable_executor._executor  # None when no worker was ever started
    if executor is not None:
        executor.shutdown(wait=True, kill_workers=True)
