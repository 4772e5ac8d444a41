"""The Optuna search on small frames: one seeded study per family within its trial cap and
time budget, ranges and listed values sampled as declared, and the leaderboard of the
families."""

import numpy as np
import pytest
from cible.ml.scoring.config import ConfigError, Range, parse_scoring_config
from cible.ml.scoring.features import select_features
from cible.ml.scoring.models import train_classifier
from cible.ml.scoring.search import startup_trials, suggest
from scoring_data import LIGHT_CONFIG, make_features
from sklearn.metrics import roc_auc_score

FAMILIES = ("logistic_regression", "random_forest", "hist_gradient_boosting", "mlp")
OPTUNA_TRAINING = {
    **LIGHT_CONFIG["training"],
    "search": "optuna",
    "n_trials": 3,
    "models": {
        "logistic_regression": {"C": {"low": 0.001, "high": 10.0, "log": True}},
        "random_forest": {"n_estimators": [30], "max_depth": {"low": 2, "high": 8}},
        "hist_gradient_boosting": {"max_iter": [20], "max_leaf_nodes": [7, 15]},
        "mlp": {"hidden_layer_sizes": [[8], [16, 8]], "alpha": {"low": 1e-4, "high": 1e-1}},
    },
}


def optuna_config(**training):
    return parse_scoring_config({**LIGHT_CONFIG, "training": {**OPTUNA_TRAINING, **training}})


def train(config, n=600):
    frame, labels = make_features(n=n)
    spec = select_features(frame.reset_index(), None, [])
    return train_classifier(frame, labels, spec, config)


@pytest.fixture(scope="module")
def searched():
    return train(optuna_config())


def test_every_family_is_searched_and_ranked_on_the_leaderboard(searched):
    board = searched.leaderboard
    assert list(board["family"].sort_values()) == sorted(FAMILIES)
    assert (board["candidates"] == 3).all()  # the trial cap
    assert list(board["cv_score"]) == sorted(board["cv_score"], reverse=True)
    assert list(board["rank"]) == [1, 2, 3, 4]
    # The family that scores is the best by CV; the hold-out set only reports.
    chosen = board[board["is_chosen"]]
    assert list(chosen["family"]) == [searched.model.family] and chosen["rank"].iloc[0] == 1
    for _, row in board.iterrows():
        assert row["cv_score"] == searched.cv_scores[row["family"]]["mean"]
        assert 0.5 < row["holdout_auc_roc"] <= 1 and 0 < row["holdout_pr_auc"] <= 1
        assert 0 < row["holdout_brier"] < 0.25 and row["fit_seconds"] > 0
    # The chosen model was refitted and calibrated after the search: its hold-out AUC is
    # measured again, on the same customers.
    held_out = searched.test_predictions
    assert searched.metrics["auc_roc"] == pytest.approx(
        roc_auc_score(held_out["label"], held_out["score"])
    )


def test_the_same_seed_proposes_the_same_trials(searched):
    again = train(optuna_config())
    assert list(again.leaderboard["params"]) == list(searched.leaderboard["params"])
    assert np.allclose(again.leaderboard["cv_score"], searched.leaderboard["cv_score"])


def test_the_time_budget_stops_each_study_after_its_first_trial():
    result = train(optuna_config(n_trials=50, time_budget_seconds=0.01), n=400)
    assert (result.leaderboard["candidates"] == 1).all()
    assert len(result.leaderboard) == len(FAMILIES)


def test_ranges_and_lists_are_sampled_as_declared():
    optuna = pytest.importorskip("optuna")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        trial = study.ask()
        depth = suggest(trial, "depth", Range(low=2, high=8))
        rate = suggest(trial, "rate", Range(low=1e-3, high=1.0, log=True))
        layers = suggest(trial, "layers", [[8], [16, 8]])
        weight = suggest(trial, "weight", [None, "balanced"])
        assert isinstance(depth, int) and 2 <= depth <= 8
        assert isinstance(rate, float) and 1e-3 <= rate <= 1.0
        assert layers in ([8], [16, 8]) and weight in (None, "balanced")
        study.tell(trial, 0.5)
    assert startup_trials(3) == 1 and startup_trials(12) == 4


def test_a_range_under_a_grid_search_is_refused_by_name():
    with pytest.raises(ConfigError) as error:
        optuna_config(search="grid")
    assert error.value.problems == [
        "training.models.logistic_regression.C: a range cannot be searched by a grid; list values",
        "training.models.random_forest.max_depth: a range cannot be searched by a grid; list "
        "values",
        "training.models.mlp.alpha: a range cannot be searched by a grid; list values",
    ]
