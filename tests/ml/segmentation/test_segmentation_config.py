"""The configuration is validated before any work, and every problem says what to fix."""

import copy

import pytest
import segmentation_data
import yaml
from cible.ml.segmentation.config import (
    DEFAULT_CONFIG_PATH,
    DEFAULT_THRESHOLDS_SEED,
    DEFAULT_WEIGHTS_SEED,
    ConfigError,
    check_columns,
    load_config,
    load_priority_grid,
    parse_config,
)


@pytest.fixture(scope="module")
def synthetic():
    """Shared synthetic customers and their planted groups (read-only)."""
    return segmentation_data.synthetic()


@pytest.fixture(scope="module")
def config():
    """The shipped configuration, validated against the synthetic columns."""
    return segmentation_data.config()


@pytest.fixture
def raw():
    return yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))


def problems_of(data) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return caught.value.problems


def test_the_shipped_configuration_and_seeds_are_valid(config):
    assert config.algorithm.name == "kmeans"
    assert config.algorithm.k_min <= config.algorithm.k_max
    assert config.grid is not None
    assert set(config.grid.weights) == set(config.grid.thresholds)
    assert [s.id for s in config.excluded_segments] == ["not_profiled", "prospects"]
    assert config.quality.bootstrap_resamples >= 5


def test_an_empty_k_range_says_which_bound_to_move(raw):
    raw["algorithm"]["k_min"], raw["algorithm"]["k_max"] = 9, 4
    (problem,) = problems_of(raw)
    assert "algorithm.k_min" in problem
    assert "k_min (9) is above k_max (4)" in problem


def test_a_k_below_two_is_refused(raw):
    raw["algorithm"]["k_min"] = 1
    assert any("algorithm.k_min: must be at least 2" in p for p in problems_of(raw))


def test_an_unknown_algorithm_lists_the_known_ones(raw):
    raw["algorithm"]["name"] = "kmedoids"
    (problem,) = problems_of(raw)
    assert "algorithm.name: unknown value 'kmedoids'" in problem
    assert "kmeans, dbscan, hdbscan, agglomerative" in problem


def test_a_misspelt_setting_is_not_silently_ignored(raw):
    raw["algorithm"]["k_mx"] = 8
    (problem,) = problems_of(raw)
    assert "algorithm.k_mx: unknown setting" in problem


def test_every_problem_is_reported_at_once(raw):
    raw["algorithm"]["name"] = "nope"
    raw["quality"]["bootstrap_resamples"] = 2
    raw["sampling"]["hierarchical_sample_size"] = 50_000
    raw["preprocessing"]["scaler"] = "zscore"
    problems = problems_of(raw)
    assert len(problems) == 4
    message = str(ConfigError(problems))
    assert "4 problem(s), nothing was run" in message
    assert "quality.bootstrap_resamples: must be at least 5" in message


def test_rule_conditions_are_checked(raw):
    segment = raw["rule_segments"][0]["segments"][0]
    segment["when"] = {"all": [{"column": "recency_score", "op": "~=", "value": 4}]}
    raw["rule_segments"][1]["segments"][0]["when"] = {
        "column": "age",
        "op": "between",
        "value": [9],
    }
    problems = problems_of(raw)
    assert any("unknown operator '~='" in p for p in problems)
    assert any("between needs [low, high]" in p for p in problems)


def test_segment_ids_must_be_unique_and_not_reserved(raw):
    raw["rule_segments"][2]["segments"][0]["id"] = "prospects"
    raw["rule_segments"][2]["segments"][1]["id"] = "cluster_07"
    problems = problems_of(raw)
    assert any("repeated: prospects" in p for p in problems)
    assert any("'cluster_07' is reserved" in p for p in problems)


def test_names_and_descriptions_need_both_languages(raw):
    raw["rule_segments"][0]["segments"][0]["name"] = {"en": "Champions"}
    (problem,) = problems_of(raw)
    assert "name: needs a text in English and in French" in problem


