"""Evaluation of a probability score against 0/1 outcomes: the figures stored with every model
version (AUC-ROC, PR-AUC, F1 at the threshold, Brier, calibration curve and error, lift)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)


def best_f1_threshold(y_true: np.ndarray, score: np.ndarray) -> float:
    """The score threshold that maximises F1 (predict positive when score >= threshold)."""
    precision, recall, thresholds = precision_recall_curve(y_true, score)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    # The last precision/recall pair has no threshold.
    return float(thresholds[int(np.argmax(f1[:-1]))])


def calibration_table(y_true: np.ndarray, score: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Quantile bins of the score: mean predicted probability against the observed rate.

    Bins hold equal numbers of customers (ties in the score may merge bins), exactly as
    `sklearn.calibration.calibration_curve(strategy="quantile")`, plus their counts.
    """
    y_true, score = np.asarray(y_true, dtype=float), np.asarray(score, dtype=float)
    edges = np.percentile(score, np.linspace(0, 100, n_bins + 1))
    # scikit-learn's binning: interior edges, empty bins (tied edges) dropped by the groupby.
    bins = np.searchsorted(edges[1:-1], score)
    table = (
        pd.DataFrame({"bin": bins, "score": score, "label": y_true})
        .groupby("bin")
        .agg(
            mean_predicted=("score", "mean"),
            observed_rate=("label", "mean"),
            count=("label", "size"),
        )
        .reset_index(drop=True)
    )
    return table


def expected_calibration_error(y_true: np.ndarray, score: np.ndarray, n_bins: int = 10) -> float:
    """Weighted mean |observed rate - mean predicted probability| over quantile bins."""
    table = calibration_table(y_true, score, n_bins)
    weights = table["count"] / table["count"].sum()
    return float((weights * (table["observed_rate"] - table["mean_predicted"]).abs()).sum())


def lift_table(y_true: np.ndarray, score: np.ndarray, n_groups: int = 10) -> pd.DataFrame:
    """Customers sorted by score and cut into deciles (1 = highest scores): each decile's
    positive rate, its lift over the base rate, and the cumulative lift and capture."""
    y_true, score = np.asarray(y_true, dtype=float), np.asarray(score, dtype=float)
    order = np.argsort(-score, kind="stable")
    decile = np.empty(len(score), dtype=int)
    decile[order] = np.arange(len(score)) * n_groups // len(score) + 1
    base = y_true.mean()
    table = (
        pd.DataFrame({"decile": decile, "label": y_true, "score": score})
        .groupby("decile")
        .agg(customers=("label", "size"), positives=("label", "sum"), mean_score=("score", "mean"))
        .reset_index()
    )
    table["positive_rate"] = table["positives"] / table["customers"]
    table["lift"] = table["positive_rate"] / base if base > 0 else np.nan
    cumulative_rate = table["positives"].cumsum() / table["customers"].cumsum()
    table["cumulative_lift"] = cumulative_rate / base if base > 0 else np.nan
    table["cumulative_capture"] = table["positives"].cumsum() / max(y_true.sum(), 1)
    return table


def score_deciles(score: np.ndarray) -> np.ndarray:
    """Decile of each score within its population: 1 = the 10% highest, 10 = the lowest.

    Ties are broken by position, so deciles are equal-sized.
    """
    score = np.asarray(score, dtype=float)
    order = np.argsort(-score, kind="stable")
    decile = np.empty(len(score), dtype=np.int64)
    decile[order] = np.arange(len(score)) * 10 // max(len(score), 1) + 1
    return decile


def classification_metrics(
    y_true: np.ndarray, score: np.ndarray, threshold: float, n_bins: int = 10
) -> dict[str, float]:
    """The scalar figures of a probability score on labelled customers."""
    y_true, score = np.asarray(y_true, dtype=int), np.asarray(score, dtype=float)
    lift = lift_table(y_true, score)
    return {
        "auc_roc": float(roc_auc_score(y_true, score)),
        "pr_auc": float(average_precision_score(y_true, score)),
        "f1": float(f1_score(y_true, (score >= threshold).astype(int), zero_division=0)),
        "threshold": float(threshold),
        "brier": float(brier_score_loss(y_true, score)),
        "calibration_error": expected_calibration_error(y_true, score, n_bins),
        "top_decile_lift": float(lift["lift"].iloc[0]),
        "positive_rate": float(y_true.mean()),
        "mean_score": float(score.mean()),
        "rows": float(len(y_true)),
    }


def curves(y_true: np.ndarray, score: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """ROC, calibration and lift curves as long rows: curve, point, x, y, customers."""
    fpr, tpr, _ = roc_curve(y_true, score)
    # Keep the ROC light: at most ~200 points, always with both ends.
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 200)).astype(int))
    roc = pd.DataFrame({"curve": "roc", "x": fpr[keep], "y": tpr[keep], "customers": np.nan})
    calibration = calibration_table(y_true, score, n_bins)
    calibration = pd.DataFrame(
        {
            "curve": "calibration",
            "x": calibration["mean_predicted"],
            "y": calibration["observed_rate"],
            "customers": calibration["count"].astype(float),
        }
    )
    lift = lift_table(y_true, score)
    lift = pd.DataFrame(
        {
            "curve": "lift",
            "x": lift["decile"].astype(float),
            "y": lift["lift"],
            "customers": lift["customers"].astype(float),
        }
    )
    frame = pd.concat([roc, calibration, lift], ignore_index=True)
    frame["point"] = frame.groupby("curve").cumcount()
    return frame[["curve", "point", "x", "y", "customers"]]


def metric_rows(target: str, dataset: str, values: dict[str, float]) -> pd.DataFrame:
    """Long rows of a dict of scalar metrics (the `ml.model_metrics` rows of a version)."""
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    return pd.DataFrame(
        {
            "target": target,
            "dataset": dataset,
            "metric": list(values),
            "value": [float(v) for v in values.values()],
            "computed_at": now,
        }
    )
