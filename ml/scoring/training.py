"""Training jobs: from the warehouse to registered, gated model versions.

Each classification target is trained on a feature snapshot as of its cutoff T (built by dbt
into `training_<horizon>d_marts.fct_customer_features`, see `snapshot_prefix`) with labels
from the window after T; lifetime value is fitted on the order history as of now minus its
holdout. Every version is registered with its metrics, then promoted or rejected by its gates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from cible.ml.scoring import store
from cible.ml.scoring.config import GateConfig, ScoringConfig, TargetConfig
from cible.ml.scoring.features import FeatureSpec, check_features, select_features
from cible.ml.scoring.labels import (
    TrainingDataError,
    build_labels,
    check_history,
    check_labels,
    scoring_population,
)
from cible.ml.scoring.lifetime_value import LifetimeValueModel, transaction_summary
from cible.ml.scoring.models import fit_online_model, make_online_model, train_classifier
from cible.ml.scoring.registry import ModelRegistry, ModelVersion, code_version, fingerprint
from sklearn.metrics import roc_auc_score

from cible import warehouse as wh

FEATURES = "marts.fct_customer_features"
# The dbt models a snapshot rebuilds: those that depend on the as-of date. The others (staging,
# identity, deduplicated orders and events, sessions) are the current build's, shared.
SNAPSHOT_SELECTOR = "tag:as_of"
ORDERS = "marts.fct_orders"
CAMPAIGN_EVENTS = "intermediate.int_campaign_events_attributed"


def snapshot_prefix(horizon_days: int) -> str:
    """The dbt `schema_prefix` of the training snapshot of a horizon (one per cutoff)."""
    return f"training_{horizon_days}d_"


@dataclass(frozen=True)
class TrainingPlan:
    """When a target is trained: its cutoff and, for classifiers, the snapshot to read."""

    target: TargetConfig
    cutoff: pd.Timestamp
    schema_prefix: str | None  # None: no feature snapshot (lifetime value)

    @property
    def snapshot(self) -> str | None:
        return None if self.schema_prefix is None else f"{self.schema_prefix}{FEATURES}"

    def dbt_vars(self) -> dict[str, str]:
        """The dbt vars that build this snapshot."""
        return {"as_of_date": f"{self.cutoff:%Y-%m-%d}", "schema_prefix": self.schema_prefix or ""}


def current_as_of(warehouse: Path | None = None) -> pd.Timestamp:
    """The as-of date of the current features (the exclusive end of the known data)."""
    with wh.connect(warehouse, read_only=True) as con:
        value = con.execute(f"select max(as_of_at) from {FEATURES}").fetchall()[0][0]
    if value is None:
        raise TrainingDataError(f"{FEATURES} is empty: build the warehouse first")
    return pd.Timestamp(value)


def plan_training(config: ScoringConfig, warehouse: Path | None = None) -> list[TrainingPlan]:
    """The cutoff of every target, checked against the history before anything is built.

    Raises:
        TrainingDataError: listing every target whose horizon does not fit in the data.
    """
    as_of = current_as_of(warehouse)
    with wh.connect(warehouse, read_only=True) as con:
        first_order = con.execute(f"select min(ordered_at) from {ORDERS}").fetchall()[0][0]
    plans, problems = [], []
    for target in config.targets.values():
        horizon = target.horizon_days if target.is_classifier else target.holdout_days
        probe = TargetConfig(name=target.name, kind=target.kind, horizon_days=horizon)
        # Lifetime value needs only some history before its holdout, not a feature window.
        history = config.training.min_history_days if target.is_classifier else 90
        try:
            cutoff = check_history(probe, as_of, first_order, history)
        except TrainingDataError as error:
            problems.append(str(error))
            continue
        prefix = snapshot_prefix(target.horizon_days) if target.is_classifier else None
        plans.append(TrainingPlan(target=target, cutoff=cutoff, schema_prefix=prefix))
    if problems:
        raise TrainingDataError("\n".join(problems))
    return plans


def snapshots(plans: list[TrainingPlan]) -> dict[str, dict[str, str]]:
    """The distinct feature snapshots the plans need: relation -> dbt vars."""
    return {plan.snapshot: plan.dbt_vars() for plan in plans if plan.snapshot}


def _read(sql: str, params: list | None = None, warehouse: Path | None = None) -> pd.DataFrame:
    with wh.connect(warehouse, read_only=True) as con:
        return con.execute(sql, params or []).df()


def _exists(relation: str, warehouse: Path | None = None) -> bool:
    schema, name = relation.split(".")
    with wh.connect(warehouse, read_only=True) as con:
        return bool(
            con.execute(
                "select count(*) from information_schema.tables where table_schema = ? "
                "and table_name = ?",
                [schema, name],
            ).fetchall()[0][0]
        )


def read_snapshot(plan: TrainingPlan, warehouse: Path | None = None) -> pd.DataFrame:
    """The feature snapshot of a plan, indexed by customer_id, checked to be as of its cutoff.

    Raises:
        TrainingDataError: the snapshot is missing or as of another date.
    """
    target, cutoff = plan.target, plan.cutoff
    build = (
        f"dbt run --select {SNAPSHOT_SELECTOR} --vars "
        f"'{{as_of_date: {cutoff:%Y-%m-%d}, schema_prefix: {plan.schema_prefix}}}'"
    )
    if not _exists(plan.snapshot, warehouse):
        raise TrainingDataError(
            f"target {target.name}: the training snapshot {plan.snapshot} does not exist; "
            f"materialize `training_features` or run `{build}`"
        )
    # Ordered, so that the same data always gives the same splits and folds.
    features = _read(f"select * from {plan.snapshot} order by customer_id", warehouse=warehouse)
    as_of_dates = set(pd.to_datetime(features["as_of_at"]).unique())
    if as_of_dates != {cutoff}:
        found = ", ".join(f"{pd.Timestamp(d):%Y-%m-%d}" for d in sorted(as_of_dates)) or "no row"
        raise TrainingDataError(
            f"target {target.name}: {plan.snapshot} is as of {found}, not the cutoff "
            f"{cutoff:%Y-%m-%d}; rebuild it with `{build}`"
        )
    return features.set_index("customer_id")


def load_training_set(
    plan: TrainingPlan, config: ScoringConfig, warehouse: Path | None = None
) -> tuple[pd.DataFrame, pd.Series, FeatureSpec, pd.DataFrame]:
    """Features as of the cutoff (from the snapshot) and labels from the window after it.

    Returns:
        The labelled customers' features, their labels, the feature spec, and the features
        of the population the target scores as of the cutoff (the drift baseline).

    Raises:
        TrainingDataError: the snapshot is missing or as of another date, a configured
            feature is missing, or there are too few labels of a class.
    """
    target, cutoff = plan.target, plan.cutoff
    features = read_snapshot(plan, warehouse)
    window_end = cutoff + pd.Timedelta(days=target.horizon_days)
    window_start = cutoff - pd.Timedelta(days=target.active_window_days)
    orders = _read(
        f"select customer_id, ordered_at from {ORDERS} where ordered_at >= ? and ordered_at < ?",
        [window_start, window_end],
        warehouse,
    )
    campaign_events = None
    if target.kind == "campaign_response":
        campaign_events = _read(
            f"select customer_id, event_type, occurred_at from {CAMPAIGN_EVENTS} "
            "where not is_unknown_customer and occurred_at >= ? and occurred_at < ?",
            [cutoff, window_end],
            warehouse,
        )
    labels = build_labels(target, features.index, cutoff, orders, campaign_events)
    check_labels(target, labels, config.training.min_positives, cutoff)
    spec = select_features(features.reset_index(), config.feature_include, config.feature_exclude)
    reference = features.loc[scoring_population(target, features), spec.columns]
    return features.loc[labels.index, spec.columns], labels, spec, reference


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
    plan: TrainingPlan,
    config: ScoringConfig,
    registry: ModelRegistry,
    warehouse: Path | None = None,
) -> TrainingOutcome:
    """Train, evaluate, register and gate one classification target."""
    target = plan.target
    X, y, spec, reference = load_training_set(plan, config, warehouse)
    trained = train_classifier(X, y, spec, config, reference, target.families)

    extra, online_metrics = {}, {}
    if config.incremental.enabled and target.name in config.incremental.targets:
        test_ids = pd.Index(trained.test_predictions["customer_id"])
        train_part = X.index.difference(test_ids)
        online = fit_online_model(
            make_online_model(spec, config.min_category_share, config.incremental.alpha),
            X.loc[train_part],
            y.loc[train_part],
            config.incremental.epochs,
        )
        online_score = online.predict_proba(X.loc[test_ids])[:, 1]
        online_metrics = {
            "online_auc_roc": float(roc_auc_score(y.loc[test_ids], online_score)),
            "batch_auc_roc": trained.metrics["auc_roc"],
            "rows": float(len(test_ids)),
        }
        extra["online"] = online

    values = dict(trained.metrics)
    if online_metrics:
        values["online_auc_roc"] = online_metrics["online_auc_roc"]
    failures = gate_failures(trained.metrics, config.gates, target)
    metadata = {
        "target_kind": target.kind,
        "horizon_days": target.horizon_days,
        "training_cutoff_at": plan.cutoff,
        "label_window": [plan.cutoff, plan.cutoff + pd.Timedelta(days=target.horizon_days)],
        "snapshot": plan.snapshot,
        "model_family": trained.family,
        "params": trained.params,
        "threshold": trained.threshold,
        "features": spec.to_dict(),
        "metrics": values,
        "cv_scores": trained.cv_scores,
        "gate_failures": failures,
        "training_rows": trained.training_rows,
        "positive_labels": trained.positives,
        "training_data_fingerprint": fingerprint(X, y),
        "code_version": code_version(),
        "sklearn_version": sklearn.__version__,
        "feature_profiles": trained.feature_profiles,
        "score_profile": trained.score_profile,
        "seconds": trained.seconds,
        "online": {"cutoff": plan.cutoff, "updates": []} if extra else None,
    }
    version = registry.register(
        target.name,
        target.kind,
        trained.family,
        trained.estimator,
        metadata,
        tables={
            "evaluation": trained.test_predictions,
            "out_of_fold": trained.out_of_fold_predictions,
            "curves": trained.curves,
            "importances": trained.importances,
        },
        extra_artefacts=extra,
    )
    version = registry.decide(version.model_version, failures)
    _store_training_tables(version, target.name, trained, online_metrics, warehouse)
    return TrainingOutcome(
        target=target.name,
        version=version,
        metrics=values,
        failures=failures,
        curves=trained.curves,
        importances=trained.importances,
        details={
            "family": trained.family,
            "params": trained.params,
            "cv_scores": trained.cv_scores,
            "cutoff": plan.cutoff,
            "rows": trained.training_rows,
            "positives": trained.positives,
            "seconds": trained.seconds,
        },
    )


def _store_training_tables(version, target, trained, online_metrics, warehouse) -> None:
    name = version.model_version
    cv = {}
    for family, scores in trained.cv_scores.items():
        cv[f"{family}_mean"] = scores["mean"]
        cv[f"{family}_std"] = scores["std"]
    frames = [
        store.metric_rows(name, target, "test", trained.metrics),
        store.metric_rows(name, target, "cv", cv),
    ]
    if online_metrics:
        frames.append(store.metric_rows(name, target, "online", online_metrics))
    store.append(pd.concat(frames, ignore_index=True), store.MODEL_METRICS, warehouse)
    store.append(
        trained.curves.assign(model_version=name, target=target), store.MODEL_CURVES, warehouse
    )
    store.append(
        trained.importances.assign(model_version=name, target=target),
        store.FEATURE_IMPORTANCES,
        warehouse,
    )


def read_orders(as_of: pd.Timestamp | None = None, warehouse: Path | None = None) -> pd.DataFrame:
    """Orders (customer, time, amount in euros), before `as_of` when given."""
    sql = f"select customer_id, ordered_at, cast(amount as double) as amount from {ORDERS}"
    params = []
    if as_of is not None:
        sql += " where ordered_at < ?"
        params.append(as_of)
    return _read(sql, params, warehouse)


def train_lifetime_value(
    plan: TrainingPlan,
    config: ScoringConfig,
    registry: ModelRegistry,
    warehouse: Path | None = None,
) -> TrainingOutcome:
    """Fit BG/NBD + Gamma-Gamma on the history before the holdout, validate on it, register."""
    target, cutoff = plan.target, plan.cutoff
    as_of = cutoff + pd.Timedelta(days=target.holdout_days)
    orders = read_orders(as_of, warehouse)
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
    holdout = orders[orders["ordered_at"] >= cutoff]
    actual = (
        holdout.assign(day=holdout["ordered_at"].dt.floor("D"))
        .groupby("customer_id")["day"]
        .nunique()
        .reindex(summary.index, fill_value=0)
    )
    predicted = model.purchases_.expected_purchases(
        target.holdout_days, summary["frequency"], summary["recency"], summary["T"]
    )
    error = abs(predicted.sum() - actual.sum()) / max(actual.sum(), 1)
    values = {
        "holdout_predicted_purchases": float(predicted.sum()),
        "holdout_actual_purchases": float(actual.sum()),
        "holdout_purchase_error": float(error),
        "holdout_purchase_mae": float(np.mean(np.abs(predicted - actual))),
        "holdout_purchase_correlation": float(np.corrcoef(predicted, actual)[0, 1]),
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
    frame = summary.reset_index()
    metadata = {
        "target_kind": target.kind,
        "horizon_days": target.horizon_days,
        "training_cutoff_at": cutoff,
        "holdout_days": target.holdout_days,
        "model_family": "bg_nbd_gamma_gamma",
        "params": model.params,
        "metrics": values,
        "gate_failures": failures,
        "training_rows": len(summary),
        "positive_labels": int((summary["frequency"] > 0).sum()),
        "training_data_fingerprint": fingerprint(frame),
        "code_version": code_version(),
        "score_profile": None,
    }
    version = registry.register(target.name, target.kind, "bg_nbd_gamma_gamma", model, metadata)
    version = registry.decide(version.model_version, failures)
    store.append(
        store.metric_rows(version.model_version, target.name, "holdout", values),
        store.MODEL_METRICS,
        warehouse,
    )
    return TrainingOutcome(
        target=target.name,
        version=version,
        metrics=values,
        failures=failures,
        details={"cutoff": cutoff, "params": model.params},
    )


def train_all(
    config: ScoringConfig,
    registry: ModelRegistry,
    warehouse: Path | None = None,
    plans: list[TrainingPlan] | None = None,
) -> list[TrainingOutcome]:
    """Train every configured target (the snapshots must exist)."""
    plans = plans if plans is not None else plan_training(config, warehouse)
    outcomes = []
    try:
        for plan in plans:
            if plan.target.is_classifier:
                outcomes.append(train_classifier_target(plan, config, registry, warehouse))
            else:
                outcomes.append(train_lifetime_value(plan, config, registry, warehouse))
    finally:
        _stop_worker_processes()
    return outcomes


def _stop_worker_processes() -> None:
    """Stop joblib's worker processes, kept alive for reuse.

    Idle workers wait 300 s before they exit, and the process that trained cannot end before
    them: a Dagster step (one process per step) then held its run for five minutes.
    """
    from joblib.externals.loky import reusable_executor

    executor = reusable_executor._executor  # None when no worker was ever started
    if executor is not None:
        executor.shutdown(wait=True, kill_workers=True)


def check_scoring_features(columns: list[str], spec: FeatureSpec, model_version: str) -> None:
    """A clear message when the current feature table lost a column a model needs."""
    check_features(pd.DataFrame(columns=columns), spec, f"model {model_version}")
