"""Classifiers: one scikit-learn pipeline per model family, a stratified search over each
(:mod:`ml.scoring.search`: an Optuna study per family as shipped), the family with the best
cross-validated metric calibrated and evaluated on a hold-out set; every family's best
candidate on the leaderboard.

The fitted artefact is a :class:`ClassifierModel`: the chosen pipeline (preprocessing with the
configured imputation + the configured feature selection + model, or m such pipelines averaged
for multiple imputation) refitted on the whole training split, its scores mapped to
probabilities by a calibrator learned on out-of-fold scores
(:class:`~ml.scoring.calibration.CalibratedPipeline`), with everything else the fit learned:
its input columns, threshold, and the distributions drift is measured against. Scoring loads
it and calls :meth:`ClassifierModel.score` on raw feature columns. :class:`OnlineModel` is the
version's incremental companion, which keeps the cutoff of the newest outcomes it learned.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from cible.ml.scoring import drift, metrics
from cible.ml.scoring.calibration import CalibratedPipeline, calibrate_out_of_fold
from cible.ml.scoring.config import (
    FeatureSelectionConfig,
    ImputationConfig,
    ScoringConfig,
    TrainingConfig,
)
from cible.ml.scoring.features import ModelFeatures, build_model_preprocessor
from cible.ml.scoring.labels import TrainingDataError
from cible.ml.scoring.search import FamilySearch, leaderboard, search_family
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.experimental import enable_iterative_imputer  # noqa: F401 (enables the import below)
from sklearn.feature_selection import RFE, RFECV, SelectFromModel
from sklearn.impute import IterativeImputer, SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits


def make_estimator(family: str, random_state: int):
    """A fresh, unfitted estimator of a model family with Cible's fixed settings."""
    if family == "logistic_regression":
        return LogisticRegression(max_iter=2000, random_state=random_state)
    if family == "random_forest":
        return RandomForestClassifier(n_estimators=200, n_jobs=1, random_state=random_state)
    if family == "hist_gradient_boosting":
        return HistGradientBoostingClassifier(early_stopping=False, random_state=random_state)
    if family == "mlp":
        # Stops when a tenth of the training rows, held out, stops improving: the epochs (at
        # most 200) adapt to the data instead of being one more hyperparameter to search.
        return MLPClassifier(early_stopping=True, max_iter=200, random_state=random_state)
    raise ValueError(f"unknown model family {family!r}")


def make_selector(selection: FeatureSelectionConfig, scoring: str, random_state: int):
    """The step between preprocessing and the model (`training.feature_selection`)."""
    if selection.method == "l1":
        return SelectFromModel(
            LogisticRegression(l1_ratio=1.0, C=selection.C, solver="liblinear", random_state=0),
            threshold=1e-6,
        )
    if selection.method == "pca":
        return PCA(n_components=selection.n_components, random_state=random_state)
    if selection.method == "lda":
        # A binary target has one discriminant direction: the model sees that projection
        # only. The eigen solver transforms (lsqr does not) and takes shrinkage, which keeps
        # the covariance invertible with constant and collinear columns (the indicators).
        return LinearDiscriminantAnalysis(
            n_components=1, solver="eigen", shrinkage=selection.shrinkage
        )
    if selection.method == "rfe":
        # Logistic regression ranks the (scaled) columns by their weights: one fit per round,
        # cheap beside the families searched after it.
        ranker = LogisticRegression(max_iter=1000, random_state=random_state)
        if selection.n_features == "auto":
            return RFECV(
                ranker,
                step=selection.step,
                cv=StratifiedKFold(3, shuffle=True, random_state=random_state),
                scoring=scoring,
            )
        return RFE(ranker, n_features_to_select=selection.n_features, step=selection.step)
    return "passthrough"


class DrawnIterativeImputer(IterativeImputer):
    """Chained equations that, with `sample_posterior`, draw the missing values of the data
    they are fitted on (each seed its own completed training set) but impute later rows
    with the conditional mean.

    IterativeImputer would draw at `transform` too, from a random state that advances with
    each call: a customer's score would then change from one call to the next and with the
    other rows of its batch (the live path scores micro-batches). The mean keeps a score a
    function of the customer alone.
    """

    def transform(self, X):
        drawing = self.sample_posterior
        # Read by IterativeImputer's per-feature step only (scikit-learn 1.9, 2026-12-05;
        # the multiple-imputation test, which scores in batches, would catch a change).
        self.sample_posterior = False
        try:
            return super().transform(X)
        finally:
            self.sample_posterior = drawing


