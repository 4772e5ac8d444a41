"""Training and scoring time and peak memory at 100k and 1M customers (prints figures).

    python benchmarks/scoring.py                      # 100k and 1M
    python benchmarks/scoring.py --customers 100000

Building the real warehouse at 1M customers takes long, so the feature mart is synthesised:
a DuckDB file holding `marts.fct_customer_features` shaped like the real one (110 features:
floats and nullable integers with missing values, booleans, five text columns, the
timestamps) and `marts.fct_orders` (about 5 orders per customer over three years). Labels
come from a known logistic model of a few features. Each phase runs in its own process so
that its peak resident memory is its own:

- `train`: read the features from DuckDB, `train_classifier` (the real search, calibration,
  threshold, permutation importance; on a stratified sample of `max_training_rows` = 200k,
  as configured by default) with two families of one candidate each and 3 folds, register
  and promote; then fit BG/NBD + Gamma-Gamma on every customer's order history;
- `score`: the real `score_customers` job: features streamed from DuckDB in batches of 100k,
  predictions, deciles, lifetime values, PSI drift, rows appended to `ml`.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

AS_OF = pd.Timestamp("2026-11-01")
CATEGORIES = {
    "gender": ["F", "M", "X"],
    "region_code": [
        "IDF",
        "PAC",
        "ARA",
        "NAQ",
        "OCC",
        "HDF",
        "GES",
        "PDL",
        "BRE",
        "NOR",
        "BFC",
        "CVL",
        "COR",
    ],
    "density_class": ["urban", "intermediate", "rural"],
    "age_band": ["18-24", "25-34", "35-44", "45-54", "55-64", "65+", "unknown"],
    "lifecycle_stage": ["prospect", "new", "active", "at_risk", "lapsed"],
}
BENCH_CONFIG = {
    "targets": {
        "purchase_30d": {"kind": "purchase", "horizon_days": 30},
        "lifetime_value": {"kind": "lifetime_value", "horizon_days": 365, "holdout_days": 365},
    },
    "training": {
        "cv_folds": 3,
        "n_iter": 1,
        "max_training_rows": 200_000,
        "permutation_importance": {"n_repeats": 2, "max_rows": 5000},
        "models": {
            "logistic_regression": {"C": [0.1]},
            "hist_gradient_boosting": {
                "max_iter": [150],
                "max_leaf_nodes": [15],
                "min_samples_leaf": [100],
            },
        },
    },
    "incremental": {"enabled": False},
}


def synthesise(customers: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A feature table and an order table of `customers` customers."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(2.0, 1.0, customers)  # orders per year
    columns: dict[str, object] = {
        "customer_id": pd.array([f"c{i:08d}" for i in range(customers)], dtype="str"),
        "as_of_at": np.full(customers, AS_OF),
    }
    signal = np.log1p(rate)
    for i in range(60):
        values = signal * rng.normal(0.5, 0.3) + rng.normal(0, 1, customers)
        values[rng.random(customers) < 0.15] = np.nan
        columns[f"rate_{i:02d}"] = values
    for i in range(25):
        counts = pd.array(rng.poisson(rate * (1 + i % 3)), dtype="Int32")
        counts[rng.random(customers) < 0.05] = pd.NA
        columns[f"count_{i:02d}"] = counts
    for i in range(10):
        columns[f"has_{i:02d}"] = rng.random(customers) < 0.3 + 0.04 * i
    for name, values in CATEGORIES.items():
        columns[name] = pd.array(rng.choice(values, customers), dtype="str")
    first = AS_OF - pd.to_timedelta(rng.integers(30, 1095, customers), unit="D")
    columns["first_order_at"] = first
    columns["last_order_at"] = AS_OF - pd.to_timedelta(rng.integers(1, 365, customers), unit="D")
    features = pd.DataFrame(columns)

    counts = rng.poisson(rate * 3)
    owner = np.repeat(np.arange(customers), counts)
    days = rng.integers(0, 3 * 365, len(owner))
    orders = pd.DataFrame(
        {
            "customer_id": features["customer_id"].to_numpy()[owner],
            "ordered_at": AS_OF - pd.to_timedelta(days + 1, unit="D"),
            "amount": np.round(rng.gamma(6, 1 / rng.gamma(10, 1 / 900, customers))[owner], 2),
        }
    )
    return features, orders


def labels_for(features: pd.DataFrame, seed: int = 1) -> pd.Series:
    rng = np.random.default_rng(seed)
    logit = -2.5 + 0.6 * features["rate_00"].fillna(0) + 0.4 * (features["gender"] == "F")
    return pd.Series((rng.random(len(features)) < 1 / (1 + np.exp(-logit))).astype(int))


def phase_setup(folder: Path, customers: int) -> dict:
    from cible import warehouse

    features, orders = synthesise(customers)
    warehouse.write_table(features, "marts.fct_customer_features", folder / "warehouse.duckdb")
    warehouse.write_table(orders, "marts.fct_orders", folder / "warehouse.duckdb")
    return {"orders": len(orders)}


def phase_train(folder: Path, customers: int) -> dict:
    from cible.ml.scoring.config import parse_scoring_config
    from cible.ml.scoring.features import select_features
    from cible.ml.scoring.models import train_classifier
    from cible.ml.scoring.registry import ModelRegistry
    from cible.ml.scoring.store import ScoringStore
    from cible.ml.scoring.training import TrainingPlan, train_lifetime_value

    from cible import warehouse

    db = folder / "warehouse.duckdb"
    config = parse_scoring_config(BENCH_CONFIG)
    start = time.perf_counter()
    features = warehouse.read_table("marts.fct_customer_features", db).set_index("customer_id")
    read = time.perf_counter() - start
    labels = labels_for(features.reset_index()).set_axis(features.index)
    spec = select_features(features.reset_index(), None, ["first_order_at", "last_order_at"])
    trained = train_classifier(features[spec.columns], labels, spec, config)
    with ScoringStore.open(db) as store:
        registry = ModelRegistry(folder / "models", store)
        version = registry.register(
            "purchase_30d",
            "purchase",
            trained.model.family,
            trained.model,
            {"training_cutoff_at": AS_OF - pd.Timedelta(days=30)},
        )
        registry.decide(version.model_version, [])
        classifier = time.perf_counter() - start
        ltv_start = time.perf_counter()
        target = config.lifetime_value_target
        plan = TrainingPlan(target, AS_OF - pd.Timedelta(days=target.holdout_days), None)
        ltv = train_lifetime_value(plan, config, store.read_orders(end=AS_OF))
        ltv_version = registry.register(
            target.name, target.kind, ltv.model_family, ltv.model, ltv.metadata
        )
        registry.decide(ltv_version.model_version, [])
    return {
        "read_seconds": round(read, 1),
        "classifier_seconds": round(classifier, 1),
        "phases": {k: round(v, 1) for k, v in trained.seconds.items()},
        "family": trained.model.family,
        "training_rows": trained.training_rows,
        "auc_roc": round(trained.metrics["auc_roc"], 4),
        "lifetime_value_seconds": round(time.perf_counter() - ltv_start, 1),
        "ltv_holdout_error": round(ltv.metrics["holdout_purchase_error"], 4),
    }


def phase_score(folder: Path, customers: int) -> dict:
    from cible.ml.scoring.config import parse_scoring_config
    from cible.ml.scoring.store import score_and_publish

    db = folder / "warehouse.duckdb"
    start = time.perf_counter()
    outcome = score_and_publish(parse_scoring_config(BENCH_CONFIG), folder / "models", db)
    return {"seconds": round(time.perf_counter() - start, 1), "customers": outcome.customers}


PHASES = {"setup": phase_setup, "train": phase_train, "score": phase_score}


def run_phase(phase: str, folder: Path, customers: int) -> dict:
    """One phase in its own process: its figures and its own peak RSS."""
    start = time.perf_counter()
    output = (
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--phase",
                phase,
                "--folder",
                str(folder),
                "--customers",
                str(customers),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    figures = json.loads(output)
    figures["wall_seconds"] = round(time.perf_counter() - start, 1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, action="append")
    parser.add_argument("--phase", choices=list(PHASES))
    parser.add_argument("--folder", type=Path)
    args = parser.parse_args()
    if args.phase:
        import warnings

        warnings.simplefilter("ignore")
        figures = PHASES[args.phase](args.folder, args.customers[0])
        figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(json.dumps(figures))
        return
    for customers in args.customers or [100_000, 1_000_000]:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            setup = run_phase("setup", folder, customers)
            train = run_phase("train", folder, customers)
            score = run_phase("score", folder, customers)
        print(f"\n== {customers:,} customers ({setup['orders']:,} orders), synthetic feature mart")
        print(
            f"training: {train['wall_seconds']} s wall (read {train['read_seconds']} s, "
            f"classifier {train['classifier_seconds']} s on {train['training_rows']:,} sampled "
            f"rows {train['phases']}, chose {train['family']}, AUC {train['auc_roc']}; "
            f"BG/NBD + Gamma-Gamma {train['lifetime_value_seconds']} s), "
            f"peak RSS {train['peak_rss_mb']} MB"
        )
        print(
            f"scoring: {score['wall_seconds']} s wall ({score['seconds']} s in score_customers "
            f"for {score['customers']:,} customers), peak RSS {score['peak_rss_mb']} MB"
        )


if __name__ == "__main__":
    main()
