"""Synthetic feature frames shaped like ``marts.fct_customer_features``, for tests and benchmarks.

Customers are drawn from a few planted groups that differ in basket, category mix, channel,
seasonality, browsing and campaign response, plus prospects (no order) and customers without
profiling consent, in the proportions of the demo data. Building the warehouse at a million
customers takes minutes; this takes seconds and exercises the same columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cible.privacy.consent import PROFILING_ALLOWED

CATEGORIES = (
    "leather_goods",
    "ready_to_wear",
    "shoes",
    "jewellery",
    "watches",
    "fragrance_beauty",
    "accessories",
    "home",
)
# Per group: orders per year, mean order value, favourite category, favoured channel
# (store, web, app), favoured season (sales, gifting, vip, summer or None), sessions a year.
GROUPS = (
    (5.0, 2600.0, "leather_goods", 0, "vip", 8.0),
    (1.6, 380.0, "accessories", 1, "gifting", 1.0),
    (1.0, 190.0, "shoes", 2, None, 25.0),
    (0.3, 1500.0, "watches", 0, None, 0.2),
    (2.0, 230.0, "ready_to_wear", 1, "sales", 6.0),
    (3.0, 115.0, "fragrance_beauty", 2, None, 10.0),
)


def synthetic_features(
    n_customers: int,
    seed: int = 0,
    prospect_share: float = 0.1,
    no_consent_share: float = 0.3,
    as_of: str = "2026-11-01",
) -> tuple[pd.DataFrame, np.ndarray]:
    """A features frame and the planted group of each customer (-1 for prospects).

    Returns:
        ``(features, groups)``: one row per customer with the columns the default
        configuration reads; groups aligned with the rows.
    """
    rng = np.random.default_rng(seed)
    n = int(n_customers)
    groups = rng.integers(0, len(GROUPS), size=n)
    prospect = rng.random(n) < prospect_share
    table = np.array([(*g[:2], g[3], g[5]) for g in GROUPS], dtype=float)
    rate, value, channel, sessions_rate = (table[groups, i] for i in range(4))

    orders = np.where(prospect, 0, 1 + rng.poisson(rate * 2.5))
    order_value = value * rng.lognormal(0.0, 0.25, size=n)
    revenue = np.where(orders > 0, orders * order_value, 0.0)
    recency = np.where(orders > 0, rng.gamma(2.0, 60.0 / np.sqrt(rate)), np.nan)
    orders_12m = np.where(
        orders > 0, rng.binomial(orders, np.clip(rate / (rate + 1), 0.05, 0.9)), 0
    )
    has_orders = orders > 0

    frame: dict[str, object] = {
        "customer_id": [f"K{i:09d}" for i in range(n)],
        "as_of_at": pd.Timestamp(as_of),
        "orders_count": orders.astype("int32"),
        "orders_count_long_window": orders_12m.astype("int32"),
        "revenue_eur": revenue,
        "revenue_long_window_eur": np.where(orders > 0, orders_12m * order_value, 0.0),
        "average_order_value_eur": np.where(has_orders, order_value, np.nan),
        "recency_days": recency,
    }
    favourite = np.array([CATEGORIES.index(g[2]) for g in GROUPS])[groups]
    alpha = np.full((n, len(CATEGORIES)), 0.3)
    alpha[np.arange(n), favourite] = 4.0
    mix = _dirichlet(rng, alpha)
    for j, category in enumerate(CATEGORIES):
        frame[f"{category}_revenue_share"] = np.where(has_orders, mix[:, j], np.nan)
    channel_alpha = np.full((n, 3), 0.5)
    channel_alpha[np.arange(n), channel.astype(int)] = 5.0
    channels = _dirichlet(rng, channel_alpha)
    for j, name in enumerate(("store", "web", "app")):
        frame[f"{name}_order_share"] = np.where(has_orders, channels[:, j], np.nan)
    season_of = np.array([g[4] or "" for g in GROUPS], dtype=object)[groups]
    for season in ("sales", "gifting", "vip", "summer"):
        favoured = season_of == season
        share = np.where(favoured, rng.beta(8, 2, n), rng.beta(1, 8, n))
        column = {
            "sales": "sales_period_order_share",
            "gifting": "gifting_period_order_share",
            "vip": "vip_event_order_share",
            "summer": "summer_order_share",
        }[season]
        frame[column] = np.where(has_orders, share, np.nan)
    frame["promo_order_share"] = np.where(
        has_orders, np.where(season_of == "sales", rng.beta(6, 2, n), rng.beta(1, 10, n)), np.nan
    )

    sessions = rng.poisson(sessions_rate)
    frame["sessions_long_window"] = sessions.astype("int32")
    mobile = np.where(groups == 2, rng.beta(6, 2, n), rng.beta(2, 5, n))
    frame["mobile_session_share"] = np.where(sessions > 0, mobile, np.nan)
    frame["app_session_share"] = np.where(sessions > 0, rng.beta(2, 3, n), np.nan)

    received = rng.poisson(3.0, n)
    open_p = np.where(groups == 3, 0.05, 0.3)
    opened = rng.binomial(received, open_p)
    clicked = rng.binomial(opened, 0.3)
    converted = rng.binomial(clicked, 0.2)
    frame.update(
        campaigns_received=received.astype("int32"),
        campaigns_opened=opened.astype("int32"),
        campaigns_clicked=clicked.astype("int32"),
        campaigns_converted=converted.astype("int32"),
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["campaign_open_rate"] = np.where(received > 0, opened / received, np.nan)
        frame["campaign_click_rate"] = np.where(received > 0, clicked / received, np.nan)
        frame["campaign_exclusive_offer_click_rate"] = np.where(
            received > 0, np.where(groups == 0, rng.beta(4, 4, n), rng.beta(1, 8, n)), np.nan
        )

    frame["age"] = np.clip(rng.normal(np.where(groups == 2, 25, 45), 8), 18, 90).astype("int32")
    frame["partner_income_band"] = pd.array(
        np.where(rng.random(n) < 0.5, rng.integers(1, 6, n), -1), dtype="Int32"
    )
    frame["partner_income_band"][frame["partner_income_band"] < 0] = pd.NA
    paris = np.where(groups == 0, rng.random(n) < 0.8, rng.random(n) < 0.2)
    frame["is_paris_region"] = paris
    departements = np.where(paris, "75", rng.choice(["06", "13", "33", "69", "59"], n))
    frame["departement_code"] = departements
    frame["profile_completeness"] = rng.uniform(0.5, 1.0, n)
    frame["has_profiling_consent"] = rng.random(n) >= no_consent_share
    # What the store reads from the consent state: the same decision as the flag here.
    frame[PROFILING_ALLOWED] = frame["has_profiling_consent"]
    frame["has_email_consent"] = rng.random(n) < 0.7
    frame["has_sms_consent"] = rng.random(n) < 0.4
    frame["has_email"] = rng.random(n) < 0.95

    recency_score = np.select(
        [recency <= 30, recency <= 90, recency <= 180, recency <= 365], [5, 4, 3, 2], 1
    )
    frequency_score = np.select(
        [orders_12m >= 10, orders_12m >= 5, orders_12m >= 3, orders_12m >= 2], [5, 4, 3, 2], 1
    )
    revenue_12m = frame["revenue_long_window_eur"]
    monetary_score = np.select(
        [revenue_12m >= 15000, revenue_12m >= 5000, revenue_12m >= 1500, revenue_12m >= 500],
        [5, 4, 3, 2],
        1,
    )
    for name, score in (
        ("recency_score", recency_score),
        ("frequency_score", frequency_score),
        ("monetary_score", monetary_score),
    ):
        frame[name] = pd.array(np.where(has_orders, score, 0), dtype="Int32")
        frame[name][~has_orders] = pd.NA
    frame["lifecycle_stage"] = np.select(
        [~has_orders, recency <= 180, recency <= 365], ["prospect", "active", "at_risk"], "lapsed"
    )
    return pd.DataFrame(frame), np.where(prospect, -1, groups)


def _dirichlet(rng: np.random.Generator, alpha: np.ndarray) -> np.ndarray:
    """Row-wise Dirichlet draws with per-row concentration parameters."""
    draws = rng.gamma(alpha)
    return draws / draws.sum(axis=1, keepdims=True)