def make_imputer(imputation: ImputationConfig, random_state: int):
    """The imputer of the numeric columns (`training.imputation`)."""
    if imputation.method == "iterative":
        return DrawnIterativeImputer(
            max_iter=imputation.max_iter,
            # Regressing each feature on all the others made a training on the demo (13k rows,
            # 100 numeric columns, 64 with gaps) ten times slower than the median; the 20
            # nearest bring an imputer fit to about 6 s on one thread (2026-12-05).
            n_nearest_features=imputation.n_nearest_features,
            # Draws only for multiple imputation: a single imputation fits on the
            # conditional means, the less noisy fill.
            sample_posterior=imputation.imputations > 1,
            skip_complete=True,
            initial_strategy="median",
            add_indicator=True,
            keep_empty_features=True,
            random_state=random_state,
        )
    return SimpleImputer(
        strategy="median",
        add_indicator=imputation.method == "median_with_indicator",
        keep_empty_features=True,
    )


def make_pipeline(
    family: str, features: ModelFeatures, min_category_share: float, training: TrainingConfig
) -> Pipeline:
    """Preprocessing (with the configured imputation), the configured feature selection, then
    the model: one estimator."""
    preprocess = build_model_preprocessor(features, min_category_share)
    if features.numeric:
        preprocess.set_params(
            numeric__impute=make_imputer(training.imputation, training.random_state)
        )
    selector = make_selector(training.feature_selection, training.scoring, training.random_state)
    return Pipeline(
        [
            ("preprocess", preprocess),
            ("select", selector),
            ("model", make_estimator(family, training.random_state)),
        ]
    )


def pipeline_steps(training: TrainingConfig) -> dict[str, dict]:
    """The configured steps around the model, as the registry and leaderboard keep them."""
    return {
        "imputation": training.imputation.describe(),
        "feature_selection": training.feature_selection.describe(),
    }


def check_selection(
    pipeline: Pipeline, X: pd.DataFrame, y: pd.Series, training: TrainingConfig
) -> None:
    """Stop, naming the setting, when the selection cannot leave the model a column: PCA or
    RFE asking for more columns than the preprocessing makes of `X` (a share always fits),
    or an L1 penalty so strong that it keeps none."""
    selection = training.feature_selection
    key = {"pca": "n_components", "rfe": "n_features", "l1": "C"}.get(selection.method)
    wanted = getattr(selection, key) if key else None
    if selection.method != "l1" and not isinstance(wanted, int):
        return
    matrix = clone(pipeline.named_steps["preprocess"]).fit_transform(X)
    if selection.method == "l1":
        if not clone(pipeline.named_steps["select"]).fit(matrix, y).get_support().any():
            raise TrainingDataError(
                f"training.feature_selection.C: {wanted} is so strong a penalty that the L1 "
                "selection keeps no column of the features; raise it (the default is 0.1)"
            )
    elif wanted > matrix.shape[1]:
        raise TrainingDataError(
            f"training.feature_selection.{key}: {wanted} columns asked for, but the "
            f"preprocessing makes {matrix.shape[1]} of the features; ask for at most "
            f"{matrix.shape[1]}, or a share (0.5)"
        )


IMPUTER_SEED = "preprocess__numeric__impute__random_state"


