"""Metric functions against scikit-learn and against hand-computed values."""

import numpy as np
import pytest
from cible.ml.scoring import metrics
from sklearn.calibration import calibration_curve
from sklearn.metrics import f1_score, precision_recall_curve


@pytest.fixture
def scored():
    rng = np.random.default_rng(1)
    score = rng.random(2000)
    return (rng.random(2000) < score).astype(int), score


def test_calibration_table_is_scikit_learns_quantile_curve(scored):
    y, score = scored
    for values in (score, np.round(score, 1)):  # also with tied bin edges
        table = metrics.calibration_table(y, values, n_bins=10)
        observed, predicted = calibration_curve(y, values, n_bins=10, strategy="quantile")
        np.testing.assert_allclose(table["observed_rate"], observed)
        np.testing.assert_allclose(table["mean_predicted"], predicted)
        assert table["count"].sum() == len(y)


def test_expected_calibration_error_by_hand():
    y = np.array([0, 0, 1, 1])
    score = np.array([0.1, 0.1, 0.9, 0.5])
    # Two bins of two: {0.1, 0.1} mean 0.1 observed 0; {0.5, 0.9} mean 0.7 observed 1.
    assert metrics.expected_calibration_error(y, score, n_bins=2) == pytest.approx(0.2)
    perfect = np.repeat([0.2, 0.8], 500)
    labels = np.r_[np.repeat([1, 0], [100, 400]), np.repeat([1, 0], [400, 100])]
    assert metrics.expected_calibration_error(labels, perfect, n_bins=2) == pytest.approx(0.0)


def test_best_threshold_maximises_f1(scored):
    y, score = scored
    threshold = metrics.best_f1_threshold(y, score)
    best = f1_score(y, score >= threshold)
    _, _, thresholds = precision_recall_curve(y, score)
    assert all(f1_score(y, score >= t) <= best + 1e-12 for t in thresholds[::50])


def test_lift_by_decile():
    score = np.arange(100, dtype=float)
    y = (score >= 90).astype(int)  # every positive in the top decile
    table = metrics.lift_table(y, score)
    assert table["customers"].tolist() == [10] * 10
    assert table.loc[0, "lift"] == pytest.approx(10.0)
    assert table.loc[1:, "lift"].eq(0).all()
    assert table["cumulative_capture"].iloc[0] == 1.0


def test_deciles_are_equal_sized_and_top_first():
    deciles = metrics.score_deciles(np.linspace(0, 1, 1000))
    assert np.bincount(deciles)[1:].tolist() == [100] * 10
    assert deciles[-1] == 1 and deciles[0] == 10


def test_classification_metrics_match_scikit_learn(scored):
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y, score = scored
    values = metrics.classification_metrics(y, score, threshold=0.5)
    assert values["auc_roc"] == pytest.approx(roc_auc_score(y, score))
    assert values["pr_auc"] == pytest.approx(average_precision_score(y, score))
    assert values["brier"] == pytest.approx(brier_score_loss(y, score))
    assert values["f1"] == pytest.approx(f1_score(y, score >= 0.5))
    curves = metrics.curves(y, score)
    assert set(curves["curve"]) == {"roc", "calibration", "lift"}
