"""Classifier training on small frames: selection, calibration, metrics, persistence shape,
gates, and the online model's partial_fit updates."""

import joblib
import numpy as np
import pandas as pd
import pytest
from cible.ml.scoring.calibration import CalibratedPipeline, calibrate_out_of_fold
from cible.ml.scoring.config import GateConfig, TargetConfig
from cible.ml.scoring.features import select_features
from cible.ml.scoring.models import (
    ClassifierModel,
    fit_online_model,
    make_online_model,
    train_classifier,
    update_online_model,
)
from cible.ml.scoring.training import gate_failures
from scoring_data import make_features
from sklearn.calibration import CalibratedClassifierCV
from sklearn.metrics import roc_auc_score


@pytest.fixture(scope="module")
def trained():
    from cible.ml.scoring.config import parse_scoring_config
    from scoring_data import LIGHT_CONFIG

    frame, labels = make_features()
    config = parse_scoring_config(LIGHT_CONFIG)
    spec = select_features(frame.reset_index(), None, [])
    return train_classifier(frame, labels, spec, config), frame, labels, spec


def test_the_best_family_is_calibrated_and_scores_raw_frames(trained, tmp_path):
    result, frame, labels, spec = trained
    model = result.model
    assert model.family in {"logistic_regression", "hist_gradient_boosting"}
    assert set(result.cv_scores) == {"logistic_regression", "hist_gradient_boosting"}
    best = max(result.cv_scores, key=lambda family: result.cv_scores[family]["mean"])
    assert model.family == best
    assert isinstance(model.estimator, CalibratedPipeline)
    # The model owns what it learned: its inputs and the baselines drift is measured against.
    assert model.features == spec
    assert set(model.feature_profiles) == set(spec.columns)
    assert abs(sum(model.score_profile["shares"]) - 1) < 1e-9
    # Persisted whole: reloaded, it scores raw frames (nullable ints, text, booleans), picking
    # its own columns out of a wider table.
    joblib.dump(model, tmp_path / "model.joblib")
    reloaded = joblib.load(tmp_path / "model.joblib")
    assert isinstance(reloaded, ClassifierModel)
    score = reloaded.score(frame.assign(unrelated="x"))
    assert score.min() >= 0 and score.max() <= 1
    assert roc_auc_score(labels, score) > 0.7


@pytest.mark.parametrize("family", ["logistic_regression", "random_forest"])
def test_out_of_fold_calibration_is_scikit_learns_with_the_scores_kept(family):
    """The calibrated model equals `CalibratedClassifierCV(ensemble=False)` on the same folds
    (isotonic: the calibrator learnt on the same out-of-fold scores, the pipeline refitted on
    every row), for a family calibrated on decision values and one on probabilities; the
    out-of-fold probabilities returned are those the threshold is chosen on, and the same
    when the search's fold models are passed instead of fitted again."""
    from sklearn.base import clone
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict, cross_validate

    X, y = make_classification(n_samples=600, n_features=8, weights=[0.8], random_state=3)
    X, y = pd.DataFrame(X, columns=[f"f{i}" for i in range(8)]), pd.Series(y)
    estimator = (
        LogisticRegression(max_iter=500)
        if family == "logistic_regression"
        else RandomForestClassifier(n_estimators=30, random_state=0)
    )
    folds = StratifiedKFold(3, shuffle=True, random_state=7)
    model, out_of_fold = calibrate_out_of_fold(estimator, X, y, folds, "isotonic")
    reference = CalibratedClassifierCV(estimator, method="isotonic", cv=folds, ensemble=False).fit(
        X, y
    )
    np.testing.assert_allclose(model.predict_proba(X), reference.predict_proba(X), atol=1e-12)
    assert model.response == (
        "decision_function" if family == "logistic_regression" else "predict_proba"
    )
    raw = cross_val_predict(estimator, X, y, cv=folds, method=model.response)
    raw = raw[:, 1] if raw.ndim == 2 else raw
    np.testing.assert_allclose(out_of_fold, np.clip(model.calibrator.predict(raw), 0, 1))
    # Out of fold, not in sample: a forest's in-sample scores would rank the rows perfectly.
    assert roc_auc_score(y, out_of_fold) < 0.99
    # The search's fold models (cross_validate's, in split order) stand for the fold fits.
    fitted = cross_validate(estimator, X, y, cv=folds, return_estimator=True)["estimator"]
    reused, reused_out_of_fold = calibrate_out_of_fold(
        estimator, X, y, folds, "isotonic", fold_models=fitted
    )
    np.testing.assert_array_equal(reused_out_of_fold, out_of_fold)
    np.testing.assert_array_equal(reused.predict_proba(X), model.predict_proba(X))
    # A search's refit on every row stands for the final fit.
    refit = clone(estimator).fit(X, y)
    given, _ = calibrate_out_of_fold(estimator, X, y, folds, "isotonic", fitted=refit)
    assert given.pipeline is refit
    np.testing.assert_array_equal(given.predict_proba(X), model.predict_proba(X))
    with pytest.raises(ValueError):  # fold models of other folds are refused
        calibrate_out_of_fold(estimator, X, y, folds, "isotonic", fold_models=fitted[:2])
    # Sigmoid: Platt scaling, probabilities rising with the raw score.
    sigmoid, _ = calibrate_out_of_fold(estimator, X, y, folds, "sigmoid")
    order = np.argsort(raw)
    assert np.all(np.diff(sigmoid.calibrator.predict_proba(raw[order].reshape(-1, 1))[:, 1]) >= 0)


