"""The configuration is validated up front, every problem reported with its setting."""

import pytest
from cible.ml.scoring.config import ConfigError, load_config, parse_config


def test_the_shipped_configuration_is_valid():
    config = load_config()
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
        parse_config(raw, source="scoring.yml")
    message = str(error.value)
    for fragment in (
        "targets.a.horizon_days` must be between 1 and 3650, not 0",
        "targets.b.kind` must be one of",
        "targets.c.response_events` must be one of",
        "training.cv_folds` must be between 2 and 20",
        "training.models` must be one of",
        "drift.psi_block` must not be below",
        "`incremental.targets` names 'zzz'",
    ):
        assert fragment in message, fragment
    assert message.startswith("scoring.yml has 7 problem(s)")


def test_a_missing_file_and_bad_yaml_say_so(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("targets: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_subset_keeps_only_the_named_targets():
    config = load_config()
    assert list(config.subset(["churn_risk"]).targets) == ["churn_risk"]
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
    target = parse_config(raw).targets["t"]
    assert target.families == ("random_forest",) and target.min_auc == 0.6
    raw["targets"]["t"]["families"] = ["logistic_regression"]
    with pytest.raises(ConfigError, match=r"not in `training\.models`"):
        parse_config(raw)
