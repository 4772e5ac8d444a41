"""Small synthetic frames shaped like `fct_customer_features`, with a known signal."""

from __future__ import annotations

import numpy as np
import pandas as pd

LIGHT_CONFIG = {
    "targets": {"purchase_30d": {"kind": "purchase", "horizon_days": 30}},
    "training": {
        "cv_folds": 3,
        "n_iter": 1,
        "min_positives": 20,
        "permutation_importance": {"n_repeats": 1, "max_rows": 300},
        "models": {
            "logistic_regression": {"C": [0.1, 1.0]},
            "hist_gradient_boosting": {"max_iter": [30], "max_leaf_nodes": [7]},
        },
    },
    "gates": {"min_auc": 0.6, "max_calibration_error": 0.1},
}


def make_features(n: int = 1200, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Features with the mart's kinds of columns (nullable ints, booleans, text, timestamps)
    and a label driven by `orders_count_long_window` and `gender`."""
    rng = np.random.default_rng(seed)
    orders = rng.poisson(2.0, n)
    gender = rng.choice(["F", "M", "X"], n, p=[0.6, 0.38, 0.02])
    age = pd.array(rng.integers(18, 80, n), dtype="Int32")
    age[rng.random(n) < 0.1] = pd.NA
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i:05d}" for i in range(n)],
            "as_of_at": pd.Timestamp("2026-10-02"),
            "age": age,
            "orders_count_long_window": orders.astype("int32"),
            "average_order_value_eur": np.where(orders > 0, rng.gamma(4, 100, n), np.nan),
            "has_email_consent": rng.random(n) < 0.7,
            "partner_is_property_owner": pd.array(
                np.where(rng.random(n) < 0.5, rng.random(n) < 0.5, None), dtype="boolean"
            ),
            "gender": pd.array(gender, dtype="str"),
            "last_order_at": pd.Timestamp("2026-09-01"),
        }
    ).set_index("customer_id")
    logit = -2.5 + 0.8 * orders + 0.8 * (gender == "F")
    labels = pd.Series((rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int), index=frame.index)
    return frame, labels
