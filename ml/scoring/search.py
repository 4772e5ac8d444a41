"""The hyperparameter search of one model family, and the leaderboard of the families.

`training.search: optuna` (the shipped setting) runs one Optuna study per family: a seeded TPE
sampler proposes each trial from the trials before it, `training.n_trials` caps the trials,
and the target's `training.time_budget_seconds`, shared among its families, stops a study
that runs long (checked between trials; a study always completes its first). Each trial is the
mean cross-validated metric of the whole pipeline, the folds fitted in parallel.
`randomized` and `grid` run scikit-learn's searches instead.

Every family's best candidate is also scored on the hold-out set for the leaderboard: with
Optuna, the fold models of its best trial, their probabilities averaged (no extra fit); with
scikit-learn's searches, one refit on the training split. The family that scores is still the
one with the best cross-validated metric: the hold-out set only reports.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from cible.ml.scoring.config import Range, TrainingConfig
from scipy import stats
from sklearn.base import clone
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import (
    GridSearchCV,
    ParameterGrid,
    RandomizedSearchCV,
    cross_validate,
)
from sklearn.pipeline import Pipeline

PRIMITIVES = (type(None), bool, int, float, str)


@dataclass
class FamilySearch:
    """What searching one family found.

    Attributes:
        params: the best candidate's pipeline parameters (`model__C`).
        cv_mean, cv_std: its cross-validated metric over the folds.
        candidates: candidates evaluated (trials, or the search's candidates).
        fit_seconds: mean time to fit its pipeline on one training fold.
        search_seconds: wall time of the whole search.
        estimators: fitted pipelines whose averaged probabilities score the hold-out set.
        per_fold: `estimators` are the best candidate's fold models, one per split of the
            search's folds in split order (their predictions on the held-out folds are its
            out-of-fold predictions); otherwise one model refitted on every row.
    """

    family: str
    params: dict[str, Any]
    cv_mean: float
    cv_std: float
    candidates: int
    fit_seconds: float
    search_seconds: float
    estimators: list[Pipeline] = field(default_factory=list, repr=False)
    per_fold: bool = False


def search_family(
    family: str,
    pipeline: Pipeline,
    space: dict[str, list | Range],
    X: pd.DataFrame,
    y: pd.Series,
    folds,
    training: TrainingConfig,
    timeout: float | None = None,
) -> FamilySearch:
    """Search one family's space by cross-validation on (X, y).

    Args:
        space: the family's hyperparameters (`training.models.<family>`).
        timeout: seconds after which an Optuna study starts no new trial.
    """
    start = time.perf_counter()
    if training.search == "optuna":
        found = _optuna_search(family, pipeline, space, X, y, folds, training, timeout)
    else:
        found = _sklearn_search(family, pipeline, space, X, y, folds, training)
    found.search_seconds = time.perf_counter() - start
    return found


def _optuna_search(family, pipeline, space, X, y, folds, training, timeout) -> FamilySearch:
    import optuna  # imported here: only this search needs it

    # One line per trial at INFO would flood the step's log; warnings (failed trials) stay.
    optuna.logging.set_verbosity(logging.WARNING)
    sampler = optuna.samplers.TPESampler(
        seed=training.random_state, n_startup_trials=startup_trials(training.n_trials)
    )
    study = optuna.create_study(direction="maximize", sampler=sampler, study_name=family)
    results: dict[str, dict] = {}  # by the trial's parameters: a repeated proposal is not refitted

    def objective(trial) -> float:
        params = {f"model__{name}": suggest(trial, name, values) for name, values in space.items()}
        key = json.dumps(params, sort_keys=True, default=str)
        if key not in results:
            scores = cross_validate(
                clone(pipeline).set_params(**params),
                X,
                y,
                scoring=training.scoring,
                cv=folds,
                n_jobs=-1,
                return_estimator=True,
                error_score="raise",
            )
            results[key] = {"params": params, **scores}
            best = max(results.values(), key=lambda r: r["test_score"].mean())
            for result in results.values():  # keep the fold models of the best trial only
                if result is not best:
                    result.pop("estimator", None)
        return float(results[key]["test_score"].mean())

    # The first trial runs whatever the clock says (Optuna would start none once the timeout
    # has passed), so every family has a candidate; the timeout then stops the rest.
    started = time.perf_counter()
    study.optimize(objective, n_trials=1)
    if training.n_trials > 1:
        left = None if timeout is None else max(timeout - (time.perf_counter() - started), 0.0)
        if left is None or left > 0:
            study.optimize(objective, n_trials=training.n_trials - 1, timeout=left)
    best = max(results.values(), key=lambda r: r["test_score"].mean())
    return FamilySearch(
        family=family,
        params=best["params"],
        cv_mean=float(best["test_score"].mean()),
        cv_std=float(best["test_score"].std()),
        candidates=len(study.trials),
        fit_seconds=float(np.mean(best["fit_time"])),
        search_seconds=0.0,
        estimators=list(best["estimator"]),
        per_fold=True,
    )


def startup_trials(n_trials: int) -> int:
    """Random trials before TPE models the results: Optuna's default of 10 would leave the
    few trials a training run affords all random; a third of them, at least one."""
    return max(1, n_trials // 3)


def suggest(trial, name: str, values: list | Range) -> Any:
    """A trial's value of one hyperparameter: from a range, or one of the listed values
    (values that are not plain numbers or text, such as layer sizes, by their JSON text)."""
    if isinstance(values, Range):
        if values.is_int:
            return trial.suggest_int(name, values.low, values.high, log=values.log)
        return trial.suggest_float(name, float(values.low), float(values.high), log=values.log)
    if all(isinstance(value, PRIMITIVES) for value in values):
        return trial.suggest_categorical(name, values)
    texts = [json.dumps(value) for value in values]
    return values[texts.index(trial.suggest_categorical(name, texts))]


def sklearn_space(space: dict[str, list | Range]) -> dict[str, Any]:
    """The space as scikit-learn's searches take it: lists, and ranges as distributions."""
    converted: dict[str, Any] = {}
    for name, values in space.items():
        if isinstance(values, Range):
            if values.is_int:
                converted[f"model__{name}"] = stats.randint(values.low, values.high + 1)
            elif values.log:
                converted[f"model__{name}"] = stats.loguniform(values.low, values.high)
            else:
                converted[f"model__{name}"] = stats.uniform(values.low, values.high - values.low)
        else:
            converted[f"model__{name}"] = list(values)
    return converted


