"""Scoring end to end on generated data: real DuckDB, dbt and Dagster, checked against the
generator's truth (true purchase probabilities, planted order-value parameters).

One 20,000-customer build serves the module: 3,000 customers leave too few held-out buyers
for an AUC within 0.03 of the oracle to be a stable test. Training runs once, through a real
Dagster materialization of the scoring assets; the other tests read what it produced.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml
from cible.ml.scoring import store
from cible.ml.scoring.config import load_scoring_config
from cible.ml.scoring.lifetime_value import GammaGammaModel, transaction_summary
from cible.ml.scoring.registry import ModelRegistry
from cible.ml.scoring.training import TrainingPlan
from cible.orchestration.definitions import build_definitions
from dagster import AssetKey, DagsterInstance, Definitions, materialize
from pipeline_support import Build, dbt_command, generate_and_build
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_auc_score

CUSTOMERS = 20_000
SEED = 5
ORACLE_TOLERANCE = 0.03

# Light search spaces keep the module within a few minutes on 2 cores; the families, the
# search, calibration, threshold, permutation importance and online model all run for real.
# Random forest is the family CV picks for purchase propensity on the demo (logistic
# regression trails by 0.02 AUC); it is the one trained here, logistic regression for the rest.
E2E_CONFIG = {
    "targets": {
        "purchase_30d": {"kind": "purchase", "horizon_days": 30, "families": ["random_forest"]},
        "campaign_response": {
            "kind": "campaign_response",
            "horizon_days": 180,
            "families": ["logistic_regression"],
            "min_auc": 0.6,
        },
        "churn_risk": {
            "kind": "churn",
            "horizon_days": 180,
            "active_window_days": 365,
            "families": ["logistic_regression"],
        },
        "lifetime_value": {"kind": "lifetime_value", "horizon_days": 365, "holdout_days": 365},
    },
    "features": {
        "exclude": [
            "customer_id",
            "as_of_at",
            "first_order_at",
            "last_order_at",
            "departement_code",
            "rfm_cell",
        ]
    },
    "training": {
        "cv_folds": 3,
        "n_iter": 2,
        "permutation_importance": {"n_repeats": 1, "max_rows": 1000},
        "models": {
            "logistic_regression": {"C": [0.05]},
            "random_forest": {
                "n_estimators": [100],
                "max_depth": [8],
                "min_samples_leaf": [20],
                "max_features": ["sqrt"],
            },
        },
    },
    "gates": {"min_auc": 0.65, "max_calibration_error": 0.05},
    # As shipped: feature drift warns, score drift blocks above 0.25. (The demo's web events
    # cover only its last 365 days, so browsing features of the 180-day snapshot, in May, are
    # truncated and drift past 0.25 against November's: the feature check warns.)
    "drift": {"psi_warn": 0.1, "psi_block": 0.25, "blocking_features": []},
    "incremental": {"enabled": True, "targets": ["purchase_30d"]},
}


def _write_config(folder: Path, overrides: dict | None = None) -> Path:
    config = {**E2E_CONFIG, **(overrides or {})}
    path = folder / "scoring.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _scoring_assets(definitions: Definitions, names: set[str]) -> list:
    return [a for a in definitions.assets if getattr(a, "op", None) and a.op.name in names]


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Build:
    return generate_and_build(tmp_path_factory.mktemp("scoring"), customers=CUSTOMERS, seed=SEED)


@pytest.fixture(scope="module")
def environment(build, tmp_path_factory):
    folder = tmp_path_factory.mktemp("scoring_run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CIBLE_WAREHOUSE", str(build.warehouse))
        patch.setenv("CIBLE_MODELS_DIR", str(folder / "models"))
        yield {"folder": folder, "config": _write_config(folder)}


@pytest.fixture(scope="module")
def definitions() -> Definitions:
    """The code location, scoring assets included."""
    return build_definitions(False)


@pytest.fixture(scope="module")
def run(environment, definitions):
    """Training features, training, scoring, online update and the score marts, in Dagster."""
    assets = _scoring_assets(
        definitions,
        {"training_features", "scoring_models", "customer_scores", "online_models", "score_models"},
    )
    config = {"config": {"config_path": str(environment["config"])}}
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            assets,
            resources=definitions.resources,
            instance=instance,
            run_config={
                "ops": {
                    name: config
                    for name in (
                        "training_features",
                        "scoring_models",
                        "customer_scores",
                        "online_models",
                    )
                }
            },
        )
        return result


@contextmanager
def open_registry(models: Path, warehouse: Path) -> Iterator[ModelRegistry]:
    """The registry over a read-only connection (which holds the warehouse lock: nothing else
    in the process may connect through `cible.warehouse` meanwhile)."""
    with store.ScoringStore.open(warehouse, read_only=True) as scoring_store:
        yield ModelRegistry(models, scoring_store)


@pytest.fixture(scope="module")
def registry(environment, run, build):
    """Opens the run's registry: `with registry() as r: ...`."""
    return lambda: open_registry(Path(environment["folder"]) / "models", build.warehouse)