def test_metrics_are_computed_on_the_held_out_customers(trained):
    result, frame, labels, _ = trained
    held_out = result.test_predictions
    assert len(held_out) == pytest.approx(0.2 * len(frame), abs=1)
    out_of_fold = result.out_of_fold_predictions
    assert set(out_of_fold["customer_id"]).isdisjoint(held_out["customer_id"])
    assert len(out_of_fold) + len(held_out) == len(frame)
    assert result.metrics["auc_roc"] == pytest.approx(
        roc_auc_score(held_out["label"], held_out["score"])
    )
    for name in (
        "pr_auc",
        "f1",
        "brier",
        "brier_uncalibrated",
        "calibration_error",
        "top_decile_lift",
    ):
        assert np.isfinite(result.metrics[name]), name
    assert 0 < result.model.threshold < 1
    assert set(result.curves["curve"]) == {"roc", "calibration", "lift"}
    assert result.importances["importance_rank"].tolist() == list(
        range(1, len(result.importances) + 1)
    )
    top = set(result.importances["feature"].head(2))
    assert "orders_count_long_window" in top  # the planted signal
    assert result.positives == labels.sum()


def test_unseen_categories_and_missing_values_at_scoring(trained):
    result, frame, _, _ = trained
    odd = frame.head(5).copy()
    odd["gender"] = pd.array(["Z", None, "F", "M", "X"], dtype="str")
    odd["age"] = pd.array([None] * 5, dtype="Int32")
    score = result.model.score(odd)
    assert np.isfinite(score).all()


def test_a_deliberately_bad_model_fails_its_gates():
    # Labels unrelated to the features: the model can do no better than chance.
    frame, _ = make_features(seed=2)
    noise = pd.Series(np.random.default_rng(3).integers(0, 2, len(frame)), index=frame.index)
    from cible.ml.scoring.config import parse_scoring_config
    from scoring_data import LIGHT_CONFIG

    config = parse_scoring_config(LIGHT_CONFIG)
    spec = select_features(frame.reset_index(), None, [])
    bad = train_classifier(frame, noise, spec, config)
    failures = gate_failures(bad.metrics, GateConfig(min_auc=0.65, max_calibration_error=0.05))
    assert any("below the floor" in failure for failure in failures)
    assert gate_failures({"auc_roc": 0.8, "calibration_error": 0.01}, GateConfig()) == []
    # A target's own floor replaces the global one.
    lenient = TargetConfig(name="t", kind="purchase", horizon_days=30, min_auc=0.5)
    assert gate_failures({"auc_roc": 0.55, "calibration_error": 0.01}, GateConfig(), lenient) == []
    assert (
        "calibration error"
        in gate_failures({"auc_roc": 0.8, "calibration_error": 0.2}, GateConfig())[0]
    )


def test_partial_fit_learns_from_new_outcomes():
    frame, labels = make_features(n=2000, seed=4)
    spec = select_features(frame.reset_index(), None, [])
    first, later = frame.index[:300], frame.index[300:]
    online = fit_online_model(
        make_online_model(spec, 0.01, 1e-3), frame.loc[first], labels.loc[first], 1
    )
    coefficients = online.named_steps["model"].coef_.copy()
    scaler_mean = (
        online.named_steps["preprocess"].named_transformers_["numeric"]["scale"].mean_.copy()
    )
    update_online_model(online, frame.loc[later], labels.loc[later], epochs=3)
    assert not np.allclose(online.named_steps["model"].coef_, coefficients)
    # The preprocessing is not refitted by an update: only the weights move.
    np.testing.assert_array_equal(
        online.named_steps["preprocess"].named_transformers_["numeric"]["scale"].mean_, scaler_mean
    )


def test_the_float_block_equals_the_column_by_column_conversion():
    """as_float's one-call path gives the same matrix as converting each column."""
    from cible.ml.scoring.features import as_float, to_float

    rng = np.random.default_rng(0)
    n = 50
    frame = pd.DataFrame(
        {
            "ints": rng.integers(0, 9, n),
            "nullable_ints": pd.array(
                np.where(rng.random(n) < 0.3, None, rng.integers(0, 9, n)), dtype="Int64"
            ),
            "floats": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
            "float32": rng.normal(size=n).astype("float32"),
            "bools": rng.random(n) < 0.5,
            "nullable_bools": pd.array(
                np.where(rng.random(n) < 0.3, None, rng.random(n) < 0.5), dtype="boolean"
            ),
            "nullable_floats": pd.array(
                np.where(rng.random(n) < 0.3, None, rng.normal(size=n)), dtype="Float64"
            ),
        }
    )
    expected = np.column_stack([to_float(frame[c]) for c in frame.columns])
    np.testing.assert_array_equal(as_float(frame), expected)
    assert np.isnan(as_float(frame)).sum() == np.isnan(expected).sum() > 0
    # A text column takes the column-by-column path (numbers in text are parsed, others NaN).
    mixed = frame.assign(text=["1.5", "x"] * (n // 2))
    np.testing.assert_array_equal(as_float(mixed)[:, -1][:2], [1.5, np.nan])