def _sklearn_search(family, pipeline, space, X, y, folds, training) -> FamilySearch:
    grid = sklearn_space(space)
    has_ranges = any(isinstance(values, Range) for values in space.values())
    if training.search == "grid" or (
        not has_ranges and len(ParameterGrid(grid)) <= training.n_iter
    ):
        search = GridSearchCV(
            pipeline, grid, scoring=training.scoring, cv=folds, n_jobs=-1, refit=False
        )
    else:
        search = RandomizedSearchCV(
            pipeline,
            grid,
            n_iter=training.n_iter,
            scoring=training.scoring,
            cv=folds,
            n_jobs=-1,
            refit=False,
            random_state=training.random_state,
        )
    search.fit(X, y)
    index = search.best_index_
    refit = clone(pipeline).set_params(**search.best_params_).fit(X, y)
    return FamilySearch(
        family=family,
        params=search.best_params_,
        cv_mean=float(search.cv_results_["mean_test_score"][index]),
        cv_std=float(search.cv_results_["std_test_score"][index]),
        candidates=len(search.cv_results_["params"]),
        fit_seconds=float(search.cv_results_["mean_fit_time"][index]),
        search_seconds=0.0,
        estimators=[refit],
    )


def leaderboard(
    searches: list[FamilySearch],
    chosen: str,
    X_test: pd.DataFrame,
    y_test: pd.Series,
    scoring: str,
    steps: dict[str, dict] | None = None,
) -> pd.DataFrame:
    """One row per family, best CV score first: its CV score, its hold-out AUC, PR-AUC and
    Brier score (uncalibrated), its fit and search times, and whether it was chosen.

    Args:
        steps: the pipeline's settings every family shares (imputation, feature selection),
            written into each row's `params` beside the family's hyperparameters.
    """
    rows = []
    for found in searches:
        score = np.mean([e.predict_proba(X_test)[:, 1] for e in found.estimators], axis=0)
        rows.append(
            {
                "family": found.family,
                "cv_metric": scoring,
                "cv_score": found.cv_mean,
                "cv_std": found.cv_std,
                "candidates": found.candidates,
                "holdout_auc_roc": float(roc_auc_score(y_test, score)),
                "holdout_pr_auc": float(average_precision_score(y_test, score)),
                "holdout_brier": float(brier_score_loss(y_test, score)),
                "fit_seconds": found.fit_seconds,
                "search_seconds": found.search_seconds,
                "is_chosen": found.family == chosen,
                "params": json.dumps(
                    {
                        **{k.removeprefix("model__"): v for k, v in found.params.items()},
                        **(steps or {}),
                    },
                    sort_keys=True,
                    default=str,
                ),
            }
        )
    board = pd.DataFrame(rows).sort_values("cv_score", ascending=False, kind="stable")
    return board.reset_index(drop=True).assign(rank=lambda frame: np.arange(1, len(frame) + 1))