class MultipleImputationClassifier(ClassifierMixin, BaseEstimator):
    """One pipeline fitted on `imputations` draws from its iterative imputer's posterior (each
    draw its own seed), their probabilities averaged: multiple imputation, the prediction
    being the mean over the completed data sets.

    Args:
        pipeline: an unfitted pipeline whose numeric imputer samples its posterior.
        imputations: the number of draws (m).
    """

    def __init__(self, pipeline: Pipeline, imputations: int = 5, random_state: int = 0):
        self.pipeline = pipeline
        self.imputations = imputations
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # What the input may hold (missing values above all) is the pipeline's to say.
        tags.input_tags = get_tags(self.pipeline).input_tags
        return tags

    def fit(self, X, y):
        self.pipelines_ = [
            clone(self.pipeline).set_params(**{IMPUTER_SEED: self.random_state + draw}).fit(X, y)
            for draw in range(self.imputations)
        ]
        first = self.pipelines_[0]
        self.classes_ = first.classes_
        self.n_features_in_ = first.n_features_in_
        if hasattr(first, "feature_names_in_"):
            self.feature_names_in_ = first.feature_names_in_
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self)
        return np.mean([pipeline.predict_proba(X) for pipeline in self.pipelines_], axis=0)

    def predict(self, X) -> np.ndarray:
        proba = self.predict_proba(X)  # first: it checks the model is fitted
        return self.classes_[np.argmax(proba, axis=1)]


def with_imputations(pipeline: Pipeline, features: ModelFeatures, training: TrainingConfig):
    """The chosen pipeline as fitted for good: `imputation.imputations` draws when above 1
    (and there are numbers to impute), else itself."""
    imputations = training.imputation.imputations
    if imputations < 2 or not features.numeric:
        return pipeline
    return MultipleImputationClassifier(pipeline, imputations, training.random_state)


# Bump when the persisted layout changes; scoring skips a version of another format.
MODEL_FORMAT = 1


@dataclass(frozen=True)
class ClassifierModel:
    """A target's fitted classifier and what it learned at fit, persisted whole.

    Attributes:
        estimator: the calibrated pipeline; it reads `features.columns`. Versions trained
            before 2026-12-07 hold a `CalibratedClassifierCV`: both score the same way.
        features: the input columns by kind, which scoring checks and reads.
        family, params: the model family and hyperparameters chosen by cross-validation.
        threshold: the F1-best threshold, chosen on out-of-fold predictions.
        feature_profiles, score_profile: the distributions of the population it scores, as
            of its cutoff: the baseline of drift monitoring.
    """

    estimator: CalibratedPipeline | CalibratedClassifierCV
    features: ModelFeatures
    family: str
    params: dict[str, Any]
    threshold: float
    feature_profiles: dict[str, dict]
    score_profile: dict
    format: int = MODEL_FORMAT

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """The calibrated probability of each row of a frame holding the feature columns."""
        return self.estimator.predict_proba(frame[self.features.columns])[:, 1]


@dataclass
class TrainedClassifier:
    """A fitted model and everything measured while choosing and testing it."""

    model: ClassifierModel
    metrics: dict[str, float]  # hold-out figures
    cv_scores: dict[str, dict[str, float]]  # per family: mean and std of the CV metric
    leaderboard: pd.DataFrame  # per family: CV score, hold-out figures, times (search module)
    curves: pd.DataFrame
    importances: pd.DataFrame
    test_predictions: pd.DataFrame  # customer_id, label, score on the hold-out set
    out_of_fold_predictions: pd.DataFrame  # the same for the training split, out of fold
    training_rows: int
    positives: int
    seconds: dict[str, float] = field(default_factory=dict)


def _sample(X: pd.DataFrame, y: pd.Series, max_rows: int, random_state: int):
    if len(y) <= max_rows:
        return X, y
    X, _, y, _ = train_test_split(X, y, train_size=max_rows, stratify=y, random_state=random_state)
    return X, y


def train_classifier(
    X: pd.DataFrame,
    y: pd.Series,
    spec: ModelFeatures,
    config: ScoringConfig,
    reference: pd.DataFrame | None = None,
    families: tuple[str, ...] | None = None,
) -> TrainedClassifier:
    """Search each configured family, keep the best by CV metric, calibrate, evaluate.

    Args:
        X: feature columns, indexed by customer_id.
        y: 0/1 labels on the same index.
        reference: the population the model will score, as of the cutoff (default: X); its
            feature and score distributions are the baseline of drift monitoring.
        families: the model families to try (default: every one of `training.models`).
    """
    # Parallelism comes from joblib processes over folds and candidates; native threads
    # (OpenMP in gradient boosting, BLAS) stay at one each. Measured on 2 cores: a
    # HistGradientBoosting fit is 4-6 times slower with 2 OpenMP threads than with one.
    with threadpool_limits(limits=1):
        return _train_classifier(
            X, y, spec, config, X if reference is None else reference, families
        )


