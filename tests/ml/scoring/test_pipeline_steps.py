"""Each feature-selection and imputation option of `training` as a real pipeline step: trained,
calibrated and scored on a small frame, its fitted step of the expected shape, and the version
round-tripping through the registry with its settings."""

import json

import numpy as np
import pandas as pd
import pytest
from cible.ml.scoring.calibration import fitted_pipeline as calibrated_pipeline
from cible.ml.scoring.config import TargetConfig, parse_scoring_config
from cible.ml.scoring.features import DropConstantColumns, as_text, select_features
from cible.ml.scoring.labels import TrainingDataError
from cible.ml.scoring.models import (
    DrawnIterativeImputer,
    MultipleImputationClassifier,
    make_pipeline,
    train_classifier,
)
from cible.ml.scoring.registry import ModelRegistry
from cible.ml.scoring.store import ScoringStore
from cible.ml.scoring.training import TrainingPlan, TrainingSet, train_classifier_target
from scoring_data import LIGHT_CONFIG, make_features
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.feature_selection import RFE, RFECV, SelectFromModel
from sklearn.impute import SimpleImputer
from sklearn.utils.estimator_checks import parametrize_with_checks

# The frame of `make_features`: 4 numeric inputs (the consent flag is never one), 3 of them
# with missing values, and gender one-hot encoded in 3 columns.
NUMERIC, WITH_MISSING, CATEGORIES = 4, 3, 3
CUTOFF = pd.Timestamp("2026-10-02")


def config_with(**training):
    """The light configuration, one logistic regression candidate: the steps are under test."""
    return parse_scoring_config(
        {
            **LIGHT_CONFIG,
            "training": {
                **LIGHT_CONFIG["training"],
                "models": {"logistic_regression": {"C": [1.0]}},
                **training,
            },
        }
    )


@pytest.fixture(scope="module")
def frame_and_labels():
    return make_features(n=800, seed=7)


def train_version(frame, labels, config):
    """One target trained, gated and described as the training step does."""
    spec = select_features(frame.reset_index(), None, [])
    target = TargetConfig(name="purchase_30d", kind="purchase", horizon_days=30)
    plan = TrainingPlan(target=target, cutoff=CUTOFF, schema_prefix="training_30d_")
    data = TrainingSet(frame[spec.columns], labels, spec, frame[spec.columns])
    return train_classifier_target(plan, config, data)


def fitted_pipeline(version):
    """The pipeline the calibrated model wraps, refitted on the whole training split."""
    return calibrated_pipeline(version.model.estimator)


def width(pipeline, frame) -> int:
    """Columns the preprocessing makes of the frame (the selection step's input)."""
    return pipeline.named_steps["preprocess"].transform(frame).shape[1]


def check_scores_and_round_trip(version, frame, config, tmp_path):
    """Valid probabilities; registered, reloaded and scoring the same; settings kept."""
    scores = version.model.score(frame)
    assert np.isfinite(scores).all() and scores.min() >= 0 and scores.max() <= 1
    assert scores.std() > 0.01  # the step did not flatten the model to a constant
    with ScoringStore.open(tmp_path / "warehouse.duckdb") as store:
        registry = ModelRegistry(tmp_path / "models", store)
        registered = registry.register(
            "purchase_30d", "purchase", version.model_family, version.model, version.metadata
        )
        loaded, metadata = registry.load(registered.model_version)
    np.testing.assert_array_equal(loaded.score(frame), scores)
    expected = {
        "imputation": config.training.imputation.describe(),
        "feature_selection": config.training.feature_selection.describe(),
    }
    assert metadata["pipeline_steps"] == expected
    # The leaderboard (rpt_model_leaderboard.params) shows them beside the hyperparameters.
    params = json.loads(version.rows["model_leaderboard"]["params"].iloc[0])
    assert params == {"C": 1.0, **expected}
    return scores


def pca_of(n_components):
    def check(step, columns):
        assert isinstance(step, PCA)
        if isinstance(n_components, int):
            assert step.n_components_ == n_components
        else:  # as many components as explain that share of the variance
            assert step.explained_variance_ratio_.sum() >= n_components
            assert step.n_components_ < columns
            assert step.explained_variance_ratio_[:-1].sum() < n_components

    return check


def rfe_keeping(count):
    def check(step, columns):
        assert isinstance(step, RFE) and step.n_features_in_ == columns
        assert step.support_.sum() == (count if isinstance(count, int) else int(count * columns))

    return check


def rfecv(step, columns):
    assert isinstance(step, RFECV) and 1 <= step.n_features_ < columns
    assert len(step.cv_results_["mean_test_score"]) > 1  # sizes compared by CV


def l1(step, columns):
    assert isinstance(step, SelectFromModel) and 1 <= step.get_support().sum() < columns


def imputer_of(pipeline):
    return pipeline.named_steps["preprocess"].named_transformers_["numeric"]["impute"]