def read_snapshot(plan: TrainingPlan, warehouse: Path) -> pd.DataFrame:
    with store.ScoringStore.open(warehouse, read_only=True) as scoring_store:
        return scoring_store.read_snapshot(plan)


def plan_training(config, warehouse: Path) -> list[TrainingPlan]:
    return store.plan(config, warehouse)


def _person_of_customer(build: Build) -> pd.Series:
    """customer_id -> person_id, for customers whose records all belong to one person."""
    identities = build.query(
        "select customer_number, customer_id from intermediate.int_customer_identities_resolved"
    )
    records = build.truth_table("records")[["customer_number", "person_id"]]
    persons = identities.merge(records, on="customer_number").groupby("customer_id")["person_id"]
    counts = persons.nunique()
    return persons.first()[counts == 1]


def _evaluations(run) -> dict[str, object]:
    return {
        event.event_specific_data.asset_check_key.name: event.event_specific_data
        for event in run.all_events
        if event.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def test_the_assets_materialize_with_their_checks(run, build):
    assert run.success
    materialized = {event.asset_key for event in run.get_asset_materialization_events()}
    for key in (
        AssetKey("training_features"),
        AssetKey(["ml", "scoring", "model_registry"]),
        AssetKey(["ml", "scoring", "customer_scores"]),
        AssetKey(["ml", "scoring", "feature_drift"]),
        AssetKey("online_models"),
    ):
        assert key in materialized, key
    assert any("fct_customer_scores" in key.to_user_string() for key in materialized)
    evaluations = _evaluations(run)
    for target in ("purchase_30d", "campaign_response", "churn_risk", "lifetime_value"):
        assert evaluations[f"{target}_passes_gates"].passed, target
    # Drift checks ran: features drifted (warning only), scores stayed under the block.
    feature_drift = evaluations["feature_drift_within_thresholds"]
    assert not feature_drift.passed and feature_drift.severity.value == "WARN"
    score_drift = evaluations["score_drift_within_thresholds"]
    assert score_drift.passed or score_drift.severity.value == "WARN"
    registry_metadata = next(
        event.materialization.metadata
        for event in run.get_asset_materialization_events()
        if event.asset_key == AssetKey(["ml", "scoring", "model_registry"])
    )
    assert "data:image/png;base64," in registry_metadata["roc_calibration_lift"].value

    scores = build.query("select * from marts.fct_customer_scores")
    # Every customer the consent state allows to be profiled, and no one else.
    features = build.query(
        "select customer_id from marts.fct_customer_features where customer_id in (select "
        "customer_id from marts.fct_customer_consents where purpose = 'profiling' and is_allowed)"
    )
    assert set(scores["customer_id"]) == set(features["customer_id"])
    assert scores["purchase_30d_score"].between(0, 1).all()
    assert scores["purchase_30d_decile"].value_counts().min() >= len(scores) // 10
    assert scores["purchase_30d_model_version"].eq("purchase_30d-v0001").all()
    # Churn risk is defined for active customers only; prospects have no lifetime value.
    assert 0 < scores["churn_risk_score"].notna().sum() < len(scores)
    assert 0 < scores["lifetime_value_eur"].notna().sum() < len(scores)
    # Staged back from the written tables with the types the `scoring` source declares.
    for name, spec in store.declared_tables().items():
        assert build.staged_columns("scoring", name) == list(spec.data_types.items()), name
    performance = build.query("select * from marts.rpt_model_performance")
    assert set(performance["status"]) == {"promoted"}
    assert build.query("select count(*) as n from marts.rpt_score_drift")["n"].iloc[0] == 3


def test_purchase_propensity_auc_is_within_003_of_the_oracle(registry, build):
    """Held-out customers of the 30-day model, cutoff = end - 29 days: the truth's
    `p_purchase_30d_before_end` is the true probability of an order in that very window.

    Every customer of the snapshot has a held-out score: the hold-out split's from the final
    model, the training split's out of fold (each from a fold model that did not see them,
    through the same calibrator). Pooled, they measure the gap to the oracle on 20,000
    customers allowed to be profiled (about 13,000) rather than 2,600, whose split alone moves
    it by about 0.01.
    """
    with registry() as models:
        version = models.current("purchase_30d")
        metadata = models.metadata(version.model_version)
        held_out = {
            "hold-out split": models.table(version.model_version, "evaluation"),
            "out of fold": models.table(version.model_version, "out_of_fold"),
        }
    end = pd.Timestamp(build.manifest()["end_date"])
    assert pd.Timestamp(metadata["training_cutoff_at"]) == end - pd.Timedelta(days=29)

    persons = build.truth_table("persons").set_index("person_id")
    person = _person_of_customer(build)
    gaps = {}
    held_out["pooled"] = pd.concat(held_out.values(), ignore_index=True)
    for name, evaluation in held_out.items():
        evaluation = evaluation.assign(person_id=evaluation["customer_id"].map(person))
        evaluation = evaluation.dropna(subset=["person_id"])
        truth = persons.loc[evaluation["person_id"], "p_purchase_30d_before_end"].to_numpy()
        oracle = roc_auc_score(evaluation["label"], truth)
        model = roc_auc_score(evaluation["label"], evaluation["score"])
        gaps[name] = oracle - model
        print(f"purchase_30d {name}: AUC {model:.4f}, oracle {oracle:.4f}, n={len(evaluation)}")
    # The customers allowed to be profiled: about 65 % of 20,000 on the demo.
    assert len(held_out["pooled"]) > 12_000
    assert gaps["pooled"] <= ORACLE_TOLERANCE, gaps


def test_calibration_error_is_under_the_configured_bound(registry, environment):
    config = load_scoring_config(environment["config"])
    with registry() as models:
        versions = {
            target: models.current(target).model_version
            for target in ("purchase_30d", "campaign_response", "churn_risk")
        }
        evaluations = {target: models.table(v, "evaluation") for target, v in versions.items()}
        metrics_of = {target: models.metadata(v)["metrics"] for target, v in versions.items()}
    for target, evaluation in evaluations.items():
        observed, predicted = calibration_curve(
            evaluation["label"], evaluation["score"], n_bins=10, strategy="quantile"
        )
        counts = np.histogram(
            evaluation["score"],
            np.percentile(evaluation["score"], np.linspace(0, 100, 11)),
        )[0]
        error = metrics_of[target]["calibration_error"]
        assert error <= config.gates.max_calibration_error, (target, error)
        if len(observed) == len(counts):  # no tied bin edges: recompute independently
            independent = np.sum(counts / counts.sum() * np.abs(observed - predicted))
            assert independent == pytest.approx(error, abs=0.01)
        metrics = metrics_of[target]
        assert metrics["brier"] < metrics["positive_rate"] * (1 - metrics["positive_rate"])


def test_the_online_model_is_compared_with_the_batch_model(registry, build):
    with registry() as models:
        version = models.current("purchase_30d").model_version
    metrics = build.query(
        f"select metric, value from ml.model_metrics where model_version = '{version}' "
        "and dataset = 'online'"
    ).set_index("metric")["value"]
    assert metrics["batch_auc_roc"] > 0.7
    assert abs(metrics["online_auc_roc"] - metrics["batch_auc_roc"]) < 0.05


def test_training_features_come_only_from_before_the_cutoff(registry, build, environment):
    """The snapshot is as of T, its dates are before T, and the labels are exactly the orders
    of [T, T + 30 days)."""
    config = load_scoring_config(environment["config"])
    plan = next(
        p for p in plan_training(config, build.warehouse) if p.target.name == "purchase_30d"
    )
    snapshot = read_snapshot(plan, build.warehouse)
    assert (snapshot["as_of_at"] == plan.cutoff).all()
    for column in ("first_order_at", "last_order_at"):
        assert (snapshot[column].dropna() < plan.cutoff).all()
    orders = build.query("select customer_id, ordered_at from marts.fct_orders")
    assert (orders["ordered_at"] >= plan.cutoff).any(), "later data exists in the warehouse"
    later = orders[orders["ordered_at"] >= plan.cutoff]
    assert not later.empty
    with registry() as models:
        evaluation = models.table(models.current("purchase_30d").model_version, "evaluation")
    window = orders[
        (orders["ordered_at"] >= plan.cutoff)
        & (orders["ordered_at"] < plan.cutoff + pd.Timedelta(days=30))
    ]
    expected = evaluation["customer_id"].isin(window["customer_id"]).astype(int)
    assert (evaluation["label"].to_numpy() == expected.to_numpy()).all()


RAW_TIMESTAMPS = {
    "orders": "ordered_at",
    "events": "occurred_at",
    "campaign_events": "occurred_at",
    "survey_answers": "answered_at",
    "partner_enrichment": "fetched_at",
    "consents": "occurred_at",
}


def test_the_training_snapshot_is_the_same_without_the_data_after_the_cutoff(
    run, build, environment, tmp_path
):
    """Delete every raw row from T on and rebuild the 30-day training snapshot: the features
    the model trained on are identical to those built with the later data present.

    Known exception (2026-11-25, reported with issue 4, outside the scoring code): a browsing
    session that starts before T and goes on after it is dropped from the features when the
    later events exist (it "ends" after T) and counted when they do not. One customer in
    20,000 on this demo; the session features are allowed to differ for at most a few.
    """
    config = load_scoring_config(environment["config"]).subset(["purchase_30d"])
    plan = next(iter(plan_training(config, build.warehouse)))
    with_future = read_snapshot(plan, build.warehouse)
    warehouse = tmp_path / "truncated.duckdb"
    shutil.copy(build.warehouse, warehouse)
    _delete_raw_rows_from(warehouse, plan.cutoff)
    variables = json.dumps(plan.dbt_vars())
    dbt_command(["run", "--select", "+fct_customer_features", "--vars", variables], warehouse)
    without_future = read_snapshot(plan, warehouse)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        later = con.execute(
            "select count(*) from raw.orders "
            f"where try_cast(ordered_at as timestamptz) >= timestamptz '{plan.cutoff:%Y-%m-%d}'"
        ).fetchall()[0][0]
    assert later == 0, "the later data was deleted"
    assert len(without_future) > 12_000  # the customers allowed to be profiled
    with_future = with_future.loc[without_future.index]

    differing: dict[str, set] = {}
    for column in without_future.columns:
        mine, theirs = with_future[column], without_future[column]
        if pd.api.types.is_float_dtype(theirs.dtype):
            same = np.isclose(mine, theirs, rtol=1e-9, equal_nan=True)
        else:
            same = ((mine == theirs).fillna(False) | (mine.isna() & theirs.isna())).to_numpy()
        if not same.all():
            differing[column] = set(without_future.index[~same])
    customers = set().union(*differing.values()) if differing else set()
    assert set(differing) <= SESSION_FEATURES, set(differing) - SESSION_FEATURES
    assert len(customers) <= 5, len(customers)


SESSION_FEATURES = {
    "sessions_long_window",
    "sessions_recent_window",
    "days_since_last_visit",
    "time_on_site_recent_window_seconds",
    "average_session_seconds",
    "page_views_recent_window",
    "product_views_recent_window",
    "searches_recent_window",
    "video_plays_recent_window",
    "wishlist_adds_recent_window",
    "add_to_carts_recent_window",
    "checkouts_recent_window",
    "purchases_recent_window",
    "video_watch_recent_window_seconds",
    "average_scroll_depth_pct",
    "add_to_cart_rate",
    "checkout_rate",
    "mobile_session_share",
    "desktop_session_share",
    "tablet_session_share",
    "app_session_share",
    "direct_traffic_share",
    "seo_traffic_share",
    "sea_traffic_share",
    "social_traffic_share",
    "email_traffic_share",
    "affiliate_traffic_share",
    "referral_traffic_share",
    "evening_session_share",
    "weekend_session_share",
    "profile_completeness",
}


def _delete_raw_rows_from(warehouse: Path, cutoff: pd.Timestamp) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute("set TimeZone = 'UTC'")
        for table, column in RAW_TIMESTAMPS.items():
            kind = con.execute(
                "select table_type from information_schema.tables "
                f"where table_schema = 'raw' and table_name = '{table}'"
            ).fetchall()[0][0]
            con.execute(
                f"create table raw.{table}_kept as select * from raw.{table} where not "
                f"coalesce(try_cast({column} as timestamptz) >= timestamptz "
                f"'{cutoff:%Y-%m-%d} 00:00:00+00', false)"
            )
            con.execute(f"drop {'view' if kind == 'VIEW' else 'table'} raw.{table}")
            con.execute(f"alter table raw.{table}_kept rename to {table}")


def test_lifetime_value_recovers_the_planted_order_value_parameters(build):
    """Gamma-Gamma fitted per persona on the warehouse's orders finds the generator's
    parameters: each persona's mean order value p * v / (q - 1) within 5%, q within 30%."""
    orders = build.query(
        "select customer_id, ordered_at, cast(amount as double) as amount from marts.fct_orders"
    )
    as_of = pd.Timestamp(build.manifest()["end_date"]) + pd.Timedelta(days=1)
    summary = transaction_summary(orders, as_of)
    persons = build.truth_table("persons").set_index("person_id")
    summary["persona"] = summary.index.map(_person_of_customer(build)).map(persons["persona"])
    planted = build.manifest()["personas"]
    for persona, group in summary[summary["frequency"] > 0].groupby("persona"):
        model = GammaGammaModel().fit(group["frequency"], group["monetary_value"])
        p, q, v = model.params_["p"], model.params_["q"], model.params_["v"]
        truth = planted[persona]["order_value"]
        assert p * v / (q - 1) == pytest.approx(truth["mean"], rel=0.05), persona
        # p and v trade off against each other (the mean is their product over q - 1).
        assert q == pytest.approx(truth["q"], rel=0.3), persona
        assert 3 < p < 12 and v > 0, persona


def test_lifetime_value_forecasts_purchases(registry, build):
    """BG/NBD validated on the year after its fit (the gate), and its forecast for the next
    90 days ranks customers like the truth's expected orders."""
    with registry() as models:
        version = models.current("lifetime_value").model_version
        metrics = models.metadata(version)["metrics"]
        model, _ = models.load(version)
    assert metrics["holdout_purchase_error"] < 0.15
    values = build.query(
        "select customer_id, expected_purchases, lifetime_value_eur from marts.fct_customer_scores "
        "where expected_purchases is not null"
    )
    orders = build.query(
        "select customer_id, ordered_at, cast(amount as double) as amount from marts.fct_orders"
    )
    as_of = pd.Timestamp(build.manifest()["end_date"]) + pd.Timedelta(days=1)
    summary = transaction_summary(orders, as_of)
    next_90 = pd.Series(
        model.purchases_.expected_purchases(
            90, summary["frequency"], summary["recency"], summary["T"]
        ),
        index=summary.index,
    )
    persons = build.truth_table("persons").set_index("person_id")
    truth = next_90.index.map(_person_of_customer(build)).map(persons["expected_orders_90d"])
    known = ~pd.isna(truth)
    truth = truth[known].astype(float)
    correlation = np.corrcoef(next_90[known], truth)[0, 1]
    # The naive forecast BG/NBD improves on: each customer's purchase rate since their first.
    naive = (summary["orders"] / summary["T"].clip(lower=30) * 90)[known]
    baseline = np.corrcoef(naive, truth)[0, 1]
    print(f"BG/NBD 90-day forecast vs truth: correlation {correlation:.3f} (naive {baseline:.3f})")
    # No season in BG/NBD: it under-forecasts the Noël and sales quarter in total (documented).
    assert correlation > 0.5 and correlation > baseline + 0.1
    assert (values["lifetime_value_eur"] >= 0).all()


def test_p_alive_comes_from_mbgnbd_and_purchases_from_the_better_forecast(registry, build):
    """Issue #17: both purchase models are fitted; P(alive) is MBG/NBD's, whose ranking of the
    holdout's buyers beats chance; expected purchases come from the model with the lower
    holdout error; rpt_model_performance names both."""
    with registry() as models:
        version = models.current("lifetime_value").model_version
        metadata = models.metadata(version)
    metrics = metadata["metrics"]
    errors = {name: metrics[f"{name}_holdout_purchase_error"] for name in ("bg_nbd", "mbg_nbd")}
    chosen = min(errors, key=errors.get)
    assert metadata["column_models"]["expected_purchases"] == chosen
    assert metadata["column_models"]["probability_alive"] == "mbg_nbd"
    assert metrics["holdout_purchase_error"] == errors[chosen]
    assert metrics["probability_alive_auc"] > 0.55
    performance = build.query(
        "select expected_purchases_model, probability_alive_model, probability_alive_auc "
        f"from marts.rpt_model_performance where model_version = '{version}'"
    ).iloc[0]
    assert performance["expected_purchases_model"] == chosen
    assert performance["probability_alive_model"] == "mbg_nbd"
    assert performance["probability_alive_auc"] == pytest.approx(metrics["probability_alive_auc"])


def test_a_target_failing_its_gate_keeps_its_version_and_the_others_publish(
    run, build, definitions, environment, tmp_path
):
    """Each target publishes on its own. purchase_30d's new version fails its gate: the check
    is red, the version is rejected and never scores (v0001 goes on scoring); churn_risk's new
    version passes and scores; the score marts are rebuilt from that run."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(build.warehouse, warehouse)
    config = _write_config(
        tmp_path,
        {
            "targets": {
                "purchase_30d": {
                    "kind": "purchase",
                    "horizon_days": 30,
                    "families": ["logistic_regression"],
                    "min_auc": 0.99,
                },
                "churn_risk": E2E_CONFIG["targets"]["churn_risk"],
            },
            "incremental": {"enabled": False},
        },
    )
    before = build.query("select distinct scoring_run_id from marts.fct_customer_scores")
    with pytest.MonkeyPatch.context() as patch, DagsterInstance.ephemeral() as instance:
        patch.setenv("CIBLE_WAREHOUSE", str(warehouse))
        patch.setenv("CIBLE_MODELS_DIR", str(tmp_path / "models"))
        assets = _scoring_assets(definitions, {"scoring_models", "customer_scores", "score_models"})
        result = materialize(
            assets,
            resources=definitions.resources,
            instance=instance,
            raise_on_error=False,
            run_config={
                "ops": {
                    name: {"config": {"config_path": str(config)}}
                    for name in ("scoring_models", "customer_scores")
                }
            },
        )
    evaluations = _evaluations(result)
    gate = evaluations["purchase_30d_passes_gates"]
    assert not gate.passed and "below the floor 0.990" in gate.description
    assert gate.severity.value == "ERROR"
    assert evaluations["churn_risk_passes_gates"].passed
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    assert AssetKey(["ml", "scoring", "model_registry"]) in materialized
    assert AssetKey(["ml", "scoring", "customer_scores"]) in materialized
    assert any("fct_customer_scores" in key.to_user_string() for key in materialized)

    with open_registry(tmp_path / "models", warehouse) as registry:
        statuses = registry.versions().set_index("model_version")["status"]
        current = {t: registry.current(t).model_version for t in ("purchase_30d", "churn_risk")}
    assert statuses["purchase_30d-v0002"] == "rejected"
    assert statuses["churn_risk-v0002"] == "promoted"
    assert current == {"purchase_30d": "purchase_30d-v0001", "churn_risk": "churn_risk-v0002"}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        latest = con.execute(
            "select target, model_version, count(*) as customers from ml.customer_scores "
            "where scoring_run_id = (select max(scoring_run_id) from ml.customer_scores) "
            "group by target, model_version order by target"
        ).df()
        after = con.execute("select distinct scoring_run_id from marts.fct_customer_scores").df()
    assert latest[["target", "model_version"]].to_dict("records") == [
        {"target": "churn_risk", "model_version": "churn_risk-v0002"},
        {"target": "purchase_30d", "model_version": "purchase_30d-v0001"},
    ]
    assert (latest["customers"] > 0).all()
    assert set(after["scoring_run_id"]).isdisjoint(before["scoring_run_id"]), "marts rebuilt"


def test_a_horizon_longer_than_the_history_is_refused_before_training(build):
    from cible.ml.scoring.config import parse_scoring_config
    from cible.ml.scoring.labels import TrainingDataError

    config = parse_scoring_config(
        {
            **E2E_CONFIG,
            "targets": {"far": {"kind": "purchase", "horizon_days": 900}},
            "incremental": {"enabled": False},
        }
    )
    with pytest.raises(TrainingDataError, match="horizon of 900 days is too long"):
        plan_training(config, build.warehouse)


def test_plan_snapshot_vars_are_the_dbt_vars_of_the_cutoff():
    from cible.ml.scoring.config import TargetConfig

    plan = TrainingPlan(
        target=TargetConfig(name="t", kind="purchase", horizon_days=30),
        cutoff=pd.Timestamp("2026-10-02"),
        schema_prefix="training_30d_",
    )
    assert plan.dbt_vars() == {"as_of_date": "2026-10-02", "schema_prefix": "training_30d_"}
    assert store.snapshot_relation(plan) == "training_30d_marts.fct_customer_features"


def test_the_scoring_graph_is_wired_to_the_dbt_sources_and_models(definitions):
    """Tables dbt reads back are keyed as its `scoring` source; training reads the marts
    (features, orders, campaign events), once retention has erased those past it; drift checks
    are blocking, the gates are not (each target publishes on its own); training is weekly,
    scoring is not."""
    from cible.orchestration.dbt import RETENTION_KEY, cible_dbt_project, dbt_assets_for
    from cible.orchestration.scoring import score_models
    from dagster_dbt import get_asset_key_for_model

    graph = definitions.resolve_asset_graph()
    project = cible_dbt_project()
    warehouse_models = dbt_assets_for(project).warehouse_models
    features = get_asset_key_for_model([warehouse_models], "fct_customer_features")
    campaign_events = get_asset_key_for_model([warehouse_models], "fct_campaign_events")
    scores_mart = get_asset_key_for_model([score_models(project)], "fct_customer_scores")
    staging = get_asset_key_for_model([score_models(project)], "stg_scoring__customer_scores")
    registry_key = AssetKey(["ml", "scoring", "model_registry"])
    scores_key = AssetKey(["ml", "scoring", "customer_scores"])
    training_inputs = graph.get(AssetKey("training_features")).parent_keys
    assert {features, campaign_events, RETENTION_KEY} <= training_inputs
    assert all(key.path[0] == "marts" for key in training_inputs - {RETENTION_KEY})
    assert AssetKey("training_features") in graph.get(registry_key).parent_keys
    assert registry_key in graph.get(scores_key).parent_keys
    # ... and after the dbt Python model that applies the published models in a plain
    # `dbt build` (in a Dagster run it records the step's run: cible/applied).
    applied = get_asset_key_for_model([score_models(project)], "int_scoring_applied")
    assert graph.get(staging).parent_keys == {scores_key, applied}
    assert scores_key in graph.get(applied).parent_keys
    assert staging in graph.get(scores_mart).parent_keys
    checks = {key.name: key for key in graph.asset_check_keys}
    assert checks["purchase_30d_passes_gates"].asset_key == registry_key
    assert checks["feature_drift_within_thresholds"].asset_key == scores_key
    specs = {
        spec.key.name: spec
        for assets in definitions.assets
        for spec in getattr(assets, "check_specs", [])
    }
    assert not specs["purchase_30d_passes_gates"].blocking
    assert specs["score_drift_within_thresholds"].blocking
    assert graph.get(registry_key).tags.get("cible/cadence") == "weekly"
    assert "cible/cadence" not in graph.get(scores_key).tags


def test_no_customer_without_profiling_consent_is_trained_on_scored_or_valued(run, build, registry):
    """Enforced in code (cible/privacy/consent.py), over a real run on 20,000 customers."""
    refused = set(
        build.query(
            "select customer_id from marts.fct_customer_consents "
            "where purpose = 'profiling' and not is_allowed"
        )["customer_id"]
    )
    assert len(refused) > 1000, "the demo has customers without profiling consent"
    for relation in ("marts.fct_customer_scores", "ml.customer_lifetime_values"):
        ids = set(build.query(f"select distinct customer_id from {relation}")["customer_id"])
        assert len(ids) > 5000 and not ids & refused, relation
    with registry() as models:
        for target in ("purchase_30d", "churn_risk"):
            version = models.current(target).model_version
            trained_on = set(models.table(version, "evaluation")["customer_id"]) | set(
                models.table(version, "out_of_fold")["customer_id"]
            )
            assert len(trained_on) > 5000 and not trained_on & refused, target
            inputs = models.metadata(version)["features"]
            assert not [c for c in inputs["numeric"] if c.endswith("_consent")], target
