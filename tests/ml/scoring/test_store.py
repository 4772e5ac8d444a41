"""The scoring jobs against a temporary DuckDB warehouse: each reads the marts and writes the
declared `ml` tables on one connection, and each target publishes on its own."""

from __future__ import annotations

import shutil
from dataclasses import replace

import duckdb
import numpy as np
import pandas as pd
import pytest
from cible.ml.scoring import store
from cible.ml.scoring.calibration import fitted_pipeline
from cible.ml.scoring.config import parse_scoring_config
from cible.ml.scoring.labels import TrainingDataError
from cible.ml.scoring.registry import ModelRegistry
from scoring_data import LIGHT_CONFIG, make_features

from cible import warehouse
from cible.privacy.consent import ConsentStateError

CUTOFF = pd.Timestamp("2026-10-02")
AS_OF = CUTOFF + pd.Timedelta(days=30)


def _config(**targets) -> object:
    return parse_scoring_config(
        {
            **LIGHT_CONFIG,
            "targets": targets or LIGHT_CONFIG["targets"],
            "training": {**LIGHT_CONFIG["training"], "min_history_days": 100},
            "features": {"exclude": ["last_order_at"]},
            # 240 hold-out customers: calibration error is noisy at that size.
            "gates": {"min_auc": 0.6, "max_calibration_error": 0.2},
            "incremental": {"enabled": True, "targets": ["purchase_30d"], "epochs": 1},
        }
    )


def _write(path, frame: pd.DataFrame, relation: str) -> None:
    warehouse.write_table(frame, relation, path)


@pytest.fixture(scope="module")
def marts(tmp_path_factory):
    """Marts as dbt leaves them: the current features, the 30-day training snapshot, orders
    (one in the label window for each buyer) and campaign events."""
    path = tmp_path_factory.mktemp("scoring_store") / "warehouse.duckdb"
    features, labels = make_features(n=1200, seed=1)
    snapshot = features.assign(as_of_at=CUTOFF).reset_index()
    _write(path, snapshot, "training_30d_marts.fct_customer_features")
    _write(path, snapshot.assign(as_of_at=AS_OF), "marts.fct_customer_features")
    buyers = labels.index[labels == 1]
    orders = pd.DataFrame(
        {
            "customer_id": [*features.index, *buyers],
            "ordered_at": [CUTOFF - pd.Timedelta(days=200)] * len(features)
            + [CUTOFF + pd.Timedelta(days=5)] * len(buyers),
            "amount": 100.0,
        }
    )
    _write(path, orders, "marts.fct_orders")
    events = pd.DataFrame(
        {"customer_id": ["c00000"], "event_type": ["send"], "occurred_at": [CUTOFF]}
    )
    _write(path, events, "marts.fct_campaign_events")
    _write(path, consent_state(features.index), "marts.fct_customer_consents")
    return path


def refused(ids) -> list[str]:
    """The customers of the fixture the consent state does not allow to be profiled."""
    return list(ids[::12])


def consent_state(ids) -> pd.DataFrame:
    """`marts.fct_customer_consents` (profiling rows): every twelfth customer withdrew."""
    allowed = ~pd.Index(ids).isin(refused(ids))
    return pd.DataFrame(
        {
            "customer_id": ids,
            "purpose": "profiling",
            "is_allowed": allowed,
            "rule_applied": np.where(allowed, "latest_event_granted", "latest_event_withdrawn"),
        }
    )


