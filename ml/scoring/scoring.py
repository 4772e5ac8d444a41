"""Scoring, in memory: the promoted models applied to today's features, lifetime values, and
drift measured against training. It reads and writes nothing: :mod:`ml.scoring.store` does.

Scoring never refits: each target's promoted version scores the feature batches as they come,
so memory stays bounded whatever the number of customers. A target without a promoted version
is not scored (the outcome says why); the others are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from cible.ml.scoring import drift
from cible.ml.scoring.config import ScoringConfig
from cible.ml.scoring.labels import scoring_population
from cible.ml.scoring.lifetime_value import LifetimeValueModel, transaction_summary
from cible.ml.scoring.metrics import score_deciles
from cible.ml.scoring.models import ClassifierModel
from threadpoolctl import threadpool_limits

# Columns that decide which customers a target scores (see `scoring_population`).
POPULATION_COLUMNS = ("as_of_at", "last_order_at")


@dataclass(frozen=True)
class PublishedVersion:
    """A target's promoted version, loaded from the registry."""

    model_version: str
    model: ClassifierModel | LifetimeValueModel


@dataclass
class ScoringOutcome:
    """What a scoring run computed: the rows of the `ml` tables, and the figures to report."""

    scoring_run_id: str
    scored_at: pd.Timestamp
    as_of_at: pd.Timestamp
    customers: int
    versions: dict[str, str]
    skipped: dict[str, str]
    drift: pd.DataFrame
    score_summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    # The earlier run this one repeats (same data and versions) and replaced, if any.
    replaced_run_id: str | None = None

    def drift_status(self, kind: str) -> str:
        """`block`, `warn` or `ok`: the worst status of one kind (feature or score)."""
        statuses = set(self.drift.loc[self.drift["kind"] == kind, "status"])
        return next((s for s in ("block", "warn") if s in statuses), "ok")

    @property
    def blocked(self) -> bool:
        """A drift past `drift.psi_block`: the run's scores must not be published."""
        return "block" in set(self.drift.get("status", pd.Series(dtype=object)))


def classifiers(published: dict[str, PublishedVersion]) -> dict[str, PublishedVersion]:
    """The published versions that score probabilities (lifetime value aside)."""
    return {
        name: version
        for name, version in published.items()
        if isinstance(version.model, ClassifierModel)
    }


def input_columns(published: dict[str, PublishedVersion]) -> list[str]:
    """The feature columns the classifiers read, then those deciding their populations."""
    features = {c for v in classifiers(published).values() for c in v.model.features.columns}
    return list(dict.fromkeys([*sorted(features), *POPULATION_COLUMNS]))