def test_a_column_missing_from_the_features_table_is_named_with_a_hint(config, synthetic):
    frame, _ = synthetic
    columns = [c for c in frame.columns if c != "revenue_eur"]
    problems = check_columns(config, columns)
    assert len(problems) == 1
    assert "'revenue_eur' does not exist" in problems[0]
    assert "did you mean" in problems[0]


def test_a_text_column_cannot_be_a_numeric_feature(config, synthetic):
    frame, _ = synthetic
    kinds = dict.fromkeys(frame.columns, "numeric") | {"revenue_eur": "text"}
    (problem,) = check_columns(config, kinds)
    assert "'revenue_eur' is text, not a number" in problem


def test_load_config_checks_columns_and_seeds_together(tmp_path, synthetic):
    frame, _ = synthetic
    weights = tmp_path / "weights.csv"
    weights.write_text(
        "criterion,weight\nsize,-1\nexpected_conversion,1\nprofitability,1\n"
        "data_accessibility,1\nstrategic_fit,1\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(
            columns=[c for c in frame.columns if c != "age"],
            weights_path=weights,
            thresholds_path=DEFAULT_THRESHOLDS_SEED,
        )
    message = str(caught.value)
    assert "'age' does not exist" in message
    assert "weight of size must be >= 0" in message


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (
            "size,0\nexpected_conversion,0\nprofitability,0\ndata_accessibility,0\nstrategic_fit,0\n",
            "the weights sum to 0",
        ),
        (
            "size,1\nexpected_conversion,1\nprofitability,1\ndata_accessibility,1\n",
            "no weight for strategic_fit",
        ),
        (
            "size,1\nreach,1\nexpected_conversion,1\nprofitability,1\ndata_accessibility,1\n"
            "strategic_fit,1\n",
            "unknown criterion 'reach'",
        ),
        (
            "size,abc\nexpected_conversion,1\nprofitability,1\ndata_accessibility,1\n"
            "strategic_fit,1\n",
            "weight 'abc' is not a number",
        ),
    ],
)
def test_nonsensical_priority_weights_are_refused(tmp_path, rows, expected):
    weights = tmp_path / "weights.csv"
    weights.write_text("criterion,weight\n" + rows)
    with pytest.raises(ConfigError, match=expected):
        load_priority_grid(weights, DEFAULT_THRESHOLDS_SEED)


def test_thresholds_must_ascend(tmp_path):
    thresholds = tmp_path / "thresholds.csv"
    text = DEFAULT_THRESHOLDS_SEED.read_text().replace("100,300,1000,3000", "100,3000,1000,300")
    thresholds.write_text(text)
    with pytest.raises(ConfigError, match="thresholds of profitability must be strictly"):
        load_priority_grid(DEFAULT_WEIGHTS_SEED, thresholds)


def test_an_invalid_yaml_file_is_reported(tmp_path):
    path = tmp_path / "segmentation.yml"
    path.write_text("algorithm: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_fingerprints_follow_the_settings_that_shape_the_model(raw, tmp_path):
    base = parse_config(raw)
    renamed = copy.deepcopy(raw)
    renamed["rule_segments"][0]["segments"][0]["name"]["en"] = "Top customers"
    refeatured = copy.deepcopy(raw)
    refeatured["features"]["log"] = refeatured["features"]["log"][:-1]
    assert parse_config(renamed).model_fingerprint() == base.model_fingerprint()
    assert parse_config(renamed).fingerprint() != base.fingerprint()
    assert parse_config(refeatured).model_fingerprint() != base.model_fingerprint()


def test_the_config_file_documents_every_setting():
    """Each setting of the shipped file sits under a comment (the file is the user's manual)."""
    lines = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8").splitlines()
    top = [i for i, line in enumerate(lines) if line and line[0].isalpha() and line.endswith(":")]
    for index in top:
        assert lines[index - 1].startswith("#"), f"undocumented section: {lines[index]}"
