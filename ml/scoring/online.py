"""Online updates that publish: between weekly retrains, a version's online model
(:class:`~ml.scoring.models.OnlineModel`, logistic regression by SGD) learns the newest
labelled window with `partial_fit`, is calibrated like a batch version, and becomes a
candidate version of its own that replaces the published one only when it beats it on the
same held-out customers of that window by `incremental.min_auc_gain`, and passes the gates
every version passes.

Which customers are held out stays fixed along a lineage: those the batch version held out
when it was trained (its `evaluation` rows), those it trained on (its `out_of_fold` rows)
always learnt from, and a customer neither has seen goes to one side or the other by a hash
of their id (`training.test_size` of them held out). Neither the batch model nor any online
model derived from it has then learnt from the customers the two are compared on. The ids
stay in the batch version's Parquet tables, which erasure purges, not in the online model.

Pure computation: :func:`ml.scoring.store.update_online_models` reads, registers and writes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pandas as pd
from cible.ml.scoring import drift, metrics
from cible.ml.scoring.calibration import CalibratedPipeline, calibrate, fit_calibrator
from cible.ml.scoring.config import ScoringConfig, TargetConfig
from cible.ml.scoring.features import check_features
from cible.ml.scoring.labels import TrainingDataError
from cible.ml.scoring.models import ClassifierModel, OnlineModel, update_online_model
from cible.ml.scoring.registry import fingerprint
from cible.ml.scoring.training import TrainingPlan, TrainingSet, gate_failures
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

# The family of a version an online update registers.
ONLINE_FAMILY = "online_sgd"


# Online versions published before 2026-12-07 were pickled under this name.
CalibratedOnlineClassifier = CalibratedPipeline


def held_out_mask(
    ids: pd.Index, held_out: pd.Index, trained_on: pd.Index, share: float
) -> np.ndarray:
    """Which customers of a window the comparison is made on: those the lineage's batch
    version held out, and `share` of those it never saw, by a hash of their id (the same
    customers at every update)."""
    bucket = pd.util.hash_pandas_object(pd.Series(ids.astype(str)), index=False).to_numpy()
    unseen = ~ids.isin(held_out) & ~ids.isin(trained_on)
    return ids.isin(held_out) | (unseen & (bucket % 10_000 < share * 10_000))


@dataclass
class OnlineUpdate:
    """An online model after one window, and the candidate version made of it.

    Attributes:
        online: the updated online model (cutoff advanced, the update in `updates`).
        candidate: the calibrated online model, as a registered version holds it.
        metrics: the candidate's figures on the held-out customers (as a version's `test`).
        figures: the comparison: AUCs of the online model before and after, of the published
            version, the margin, the rows learnt from and compared on.
        failures: why it may not replace the published version (empty: it may).
        evaluation, out_of_fold: customer_id, label, score on the held-out customers and,
            out of fold, on those learnt from.
        fingerprint: of the rows learnt from (features and labels).
    """

    online: OnlineModel
    candidate: ClassifierModel
    metrics: dict[str, float]
    figures: dict[str, float]
    failures: list[str]
    evaluation: pd.DataFrame
    out_of_fold: pd.DataFrame
    fingerprint: str

    @property
    def beats(self) -> bool:
        return not self.failures


def _both_classes(y: pd.Series, what: str, target: str, cutoff: pd.Timestamp) -> None:
    if y.empty:
        raise TrainingDataError(
            f"target {target}: the window as of {cutoff:%Y-%m-%d} has no {what}; an online "
            "update needs both outcomes among them"
        )
    if y.nunique() < 2:
        raise TrainingDataError(
            f"target {target}: the {len(y)} {what} of the window as of {cutoff:%Y-%m-%d} all "
            f"have the label {y.iloc[0]}; an online update needs both outcomes among them"
        )


def update_candidate(
    online: OnlineModel,
    data: TrainingSet,
    plan: TrainingPlan,
    published: ClassifierModel,
    published_version: str,
    config: ScoringConfig,
    lineage: tuple[pd.Index, pd.Index],
) -> OnlineUpdate:
    """Teach `online` the window of `plan` and judge it against the published version.

    Args:
        online: the published version's online model; updated in place.
        data: the window's labelled customers (features as of `plan.cutoff`).
        published: the version scoring the target now (batch or online), compared with the
            update on the same held-out customers.
        lineage: the customers the lineage's batch version held out, and those it learnt
            from.

    Raises:
        TrainingDataError: the window lacks a feature either model reads, or the held-out or
            learning customers lack one of the outcomes.
    """
    target: TargetConfig = plan.target
    training, incremental = config.training, config.incremental
    # A feature the configuration no longer selects stops the update with its name.
    check_features(data.X.columns, online.features, f"the online model of {published_version}")
    check_features(data.X.columns, published.features, f"model {published_version}")
    X, y = data.X, data.y.loc[data.X.index].astype(int)
    evaluated = held_out_mask(X.index, *lineage, training.test_size)
    X_eval, y_eval = X[evaluated], y[evaluated]
    X_learn, y_learn = X[~evaluated], y[~evaluated]
    _both_classes(y_eval, "held-out customers", target.name, plan.cutoff)
    _both_classes(y_learn, "customers to learn from", target.name, plan.cutoff)
    if y_learn.value_counts().min() < training.cv_folds:
        raise TrainingDataError(
            f"target {target.name}: fewer than {training.cv_folds} (training.cv_folds) "
            f"customers of one outcome to learn from in the window as of {plan.cutoff:%Y-%m-%d}"
        )

    before = float(roc_auc_score(y_eval, online.score(X_eval)))
    # Out-of-fold decisions of copies of the model, each taught the other folds: what the
    # calibrator and threshold are learnt on, as for a batch version.
    folds = StratifiedKFold(training.cv_folds, shuffle=True, random_state=training.random_state)
    decisions = np.empty(len(y_learn))
    inputs = X_learn[online.features.columns]
    for learn, held in folds.split(inputs, y_learn):
        fold_model = copy.deepcopy(online.pipeline)
        update_online_model(fold_model, inputs.iloc[learn], y_learn.iloc[learn], incremental.epochs)
        decisions[held] = fold_model.decision_function(inputs.iloc[held])
    update_online_model(online.pipeline, inputs, y_learn, incremental.epochs)
    calibrator = fit_calibrator(training.calibration, decisions, y_learn.to_numpy())
    out_of_fold = calibrate(calibrator, decisions)
    threshold = metrics.best_f1_threshold(y_learn.to_numpy(), out_of_fold)

    estimator = CalibratedPipeline(copy.deepcopy(online.pipeline), calibrator).fit(X)
    reference_scores = estimator.predict_proba(data.reference[online.features.columns])[:, 1]
    candidate = ClassifierModel(
        estimator=estimator,
        features=online.features,
        family=ONLINE_FAMILY,
        params={"alpha": incremental.alpha, "epochs": incremental.epochs},
        threshold=threshold,
        # The drift baseline is the population as of this window, as a batch version's is as
        # of its cutoff.
        feature_profiles=drift.profile_frame(
            data.reference, online.features.columns, config.drift.bins
        ),
        score_profile=drift.profile(pd.Series(reference_scores), config.drift.bins),
    )
    score = candidate.score(X_eval)
    held_out_metrics = metrics.classification_metrics(y_eval.to_numpy(), score, threshold)
    published_auc = float(roc_auc_score(y_eval, published.score(X_eval)))
    auc, gain = held_out_metrics["auc_roc"], incremental.min_auc_gain
    figures = {
        "online_auc_before": before,
        "online_auc_after": auc,
        "published_auc": published_auc,
        "min_auc_gain": gain,
        "rows": float(len(y_learn)),
        "eval_rows": float(len(y_eval)),
    }
    failures = []
    if not auc >= published_auc + gain:
        failures.append(
            f"online model did not beat the published one ({published_version}): AUC "
            f"{auc:.3f} vs {published_auc:.3f} on the same {len(y_eval)} held-out customers, "
            f"{gain:.3f} better needed (incremental.min_auc_gain)"
        )
    failures += gate_failures(held_out_metrics, config.gates, target)

    online.cutoff = pd.Timestamp(plan.cutoff)
    online.updates.append({**figures, "cutoff": online.cutoff.isoformat()})
    return OnlineUpdate(
        online=online,
        candidate=candidate,
        metrics=held_out_metrics,
        figures=figures,
        failures=failures,
        evaluation=pd.DataFrame(
            {"customer_id": X_eval.index.to_numpy(), "label": y_eval.to_numpy(), "score": score}
        ),
        out_of_fold=pd.DataFrame(
            {
                "customer_id": X_learn.index.to_numpy(),
                "label": y_learn.to_numpy(),
                "score": out_of_fold,
            }
        ),
        fingerprint=fingerprint(inputs, y_learn),
    )