def score_customers(
    config: ScoringConfig,
    published: dict[str, PublishedVersion],
    skipped: dict[str, str],
    batches: Iterable[pd.DataFrame],
    drift_sample: pd.DataFrame,
    orders: pd.DataFrame | None,
    as_of: pd.Timestamp,
    scored_at: pd.Timestamp,
) -> ScoringOutcome:
    """Score every customer of the feature batches with each published version.

    Args:
        published: the promoted version of each target to score.
        skipped: the targets not scored, with the reason.
        batches: the current features (`customer_id` and :func:`input_columns`), in order.
        drift_sample: a sample of the same columns, for drift.
        orders: `customer_id`, `ordered_at`, `amount` before `as_of` (for lifetime value).
        as_of: the as-of date of the features.

    Returns:
        The outcome, its `tables` holding this run's rows of `customer_scores`,
        `customer_lifetime_values` and `feature_drift`.
    """
    run_id = f"run-{scored_at:%Y%m%dT%H%M%S}"
    stamp = {"scoring_run_id": run_id, "scored_at": scored_at, "as_of_at": as_of}
    scorers = classifiers(published)
    targets = {target.name: target for target in config.classifier_targets}
    ids: list[np.ndarray] = []
    scored_ids: dict[str, list] = {name: [] for name in scorers}
    scores: dict[str, list] = {name: [] for name in scorers}
    with threadpool_limits(limits=1):
        for batch in batches:
            ids.append(batch["customer_id"].to_numpy())
            for name, version in scorers.items():
                rows = batch[scoring_population(targets[name], batch).to_numpy()]
                scored_ids[name].append(rows["customer_id"].to_numpy())
                scores[name].append(version.model.score(rows))
    customer_ids = np.concatenate(ids) if ids else np.array([], dtype=object)
    score = {name: np.concatenate(part) if part else np.array([]) for name, part in scores.items()}

    frames, summaries = [], []
    for name, version in scorers.items():
        frames.append(
            pd.DataFrame(
                {
                    "customer_id": np.concatenate(scored_ids[name]) if scores[name] else [],
                    "target": name,
                    "model_version": version.model_version,
                    "score": score[name],
                    "score_decile": score_deciles(score[name]),
                }
            )
        )
        summaries.append(_summary(name, version, len(score[name]), score[name].mean()))
    tables = {}
    if frames:
        tables["customer_scores"] = pd.concat(frames, ignore_index=True).assign(**stamp)

    ltv_target = config.lifetime_value_target
    if ltv_target is not None and ltv_target.name in published:
        version = published[ltv_target.name]
        values = lifetime_values(version, orders, as_of, customer_ids)
        tables["customer_lifetime_values"] = values.assign(
            **stamp, model_version=version.model_version, horizon_days=ltv_target.horizon_days
        )
        known = values["lifetime_value_eur"].notna()
        summaries.append(
            _summary(
                ltv_target.name, version, int(known.sum()), values["lifetime_value_eur"].mean()
            )
        )

    drift_rows = measure_drift(config, scorers, score, drift_sample)
    if not drift_rows.empty:
        tables["feature_drift"] = drift_rows.assign(
            scoring_run_id=run_id,
            measured_at=scored_at,
            psi_warn=config.drift.psi_warn,
            psi_block=config.drift.psi_block,
        )
    return ScoringOutcome(
        scoring_run_id=run_id,
        scored_at=scored_at,
        as_of_at=as_of,
        customers=len(customer_ids),
        versions={name: version.model_version for name, version in published.items()},
        skipped=skipped,
        drift=drift_rows,
        score_summary=pd.DataFrame(summaries),
        tables=tables,
    )


def _summary(target: str, version: PublishedVersion, customers: int, mean: float) -> dict:
    return {
        "target": target,
        "model_version": version.model_version,
        "customers": customers,
        "mean_score": float(mean) if customers else np.nan,
    }


def lifetime_values(
    version: PublishedVersion,
    orders: pd.DataFrame,
    as_of: pd.Timestamp,
    customer_ids: np.ndarray,
) -> pd.DataFrame:
    """Every scored customer's lifetime value and its decile; prospects (no order yet) get
    none, as BG/NBD starts at a first purchase."""
    summary = transaction_summary(orders, as_of)
    values = version.model.predict(summary).reset_index()
    if len(customer_ids):
        values = pd.DataFrame({"customer_id": customer_ids}).merge(
            values, on="customer_id", how="left"
        )
    decile = pd.Series(pd.NA, index=values.index, dtype="Int64")
    known = values["lifetime_value_eur"].notna()
    decile[known] = score_deciles(values.loc[known, "lifetime_value_eur"].to_numpy())
    return values.assign(lifetime_value_decile=decile)


def measure_drift(
    config: ScoringConfig,
    scorers: dict[str, PublishedVersion],
    scores: dict[str, np.ndarray],
    sample: pd.DataFrame,
) -> pd.DataFrame:
    """PSI of each model's features and of its scores, against the population it scored as
    of its training cutoff (the profiles the model learned at fit)."""
    settings = config.drift
    tables = []
    for name, version in scorers.items():
        model = version.model
        population = sample[scoring_population(config.targets[name], sample).to_numpy()]
        features = drift.drift_table(
            {c: model.feature_profiles[c] for c in model.features.columns},
            population,
            settings.psi_warn,
            settings.psi_block,
            kind="feature",
            blocking=settings.blocking_features,
        )
        score = drift.drift_table(
            {name: model.score_profile},
            pd.DataFrame({name: scores[name]}),
            settings.psi_warn,
            settings.psi_block,
            kind="score",
        )
        tables.append(
            pd.concat([features, score]).assign(target=name, model_version=version.model_version)
        )
    if not tables:
        return pd.DataFrame(columns=["target", "model_version", "kind", "name", "psi", "status"])
    return pd.concat(tables, ignore_index=True)
