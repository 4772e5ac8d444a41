"""Segment profiles: size, feature means and lifts against the base, distinguishing features,
the figures the priority grid scores, and a generated name and description in two languages.

The base a segment is compared with is the population it was carved from: the clustered
customers for clustering segments (so that "high value" means high among buyers), every
customer of the run for the other segments.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from cible.ml.segmentation import rules

# Columns of the features table behind the figures every segment carries (priority grid,
# dim_segments). Documented in docs/segmentation.md.
KEY_FIGURE_COLUMNS = (
    "orders_count_long_window",
    "revenue_long_window_eur",
    "average_order_value_eur",
    "campaigns_received",
    "campaigns_opened",
    "campaigns_clicked",
    "campaigns_converted",
    "profile_completeness",
    "has_profiling_consent",
    "has_email_consent",
    "has_sms_consent",
)
PROFILE_COLUMNS = (
    "run_id",
    "segment_id",
    "feature",
    "base",
    "segment_mean",
    "base_mean",
    "base_std",
    "lift",
    "standardized_difference",
    "importance_rank",
)


def add_derived_flags(frame: pd.DataFrame, flags: Mapping[str, Mapping]) -> pd.DataFrame:
    """`frame` with one 0/1 column per derived flag of the config (e.g. lives on the Riviera)."""
    if not flags:
        return frame
    extra = {
        name: rules.evaluate(condition, frame).astype(float) for name, condition in flags.items()
    }
    return frame.assign(**extra)


def numeric_matrix(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The columns as floats (booleans 0/1, missing NaN)."""
    out = {}
    for column in columns:
        series = frame[column]
        if series.dtype == bool or str(series.dtype) == "boolean":
            series = series.astype("Float64")
        out[column] = pd.to_numeric(series, errors="coerce").astype(float)
    return pd.DataFrame(out, index=frame.index)


def feature_profiles(
    values: pd.DataFrame,
    members: Mapping[str, np.ndarray],
    bases: Mapping[str, np.ndarray],
    base_names: Mapping[str, str],
) -> pd.DataFrame:
    """Mean of every feature per segment, against its base, ranked by distinctiveness.

    Args:
        values: the profile features as floats, one row per customer of the run.
        members: boolean row mask of each segment.
        bases: boolean row mask of each segment's base population.
        base_names: ``clustered`` or ``all`` per segment.

    Returns:
        One row per (segment, feature): means (missing values skipped), ``lift`` (segment mean
        over base mean, null when the base mean is 0), ``standardized_difference`` ((segment
        mean - base mean) / base standard deviation) and ``importance_rank`` (1 = the feature
        whose standardized difference is largest in absolute value).
    """
    rows = []
    array = values.to_numpy(dtype=float)
    base_cache: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
    for segment_id, mask in members.items():
        base_mask = bases[segment_id]
        key = np.packbits(base_mask).tobytes()
        if key not in base_cache:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                base_cache[key] = (
                    np.nanmean(array[base_mask], axis=0),
                    np.nanstd(array[base_mask], axis=0),
                )
        base_mean, base_std = base_cache[key]
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-missing columns give NaN
            segment_mean = (
                np.nanmean(array[mask], axis=0) if mask.any() else np.full(array.shape[1], np.nan)
            )
            lift = np.where(base_mean != 0, segment_mean / base_mean, np.nan)
            difference = np.where(base_std > 0, (segment_mean - base_mean) / base_std, 0.0)
        difference = np.where(np.isnan(segment_mean), np.nan, difference)
        order = np.argsort(-np.nan_to_num(np.abs(difference), nan=-1.0), kind="stable")
        ranks = np.empty(len(order), dtype=int)
        ranks[order] = np.arange(1, len(order) + 1)
        for j, feature in enumerate(values.columns):
            rows.append(
                {
                    "segment_id": segment_id,
                    "feature": feature,
                    "base": base_names[segment_id],
                    "segment_mean": _clean(segment_mean[j]),
                    "base_mean": _clean(base_mean[j]),
                    "base_std": _clean(base_std[j]),
                    "lift": _clean(lift[j]),
                    "standardized_difference": _clean(difference[j]),
                    "importance_rank": int(ranks[j]),
                }
            )
    return pd.DataFrame(rows, columns=[c for c in PROFILE_COLUMNS if c != "run_id"])


def _clean(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def key_figures(frame: pd.DataFrame, mask: np.ndarray, total_customers: int) -> dict:
    """Size and the figures of a segment the priority grid scores.

    Rates are ratios of sums (campaigns converted over campaigns received), not means of
    customers' rates, so a customer who received one campaign does not weigh as much as one
    who received twenty.
    """
    part = frame.loc[mask]
    values = numeric_matrix(part, KEY_FIGURE_COLUMNS)
    received = values["campaigns_received"].sum()

    def rate(column: str) -> float | None:
        return float(values[column].sum() / received) if received > 0 else None

    def mean(column: str) -> float | None:
        series = values[column].dropna()
        return float(series.mean()) if len(series) else None

    customers = int(mask.sum())
    marketing = values["has_email_consent"].fillna(0).astype(bool) | values[
        "has_sms_consent"
    ].fillna(0).astype(bool)
    return {
        "customers": customers,
        "customer_share": customers / total_customers if total_customers else None,
        "orders_per_customer": mean("orders_count_long_window"),
        "revenue_per_customer_eur": float(values["revenue_long_window_eur"].fillna(0).mean())
        if customers
        else None,
        "average_order_value_eur": mean("average_order_value_eur"),
        "campaign_open_rate": rate("campaigns_opened"),
        "campaign_click_rate": rate("campaigns_clicked"),
        "campaign_conversion_rate": rate("campaigns_converted"),
        "profile_completeness": mean("profile_completeness"),
        "profiling_consent_rate": float(values["has_profiling_consent"].fillna(0).mean())
        if customers
        else None,
        "marketing_consent_rate": float(marketing.mean()) if customers else None,
    }


def distinguishing_traits(
    profile: pd.DataFrame, min_standardized_difference: float, limit: int
) -> list[tuple[str, str, float, float | None]]:
    """The features that set one segment apart most: ``(feature, "high"|"low", z, lift)``.

    Args:
        profile: the rows of :func:`feature_profiles` for one segment.
    """
    ranked = profile.dropna(subset=["standardized_difference"])
    ranked = ranked[ranked["standardized_difference"].abs() >= min_standardized_difference]
    ranked = ranked.sort_values("importance_rank").head(limit)
    return [
        (
            row.feature,
            "high" if row.standardized_difference > 0 else "low",
            float(row.standardized_difference),
            None if pd.isna(row.lift) else float(row.lift),
        )
        for row in ranked.itertuples()
    ]


def strategic_fit(profile: pd.DataFrame, fit_rules: Sequence, default: int) -> int:
    """A clustering segment's strategic fit: the best score of the rules its lifts satisfy.

    Args:
        profile: the rows of :func:`feature_profiles` for one segment.
        fit_rules: objects with ``feature``, ``min_lift`` and ``score``.
    """
    lifts = profile.set_index("feature")["lift"]
    scores = [
        rule.score
        for rule in fit_rules
        if rule.feature in lifts.index
        and pd.notna(lifts[rule.feature])
        and lifts[rule.feature] >= rule.min_lift
    ]
    return max(scores) if scores else default
