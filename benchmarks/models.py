"""Models against the generator's truth, and every method side by side (issue #17; prints
tables, not a test).

    python benchmarks/models.py --profile maison --customers 20000 --workdir /tmp/cible-models
    python benchmarks/models.py --profile contrast --parts families --customers 200000

For one generator profile the script generates the demo (`cible.demo.generate`), loads it and
runs `dbt build` (the loader and dbt of `make run`), builds the training snapshots with dbt
(`dbt run --selector as_of`, as the `training_features` asset does), then runs the project's
own code and compares it with the truth folder, which the pipeline never reads:

- `done` ("Done when"): `train_and_publish` with the scoring configuration
  (`CIBLE_SCORING_CONFIG`, default the shipped `config/scoring.yml`; timed: the
  model-selection step), `score_and_publish` as of the end of the history, and each score
  against what happened in the 30 or 90 days after it (`outcomes.parquet`), beside the oracle:
  the true probability (`persons.parquet`) against the same outcome on the same customers,
  overall and per planted persona; mean score against mean true probability per persona;
  `probability_alive` against "ordered in the next 90 days" (the longest window the truth
  holds); the purchase_30d model's own hold-out (its evaluation split and out-of-fold scores
  against `p_purchase_30d_before_end`, the oracle of its label window).
- `families`: every scoring family under every search strategy (optuna, randomized, grid)
  on the purchase_30d training set through `train_classifier`: hold-out AUC, PR-AUC, Brier,
  calibration error of the calibrated model, fit time, score time on every current customer.
- `clustering`: `run_and_publish` of the segmentation with each algorithm of
  `config/segmentation.yml`: ARI of the clustered customers against the planted personas,
  silhouette, k, time.

Churn has no exact oracle: the truth's outcomes cover 90 days and the churn window is 180.
Its scores are compared with "no order in the next 90 days" among the customers it scores,
whose true probability is exp(-expected_orders_90d): a proxy, and said so in the output.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn.metrics import adjusted_rand_score, roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PARTS = ("done", "families", "clustering")
STRATEGIES = ("optuna", "randomized", "grid")
CLUSTERING = ("kmeans", "agglomerative", "dbscan", "hdbscan")
# Grid search needs lists: a small grid per family (2 to 4 candidates) around the shipped
# ranges, the other hyperparameters at a middle value of their range.
GRIDS = {
    "logistic_regression": {"C": [0.01, 0.1, 1.0], "class_weight": [None]},
    "random_forest": {
        "n_estimators": [150],
        "max_depth": [8, 12],
        "min_samples_leaf": [20, 50],
        "max_features": ["sqrt"],
    },
    "hist_gradient_boosting": {
        "learning_rate": [0.05, 0.1],
        "max_iter": [150],
        "max_leaf_nodes": [7, 15],
        "min_samples_leaf": [50],
        "l2_regularization": [1.0],
    },
    "mlp": {
        "hidden_layer_sizes": [[32], [64]],
        "alpha": [1.0e-4, 1.0e-2],
        "learning_rate_init": [1.0e-3],
    },
}


def say(text: str = "") -> None:
    print(text, flush=True)


def table(frame: pd.DataFrame) -> None:
    say(frame.to_string(index=False, float_format=lambda value: f"{value:.3f}"))


# ---------- building


def dbt(args: list[str], warehouse: Path) -> None:
    # The warehouse benchmark's command line; the artifacts stay in the work folder.
    from warehouse import dbt_step  # benchmarks/warehouse.py, beside this script

    from cible import settings
    from cible.dbt_cli import dbt_environment

    subprocess.run(
        dbt_step(args[0], warehouse.parent / "dbt_target", *args[1:]),
        cwd=settings.DBT_PROJECT_DIR,
        env=dbt_environment(warehouse),
        check=True,
    )


def build(workdir: Path, profile: str, customers: int, seed: int) -> dict[str, float]:
    """Generate, load, `dbt build`, and the training snapshots; the seconds of each."""
    from cible.demo import generate
    from cible.loader import load_landing

    landing, truth, warehouse = workdir / "landing", workdir / "truth", workdir / "cible.duckdb"
    clock: dict[str, float] = {}
    start = time.perf_counter()
    generate(landing, truth, n_customers=customers, seed=seed, profile=profile)
    clock["generate"] = time.perf_counter() - start
    start = time.perf_counter()
    load_landing(landing_dir=landing, warehouse=warehouse)
    clock["load"] = time.perf_counter() - start
    start = time.perf_counter()
    dbt(["build"], warehouse)
    clock["dbt build"] = time.perf_counter() - start
    start = time.perf_counter()
    build_snapshots(warehouse)
    clock["snapshots"] = time.perf_counter() - start
    return clock


def build_snapshots(warehouse: Path, only_missing: bool = False) -> None:
    """The training snapshots the scoring configuration (CIBLE_SCORING_CONFIG) needs; with
    `only_missing`, those not in the warehouse yet or as of another date (`--reuse` with
    another configuration, e.g. another `training.label_window`)."""
    import duckdb
    from cible.ml.scoring.config import load_scoring_config
    from cible.ml.scoring.store import plan, snapshots

    from cible import settings

    config = load_scoring_config(settings.scoring_config_path())
    for relation, variables in snapshots(plan(config, warehouse)).items():
        if only_missing:
            try:
                built = query(warehouse, f"select max(as_of_at) as as_of from {relation}")
                if f"{built['as_of'].iloc[0]:%Y-%m-%d}" == variables["as_of_date"]:
                    continue
            except duckdb.CatalogException:  # not built yet
                pass
        dbt(["run", "--selector", "as_of", "--vars", json.dumps(variables)], warehouse)


# ---------- truth


def query(warehouse: Path, sql: str) -> pd.DataFrame:
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).df()


def persons_of_customers(workdir: Path) -> pd.DataFrame:
    """The truth of each warehouse customer whose records all belong to one person."""
    identities = query(
        workdir / "cible.duckdb",
        "select customer_number, customer_id from intermediate.int_customer_identities_resolved",
    )
    records = pd.read_parquet(workdir / "truth" / "records.parquet")
    joined = identities.merge(records[["customer_number", "person_id"]], on="customer_number")
    persons = joined.groupby("customer_id")["person_id"]
    person = persons.first()[persons.nunique() == 1]
    truth = pd.read_parquet(workdir / "truth" / "persons.parquet").merge(
        pd.read_parquet(workdir / "truth" / "outcomes.parquet"), on="person_id"
    )
    truth["p_purchase_90d"] = 1 - np.exp(-truth["expected_orders_90d"])
    truth["p_no_order_90d"] = np.exp(-truth["expected_orders_90d"])
    frame = person.rename("person_id").reset_index().merge(truth, on="person_id")
    return frame.set_index("customer_id")


def auc(labels: pd.Series, score: pd.Series) -> float:
    return float(roc_auc_score(labels, score)) if labels.nunique() == 2 else float("nan")


def against_oracle(
    frame: pd.DataFrame, score: str, truth: str, label: pd.Series, group: str = "persona"
) -> pd.DataFrame:
    """Model and oracle AUC, mean score and mean true probability: overall and per group."""
    rows = []
    for name, part in [("all", frame), *frame.groupby(group)]:
        y = label.loc[part.index]
        model, oracle = auc(y, part[score]), auc(y, part[truth])
        rows.append(
            {
                group: name,
                "customers": len(part),
                "positive_rate": y.mean(),
                "model_auc": model,
                "oracle_auc": oracle,
                "auc_gap": oracle - model,
                "mean_score": part[score].mean(),
                "mean_true_p": part[truth].mean(),
                "calibration_gap": part[score].mean() - part[truth].mean(),
            }
        )
    return pd.DataFrame(rows)


# ---------- "Done when"


def unpublished_scores(config, models: Path, warehouse: Path, scored: set[str]) -> pd.DataFrame:
    """Scores of the classifier targets without a promoted version (a gate failed), from their
    latest version, on the customers the target scores: measured, even though not published."""
    from cible.ml.scoring.labels import scoring_population
    from cible.ml.scoring.registry import ModelRegistry
    from cible.ml.scoring.store import ScoringStore

    from cible import warehouse as cible_warehouse

    missing = [t for t in config.targets.values() if t.is_classifier and t.name not in scored]
    if not missing:
        return pd.DataFrame()
    current = cible_warehouse.read_table("marts.fct_customer_features", warehouse)
    current = current.set_index("customer_id")
    columns = {}
    with ScoringStore.open(warehouse, read_only=True) as store:
        registry = ModelRegistry(models, store)
        for target in missing:
            versions = registry.versions(target.name)
            if not len(versions):
                continue
            model, _ = registry.load(versions["model_version"].iloc[-1])
            rows = current.loc[scoring_population(target, current)]
            columns[target.name] = pd.Series(model.score(rows), index=rows.index)
    return pd.DataFrame(columns)


def done(workdir: Path, retrain: bool = True) -> dict:
    from cible.ml.scoring.config import load_scoring_config
    from cible.ml.scoring.registry import ModelRegistry
    from cible.ml.scoring.store import ScoringStore, score_and_publish, train_and_publish

    from cible import settings

    warehouse, models = workdir / "cible.duckdb", workdir / "models"
    config = load_scoring_config(settings.scoring_config_path())
    build_snapshots(warehouse, only_missing=True)
    if retrain:
        start = time.perf_counter()
        outcomes = train_and_publish(config, models, warehouse)
        training_seconds = time.perf_counter() - start
    else:  # the models trained by an earlier run in this workdir
        outcomes, training_seconds = [], float("nan")
    say(
        f"\n-- training ({settings.scoring_config_path()}): {training_seconds:.0f} s wall, "
        "all targets"
    )
    rows = []
    for outcome in outcomes:
        details = outcome.details or {}
        rows.append(
            {
                "target": outcome.target,
                "family": details.get("family", ""),
                "status": outcome.version.status,
                "holdout_auc": outcome.metrics.get("auc_roc", np.nan),
                "calibration_error": outcome.metrics.get("calibration_error", np.nan),
                "seconds": sum((details.get("seconds") or {}).values()),
            }
        )
    table(pd.DataFrame(rows))
    if getattr(outcomes, "skipped", None):
        say(f"skipped: {outcomes.skipped}")
    for outcome in outcomes:
        board = (outcome.details or {}).get("leaderboard")
        if board is not None and len(board):
            say(f"leaderboard {outcome.target}:")
            table(
                board[
                    [
                        "family",
                        "cv_score",
                        "candidates",
                        "holdout_auc_roc",
                        "holdout_pr_auc",
                        "holdout_brier",
                        "fit_seconds",
                        "search_seconds",
                    ]
                ]
            )

    start = time.perf_counter()
    scored = score_and_publish(config, models, warehouse)
    say(f"\n-- scoring: {time.perf_counter() - start:.0f} s, {scored.customers:,} customers")
    truth = persons_of_customers(workdir)
    scores = scored.tables["customer_scores"].pivot(
        index="customer_id", columns="target", values="score"
    )
    rejected = unpublished_scores(config, models, warehouse, set(scores.columns))
    # Only customers the published scores cover: those allowed to be profiled.
    rejected = rejected.loc[rejected.index.intersection(scores.index)]
    if len(rejected.columns):
        say(f"scored by the benchmark with their latest, unpublished version: {list(rejected)}")
    frame = truth.join(scores.join(rejected, how="outer"), how="inner")
    figures: dict = {
        "training_seconds": training_seconds,
        "unpublished_scored": list(rejected.columns),
        "targets": {},
    }
    checks = {
        "purchase_30d": ("p_purchase_30d", frame["orders_next_30d"] > 0, "ordered in 30 days"),
        "purchase_90d": ("p_purchase_90d", frame["orders_next_90d"] > 0, "ordered in 90 days"),
        "churn_risk": (
            "p_no_order_90d",
            frame["orders_next_90d"] == 0,
            "PROXY: no order in 90 days (target: 180)",
        ),
    }
    for target, (oracle, label, what) in checks.items():
        if target not in frame:
            say(f"\n{target}: not scored")
            continue
        part = frame.dropna(subset=[target])
        result = against_oracle(part, target, oracle, label.loc[part.index])
        say(f"\n{target} as of the end of the history, against '{what}' (oracle: {oracle})")
        table(result)
        figures["targets"][target] = result.to_dict(orient="records")

    # The purchase_30d model's own hold-out: its label window is the history's last 30 days.
    with ScoringStore.open(warehouse, read_only=True) as store:
        registry = ModelRegistry(models, store)
        version = registry.current("purchase_30d")
        rule = version and registry.metadata(version.model_version).get("label_window_rule")
        if rule not in (None, "latest"):
            say(
                "\npurchase_30d's hold-out: not compared, its label window is not the "
                "history's last 30 days (the truth's only in-window oracle)"
            )
        elif version is not None:
            held = pd.concat(
                [
                    registry.table(version.model_version, "evaluation").assign(split="hold-out"),
                    registry.table(version.model_version, "out_of_fold").assign(
                        split="out of fold"
                    ),
                ]
            ).set_index("customer_id")
            held = held.join(truth, how="inner")
            result = against_oracle(
                held, "score", "p_purchase_30d_before_end", held["label"].astype(bool)
            )
            say(
                "\npurchase_30d, the model's hold-out split and out-of-fold scores pooled, "
                "label window = last 30 days (oracle: p_purchase_30d_before_end)"
            )
            table(result)
            figures["purchase_30d_holdout"] = result.to_dict(orient="records")

    values = scored.tables.get("customer_lifetime_values")
    if values is not None and len(values):
        values = values.set_index("customer_id").join(truth, how="inner")
        values = values.dropna(subset=["probability_alive"])
        bought = values["orders_next_90d"] > 0
        rows = [
            {"persona": name, "customers": len(part), "bought_share": bought.loc[part.index].mean()}
            | {
                "auc": auc(bought.loc[part.index], part["probability_alive"]),
                "mean_p_alive": part["probability_alive"].mean(),
            }
            for name, part in [("all", values), *values.groupby("persona")]
        ]
        say("\nprobability_alive against 'ordered in the next 90 days' (truth's longest window)")
        result = pd.DataFrame(rows)
        table(result)
        figures["probability_alive"] = result.to_dict(orient="records")
    return figures


# ---------- scoring families side by side


def families(
    workdir: Path,
    customers: int,
    strategies: tuple[str, ...] = STRATEGIES,
    only: tuple[str, ...] | None = None,
) -> list[dict]:
    from cible.ml.scoring.config import DEFAULT_PATH, parse_scoring_config
    from cible.ml.scoring.models import train_classifier
    from cible.ml.scoring.store import ScoringStore, plan, read_training_set

    from cible import warehouse as cible_warehouse

    warehouse = workdir / "cible.duckdb"
    shipped = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    shipped["targets"] = {"purchase_30d": shipped["targets"]["purchase_30d"]}
    shipped["incremental"] = {"enabled": False}
    # Permutation importance only reports; one repeat on 1,000 rows keeps it out of the times.
    shipped["training"]["permutation_importance"] = {"n_repeats": 1, "max_rows": 1000}
    config = parse_scoring_config(shipped)
    training_plan = plan(config, warehouse)[0]
    with ScoringStore.open(warehouse, read_only=True) as store:
        data = read_training_set(store, training_plan, config)
    current = cible_warehouse.read_table("marts.fct_customer_features", warehouse)
    truth = persons_of_customers(workdir)["p_purchase_30d_before_end"]
    say(
        f"\n-- purchase_30d training set: {len(data.y):,} customers, {int(data.y.sum()):,} "
        f"positive; score time on {len(current):,} current customers"
    )
    rows = []
    for strategy in strategies:
        for family in only or list(shipped["training"]["models"]):
            settings = json.loads(json.dumps(shipped))
            settings["training"]["search"] = strategy
            if strategy == "grid":
                settings["training"]["models"] = {family: GRIDS[family]}
            config = parse_scoring_config(settings)
            start = time.perf_counter()
            trained = train_classifier(
                data.X, data.y, data.features, config, data.reference, (family,)
            )
            seconds = time.perf_counter() - start
            start = time.perf_counter()
            trained.model.score(current)
            score_seconds = time.perf_counter() - start
            held = trained.test_predictions.set_index("customer_id").join(truth, how="inner")
            board = trained.leaderboard.iloc[0]
            row = {
                "strategy": strategy,
                "family": family,
                "candidates": int(board["candidates"]),
                "cv_auc": board["cv_score"],
                "auc": trained.metrics["auc_roc"],
                "oracle_auc": auc(held["label"], held["p_purchase_30d_before_end"]),
                "pr_auc": trained.metrics["pr_auc"],
                "brier": trained.metrics["brier"],
                "calib_err": trained.metrics["calibration_error"],
                "fit_s": board["fit_seconds"],
                "search_s": board["search_seconds"],
                "train_s": seconds,
                "score_s": score_seconds,
            }
            rows.append(row)
            say(
                "  "
                + ", ".join(
                    f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()
                )
            )
    say(f"\nscoring families x search strategies, purchase_30d, {customers:,} customers")
    table(pd.DataFrame(rows))
    return rows


# ---------- clustering algorithms


def clustering(workdir: Path) -> list[dict]:
    from cible.ml.segmentation.config import DEFAULT_CONFIG_PATH
    from cible.ml.segmentation.store import run_and_publish

    warehouse = workdir / "cible.duckdb"
    persona = persons_of_customers(workdir)["persona"]
    shipped = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    rows = []
    for algorithm in CLUSTERING:
        settings = json.loads(json.dumps(shipped))
        settings["algorithm"]["name"] = algorithm
        path = workdir / f"segmentation_{algorithm}.yml"
        path.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
        start = time.perf_counter()
        result = run_and_publish(
            path, warehouse, refit=True, model_dir=workdir / "segmentation" / algorithm
        )
        seconds = time.perf_counter() - start
        assigned = result.tables["segment_assignments"].set_index("customer_id")
        population = assigned[assigned["segment_kind"].isin(["cluster", "noise"])]
        population = population.join(persona, how="inner")
        clustered = population[population["segment_kind"] == "cluster"]
        quality = result.tables["segment_quality"].iloc[0]
        rows.append(
            {
                "algorithm": algorithm,
                "k": result.summary["k"],
                "clustered": len(clustered),
                "noise_share": 1 - len(clustered) / max(len(population), 1),
                # Noise is a label of its own here: left out, it would flatter density methods.
                "ari": adjusted_rand_score(population["persona"], population["segment_id"]),
                "ari_clustered": adjusted_rand_score(clustered["persona"], clustered["segment_id"]),
                "silhouette": quality["silhouette"],
                "bootstrap_ari": quality["bootstrap_ari_mean"],
                # After the first algorithm, the temporal stability gate compares each run
                # with the previous algorithm's (one warehouse): read it with that in mind.
                "published": bool(result.tables["segment_runs"]["is_published"].iloc[0]),
                "seconds": seconds,
            }
        )
        say("  " + ", ".join(f"{k} {v}" for k, v in rows[-1].items()))
        if algorithm == "kmeans":
            crosstab = pd.crosstab(clustered["persona"], clustered["segment_id"])
            say(crosstab.to_string())
    say("\nclustering algorithms (run_and_publish, shipped settings but the algorithm)")
    table(pd.DataFrame(rows))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="maison")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--reuse", action="store_true", help="the workdir is built already")
    parser.add_argument(
        "--keep-models", action="store_true", help="score with the models the workdir holds"
    )
    parser.add_argument("--strategies", nargs="+", choices=STRATEGIES, default=STRATEGIES)
    parser.add_argument("--families", nargs="+", help="scoring families (default: all)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    args.workdir.mkdir(parents=True, exist_ok=True)
    say(f"== profile {args.profile}, {args.customers:,} customers, seed {args.seed}")
    figures: dict = {"profile": args.profile, "customers": args.customers, "seed": args.seed}
    if not args.reuse:
        clock = build(args.workdir, args.profile, args.customers, args.seed)
        say("build: " + ", ".join(f"{k} {v:.0f} s" for k, v in clock.items()))
        figures["build_seconds"] = clock
    for part in args.parts:
        start = time.perf_counter()
        if part == "families":
            figures[part] = families(
                args.workdir, args.customers, tuple(args.strategies), args.families
            )
        elif part == "done":
            figures[part] = done(args.workdir, retrain=not args.keep_models)
        else:
            figures[part] = clustering(args.workdir)
        say(f"[{part}: {time.perf_counter() - start:.0f} s]")
        if args.json:
            args.json.write_text(json.dumps(figures, indent=1, default=str))


if __name__ == "__main__":
    main()
