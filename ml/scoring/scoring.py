"""Scoring jobs: the promoted models applied to today's features, drift measured against
training, and the online models updated from outcomes that became known since.

Scoring never refits: it loads each target's current version from the registry, checks the
feature table still has the columns the model was trained on, and predicts in batches so that
memory stays bounded whatever the number of customers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from cible.ml.scoring import drift, store
from cible.ml.scoring.config import ScoringConfig
from cible.ml.scoring.features import FeatureSpec
from cible.ml.scoring.labels import TrainingDataError, scoring_population
from cible.ml.scoring.lifetime_value import transaction_summary
from cible.ml.scoring.metrics import score_deciles
from cible.ml.scoring.models import update_online_model
from cible.ml.scoring.registry import ModelRegistry
from cible.ml.scoring.training import (
    FEATURES,
    check_scoring_features,
    current_as_of,
    load_training_set,
    plan_training,
    read_orders,
)
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from cible import warehouse as wh

DRIFT_SAMPLE_ROWS = 200_000


@dataclass
class ScoringOutcome:
    """What a scoring run wrote and what its drift looked like."""

    scoring_run_id: str
    scored_at: pd.Timestamp
    as_of_at: pd.Timestamp
    customers: int
    versions: dict[str, str]
    skipped: dict[str, str]
    drift: pd.DataFrame
    score_summary: pd.DataFrame = field(default_factory=pd.DataFrame)

    def drift_status(self, kind: str) -> str:
        """`block`, `warn` or `ok`: the worst status of one kind (feature or score)."""
        statuses = set(self.drift.loc[self.drift["kind"] == kind, "status"])
        return next((s for s in ("block", "warn") if s in statuses), "ok")


def _feature_columns(warehouse: Path | None) -> list[str]:
    with wh.connect(warehouse, read_only=True) as con:
        return [row[0] for row in con.execute(f"describe {FEATURES}").fetchall()]


def _batches(columns: list[str], batch_rows: int, warehouse: Path | None):
    """The current features, a batch of about `batch_rows` customers at a time."""
    vectors = max(batch_rows // 2048, 1)
    select = ", ".join(dict.fromkeys(["customer_id", *columns]))
    with wh.connect(warehouse, read_only=True) as con:
        result = con.execute(f"select {select} from {FEATURES} order by customer_id")
        while True:
            chunk = result.fetch_df_chunk(vectors)
            if chunk.empty:
                break
            yield chunk


def _drift_sample(columns: list[str], warehouse: Path | None) -> pd.DataFrame:
    select = ", ".join(dict.fromkeys(columns))
    with wh.connect(warehouse, read_only=True) as con:
        total = con.execute(f"select count(*) from {FEATURES}").fetchall()[0][0]
        sample = (
            f" using sample reservoir({DRIFT_SAMPLE_ROWS} rows) repeatable (42)"
            if total > DRIFT_SAMPLE_ROWS
            else ""
        )
        return con.execute(f"select {select} from {FEATURES}{sample}").df()


def score_customers(
    config: ScoringConfig,
    registry: ModelRegistry,
    warehouse: Path | None = None,
    scored_at: pd.Timestamp | None = None,
) -> ScoringOutcome:
    """Score every current customer with each target's promoted version; append the scores,
    lifetime values and drift of this run to the `ml` tables."""
    scored_at = scored_at or pd.Timestamp.now(tz="UTC").tz_localize(None).floor("s")
    run_id = f"run-{scored_at:%Y%m%dT%H%M%S}"
    as_of = current_as_of(warehouse)
    available = _feature_columns(warehouse)

    models, skipped = {}, {}
    for target in config.classifier_targets:
        version = registry.current(target.name)
        if version is None:
            skipped[target.name] = "no promoted version"
            continue
        estimator, metadata = registry.load(version.model_version)
        spec = FeatureSpec.from_dict(metadata["features"])
        check_scoring_features(available, spec, version.model_version)
        models[target.name] = (version.model_version, estimator, spec, metadata)

    columns = sorted({c for _, _, spec, _ in models.values() for c in spec.columns})
    targets = {target.name: target for target in config.classifier_targets}
    ids: list[np.ndarray] = []
    scored_ids: dict[str, list] = {name: [] for name in models}
    scores: dict[str, list] = {name: [] for name in models}
    with threadpool_limits(limits=1):
        for batch in _batches(
            [*columns, "as_of_at", "last_order_at"], config.scoring.batch_rows, warehouse
        ):
            ids.append(batch["customer_id"].to_numpy())
            for name, (_, estimator, spec, _) in models.items():
                rows = batch[scoring_population(targets[name], batch).to_numpy()]
                scored_ids[name].append(rows["customer_id"].to_numpy())
                scores[name].append(estimator.predict_proba(rows[spec.columns])[:, 1])
    customer_ids = np.concatenate(ids) if ids else np.array([], dtype=object)

    frames, summaries = [], []
    for name, parts in scores.items():
        score = np.concatenate(parts) if parts else np.array([])
        frames.append(
            pd.DataFrame(
                {
                    "customer_id": np.concatenate(scored_ids[name]) if parts else [],
                    "target": name,
                    "model_version": models[name][0],
                    "score": score,
                    "score_decile": score_deciles(score),
                }
            )
        )
        summaries.append(
            {
                "target": name,
                "model_version": models[name][0],
                "customers": len(score),
                "mean_score": float(score.mean()) if len(score) else np.nan,
            }
        )
    if frames:
        scored = pd.concat(frames, ignore_index=True).assign(
            scoring_run_id=run_id, scored_at=scored_at, as_of_at=as_of
        )
        store.append(scored, store.CUSTOMER_SCORES, warehouse)

    ltv_target = config.lifetime_value_target
    if ltv_target is not None:
        version = registry.current(ltv_target.name)
        if version is None:
            skipped[ltv_target.name] = "no promoted version"
        else:
            model, _ = registry.load(version.model_version)
            summary = transaction_summary(read_orders(as_of, warehouse), as_of)
            values = model.predict(summary).reset_index()
            everyone = pd.DataFrame({"customer_id": customer_ids}) if len(customer_ids) else None
            if everyone is not None:
                # Prospects (no order yet) get no lifetime value: BG/NBD starts at a purchase.
                values = everyone.merge(values, on="customer_id", how="left")
            decile = pd.Series(pd.NA, index=values.index, dtype="Int64")
            known = values["lifetime_value_eur"].notna()
            decile[known] = score_deciles(values.loc[known, "lifetime_value_eur"].to_numpy())
            store.append(
                values.assign(
                    lifetime_value_decile=decile,
                    scoring_run_id=run_id,
                    scored_at=scored_at,
                    as_of_at=as_of,
                    model_version=version.model_version,
                    horizon_days=ltv_target.horizon_days,
                ),
                store.CUSTOMER_LIFETIME_VALUES,
                warehouse,
            )
            models[ltv_target.name] = (version.model_version, model, None, None)
            summaries.append(
                {
                    "target": ltv_target.name,
                    "model_version": version.model_version,
                    "customers": int(known.sum()),
                    "mean_score": float(values["lifetime_value_eur"].mean()),
                }
            )

    drift_rows = _drift(config, models, scores, columns, warehouse)
    if not drift_rows.empty:
        store.append(
            drift_rows.assign(
                scoring_run_id=run_id,
                measured_at=scored_at,
                psi_warn=config.drift.psi_warn,
                psi_block=config.drift.psi_block,
            ),
            store.FEATURE_DRIFT,
            warehouse,
        )
    store.purge_old_runs(config.scoring.keep_runs, warehouse)
    return ScoringOutcome(
        scoring_run_id=run_id,
        scored_at=scored_at,
        as_of_at=as_of,
        customers=len(customer_ids),
        versions={name: model[0] for name, model in models.items()},
        skipped=skipped,
        drift=drift_rows,
        score_summary=pd.DataFrame(summaries),
    )


def _drift(config, models, scores, columns, warehouse) -> pd.DataFrame:
    """PSI of each model's features and of its scores, against the population it scored as
    of its training cutoff."""
    tables = []
    sample = (
        _drift_sample([*columns, "as_of_at", "last_order_at"], warehouse)
        if columns
        else pd.DataFrame()
    )
    for name, (version, _, spec, metadata) in models.items():
        if metadata is None:
            continue
        settings = config.drift
        population = sample[scoring_population(config.targets[name], sample).to_numpy()]
        features = drift.drift_table(
            {c: metadata["feature_profiles"][c] for c in spec.columns},
            population,
            settings.psi_warn,
            settings.psi_block,
            kind="feature",
            blocking=settings.blocking_features,
        )
        score = drift.drift_table(
            {name: metadata["score_profile"]},
            pd.DataFrame({name: np.concatenate(scores[name])}),
            settings.psi_warn,
            settings.psi_block,
            kind="score",
        )
        tables.append(pd.concat([features, score]).assign(target=name, model_version=version))
    if not tables:
        return pd.DataFrame(columns=["target", "model_version", "kind", "name", "psi", "status"])
    return pd.concat(tables, ignore_index=True)


# ---------- incremental updates


def update_online_models(
    config: ScoringConfig, registry: ModelRegistry, warehouse: Path | None = None
) -> pd.DataFrame:
    """Teach each current version's online model the outcomes known since its last update.

    The newest labelled window is the training snapshot as of now minus the horizon; when its
    cutoff is later than the online model's, the model `partial_fit`s on 80% of those
    customers and is compared with the batch model on the other 20% (both AUCs stored in
    `ml.model_metrics`, dataset `online_update`).

    Returns:
        One row per target: its status (`updated`, `no new outcomes`, `no online model`) and
        the AUCs.
    """
    rows = []
    plans = {plan.target.name: plan for plan in plan_training(config, warehouse)}
    for name in config.incremental.targets if config.incremental.enabled else ():
        version = registry.current(name)
        online = registry.load_extra(version.model_version, "online") if version else None
        if online is None:
            rows.append({"target": name, "status": "no online model"})
            continue
        state_path = version.artefact_path / "online_state.json"
        metadata = registry.metadata(version.model_version)
        state = (
            json.loads(state_path.read_text())
            if state_path.exists()
            else {"cutoff": metadata["training_cutoff_at"], "updates": []}
        )
        plan = plans[name]
        if plan.cutoff <= pd.Timestamp(state["cutoff"]):
            rows.append(
                {
                    "target": name,
                    "model_version": version.model_version,
                    "status": "no new outcomes",
                    "cutoff": pd.Timestamp(state["cutoff"]),
                }
            )
            continue
        try:
            X, y, _, _ = load_training_set(plan, config, warehouse)
        except TrainingDataError as error:
            rows.append({"target": name, "status": f"skipped: {error}"})
            continue
        result = update_from_outcomes(
            online,
            registry.load(version.model_version)[0],
            X,
            y,
            config.incremental.epochs,
            config.training.random_state,
        )
        registry.save_extra(version.model_version, "online", online)
        state = {
            "cutoff": plan.cutoff.isoformat(),
            "updates": [*state["updates"], {**result, "cutoff": plan.cutoff.isoformat()}],
        }
        state_path.write_text(json.dumps(state, indent=2))
        store.append(
            store.metric_rows(version.model_version, name, "online_update", result),
            store.MODEL_METRICS,
            warehouse,
        )
        rows.append(
            {
                "target": name,
                "model_version": version.model_version,
                "status": "updated",
                "cutoff": plan.cutoff,
                **result,
            }
        )
    return pd.DataFrame(rows)


def update_from_outcomes(
    online, batch, X: pd.DataFrame, y: pd.Series, epochs: int, seed: int
) -> dict:
    """`partial_fit` the online model on 80% of new outcomes; AUCs of the online model before
    and after, and of the batch model, on the other 20%."""
    X_new, X_eval, y_new, y_eval = train_test_split(
        X, y, test_size=0.2, stratify=y, random_state=seed
    )
    before = roc_auc_score(y_eval, online.predict_proba(X_eval)[:, 1])
    update_online_model(online, X_new, y_new, epochs)
    return {
        "online_auc_before": float(before),
        "online_auc_after": float(roc_auc_score(y_eval, online.predict_proba(X_eval)[:, 1])),
        "batch_auc": float(roc_auc_score(y_eval, batch.predict_proba(X_eval)[:, 1])),
        "rows": float(len(y_new)),
    }
