"""The configuration is validated up front, every problem reported with its setting."""

import pytest
from cible.ml.scoring.config import load_scoring_config, parse_scoring_config

from cible.yaml_config import ConfigError

MINIMAL = {
    "targets": {"p": {"kind": "purchase", "horizon_days": 30}},
    "training": {"models": {"logistic_regression": {"C": [1.0]}}},
}


def problems_of(raw) -> list[str]:
    with pytest.raises(ConfigError) as error:
        parse_scoring_config(raw)
    return error.value.problems


def test_the_shipped_configuration_is_valid():
    config = load_scoring_config()
    assert {
        "purchase_30d",
        "purchase_90d",
        "campaign_response",
        "churn_risk",
        "lifetime_value",
    } <= set(config.targets)
    assert config.lifetime_value_target.name == "lifetime_value"
    assert config.gates.min_auc >= 0.5


def test_every_problem_is_reported_at_once():
    raw = {
        "targets": {
            "a": {"kind": "purchase", "horizon_days": 0},
            "b": {"kind": "telepathy", "horizon_days": 30},
            "c": {"kind": "campaign_response", "horizon_days": 30, "response_events": ["like"]},
        },
        "training": {"cv_folds": 1, "models": {"svm": {"C": [1]}}},
        "drift": {"psi_warn": 0.3, "psi_block": 0.2},
        "incremental": {"targets": ["zzz"]},
    }
    with pytest.raises(ConfigError) as error:
        parse_scoring_config(raw, source="scoring.yml")
    message = str(error.value)
    for fragment in (
        "targets.a.horizon_days: must be at least 1, found 0",
        "targets.b.kind: unknown value 'telepathy'; use one of purchase, campaign_response",
        "targets.c.response_events[0]: unknown value 'like'; use one of open, click, conversion",
        "training.cv_folds: must be at least 2, found 1",
        "training.models.svm: unknown value 'svm'; use one of logistic_regression",
        "drift.psi_block: must not be below psi_warn (0.3), found 0.2",
        "incremental.targets[0]: names 'zzz', which is not a target",
    ):
        assert f"\n  - {fragment}" in message, fragment
    assert message.startswith("scoring.yml: 7 problem(s), nothing was run")