def median(pipeline, frame):
    imputer = imputer_of(pipeline)
    assert isinstance(imputer, SimpleImputer) and imputer.strategy == "median"
    assert imputer.indicator_ is None
    assert width(pipeline, frame) == NUMERIC + CATEGORIES


def median_with_indicator(pipeline, frame):
    imputer = imputer_of(pipeline)
    assert isinstance(imputer, SimpleImputer) and imputer.strategy == "median"
    assert len(imputer.indicator_.features_) == WITH_MISSING
    assert width(pipeline, frame) == NUMERIC + WITH_MISSING + CATEGORIES


def iterative(pipeline, frame):
    imputer = imputer_of(pipeline)
    assert isinstance(imputer, DrawnIterativeImputer) and not imputer.sample_posterior
    assert 1 <= imputer.n_iter_ <= 4
    # Each feature regressed on its 2 most correlated others, not on all 3.
    assert {len(triplet.neighbor_feat_idx) for triplet in imputer.imputation_sequence_} == {2}
    assert width(pipeline, frame) == NUMERIC + WITH_MISSING + CATEGORIES  # with indicators
    # The average order value is missing for customers without orders: chained equations
    # fill it from their other features, not with one median for everyone.
    numeric = pipeline.named_steps["preprocess"].named_transformers_["numeric"]
    names = list(numeric[0].feature_names_in_)
    filled = numeric[:-1].transform(frame[names])
    missing = frame["average_order_value_eur"].isna().to_numpy()
    assert missing.any()
    assert np.unique(filled[missing, names.index("average_order_value_eur")].round(6)).size > 1


@pytest.mark.parametrize(
    "selection, imputation, check_selection, check_imputation",
    [
        pytest.param({"method": "pca", "n_components": 3}, "median", pca_of(3), median, id="pca-3"),
        pytest.param(
            {"method": "pca", "n_components": 0.8},
            "median_with_indicator",
            pca_of(0.8),
            median_with_indicator,
            id="pca-share",
        ),
        pytest.param(
            {"method": "rfe", "n_features": 4, "step": 1},
            {"method": "iterative", "max_iter": 4, "n_nearest_features": 2},
            rfe_keeping(4),
            iterative,
            id="rfe-4-iterative",
        ),
        pytest.param(
            {"method": "rfe", "n_features": 0.5},
            None,
            rfe_keeping(0.5),
            median_with_indicator,
            id="rfe-share",
        ),
        pytest.param(
            {"method": "rfe", "n_features": "auto", "step": 2},
            None,
            rfecv,
            median_with_indicator,
            id="rfecv",
        ),
        pytest.param({"method": "l1", "C": 0.02}, None, l1, median_with_indicator, id="l1"),
    ],
)
def test_selection_and_imputation_are_fitted_steps_of_the_scoring_pipeline(
    frame_and_labels, selection, imputation, check_selection, check_imputation, tmp_path
):
    frame, labels = frame_and_labels
    settings = {"feature_selection": selection}
    if imputation is not None:  # None: the default, median with indicators
        settings["imputation"] = imputation
    config = config_with(**settings)
    version = train_version(frame, labels, config)
    pipeline = fitted_pipeline(version)
    check_imputation(pipeline, frame)
    step = pipeline.named_steps["select"]
    columns = width(pipeline, frame)
    check_selection(step, columns)
    # The model is fitted on what the step kept.
    kept = step.transform(pipeline.named_steps["preprocess"].transform(frame.head(5))).shape[1]
    assert pipeline.named_steps["model"].coef_.shape == (1, kept) and kept < columns
    check_scores_and_round_trip(version, frame, config, tmp_path)
    assert version.metrics["auc_roc"] > 0.6


def test_lda_projects_a_binary_target_on_its_one_discriminant_direction(frame_and_labels, tmp_path):
    frame, labels = frame_and_labels
    config = config_with(feature_selection="lda")
    version = train_version(frame, labels, config)
    pipeline = fitted_pipeline(version)
    step = pipeline.named_steps["select"]
    assert isinstance(step, LinearDiscriminantAnalysis) and step.shrinkage == "auto"
    projected = step.transform(pipeline.named_steps["preprocess"].transform(frame))
    assert projected.shape == (len(frame), 1)
    assert pipeline.named_steps["model"].coef_.shape == (1, 1)
    check_scores_and_round_trip(version, frame, config, tmp_path)
    # The projection separates the classes: the planted signal survives it.
    assert version.metrics["auc_roc"] > 0.7


