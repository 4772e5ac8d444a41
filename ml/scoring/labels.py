"""Point-in-time labels: what happened in the window [cutoff, cutoff + horizon).

Features come from a snapshot computed as of the cutoff (only data strictly before it); labels
come only from events inside the window after it. The functions below never look at an event
outside that window, except churn's definition of "active", which looks strictly before the
cutoff, like the features.
"""

from __future__ import annotations

import pandas as pd
from cible.ml.scoring.config import TargetConfig


class TrainingDataError(ValueError):
    """The data cannot train this target (too few labels, too short a history, a missing
    column); raised before any model is fitted, with a message saying what to change."""


def training_cutoff(
    current_as_of: pd.Timestamp, horizon_days: int, label_window: str = "latest"
) -> pd.Timestamp:
    """The cutoff of a target's label window.

    `latest`: the latest cutoff whose whole label window is known, the current as-of date
    minus the horizon (as-of dates are exclusive ends, so the window ends exactly at the
    current one). `same_season_last_year`: the current as-of date a calendar year earlier, so
    the label window is the one a year before the window the scores are for.

    Raises:
        TrainingDataError: a year back, the label window would reach the current as-of date
            (a horizon over a year).
    """
    current = pd.Timestamp(current_as_of)
    if label_window == "same_season_last_year":
        year_before = (current - pd.DateOffset(years=1)).normalize()
        if year_before + pd.Timedelta(days=horizon_days) > current:
            raise TrainingDataError(
                f"a label window of {horizon_days} days a year back would reach the current "
                f"as-of date {current:%Y-%m-%d}"
            )
        return year_before
    return (current - pd.Timedelta(days=horizon_days)).normalize()


def check_history(
    target: TargetConfig,
    current_as_of: pd.Timestamp,
    first_activity_at: pd.Timestamp | None,
    min_history_days: int,
    horizon_setting: str | None = None,
    history_setting: str = "training.min_history_days",
    label_window: str = "latest",
) -> pd.Timestamp:
    """The training cutoff of `target`, or a clear error when the history is too short for it.

    Args:
        current_as_of: the as-of date of the current features (end of the known data).
        first_activity_at: the earliest order in the warehouse (None: no order at all).
        min_history_days: history the features need before the cutoff.
        horizon_setting, history_setting: the settings the message names, so that a user
            changes the right one (default: the target's `horizon_days`, the training's
            `min_history_days`).
        label_window: `training.label_window` (`training_cutoff`).
    """
    if first_activity_at is None or pd.isna(first_activity_at):
        raise TrainingDataError(
            f"target {target.name}: the warehouse holds no order, so there is nothing to learn "
            "from; load orders first"
        )
    cutoff = training_cutoff(current_as_of, target.horizon_days, label_window)
    history = (cutoff - pd.Timestamp(first_activity_at).normalize()).days
    if history < min_history_days:
        span = (pd.Timestamp(current_as_of) - pd.Timestamp(first_activity_at)).days
        horizon_setting = horizon_setting or f"targets.{target.name}.horizon_days"
        raise TrainingDataError(
            f"target {target.name}: a horizon of {target.horizon_days} days is too long for the "
            f"data ({horizon_setting}): orders span {span} days "
            f"({pd.Timestamp(first_activity_at):%Y-%m-%d} to "
            f"{pd.Timestamp(current_as_of):%Y-%m-%d}), so the training cutoff would be "
            f"{cutoff:%Y-%m-%d} with only {max(history, 0)} days of history before it; "
            f"{min_history_days} are needed ({history_setting}). Shorten the horizon or wait "
            "for more data."
        )
    return cutoff


def _in_window(times: pd.Series, cutoff: pd.Timestamp, horizon_days: int) -> pd.Series:
    end = cutoff + pd.Timedelta(days=horizon_days)
    return (times >= cutoff) & (times < end)


def purchase_labels(
    customer_ids: pd.Index, orders: pd.DataFrame, cutoff: pd.Timestamp, horizon_days: int
) -> pd.Series:
    """1 when the customer placed at least one order in [cutoff, cutoff + horizon), else 0.

    Args:
        customer_ids: the population (customers of the feature snapshot as of the cutoff).
        orders: `customer_id`, `ordered_at`.
    """
    window = orders.loc[_in_window(orders["ordered_at"], cutoff, horizon_days), "customer_id"]
    return pd.Series(customer_ids.isin(window.unique()).astype(int), index=customer_ids)