@pytest.fixture
def warehouse_path(marts, tmp_path):
    """A copy of the marts for one test."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(marts, path)
    return path


def _table(path, relation: str) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(f"select * from {relation}").df()


def test_plans_come_from_the_marts_and_name_their_snapshot(warehouse_path):
    (plan,) = store.plan(_config(), warehouse_path)
    assert plan.cutoff == CUTOFF
    assert store.snapshots([plan]) == {
        "training_30d_marts.fct_customer_features": {
            "as_of_date": "2026-10-02",
            "schema_prefix": "training_30d_",
        }
    }


def test_a_snapshot_of_another_date_is_refused(warehouse_path, tmp_path):
    other = tmp_path / "w.duckdb"
    features, _ = make_features(n=50)
    _write(other, features.reset_index(), "training_30d_marts.fct_customer_features")
    _write(other, consent_state(features.index), "marts.fct_customer_consents")
    (plan,) = store.plan(_config(), warehouse_path)
    with store.ScoringStore.open(other, read_only=True) as scoring_store:
        with pytest.raises(TrainingDataError, match="as of 2026-10-02, not the cutoff"):
            scoring_store.read_snapshot(replace(plan, cutoff=AS_OF))
        with pytest.raises(TrainingDataError, match="does not exist; materialize"):
            scoring_store.read_snapshot(replace(plan, schema_prefix="training_90d_"))


def test_each_target_publishes_on_its_own(warehouse_path, tmp_path):
    """A target failing its gate is rejected and never scores; the other is promoted and
    scores; a later rejected version leaves the earlier promoted one scoring."""
    models = tmp_path / "models"
    config = _config(
        purchase_30d={"kind": "purchase", "horizon_days": 30},
        strict={"kind": "purchase", "horizon_days": 30, "min_auc": 0.99},
    )
    outcomes = {o.target: o for o in store.train_and_publish(config, models, warehouse_path)}
    assert outcomes["purchase_30d"].promoted and not outcomes["strict"].promoted
    assert "below the floor 0.990" in outcomes["strict"].failures[0]

    scored = store.score_and_publish(config, models, warehouse_path)
    assert scored.versions == {"purchase_30d": "purchase_30d-v0001"}
    assert scored.skipped == {"strict": "no promoted version"}
    scores = _table(warehouse_path, "ml.customer_scores")
    assert set(scores["target"]) == {"purchase_30d"} and len(scores) == 1200 - 100
    assert scores["score"].between(0, 1).all()

    # Retrained with a floor it cannot reach: v0002 is rejected, v0001 still scores.
    stricter = _config(purchase_30d={"kind": "purchase", "horizon_days": 30, "min_auc": 0.99})
    (again,) = store.train_and_publish(stricter, models, warehouse_path)
    assert again.version.model_version == "purchase_30d-v0002" and not again.promoted
    rescored = store.score_and_publish(
        stricter, models, warehouse_path, scored_at=scored.scored_at + pd.Timedelta(seconds=1)
    )
    assert rescored.versions == {"purchase_30d": "purchase_30d-v0001"}

    # Every row written went through the tables' declaration.
    declared = store.declared_tables()
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        for name in (
            "model_registry",
            "model_metrics",
            "model_leaderboard",
            "customer_scores",
            "feature_drift",
        ):
            created = con.execute(
                "select column_name, lower(data_type) from information_schema.columns "
                "where table_schema = 'ml' and table_name = ? order by ordinal_position",
                [name],
            ).fetchall()
            assert created == list(declared[name].data_types.items()), name
    metrics = _table(warehouse_path, "ml.model_metrics")
    assert set(metrics["model_version"]) == {
        "purchase_30d-v0001",
        "strict-v0001",
        "purchase_30d-v0002",
    }
    assert {"test", "cv", "online"} <= set(metrics["dataset"])
    # Each version's leaderboard: one row per family searched, the chosen one its family.
    board = _table(warehouse_path, "ml.model_leaderboard")
    registry = _table(warehouse_path, "ml.model_registry").set_index("model_version")
    assert len(board) == 3 * len(config.training.models)
    for version, rows in board.groupby("model_version"):
        assert set(rows["family"]) == set(config.training.models), version
        chosen = rows.loc[rows["is_chosen"], "family"]
        assert list(chosen) == [registry.loc[version, "model_family"]], version
        assert chosen.index[0] == rows["cv_score"].idxmax(), version


def test_a_target_the_data_cannot_train_is_skipped_and_the_others_trained(warehouse_path, tmp_path):
    models = tmp_path / "models"
    config = _config(
        purchase_30d={"kind": "purchase", "horizon_days": 30},
        far={"kind": "purchase", "horizon_days": 900},
    )
    outcomes = store.train_and_publish(config, models, warehouse_path)
    assert [outcome.target for outcome in outcomes] == ["purchase_30d"]
    assert list(outcomes.skipped) == ["far"]
    assert "horizon of 900 days is too long" in outcomes.skipped["far"]
    # Nothing trainable at all is still an error naming every reason.
    nothing = config.model_copy(update={"targets": {"far": config.targets["far"]}})
    with pytest.raises(TrainingDataError, match="horizon of 900 days is too long"):
        store.train_and_publish(nothing, models, warehouse_path)


def test_a_run_whose_drift_blocks_publishes_no_score(warehouse_path, tmp_path):
    models = tmp_path / "models"
    config = _config()
    store.train_and_publish(config, models, warehouse_path)
    first = store.score_and_publish(config, models, warehouse_path)
    assert not first.blocked
    published = _table(warehouse_path, "ml.customer_scores")
    # Today's customers moved far from the training population on one blocking feature: the
    # second run is computed, its drift written, its scores not.
    features = set(_table(warehouse_path, "marts.fct_customer_features").columns)
    drifted = first.drift.loc[first.drift["kind"] == "feature", "name"]
    column = next(name for name in drifted if name in features)
    with duckdb.connect(str(warehouse_path)) as con:
        con.execute(f'update marts.fct_customer_features set "{column}" = "{column}" * 50 + 1000')
    touchy = config.model_copy(
        update={"drift": config.drift.model_copy(update={"psi_warn": 0.0, "psi_block": 0.0})}
    )
    second = store.score_and_publish(
        touchy, models, warehouse_path, scored_at=first.scored_at + pd.Timedelta(seconds=1)
    )
    assert second.blocked and not second.tables["customer_scores"].empty
    after = _table(warehouse_path, "ml.customer_scores")
    assert set(after["scoring_run_id"]) == {first.scoring_run_id}
    assert len(after) == len(published)
    drift = _table(warehouse_path, "ml.feature_drift")
    assert second.scoring_run_id in set(drift["scoring_run_id"])


def test_a_run_that_repeats_the_latest_one_replaces_it(warehouse_path, tmp_path):
    """The same data scored by the same versions (a daily run rerun after a crash, `dbt build`
    twice with no new data) leaves one run; other data appends a run."""
    models = tmp_path / "models"
    config = _config()
    store.train_and_publish(config, models, warehouse_path)
    first = store.score_and_publish(config, models, warehouse_path)
    one_run = {
        table: _table(warehouse_path, f"ml.{table}")
        for table in ("customer_scores", "feature_drift")
    }
    second = store.score_and_publish(
        config, models, warehouse_path, scored_at=first.scored_at + pd.Timedelta(seconds=1)
    )
    assert second.replaced_run_id == first.scoring_run_id
    for table, before in one_run.items():
        after = _table(warehouse_path, f"ml.{table}")
        assert set(after["scoring_run_id"]) == {second.scoring_run_id}, table
        volatile = ["scoring_run_id", "scored_at", "measured_at"]
        pd.testing.assert_frame_equal(
            before.drop(columns=volatile, errors="ignore"),
            after.drop(columns=volatile, errors="ignore"),
        )
    # One customer's figures corrected, as of the same date: a new run, appended.
    features = _table(warehouse_path, "marts.fct_customer_features")
    column = next(c for c in second.drift["name"] if c in features.columns)
    scored = one_run["customer_scores"]["customer_id"].min()  # one the consent allows
    with duckdb.connect(str(warehouse_path)) as con:
        con.execute(
            f'update marts.fct_customer_features set "{column}" = "{column}" + 1 '
            "where customer_id = ?",
            [scored],
        )
    third = store.score_and_publish(
        config, models, warehouse_path, scored_at=first.scored_at + pd.Timedelta(seconds=2)
    )
    assert third.replaced_run_id is None
    scores = _table(warehouse_path, "ml.customer_scores")
    assert set(scores["scoring_run_id"]) == {second.scoring_run_id, third.scoring_run_id}
    assert scores["input_fingerprint"].nunique() == 2


def test_online_models_learn_only_outcomes_newer_than_their_own(warehouse_path, tmp_path):
    models = tmp_path / "models"
    config = _config()
    store.train_and_publish(config, models, warehouse_path)
    with store.ScoringStore.open(warehouse_path, read_only=True) as scoring_store:
        registry = ModelRegistry(models, scoring_store)
        version = registry.current("purchase_30d").model_version
        online = registry.load_extra(version, "online")
    assert online.cutoff == CUTOFF and online.updates == []
    results = store.update_online_models(config, models, warehouse_path)
    assert results[["target", "status"]].to_dict("records") == [
        {"target": "purchase_30d", "status": "no new outcomes"}
    ]
    assert np.isfinite(online.score(make_features(n=5)[0])).all()


def test_customers_not_allowed_are_neither_trained_on_nor_scored(warehouse_path, tmp_path):
    models = tmp_path / "models"
    config = _config()
    (outcome,) = store.train_and_publish(config, models, warehouse_path)
    ids = _table(warehouse_path, "marts.fct_customer_features")["customer_id"]
    out = set(refused(ids))
    with store.ScoringStore.open(warehouse_path, read_only=True) as scoring_store:
        registry = ModelRegistry(models, scoring_store)
        version = outcome.version.model_version
        trained_on = set(registry.table(version, "evaluation")["customer_id"]) | set(
            registry.table(version, "out_of_fold")["customer_id"]
        )
        features = registry.metadata(version)["features"]
    assert len(trained_on) == len(ids) - len(out) and trained_on.isdisjoint(out)
    inputs = [*features["numeric"], *features["categorical"]]
    assert "has_email_consent" not in inputs and "age" in inputs
    first = store.score_and_publish(config, models, warehouse_path)
    scored = set(_table(warehouse_path, "ml.customer_scores")["customer_id"])
    assert scored == set(ids) - out

    # A withdrawal takes effect at the next run; a grant too.
    with duckdb.connect(str(warehouse_path)) as con:
        con.execute(
            "update marts.fct_customer_consents set is_allowed = not is_allowed "
            "where customer_id in (select customer_id from marts.fct_customer_consents "
            "order by customer_id limit 24)"
        )
        flipped = con.execute(
            "select customer_id, is_allowed from marts.fct_customer_consents "
            "order by customer_id limit 24"
        ).fetchall()
    later = store.score_and_publish(
        config, models, warehouse_path, scored_at=first.scored_at + pd.Timedelta(seconds=1)
    )
    latest = _table(warehouse_path, "ml.customer_scores")
    latest = set(latest.loc[latest["scored_at"] == later.scored_at, "customer_id"])
    assert all((customer in latest) == allowed for customer, allowed in flipped)


def test_no_consent_state_no_scoring(warehouse_path, tmp_path):
    with duckdb.connect(str(warehouse_path)) as con:
        con.execute("drop table marts.fct_customer_consents")
    with pytest.raises(ConsentStateError, match="profiles no one without a consent state"):
        store.train_and_publish(_config(), tmp_path / "models", warehouse_path)


def test_a_model_with_pipeline_steps_is_trained_and_scored_by_the_jobs(warehouse_path, tmp_path):
    """RFE and multiple imputation through the real jobs: registered with its steps, and
    scored in batches of 100 with the scores a single call on every customer gives."""
    models = tmp_path / "models"
    config = parse_scoring_config(
        {
            **LIGHT_CONFIG,
            "training": {
                **LIGHT_CONFIG["training"],
                "min_history_days": 100,
                "models": {"logistic_regression": {"C": [1.0]}},
                "feature_selection": {"method": "rfe", "n_features": 0.5},
                "imputation": {"method": "iterative", "max_iter": 3, "imputations": 2},
            },
            "features": {"exclude": ["last_order_at"]},
            "gates": {"min_auc": 0.6, "max_calibration_error": 0.2},
            "scoring": {"batch_rows": 100},
            "incremental": {"enabled": False},
        }
    )
    (outcome,) = store.train_and_publish(config, models, warehouse_path)
    assert outcome.promoted, outcome.failures
    store.score_and_publish(config, models, warehouse_path)
    scores = _table(warehouse_path, "ml.customer_scores").set_index("customer_id")["score"]
    features = _table(warehouse_path, "marts.fct_customer_features").set_index("customer_id")
    with store.ScoringStore.open(warehouse_path, read_only=True) as scoring_store:
        model, metadata = ModelRegistry(models, scoring_store).load(outcome.version.model_version)
    assert metadata["pipeline_steps"]["imputation"]["imputations"] == 2
    assert len(fitted_pipeline(model.estimator).pipelines_) == 2
    assert len(scores) == 1200 - 100 and scores.between(0, 1).all()
    at_once = pd.Series(model.score(features.loc[scores.index]), index=scores.index)
    np.testing.assert_allclose(scores, at_once, rtol=1e-6)


def _move_on(path, days: int) -> pd.Timestamp:
    """The current features `days` later; returns the cutoff of the newest 30-day window."""
    with duckdb.connect(str(path)) as con:
        con.execute(
            "update marts.fct_customer_features set as_of_at = ?", [AS_OF + pd.Timedelta(days=days)]
        )
    return CUTOFF + pd.Timedelta(days=days)


def _newer_window(path, cutoff: pd.Timestamp, buyers) -> None:
    """The 30-day snapshot as of `cutoff` (as dbt would rebuild it) and an order in its label
    window for each of `buyers`."""
    with duckdb.connect(str(path)) as con:
        con.execute("update training_30d_marts.fct_customer_features set as_of_at = ?", [cutoff])
    orders = pd.DataFrame(
        {"customer_id": list(buyers), "ordered_at": cutoff + pd.Timedelta(days=3), "amount": 50.0}
    )
    warehouse.write_table(orders, "marts.fct_orders", path, mode="append")


def test_an_online_update_publishes_only_when_it_beats_the_published_version(
    warehouse_path, tmp_path, monkeypatch
):
    """Publishing off: a shadow update. Same outcomes, a gain it cannot reach: a rejected
    version with the reason, v0001 still scores. Outcomes that moved (age now drives buying):
    a calibrated online version replaces v0001; batch scoring and the live path use it."""
    from cible.live.models import load_models, published_models

    models = tmp_path / "models"
    monkeypatch.setenv("CIBLE_MODELS_DIR", str(models))
    config = _config()
    store.train_and_publish(config, models, warehouse_path)
    features, labels = make_features(n=1200, seed=1)

    unreachable = config.model_copy(
        update={"incremental": config.incremental.model_copy(update={"min_auc_gain": 0.5})}
    )
    assert store.stale_online_snapshots(config, warehouse_path) == {}
    cutoff = _move_on(warehouse_path, 7)
    # The window moved on: its snapshot, built by the weekly training, must be rebuilt.
    assert store.stale_online_snapshots(config, warehouse_path) == {
        "training_30d_marts.fct_customer_features": {
            "as_of_date": f"{cutoff:%Y-%m-%d}",
            "schema_prefix": "training_30d_",
        }
    }
    _newer_window(warehouse_path, cutoff, labels.index[labels == 1])
    assert store.stale_online_snapshots(config, warehouse_path) == {}
    # Publishing off: the online model learns the window as a shadow, nothing is registered.
    shadow = config.model_copy(
        update={"incremental": config.incremental.model_copy(update={"publish": False})}
    )
    (updated,) = store.update_online_models(shadow, models, warehouse_path).to_dict("records")
    assert updated["status"] == "updated" and "incremental.publish is false" in updated["message"]
    assert len(_table(warehouse_path, "ml.model_registry")) == 1

    cutoff = _move_on(warehouse_path, 10)
    _newer_window(warehouse_path, cutoff, labels.index[labels == 1])
    (kept,) = store.update_online_models(unreachable, models, warehouse_path).to_dict("records")
    assert kept["status"] == "kept" and kept["new_version"] == "purchase_30d-v0002"
    assert "online model did not beat the published one (purchase_30d-v0001)" in kept["message"]
    registry_rows = _table(warehouse_path, "ml.model_registry").set_index("model_version")
    rejected = registry_rows.loc["purchase_30d-v0002"]
    assert rejected["status"] == "rejected" and rejected["model_family"] == "online_sgd"
    assert (
        f"AUC {kept['online_auc_after']:.3f} vs {kept['published_auc']:.3f}"
        in (rejected["gate_failures"])
    )
    assert registry_rows.loc["purchase_30d-v0001", "is_current"]

    # Outcomes driven by age now, which the batch model never used.
    age = features["age"].astype("float").fillna(50)
    movers = features.index[(age > 55).to_numpy()]
    newer = _move_on(warehouse_path, 17)
    _newer_window(warehouse_path, newer, movers)
    (published,) = store.update_online_models(config, models, warehouse_path).to_dict("records")
    assert published["status"] == "published", published["message"]
    assert published["online_auc_after"] >= published["published_auc"] + 0.005
    version = published["new_version"]
    assert version == "purchase_30d-v0003"
    registry_rows = _table(warehouse_path, "ml.model_registry").set_index("model_version")
    assert registry_rows.loc[version, "is_current"] and registry_rows.loc[version, "gates_passed"]
    assert registry_rows.loc["purchase_30d-v0001", "status_reason"] == f"replaced by {version}"
    assert list(registry_rows.index) == [f"purchase_30d-v000{i}" for i in (1, 2, 3)]
    with store.ScoringStore.open(warehouse_path, read_only=True) as scoring_store:
        registry = ModelRegistry(models, scoring_store)
        metadata = registry.metadata(version)
        evaluation = registry.table(version, "evaluation")
        # The v0001 lineage: its held-out customers were never learnt from.
        v1_held_out = set(registry.table("purchase_30d-v0001", "evaluation")["customer_id"])
    assert metadata["derived_from"] == metadata["lineage"] == "purchase_30d-v0001"
    assert pd.Timestamp(metadata["training_cutoff_at"]) == newer
    assert metadata["online_update"]["published_auc"] == published["published_auc"]
    assert set(evaluation["customer_id"]) <= v1_held_out
    # A calibrated probability: on the held-out customers, the mean score is near the rate.
    assert abs(evaluation["score"].mean() - evaluation["label"].mean()) < 0.1

    scored = store.score_and_publish(config, models, warehouse_path)
    assert scored.versions == {"purchase_30d": version}
    scores = _table(warehouse_path, "ml.customer_scores").set_index("customer_id")
    assert set(scores["model_version"]) == {version} and scores["score"].between(0, 1).all()
    live = load_models(published_models(warehouse_path), warehouse_path)
    live_version, _, _ = live.scorers["purchase_30d"]
    assert live_version == version
    current = _table(warehouse_path, "marts.fct_customer_features").set_index("customer_id")
    np.testing.assert_allclose(
        live.score(current.loc[scores.index], "purchase_30d"), scores["score"], rtol=1e-6
    )


def test_online_updates_learn_the_newest_window_when_training_looks_a_year_back(tmp_path):
    """`training.label_window: same_season_last_year` moves the batch cutoff a year back; the
    online update still learns the newest labelled window, which is what it adds."""
    path = tmp_path / "warehouse.duckdb"
    features, _ = make_features(n=50, seed=3)
    _write(path, features.assign(as_of_at=AS_OF).reset_index(), "marts.fct_customer_features")
    first = AS_OF - pd.DateOffset(years=3)
    _write(
        path,
        pd.DataFrame({"customer_id": ["c00000"], "ordered_at": [first], "amount": [1.0]}),
        "marts.fct_orders",
    )
    config = _config()
    season = config.training.model_copy(update={"label_window": "same_season_last_year"})
    config = config.model_copy(update={"training": season})
    with store.ScoringStore.open(path, read_only=True) as opened:
        batch = {
            p.target.name: p for p in store.plan_training(config, opened.current_as_of(), first)
        }
        online = store.online_plans(config, opened)
    assert batch["purchase_30d"].cutoff == AS_OF - pd.DateOffset(years=1)
    assert online["purchase_30d"].cutoff == CUTOFF
    assert online["purchase_30d"].schema_prefix == "training_30d_"
