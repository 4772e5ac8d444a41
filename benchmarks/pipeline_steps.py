"""Each feature-selection and imputation option of the scoring pipeline on the demo's
`purchase_30d` training set: hold-out AUC, Brier, calibration error, the width the model
receives and the training time (prints a table; not a test).

    python benchmarks/pipeline_steps.py --customers 20000          # generates and builds
    python benchmarks/pipeline_steps.py --workdir /tmp/steps       # reuses a build there

The demo is generated, loaded and built by dbt in `--workdir` (kept, so a second run reuses
it), then the 30-day training snapshot is built as the `training_features` asset builds it.
Each option trains the real `train_classifier` (search, calibration, threshold, permutation
importance) with one candidate per family, so the figures compare the steps, not searches.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from cible.ml.scoring import store
from cible.ml.scoring.calibration import fitted_pipeline
from cible.ml.scoring.config import load_scoring_config, parse_scoring_config
from cible.ml.scoring.models import train_classifier

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from pipeline_support import dbt_command, generate_and_build  # noqa: E402 (the tests' helpers)

FAMILIES = {
    "logistic_regression": {"C": [0.05]},
    "random_forest": {
        "n_estimators": [100],
        "max_depth": [8],
        "min_samples_leaf": [20],
        "max_features": ["sqrt"],
    },
}
BOTH = tuple(FAMILIES)
# (feature_selection, imputation, families): multiple imputation, m times the fits, with the
# cheaper family only.
OPTIONS = [
    ("none", "median_with_indicator", BOTH),
    ("none", "median", BOTH),
    ("l1", "median_with_indicator", BOTH),
    ({"method": "pca", "n_components": 0.95}, "median_with_indicator", BOTH),
    ({"method": "pca", "n_components": 20}, "median_with_indicator", BOTH),
    ("lda", "median_with_indicator", BOTH),
    ({"method": "rfe", "n_features": 0.3}, "median_with_indicator", BOTH),
    ({"method": "rfe", "n_features": "auto"}, "median_with_indicator", BOTH),
    ("none", {"method": "iterative", "max_iter": 5}, BOTH),
    ("none", {"method": "iterative", "max_iter": 5, "imputations": 3}, ("logistic_regression",)),
]


def build(workdir: Path, customers: int, seed: int) -> Path:
    """The demo warehouse with the 30-day training snapshot (built once per workdir)."""
    warehouse = workdir / "warehouse.duckdb"
    if (workdir / "built").exists():
        return warehouse
    generate_and_build(workdir, customers=customers, seed=seed)
    plans = store.plan(load_scoring_config().subset(["purchase_30d"]), warehouse)
    for variables in store.snapshots(plans).values():
        dbt_command(["run", "--selector", "as_of", "--vars", json.dumps(variables)], warehouse)
    (workdir / "built").touch()
    return warehouse


def measure(warehouse: Path) -> pd.DataFrame:
    shipped = load_scoring_config().subset(["purchase_30d"])
    plan = store.plan(shipped, warehouse)[0]
    with store.ScoringStore.open(warehouse, read_only=True) as scoring_store:
        data = store.read_training_set(scoring_store, plan, shipped)
    print(f"{len(data.y)} labelled customers, {int(data.y.sum())} buyers", file=sys.stderr)
    rows = []
    for selection, imputation, families in OPTIONS:
        raw = shipped.model_dump(mode="json", exclude_unset=True)
        raw["training"].update(
            search="randomized",
            models=FAMILIES,
            feature_selection=selection,
            imputation=imputation,
            permutation_importance={"n_repeats": 1, "max_rows": 1000},
        )
        config = parse_scoring_config(raw)
        for family in families:
            start = time.perf_counter()
            trained = train_classifier(data.X, data.y, data.features, config, families=(family,))
            seconds = time.perf_counter() - start
            pipeline = fitted_pipeline(trained.model.estimator)
            first = getattr(pipeline, "pipelines_", [pipeline])[0]  # multiple imputation: m
            sample = data.X.head(50)
            rows.append(
                {
                    "feature_selection": config.training.feature_selection.describe(),
                    "imputation": config.training.imputation.describe(),
                    "family": family,
                    "columns_in": first.named_steps["preprocess"].transform(sample).shape[1],
                    "columns_model": first[:-1].transform(sample).shape[1],
                    "auc": trained.metrics["auc_roc"],
                    "brier": trained.metrics["brier"],
                    "calibration_error": trained.metrics["calibration_error"],
                    "seconds": seconds,
                }
            )
            print(json.dumps(rows[-1], default=str), flush=True)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="cible-steps-"))
    workdir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    warehouse = build(workdir, args.customers, args.seed)
    print(f"warehouse {warehouse} ready in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    table = measure(warehouse)
    print(table.to_string(index=False, float_format=lambda value: f"{value:.3f}"))


if __name__ == "__main__":
    main()