def test_a_missing_file_and_bad_yaml_say_so(tmp_path):
    with pytest.raises(ConfigError, match="file not found; set CIBLE_SCORING_CONFIG"):
        load_scoring_config(tmp_path / "nope.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("targets: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_scoring_config(bad)


def test_subset_keeps_only_the_named_targets():
    config = load_scoring_config()
    assert list(config.subset(["churn_risk"]).targets) == ["churn_risk"]
    assert config.subset(["churn_risk"]).source == config.source
    with pytest.raises(ConfigError, match="unknown target"):
        config.subset(["nope"])


def test_a_target_may_narrow_the_families_and_set_its_own_gates():
    raw = {
        "targets": {
            "t": {
                "kind": "purchase",
                "horizon_days": 30,
                "families": ["random_forest"],
                "min_auc": 0.6,
            }
        },
        "training": {"models": {"random_forest": {"max_depth": [8]}}},
    }
    target = parse_scoring_config(raw).targets["t"]
    assert target.families == ("random_forest",) and target.min_auc == 0.6
    raw["targets"]["t"]["families"] = ["logistic_regression"]
    with pytest.raises(
        ConfigError, match=r"names 'logistic_regression', which is not in training\.models"
    ):
        parse_scoring_config(raw)


def test_a_target_takes_only_the_settings_of_its_kind():
    raw = {
        **MINIMAL,
        "targets": {
            "value": {"kind": "lifetime_value", "horizon_days": 365, "families": ["random_forest"]},
            "buy": {"kind": "purchase", "horizon_days": 30, "holdout_days": 60},
        },
    }
    assert problems_of(raw) == [
        "targets.value.families: applies to purchase, campaign_response, churn targets only, "
        "not lifetime_value",
        "targets.buy.holdout_days: applies to lifetime_value targets only, not purchase",
        "targets.value.families: names 'random_forest', which is not in training.models",
    ]


def test_targets_across_sections_are_checked():
    raw = {
        **MINIMAL,
        "targets": {
            "value": {"kind": "lifetime_value", "horizon_days": 365, "name": "clv"},
            "value_2y": {"kind": "lifetime_value", "horizon_days": 730},
        },
        "incremental": {"targets": ["value"]},
    }
    assert problems_of(raw) == [
        "targets.value.name: unknown setting; a target is named by its key",
        "targets: one lifetime_value target at most, found value, value_2y",
        "incremental.targets[0]: 'value' is not a classification target",
    ]


def test_an_unknown_key_or_a_quoted_number_is_refused():
    raw = {**MINIMAL, "gate": {"min_auc": 0.7}, "training": {**MINIMAL["training"], "n_itr": 3}}
    raw["targets"] = {"p": {"kind": "purchase", "horizon_days": "30"}}
    problems = problems_of(raw)
    assert len(problems) == 3
    assert problems[0] == "targets.p.horizon_days: must be a whole number, found '30'"
    assert problems[1].startswith("training.n_itr: unknown setting; expected one of test_size")
    assert problems[1].endswith("(did you mean n_iter?)")
    assert problems[2].endswith("(did you mean gates?)")


def test_an_empty_file_needs_targets_and_models(tmp_path):
    path = tmp_path / "scoring.yml"
    path.write_text("# nothing yet\n")
    with pytest.raises(ConfigError) as error:
        load_scoring_config(path)
    assert error.value.problems == ["targets: is required", "training: is required"]


def test_defaults_fill_what_a_minimal_file_leaves_out():
    config = parse_scoring_config({**MINIMAL, "drift": None})
    target = config.targets["p"]
    assert target.name == "p" and target.is_classifier and target.min_auc is None
    assert (config.training.cv_folds, config.training.n_iter, config.training.search) == (
        5,
        6,
        "randomized",
    )
    assert config.training.permutation_repeats == 3
    assert config.feature_include is None and config.feature_exclude == ()
    assert config.drift.blocking_features is None and config.drift.psi_block == 0.25
    assert config.gates.max_ltv_purchase_error == 0.15
    assert config.incremental.enabled and config.incremental.targets == ()
    assert config.source == "<memory>"


def test_a_consent_flag_is_refused_as_a_feature():
    raw = {**MINIMAL, "features": {"include": ["age", "has_profiling_consent"]}}
    (problem,) = problems_of(raw)
    assert problem.startswith("features.include: has_profiling_consent: consent flags are never")


def test_a_bad_range_or_an_empty_list_is_refused_by_name():
    models = {
        "logistic_regression": {"C": {"low": 1.0, "high": 0.1}},
        "mlp": {"alpha": {"low": 0.0, "high": 0.1, "log": True}, "hidden_layer_sizes": []},
    }
    raw = {**MINIMAL, "training": {"search": "optuna", "models": models}}
    assert problems_of(raw) == [
        "training.models.logistic_regression.C.range.high: must be above low (1.0), found 0.1",
        "training.models.mlp.alpha.range.low: must be above 0 on a log scale, found 0.0",
        "training.models.mlp.hidden_layer_sizes: must list at least 1 item(s), found 0",
    ]


def training_with(**settings) -> dict:
    return {**MINIMAL, "training": {**MINIMAL["training"], **settings}}


def test_pipeline_steps_default_to_todays_and_take_a_name_or_settings():
    default = parse_scoring_config(MINIMAL).training
    # Median imputation with missing indicators and no selection: the pipeline before the
    # options existed.
    assert default.imputation.describe() == {"method": "median_with_indicator"}
    assert default.feature_selection.describe() == {"method": "none"}
    named = parse_scoring_config(training_with(feature_selection="lda", imputation="median"))
    assert named.training.feature_selection.describe() == {"method": "lda", "shrinkage": "auto"}
    assert named.training.imputation.method == "median"
    detailed = parse_scoring_config(
        training_with(
            feature_selection={"method": "rfe", "n_features": "auto", "step": 3},
            imputation={"method": "iterative", "max_iter": 5, "imputations": 4},
        )
    ).training
    assert detailed.feature_selection.describe() == {
        "method": "rfe",
        "n_features": "auto",
        "step": 3,
    }
    assert detailed.imputation.describe() == {
        "method": "iterative",
        "max_iter": 5,
        "n_nearest_features": 20,
        "imputations": 4,
    }


def test_bad_pipeline_step_settings_are_refused_with_their_key():
    found = problems_of(
        training_with(
            feature_selection={"method": "pca", "n_components": 1.5, "step": 2},
            imputation={"method": "median", "imputations": 3},
        )
    )
    assert sorted(found) == [
        "training.feature_selection.n_components: a share must be above 0 and below 1 (or a "
        "whole number), found 1.5",
        "training.feature_selection.step: applies to rfe only, not pca",
        "training.imputation.imputations: applies to iterative only, not median",
    ]
    found = problems_of(
        training_with(
            feature_selection={"method": "rfe", "n_features": 0, "step": True},
            imputation={"method": "iterative", "max_iter": 0},
        )
    )
    assert sorted(found) == [
        "training.feature_selection.n_features: must be at least 1, found 0",
        "training.feature_selection.step: must be a number of columns or a share of them, "
        "found True",
        "training.imputation.max_iter: must be at least 1, found 0",
    ]
    assert problems_of(training_with(feature_selection="tsne")) == [
        "training.feature_selection.method: unknown value 'tsne'; use one of none, l1, pca, "
        "lda, rfe"
    ]
    assert problems_of(training_with(feature_selection={"method": "lda", "shrinkage": "none"})) == [
        "training.feature_selection.shrinkage: must be auto or a number from 0 to 1, found 'none'"
    ]
    assert problems_of(training_with(imputation="mice")) == [
        "training.imputation.method: unknown value 'mice'; use one of median, "
        "median_with_indicator, iterative"
    ]