def _train_classifier(
    X: pd.DataFrame,
    y: pd.Series,
    spec: ModelFeatures,
    config: ScoringConfig,
    reference,
    families,
) -> TrainedClassifier:
    training = config.training
    clock: dict[str, float] = {}
    start = time.perf_counter()
    X, y = _sample(
        X[spec.columns],
        y.loc[X.index].astype(int),
        training.max_training_rows,
        training.random_state,
    )
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=training.test_size, stratify=y, random_state=training.random_state
    )
    folds = StratifiedKFold(training.cv_folds, shuffle=True, random_state=training.random_state)

    families = [family for family in training.models if family in (families or training.models)]
    check_selection(
        make_pipeline(families[0], spec, config.min_category_share, training),
        X_train,
        y_train,
        training,
    )
    deadline = start + training.time_budget_seconds
    searches: list[FamilySearch] = []
    for i, family in enumerate(families):
        # The budget left is shared among the families left, so none is starved.
        share = max(deadline - time.perf_counter(), 0.0) / (len(families) - i)
        searches.append(
            search_family(
                family,
                make_pipeline(family, spec, config.min_category_share, training),
                training.models[family],
                X_train,
                y_train,
                folds,
                training,
                timeout=share,
            )
        )
    cv_scores = {
        found.family: {
            "mean": found.cv_mean,
            "std": found.cv_std,
            "candidates": float(found.candidates),
        }
        for found in searches
    }
    best = max(searches, key=lambda found: found.cv_mean)
    family, params = best.family, best.params
    board = leaderboard(
        searches, family, X_test, y_test, training.scoring, pipeline_steps(training)
    )
    clock["search"] = time.perf_counter() - start

    start = time.perf_counter()
    chosen = with_imputations(
        make_pipeline(family, spec, config.min_category_share, training).set_params(**params),
        spec,
        training,
    )
    # What the search fitted of the chosen candidate is not fitted again: its fold models
    # (Optuna) or its refit on the whole split (scikit-learn's searches), unless multiple
    # imputation wraps the pipeline the search fitted.
    reuse = not isinstance(chosen, MultipleImputationClassifier)
    calibrated, out_of_fold = calibrate_out_of_fold(
        chosen,
        X_train,
        y_train,
        folds,
        training.calibration,
        fold_models=best.estimators if reuse and best.per_fold else None,
        fitted=best.estimators[0] if reuse and not best.per_fold else None,
    )
    threshold = metrics.best_f1_threshold(y_train.to_numpy(), out_of_fold)
    clock["calibration"] = time.perf_counter() - start

    start = time.perf_counter()
    score = calibrated.predict_proba(X_test)[:, 1]
    held_out = metrics.classification_metrics(y_test.to_numpy(), score, threshold)
    raw = calibrated.pipeline.predict_proba(X_test)[:, 1]
    held_out["brier_uncalibrated"] = float(brier_score_loss(y_test, raw))
    held_out["auc_roc_uncalibrated"] = float(roc_auc_score(y_test, raw))
    held_out["cv_" + training.scoring] = cv_scores[family]["mean"]
    curves = metrics.curves(y_test.to_numpy(), score)

    rows = min(len(X_test), training.permutation_max_rows)
    sample = (
        X_test.sample(rows, random_state=training.random_state) if rows < len(X_test) else X_test
    )
    importance = permutation_importance(
        calibrated,
        sample,
        y_test.loc[sample.index],
        scoring="roc_auc",
        n_repeats=training.permutation_repeats,
        random_state=training.random_state,
        n_jobs=-1,
    )
    importances = (
        pd.DataFrame(
            {
                "feature": spec.columns,
                "importance_mean": importance.importances_mean,
                "importance_std": importance.importances_std,
            }
        )
        .sort_values("importance_mean", ascending=False, kind="stable")
        .reset_index(drop=True)
    )
    importances["importance_rank"] = np.arange(1, len(importances) + 1)
    clock["evaluation"] = time.perf_counter() - start

    reference_scores = calibrated.predict_proba(reference[spec.columns])[:, 1]
    model = ClassifierModel(
        estimator=calibrated,
        features=spec,
        family=family,
        params={key.removeprefix("model__"): value for key, value in params.items()},
        threshold=threshold,
        feature_profiles=drift.profile_frame(reference, spec.columns, config.drift.bins),
        score_profile=drift.profile(pd.Series(reference_scores), config.drift.bins),
    )
    return TrainedClassifier(
        model=model,
        metrics=held_out,
        cv_scores=cv_scores,
        leaderboard=board,
        curves=curves,
        importances=importances,
        test_predictions=pd.DataFrame(
            {"customer_id": X_test.index.to_numpy(), "label": y_test.to_numpy(), "score": score}
        ),
        out_of_fold_predictions=pd.DataFrame(
            {
                "customer_id": X_train.index.to_numpy(),
                "label": y_train.to_numpy(),
                "score": out_of_fold,
            }
        ),
        training_rows=len(y),
        positives=int(y.sum()),
        seconds=clock,
    )