def test_multiple_imputation_averages_the_pipelines_of_several_draws(frame_and_labels, tmp_path):
    frame, labels = frame_and_labels
    config = config_with(imputation={"method": "iterative", "max_iter": 3, "imputations": 3})
    version = train_version(frame, labels, config)
    ensemble = fitted_pipeline(version)
    assert isinstance(ensemble, MultipleImputationClassifier)
    assert len(ensemble.pipelines_) == 3
    imputers = [
        p.named_steps["preprocess"].named_transformers_["numeric"]["impute"]
        for p in ensemble.pipelines_
    ]
    assert all(imputer.sample_posterior for imputer in imputers)
    assert len({imputer.random_state for imputer in imputers}) == 3
    # Each draw completes the data differently, and the ensemble's probability is their mean.
    draws = np.stack([p.predict_proba(frame)[:, 1] for p in ensemble.pipelines_])
    assert np.abs(draws[0] - draws[1]).max() > 1e-6
    np.testing.assert_allclose(ensemble.predict_proba(frame)[:, 1], draws.mean(axis=0))
    scores = check_scores_and_round_trip(version, frame, config, tmp_path)
    # Scoring draws nothing: a customer's score is the same in any batch (the live path
    # scores micro-batches) and on every call.
    np.testing.assert_array_equal(version.model.score(frame.iloc[::7]), scores[::7])


def test_a_selection_that_leaves_no_room_is_refused_with_the_setting(frame_and_labels):
    frame, labels = frame_and_labels
    spec = select_features(frame.reset_index(), None, [])
    config = config_with(feature_selection={"method": "pca", "n_components": 50})
    with pytest.raises(TrainingDataError) as error:
        train_classifier(frame, labels, spec, config)
    message = str(error.value)
    assert message.startswith("training.feature_selection.n_components: 50 columns asked for")
    assert f"makes {NUMERIC + WITH_MISSING + CATEGORIES} of the features" in message
    config = config_with(feature_selection={"method": "l1", "C": 1e-6})
    with pytest.raises(TrainingDataError, match=r"^training\.feature_selection\.C: 1e-06 is so"):
        train_classifier(frame, labels, spec, config)


@parametrize_with_checks([DrawnIterativeImputer(sample_posterior=True, max_iter=3, random_state=0)])
def test_the_drawing_imputer_follows_scikit_learn_conventions(estimator, check):
    check(estimator)


@pytest.mark.parametrize(
    "family", ["mlp", "logistic_regression", "random_forest", "hist_gradient_boosting"]
)
def test_a_column_constant_when_the_model_learned_does_not_move_its_scores(
    frame_and_labels, family
):
    """A year-back training on a history whose web events are younger than a year sees every
    web feature constant: no web session, no last visit. Their values at scoring must not
    move the scores (an MLP's weights on a constant input stay at their random start)."""
    frame, labels = frame_and_labels
    learned = frame.assign(web_sessions_90d=0, days_since_last_visit=np.nan)
    spec = select_features(learned.reset_index(), None, [])
    assert {"web_sessions_90d", "days_since_last_visit"} <= set(spec.columns)
    config = config_with()
    pipeline = make_pipeline(family, spec, config.min_category_share, config.training)
    pipeline.fit(learned[spec.columns], labels)
    rng = np.random.default_rng(3)
    today = learned.assign(
        web_sessions_90d=rng.poisson(5, len(learned)),
        days_since_last_visit=rng.integers(0, 300, len(learned)).astype(float),
    )
    before = pipeline.predict_proba(learned[spec.columns])[:, 1]
    np.testing.assert_array_equal(pipeline.predict_proba(today[spec.columns])[:, 1], before)
    assert before.std() > 0.01  # the other columns still score
    kept = pipeline.named_steps["preprocess"].get_feature_names_out()
    assert not [name for name in kept if "web_sessions" in name or "last_visit" in name]


@parametrize_with_checks([DropConstantColumns()])
def test_the_constant_column_filter_follows_scikit_learn_conventions(estimator, check):
    check(estimator)


def test_categories_become_text_with_missing_values_as_their_own_category():
    """Whatever a category column's type (text, Arrow text, objects, nullable integers and
    booleans, floats): the same strings as the pandas chain they were made with before
    (astype(object), where(notna), astype(str)), each missing value `missing`."""
    rng = np.random.default_rng(3)
    rows = 30
    frame = pd.DataFrame(
        {
            "text": pd.array(rng.choice(["M", "F", None], rows), dtype="string"),
            "arrow": pd.array(rng.choice(["x", None], rows), dtype="string[pyarrow]"),
            "objects": pd.Series(rng.choice(["p", None, np.nan], rows), dtype=object),
            "integers": pd.array(rng.choice([1, 2, None], rows), dtype="Int64"),
            "booleans": pd.array(rng.choice([True, False, None], rows), dtype="boolean"),
            "floats": rng.choice([1.5, 2.0, np.nan], rows),
        }
    )
    text = as_text(frame)
    reference = (
        frame.astype(object).where(frame.notna(), "missing").astype(str).to_numpy(dtype=object)
    )
    assert text.dtype == object and text.shape == frame.shape
    assert (text == reference).all()
    assert all(isinstance(value, str) for value in text.ravel())
    assert ((text == "missing") == frame.isna().to_numpy()).all()