def churn_labels(
    customer_ids: pd.Index,
    orders: pd.DataFrame,
    cutoff: pd.Timestamp,
    horizon_days: int,
    active_window_days: int,
) -> pd.Series:
    """Among customers active before the cutoff (an order in the `active_window_days` before
    it), 1 when they place no order in [cutoff, cutoff + horizon), else 0. Customers not
    active at the cutoff are outside the population (a prospect cannot churn)."""
    before = orders["ordered_at"] < cutoff
    recent = orders["ordered_at"] >= cutoff - pd.Timedelta(days=active_window_days)
    active = pd.Index(orders.loc[before & recent, "customer_id"].unique())
    population = customer_ids[customer_ids.isin(active)]
    bought = orders.loc[_in_window(orders["ordered_at"], cutoff, horizon_days), "customer_id"]
    return pd.Series((~population.isin(bought.unique())).astype(int), index=population)


def campaign_response_labels(
    customer_ids: pd.Index,
    campaign_events: pd.DataFrame,
    cutoff: pd.Timestamp,
    horizon_days: int,
    response_events: tuple[str, ...],
) -> pd.Series:
    """Among customers sent at least one campaign in [cutoff, cutoff + horizon), 1 when they
    responded (one of `response_events`, e.g. a click or a conversion) in that window.

    Args:
        campaign_events: `customer_id`, `event_type` (send/open/click/conversion),
            `occurred_at`, of known customers only.
    """
    window = campaign_events[_in_window(campaign_events["occurred_at"], cutoff, horizon_days)]
    sent = pd.Index(window.loc[window["event_type"] == "send", "customer_id"].unique())
    population = customer_ids[customer_ids.isin(sent)]
    responded = window.loc[window["event_type"].isin(response_events), "customer_id"].unique()
    return pd.Series(population.isin(responded).astype(int), index=population)


def build_labels(
    target: TargetConfig,
    customer_ids: pd.Index,
    cutoff: pd.Timestamp,
    orders: pd.DataFrame,
    campaign_events: pd.DataFrame | None = None,
) -> pd.Series:
    """The labels of a classification target for the customers of a snapshot as of `cutoff`."""
    customer_ids = pd.Index(customer_ids, name="customer_id")
    if target.kind == "purchase":
        labels = purchase_labels(customer_ids, orders, cutoff, target.horizon_days)
    elif target.kind == "churn":
        labels = churn_labels(
            customer_ids, orders, cutoff, target.horizon_days, target.active_window_days
        )
    elif target.kind == "campaign_response":
        if campaign_events is None:
            raise TrainingDataError(f"target {target.name} needs campaign events")
        labels = campaign_response_labels(
            customer_ids, campaign_events, cutoff, target.horizon_days, target.response_events
        )
    else:
        raise ValueError(f"target {target.name} ({target.kind}) has no classification labels")
    labels.index.name = "customer_id"
    return labels.rename(target.name)


def check_labels(target: TargetConfig, labels: pd.Series, min_positives: int, cutoff) -> None:
    """Stop with a clear message when the labels cannot train and validate a classifier."""
    positives, total = int(labels.sum()), len(labels)
    negatives = total - positives
    window = f"[{pd.Timestamp(cutoff):%Y-%m-%d}, +{target.horizon_days} days)"
    population = {
        "purchase": "customers",
        "churn": "customers active before the cutoff",
        "campaign_response": "customers sent a campaign in the window",
    }[target.kind]
    if total == 0:
        raise TrainingDataError(
            f"target {target.name}: no {population} for the window {window}; nothing to train on"
        )
    if positives < min_positives or negatives < min_positives:
        rarer, count = (
            ("positive", positives) if positives <= negatives else ("negative", negatives)
        )
        raise TrainingDataError(
            f"target {target.name}: only {count} {rarer} labels among {total} {population} for "
            f"the window {window} ({count / total:.1%}); at least {min_positives} of each class "
            "are needed to train and validate a model (training.min_positives). Use a longer "
            "horizon, more customers, or lower the minimum knowingly."
        )


def scoring_population(target: TargetConfig, features: pd.DataFrame) -> pd.Series:
    """Which customers of a feature table (as of its `as_of_at`) a target scores.

    Churn risk is defined for active customers only (an order in the `active_window_days`
    before the as-of date, read from `last_order_at`); every other target scores everyone.
    """
    if target.kind != "churn":
        return pd.Series(True, index=features.index)
    start = pd.to_datetime(features["as_of_at"]) - pd.Timedelta(days=target.active_window_days)
    return (pd.to_datetime(features["last_order_at"]) >= start).fillna(False).astype(bool)