# ---------- incremental (online) learning


def make_online_model(features: ModelFeatures, min_category_share: float, alpha: float) -> Pipeline:
    """A logistic model learned by stochastic gradient descent, able to `partial_fit`."""
    return Pipeline(
        [
            ("preprocess", build_model_preprocessor(features, min_category_share)),
            # Averaged SGD with an adaptive step: measured on the demo, within 0.01 AUC of the
            # batch logistic regression after a few passes, where plain SGD lagged by 0.05.
            (
                "model",
                SGDClassifier(
                    loss="log_loss",
                    alpha=alpha,
                    average=True,
                    learning_rate="adaptive",
                    eta0=0.01,
                    random_state=0,
                ),
            ),
        ]
    )


def fit_online_model(model: Pipeline, X: pd.DataFrame, y: pd.Series, epochs: int) -> Pipeline:
    """First fit: the preprocessing once on the training population, then SGD passes."""
    model.named_steps["preprocess"].fit(X)
    return update_online_model(model, X, y, epochs)


def update_online_model(model: Pipeline, X: pd.DataFrame, y: pd.Series, epochs: int) -> Pipeline:
    """Learn from new labelled outcomes with `partial_fit`; the preprocessing stays as fitted
    (new customers are scaled like the old ones), only the model's weights move."""
    matrix = model.named_steps["preprocess"].transform(X)
    labels = np.asarray(y, dtype=int)
    rng = np.random.default_rng(0)
    for _ in range(epochs):
        order = rng.permutation(len(labels))
        model.named_steps["model"].partial_fit(matrix[order], labels[order], classes=[0, 1])
    return model


@dataclass
class OnlineModel:
    """A version's online model, persisted with it: the SGD pipeline, the cutoff of the newest
    outcomes it learned from, the figures of each update since training, and the batch
    version its lineage started from (None: the version holding it), whose evaluation and
    out-of-fold customers stay on their side in every update (:mod:`ml.scoring.online`)."""

    pipeline: Pipeline
    features: ModelFeatures
    cutoff: pd.Timestamp
    updates: list[dict] = field(default_factory=list)
    format: int = MODEL_FORMAT
    # Customer ids are not kept here but in the batch version's Parquet tables, which erasure
    # purges (cible.privacy.erasure.purge_model_store).
    lineage: str | None = None

    @classmethod
    def fit(
        cls,
        features: ModelFeatures,
        X: pd.DataFrame,
        y: pd.Series,
        cutoff: pd.Timestamp,
        min_category_share: float,
        alpha: float,
        epochs: int,
    ) -> OnlineModel:
        """First fit on the training outcomes of `cutoff`."""
        pipeline = make_online_model(features, min_category_share, alpha)
        pipeline = fit_online_model(pipeline, X[features.columns], y, epochs)
        return cls(pipeline, features, pd.Timestamp(cutoff))

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """The probability of each row of a frame holding the feature columns (the raw SGD
        probability: :mod:`ml.scoring.online` calibrates it before it may publish)."""
        return self.pipeline.predict_proba(frame[self.features.columns])[:, 1]
