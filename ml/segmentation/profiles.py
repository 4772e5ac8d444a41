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


def profile_values(
    frame: pd.DataFrame, features: Sequence[str], vocabulary: Mapping
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The profiled features as floats and the support count of those measured on one.

    Profiled: `features`, then every feature of the vocabulary whose column is in `frame`; a
    value of a text column becomes a 0/1 indicator (missing where the column is).

    Returns:
        ``(values, support)``: one column per feature; support only for features with one.
    """
    columns = {feature: frame[feature] for feature in features}
    support = {}
    for feature, trait in vocabulary.items():
        if trait.column not in frame.columns:
            continue
        if trait.value is not None:
            column = frame[trait.column]
            columns[feature] = (
                (column.astype(str) == trait.value).astype(float).where(column.notna())
            )
        else:
            columns.setdefault(feature, frame[trait.column])
        if trait.support is not None and trait.support in frame.columns:
            support[feature] = frame[trait.support]
    values = numeric_matrix(pd.DataFrame(columns, index=frame.index), list(columns))
    return values, numeric_matrix(pd.DataFrame(support, index=frame.index), list(support))


def feature_profiles(
    values: pd.DataFrame,
    members: Mapping[str, np.ndarray],
    bases: Mapping[str, np.ndarray],
    base_names: Mapping[str, str],
    support: pd.DataFrame | None = None,
    support_prior: float = 0.0,
) -> pd.DataFrame:
    """Mean of every feature per segment, against its base, ranked by distinctiveness weighted
    by reliability.

    Args:
        values: the profile features as floats, one row per customer of the run.
        members: boolean row mask of each segment.
        bases: boolean row mask of each segment's base population.
        base_names: ``clustered`` or ``all`` per segment.
        support: per feature measured on a count (a share of sessions: the sessions), that
            count for each customer (missing = 0); features without a column are fully reliable.
        support_prior: the pseudo-observations of :func:`reliability`.

    Returns:
        One row per (segment, feature): means (missing values skipped), ``lift`` (segment mean
        over base mean, null when the base mean is 0), ``standardized_difference`` ((segment
        mean - base mean) / base standard deviation), ``reliability`` and ``importance_rank``
        (1 = the feature whose standardized difference times reliability is largest in absolute
        value).
    """
    rows = []
    array = values.to_numpy(dtype=float)
    counts = _support_matrix(values, support)
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
        trust = (
            reliability(counts[mask].mean(axis=0), support_prior)
            if mask.any()
            else np.ones(array.shape[1])
        )
        weighted = difference * trust
        order = np.argsort(-np.nan_to_num(np.abs(weighted), nan=-1.0), kind="stable")
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
                    "reliability": float(trust[j]),
                }
            )
    columns = [c for c in PROFILE_COLUMNS if c != "run_id"]
    return pd.DataFrame(rows, columns=[*columns, "reliability"])


def reliability(support: np.ndarray, prior: float) -> np.ndarray:
    """How far a segment's difference on a feature can be trusted, from 0 to 1: ``n / (n +
    prior)``, n the mean count per member the feature is measured on (inf for features that
    are not measured on a count: 1). A mobile share measured on 1.5 sessions a year counts
    1.5 / 4.5 = 0.33 with the default prior of 3; on 20 sessions, 0.87."""
    support = np.asarray(support, dtype=float)
    if prior <= 0:
        return np.ones_like(support)
    with np.errstate(invalid="ignore"):
        return np.where(np.isinf(support), 1.0, support / (support + prior))


def _support_matrix(values: pd.DataFrame, support: pd.DataFrame | None) -> np.ndarray:
    """The support count of each (customer, feature): inf where a feature has none."""
    counts = np.full(values.shape, np.inf)
    if support is not None:
        for j, feature in enumerate(values.columns):
            if feature in support.columns:
                counts[:, j] = support[feature].fillna(0).to_numpy(dtype=float)
    return counts


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
    # The threshold applies to the difference as far as it can be trusted (reliability).
    trusted = ranked["standardized_difference"] * ranked.get("reliability", 1.0)
    ranked = ranked[trusted.abs() >= min_standardized_difference]
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


def traits_text(traits: Sequence[tuple], reliabilities: Mapping[str, float]) -> str:
    """``feature +1.8 sd (x3.59)`` per trait, separated by ``; ``, with the reliability when
    under 1 (``mobile_session_share +3.0 sd (x2.10, reliability 0.33)``): it explains a rank
    that the raw difference alone would not."""
    parts = []
    for feature, _, z, lift in traits:
        notes = [f"x{lift:.2f}"] if lift is not None else []
        if reliabilities.get(feature, 1.0) < 0.995:
            notes.append(f"reliability {reliabilities[feature]:.2f}")
        parts.append(f"{feature} {z:+.1f} sd" + (f" ({', '.join(notes)})" if notes else ""))
    return "; ".join(parts)


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
