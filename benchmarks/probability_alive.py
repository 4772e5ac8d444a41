"""How well P(alive) ranks customers who buy again (issue #17; prints figures, not a test).

The order history of a built warehouse (`marts.fct_orders`, customers allowed to be profiled)
is split at its end minus `--holdout-days`: BG/NBD and MBG/NBD are fitted on the orders
before, and each one's P(alive) as of the split is scored by its AUC against "ordered in the
held-out days", over every customer with an order before, and over the one-time buyers; with
each model's error on the total of held-out purchase days.

    python benchmarks/probability_alive.py --warehouse data/warehouse/cible.duckdb
"""

from __future__ import annotations

import argparse
from pathlib import Path

import duckdb
import pandas as pd
from cible.ml.scoring.lifetime_value import (
    LifetimeValueModel,
    purchase_days,
    transaction_summary,
)
from cible.ml.scoring.training import holdout_figures
from sklearn.metrics import roc_auc_score

from cible.privacy.consent import profiling_allowed_sql


def measure(warehouse: Path, holdout_days: int) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        orders = con.execute(
            "select customer_id, ordered_at, amount from marts.fct_orders "
            f"where {profiling_allowed_sql()}"
        ).df()
    end = orders["ordered_at"].max().floor("D") + pd.Timedelta(days=1)
    split = end - pd.Timedelta(days=holdout_days)
    summary = transaction_summary(orders, split)
    actual = purchase_days(orders, split, summary.index)
    bought, one_time = actual > 0, summary["frequency"] == 0
    model = LifetimeValueModel().fit(summary)
    rows = []
    for name, candidate in model.candidates_.items():
        alive = candidate.probability_alive(summary["frequency"], summary["recency"], summary["T"])
        figures = holdout_figures(candidate, summary, actual, holdout_days)
        rows.append(
            {
                "model": name,
                "auc_all": roc_auc_score(bought, alive),
                "auc_one_time_buyers": roc_auc_score(bought[one_time], alive[one_time]),
                "forecast": figures["holdout_predicted_purchases"],
                "actual": figures["holdout_actual_purchases"],
                "purchase_error": figures["holdout_purchase_error"],
            }
        )
    print(
        f"split {split:%Y-%m-%d}, {holdout_days} held-out days: {len(summary)} customers with "
        f"an order before ({one_time.sum()} one-time buyers), {bought.sum()} bought after"
    )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, default=Path("data/warehouse/cible.duckdb"))
    parser.add_argument("--holdout-days", type=int, default=180)
    args = parser.parse_args()
    print(measure(args.warehouse, args.holdout_days).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
