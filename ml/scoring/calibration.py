"""Calibrated classifiers: a fitted pipeline whose raw score a calibrator, learnt on
out-of-fold scores, maps to the probability of the positive class.

What `CalibratedClassifierCV(ensemble=False)` makes, built from its parts so that the
out-of-fold scores it learns from are computed once and kept: a batch version's threshold is
chosen on the same scores (:func:`calibrate_out_of_fold`), and an online version's come from
copies of the model each updated on the other folds, since a clone of an online model forgets
the weights it learnt before the window (:mod:`ml.scoring.online`). Versions trained before
2026-12-07 hold a `CalibratedClassifierCV`; both score through `predict_proba`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict
from sklearn.utils.validation import check_is_fitted


def response_method(estimator) -> str:
    """The raw score calibrated: the decision function when the estimator has one."""
    return "decision_function" if hasattr(estimator, "decision_function") else "predict_proba"


def raw_scores(estimator, X, method: str) -> np.ndarray:
    """One raw score per row: the decision value, or the positive class's probability."""
    values = getattr(estimator, method)(X)
    return values[:, 1] if np.ndim(values) == 2 else values


def fit_calibrator(method: str, scores: np.ndarray, y: np.ndarray):
    """The `training.calibration` method fitted on raw scores and labels."""
    if method == "isotonic":
        return IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(scores, y)
    # Platt scaling: a logistic regression on the one score column, barely penalised.
    return LogisticRegression(C=1e6).fit(np.asarray(scores).reshape(-1, 1), y)


def calibrate(calibrator, scores: np.ndarray) -> np.ndarray:
    """The probabilities a fitted calibrator gives raw scores."""
    if isinstance(calibrator, IsotonicRegression):
        return np.clip(calibrator.predict(scores), 0.0, 1.0)
    return calibrator.predict_proba(np.asarray(scores).reshape(-1, 1))[:, 1]


class CalibratedPipeline(ClassifierMixin, BaseEstimator):
    """A fitted pipeline whose raw score (`response`) a fitted calibrator maps to probabilities.

    Args:
        pipeline: the fitted pipeline (preprocessing, selection, model), or an averaging
            ensemble of them (multiple imputation).
        calibrator: a fitted `IsotonicRegression` or a one-column `LogisticRegression`
            (sigmoid), from raw scores to the probability of the positive class.
        response: `decision_function` or `predict_proba` (the positive class's column).
    """

    # Online versions pickled before the attribute existed calibrated decision values.
    response = "decision_function"

    def __init__(self, pipeline=None, calibrator=None, response="decision_function"):
        self.pipeline = pipeline
        self.calibrator = calibrator
        self.response = response

    def fit(self, X, y=None):
        """Nothing to learn: both parts come fitted. Sets the fitted attributes."""
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = self.pipeline.n_features_in_
        if hasattr(self.pipeline, "feature_names_in_"):
            self.feature_names_in_ = self.pipeline.feature_names_in_
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self)
        positive = calibrate(self.calibrator, raw_scores(self.pipeline, X, self.response))
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def calibrate_out_of_fold(
    estimator,
    X: pd.DataFrame,
    y: pd.Series,
    folds,
    method: str,
    fold_models=None,
    fitted=None,
) -> tuple[CalibratedPipeline, np.ndarray]:
    """`estimator` refitted on all of `X` and calibrated on its out-of-fold raw scores.

    One fit per fold and one on the whole set, as `CalibratedClassifierCV(ensemble=False)`
    does; returns the calibrated model and its calibrated out-of-fold probabilities (what a
    threshold is chosen on, never the hold-out set).

    Args:
        fold_models: `estimator` already fitted on each split of `folds`, in split order
            (the search's best candidate): their scores on the held-out folds are the
            out-of-fold scores, and only the fit on the whole set is left.
        fitted: `estimator` already fitted on all of `X` (a search refitted its best
            candidate), used instead of fitting it again.
    """
    response = response_method(estimator)
    if fold_models is None:
        out_of_fold = cross_val_predict(estimator, X, y, cv=folds, method=response, n_jobs=-1)
        if out_of_fold.ndim == 2:
            out_of_fold = out_of_fold[:, 1]
    else:
        out_of_fold = np.empty(len(y))
        for model, (_, held) in zip(fold_models, folds.split(X, y), strict=True):
            out_of_fold[held] = raw_scores(model, X.iloc[held], response)
    calibrator = fit_calibrator(method, out_of_fold, np.asarray(y))
    if fitted is None:
        fitted = clone(estimator).fit(X, y)
    model = CalibratedPipeline(fitted, calibrator, response).fit(X, y)
    return model, calibrate(calibrator, out_of_fold)


def fitted_pipeline(estimator):
    """The fitted pipeline inside a calibrated model, whichever class calibrated it."""
    if isinstance(estimator, CalibratedPipeline):
        return estimator.pipeline
    return estimator.calibrated_classifiers_[0].estimator  # a CalibratedClassifierCV
